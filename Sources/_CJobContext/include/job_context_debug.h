// SPDX-License-Identifier: Apache-2.0
// What debuggers and the library's own inspection read of suspended jobs: the frame-pointer walk
// of a suspended stack, and a process-wide list of job pools with the offsets needed to walk them
// from outside (Tools/gdb/asyncjobs.py reads `_ajctx_debug` from a live process or a core file,
// with or without debug information). Mechanism only: Swift decides what to show.
#ifndef AJCTX_JOB_CONTEXT_DEBUG_H
#define AJCTX_JOB_CONTEXT_DEBUG_H

#include "job_context.h"

#if defined(__clang__)
#pragma clang assume_nonnull begin
#endif

#ifdef __cplusplus
extern "C" {
#endif

/// Where the Swift parts of a pool and a job record keep what a debugger needs, in bytes.
/// Written by Swift when it registers a pool (the values never change within a process).
typedef struct _ajctx_debug_layout {
    /// Offset of the Swift job record from its `_ajctx_job`.
    uint64_t record_offset;
    /// Offsets inside the record: its state (one byte), generation (8 bytes) and next record of
    /// the same pool (a `_ajctx_job *`, NULL at the end).
    uint64_t state_offset;
    uint64_t generation_offset;
    uint64_t next_in_pool_offset;
    /// The state byte's value while a job is paused.
    uint64_t paused_state;
    /// Offset inside a pool of its first record (a `_ajctx_job *`, NULL if none).
    uint64_t pool_first_offset;
} _ajctx_debug_layout;

/// One registered pool.
typedef struct _ajctx_debug_pool {
    struct _ajctx_debug_pool *_Nullable next;
    struct _ajctx_debug_pool *_Nullable previous;
    /// The pool (the address `_ajctx_tls.pool` holds on its thread).
    void *pool;
    /// The kernel thread id of the pool's thread (gdb's LWP).
    int64_t thread_id;
} _ajctx_debug_pool;

/// The process-wide root a debugger starts from.
typedef struct _ajctx_debug_info {
    /// 0x4a41475542454401: identifies this structure; the low byte is its version (1).
    uint64_t magic;
    /// Offsets inside `_ajctx_job`.
    uint64_t job_sp_offset;
    uint64_t stack_low_offset;
    uint64_t stack_size_offset;
    uint64_t guard_size_offset;
    /// Offsets from a suspended job's saved stack pointer of the saved frame pointer and of the
    /// return address (job_context_layout.h); both 0 where the ucontext fallback is built.
    uint64_t frame_fp_offset;
    uint64_t frame_pc_offset;
    _ajctx_debug_layout layout;
    /// Registered pools, most recent first.
    _ajctx_debug_pool *_Nullable pools;
    /// For a job suspended in the C library's assembly `SAJ_pause_job` (x86_64), which saves the
    /// context without a frame pointer of its own: the offset from the saved stack pointer of its
    /// C caller's return address (0 where there is no such entry point).
    uint64_t pause_entry_caller_offset;
} _ajctx_debug_info;

extern _ajctx_debug_info _ajctx_debug;

/// Registers the calling thread's new pool, recording `layout`. Returns the entry to pass to
/// `_ajctx_debug_remove_pool`, or NULL if no memory was left for it (the pool then works, but
/// debuggers do not see it).
_ajctx_debug_pool *_Nullable _ajctx_debug_add_pool(void *pool, const _ajctx_debug_layout *layout);

/// Unregisters a pool before its memory goes.
void _ajctx_debug_remove_pool(_ajctx_debug_pool *entry);

/// Return addresses of the suspended job's frames, innermost first, found by following the
/// frame pointers saved on its stack from its saved context; stops at the stack's bounds, a
/// null return address or a frame pointer that does not climb. Returns how many were written
/// to `addresses` (at most `capacity`); 0 for a job that is not suspended, and always 0 with the
/// ucontext fallback. Only the job's own thread may call it while the job can be resumed.
size_t _ajctx_backtrace(const _ajctx_job *job, uintptr_t *addresses, size_t capacity);

#ifdef __cplusplus
}
#endif

#if defined(__clang__)
#pragma clang assume_nonnull end
#endif

#endif
