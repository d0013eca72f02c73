// SPDX-License-Identifier: Apache-2.0
// eventfd reads and writes without glibc's cancellation point (see system_shims.h).
#include "system_shims.h"

#include <sys/syscall.h>
#include <unistd.h>

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define AJ_SHIMS_TSAN 1
#endif
#endif

long aj_eventfd_add(int fd, uint64_t value) {
#ifdef AJ_SHIMS_TSAN
    return write(fd, &value, sizeof value);
#else
    return syscall(SYS_write, fd, &value, sizeof value);
#endif
}

long aj_eventfd_take(int fd, uint64_t *value) {
#ifdef AJ_SHIMS_TSAN
    return read(fd, value, sizeof *value);
#else
    return syscall(SYS_read, fd, value, sizeof *value);
#endif
}
