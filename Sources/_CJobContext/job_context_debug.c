// SPDX-License-Identifier: Apache-2.0
// The pool registry and frame-pointer walk declared in job_context_debug.h. Nothing here runs on
// a start, pause, resume or finish: a pool registers once, when its thread makes it.
#define _GNU_SOURCE
#include "job_context_debug.h"
#include "job_context_layout.h"

#include <dlfcn.h>
#include <pthread.h>
#include <string.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#if !defined(AJCTX_USE_UCONTEXT) && (defined(__x86_64__) || defined(__aarch64__)) && defined(__ELF__)
#define AJCTX_HAS_FRAME_LAYOUT 1
#if defined(__x86_64__)
#define AJCTX_FRAME_FP AJCTX_FRAME_RBP
#define AJCTX_FRAME_PC AJCTX_FRAME_RIP
// SAJ_pause_job (Sources/CAsyncJobsCompat/saj_entry_x86_64_sysv_elf.S) pushes rbx, then calls the
// switch: its caller's return address is one word above the saved frame.
#define AJCTX_PAUSE_ENTRY_CALLER (AJCTX_FRAME_SIZE + 8)
#else
#define AJCTX_FRAME_FP AJCTX_FRAME_X29
#define AJCTX_FRAME_PC AJCTX_FRAME_X30
#endif
#else
#define AJCTX_HAS_FRAME_LAYOUT 0
#define AJCTX_FRAME_FP 0
#define AJCTX_FRAME_PC 0
#endif
#ifndef AJCTX_PAUSE_ENTRY_CALLER
#define AJCTX_PAUSE_ENTRY_CALLER 0
#endif

// `used`: kept in every build, even if nothing in the process refers to it (the debugger does).
__attribute__((used)) _ajctx_debug_info _ajctx_debug = {
    .magic = 0x4a41475542454401ull,
    .job_sp_offset = offsetof(_ajctx_job, job_sp),
    .stack_low_offset = offsetof(_ajctx_job, stack_low),
    .stack_size_offset = offsetof(_ajctx_job, stack_size),
    .guard_size_offset = offsetof(_ajctx_job, guard_size),
    .frame_fp_offset = AJCTX_FRAME_FP,
    .frame_pc_offset = AJCTX_FRAME_PC,
    .pause_entry_caller_offset = AJCTX_PAUSE_ENTRY_CALLER,
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;

_ajctx_debug_pool *_ajctx_debug_add_pool(void *pool, const _ajctx_debug_layout *layout) {
    _ajctx_debug_pool *entry = calloc(1, sizeof *entry);
    if (entry == NULL) return NULL;
    entry->pool = pool;
    entry->thread_id = (int64_t)syscall(SYS_gettid);
    pthread_mutex_lock(&registry_lock);
    _ajctx_debug.layout = *layout;
    entry->next = _ajctx_debug.pools;
    if (entry->next != NULL) entry->next->previous = entry;
    _ajctx_debug.pools = entry;
    pthread_mutex_unlock(&registry_lock);
    return entry;
}

void _ajctx_debug_remove_pool(_ajctx_debug_pool *entry) {
    pthread_mutex_lock(&registry_lock);
    if (entry->previous != NULL) {
        entry->previous->next = entry->next;
    } else {
        _ajctx_debug.pools = entry->next;
    }
    if (entry->next != NULL) entry->next->previous = entry->previous;
    pthread_mutex_unlock(&registry_lock);
    free(entry);
}

// It reads another context's stack on purpose: not a bug for the sanitizers to report.
#if defined(__clang__)
__attribute__((no_sanitize("address", "thread")))
#endif
size_t _ajctx_backtrace(const _ajctx_job *job, uintptr_t *addresses, size_t capacity) {
#if AJCTX_HAS_FRAME_LAYOUT
    uintptr_t low = (uintptr_t)job->stack_low;
    uintptr_t high = low + job->stack_size;
    uintptr_t sp = (uintptr_t)job->job_sp;
    if (low == 0 || capacity == 0 || sp < low || sp + AJCTX_FRAME_SIZE > high) return 0;
    size_t count = 0;
    uintptr_t pc = *(const uintptr_t *)(sp + AJCTX_FRAME_PC);
    uintptr_t fp = *(const uintptr_t *)(sp + AJCTX_FRAME_FP);
    if (pc == 0) return 0;
    addresses[count++] = pc;
    // Suspended in the C library's assembly pause, which has no frame of its own: its caller is
    // found from the stack, not from the frame-pointer chain (whose first link is the caller's).
    Dl_info info;
    if (AJCTX_PAUSE_ENTRY_CALLER != 0 && count < capacity && sp + AJCTX_PAUSE_ENTRY_CALLER + sizeof(uintptr_t) <= high
        && dladdr((void *)pc, &info) != 0 && info.dli_sname != NULL && strcmp(info.dli_sname, "SAJ_pause_job") == 0) {
        addresses[count++] = *(const uintptr_t *)(sp + AJCTX_PAUSE_ENTRY_CALLER);
    }
    // Each frame: [fp] = the caller's frame pointer, [fp + 8] = the return address. The walk
    // stays inside the job's stack, so a frame without a frame pointer ends it early (it reads
    // a wrong but mapped word) instead of faulting.
    while (count < capacity && fp >= sp && fp % sizeof(uintptr_t) == 0 && fp + 2 * sizeof(uintptr_t) <= high) {
        uintptr_t caller_fp = ((const uintptr_t *)fp)[0];
        uintptr_t return_address = ((const uintptr_t *)fp)[1];
        if (return_address == 0) break;
        addresses[count++] = return_address;
        if (caller_fp <= fp) break;
        fp = caller_fp;
    }
    return count;
#else
    (void)job;
    (void)addresses;
    (void)capacity;
    return 0;
#endif
}
