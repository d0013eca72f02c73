// SPDX-License-Identifier: Apache-2.0
// OpenSSL's default library context per job, as OpenSSL's own ASYNC_start_job keeps it
// (crypto/async/async.c): a job starts with the default OSSL_LIB_CTX in effect where it was
// started, a job's OSSL_LIB_CTX_set0_default never leaks to whoever resumed it, and each resume
// gives the job back the default it had when it paused.
//
// libcrypto is found at run time, not linked: when the library is loaded, if the process already
// has libcrypto 3 (OSSL_LIB_CTX_set0_default is defined), a process-wide switch hook is
// registered that swaps the thread's default around every switch. Without libcrypto nothing is
// registered and switches cost nothing more. In C, in a constructor: the hook must be in place
// before the first pool is made, and no Swift code runs this early.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>

#include "job_context.h"

typedef void *(*set0_default_fn)(void *libctx);
static set0_default_fn set0_default;

// A job starts with the starter's default (OSSL_LIB_CTX_set0_default(NULL) returns it and
// changes nothing).
static void libctx_start(void **state, void *arg) {
    (void)arg;
    *state = set0_default(NULL);
}

// Installs the job's default (switching in) or the switcher's (switching out), keeping the other.
// OpenSSL's own order: `saved = set0_default(job->libctx)` before the switch into the job,
// `job->libctx = set0_default(saved)` after it. A NULL result (libcrypto failed to make its
// default context) keeps the word, as OpenSSL would have failed the start instead.
static void libctx_swap(void **state, void *arg) {
    (void)arg;
    void *previous = set0_default(*state);
    if (previous != NULL) *state = previous;
}

__attribute__((constructor)) static void saj_find_libcrypto(void) {
    set0_default = (set0_default_fn)dlsym(RTLD_DEFAULT, "OSSL_LIB_CTX_set0_default");
    if (set0_default == NULL) return;
    _ajctx_switch_hook hook = {.start = libctx_start, .swap = libctx_swap, .end = NULL, .arg = NULL};
    (void)_ajctx_add_process_hook(hook);
}
