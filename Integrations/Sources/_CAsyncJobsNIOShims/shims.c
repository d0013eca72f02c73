// SPDX-License-Identifier: Apache-2.0
#define _GNU_SOURCE
#include <pthread.h>

#include "async_jobs_nio_shims.h"

void aj_nio_name_current_thread(const char *name) {
    // The kernel keeps at most 15 bytes and a terminator; a longer name is refused whole.
    char kept[16];
    size_t length = 0;
    while (length < sizeof kept - 1 && name[length] != '\0') {
        kept[length] = name[length];
        length++;
    }
    kept[length] = '\0';
    (void)pthread_setname_np(pthread_self(), kept);
}
