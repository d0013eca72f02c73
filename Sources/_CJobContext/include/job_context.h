// SPDX-License-Identifier: Apache-2.0
// swift-async-jobs: the machine-context layer. Creates a job's first frame and switches stacks;
// holds no policy (no pools, no allocation, no errors). Swift owns every decision.
//
// Invariants:
// - A `_ajctx_job` lives in memory that does not move while its job exists (never in a Swift
//   class property: the caller's exclusivity access would stay open across the switch).
// - `_ajctx_resume` is only called by the thread that owns the job, with no job running;
//   `_ajctx_suspend` and `_ajctx_exit` only from inside that job.
#ifndef AJCTX_JOB_CONTEXT_H
#define AJCTX_JOB_CONTEXT_H

#include <stddef.h>
#include <stdint.h>

// Nullability qualifiers are a clang extension (Swift imports them); GCC (the aarch64 cross test)
// builds this header with them spelled away.
#if !defined(__clang__)
#ifndef _Nullable
#define _Nullable
#endif
#ifndef _Nonnull
#define _Nonnull
#endif
#else
#pragma clang assume_nonnull begin
#endif

#ifdef __cplusplus
extern "C" {
#endif

/// The machine state of one job: where each side's stack pointer is kept while it does not run,
/// the job's Swift exclusivity access set while it is suspended, and the sanitizer bookkeeping.
/// Swift treats it as opaque storage except for `owner` and `wake_fd`.
typedef struct _ajctx_job {
    /// Saved stack pointer of the job while it is suspended (or its fresh first frame).
    void *_Nullable job_sp;
    /// Saved stack pointer of whoever resumed the job, while the job runs.
    void *_Nullable caller_sp;
    /// The job's Swift exclusivity access set while suspended (swift_task_*ThreadLocalContext).
    uintptr_t access_set[2];
    /// Lowest usable byte of the job's stack and its usable size (for sanitizers and valgrind).
    void *_Nullable stack_low;
    size_t stack_size;
    /// Called on the job's stack with this structure to run one body; the stack's first frame
    /// calls it again for each next body (see `_ajctx_finish`).
    void (*_Nullable entry)(struct _ajctx_job *job);
    /// The Swift object that owns this job (opaque to C).
    void *_Nullable owner;
    /// First-design wait fd (eventfd), -1 until created; published with `_ajctx_publish_wake_fd`.
    int32_t wake_fd;
    /// valgrind stack id, 0 when not registered.
    uint32_t valgrind_id;
    /// Sanitizer state: the job's TSan fiber, the resumer's TSan fiber, the resumer's ASan fake
    /// stack and stack bounds (learned when the job is entered).
    void *_Nullable tsan_fiber;
    void *_Nullable tsan_caller;
    void *_Nullable asan_fake_stack;
    const void *_Nullable asan_caller_bottom;
    size_t asan_caller_size;
    /// The inaccessible region below the stack (0 size: none), for the overflow report.
    void *_Nullable guard_low;
    size_t guard_size;
    /// The switch hooks of the job's pool and the job's state for each (NULL: none). Set with
    /// `_ajctx_set_hooks` while the job is idle. (In the padding before `reusable`: the
    /// structure keeps its size.)
    struct _ajctx_job_hooks *_Nullable hooks;
    /// The job's own Swift task-local bindings while it does not run: the runtime's per-thread
    /// fallback storage, which the out-of-line switches swap (NULL: none;
    /// job_context_task_locals.c).
    void *_Nullable task_locals;
    /// 1 while the stack holds a frame at a body boundary: a fresh first frame, or the frame of a
    /// finished body that the finish suspended. The next `_ajctx_resume` then starts a body on it
    /// (continuing the frame instead of building a fresh one). 0 while a body runs or is paused,
    /// and when there is no frame.
    uint32_t reusable;
} _ajctx_job;

/// A function of a switch hook: called with the job's state word for the hook and the hook's
/// argument. Runs on the thread that switches; must not start, resume or pause a job.
typedef void (*_ajctx_switch_fn)(void *_Nullable *_Nonnull state, void *_Nullable arg);

/// Per-thread state that follows jobs: `start` makes a job's state when a body starts (NULL:
/// the state starts NULL), `swap` exchanges the thread's state with the job's on every switch
/// into the job and out of it, `end` lets go of the job's state when its body ends (NULL: none).
typedef struct _ajctx_switch_hook {
    _ajctx_switch_fn _Nullable start;
    _ajctx_switch_fn _Nonnull swap;
    _ajctx_switch_fn _Nullable end;
    void *_Nullable arg;
} _ajctx_switch_hook;

/// One job's view of its pool's hooks: the pool's table (owned by the pool, unchanged while any
/// job of the pool is in use) and the job's state word for each hook.
typedef struct _ajctx_job_hooks {
    const _ajctx_switch_hook *_Nonnull table;
    size_t count;
    /// 1 from the first switch into a body until that body ends (`start` has run, `end` not yet).
    uint32_t active;
    /// `count` words: while the job runs, the switcher's state; otherwise the job's.
    void *_Nullable *_Nonnull state;
} _ajctx_job_hooks;

/// Gives an idle job (never started, or its last body finished) its hooks, or takes them away
/// (NULL). A job with hooks never takes the inline switches: its `access_set[0]` carries a tag
/// bit (access-set heads are pointers, so bit 0 is free), which fails their checks and sends
/// every switch of the job to the out-of-line functions, which run the hooks; and its stack's
/// first frame is a loop that ends each body through `_ajctx_finish` (so the next
/// `_ajctx_prepare` builds a fresh first frame). A job without hooks pays nothing for them.
void _ajctx_set_hooks(_ajctx_job *job, _ajctx_job_hooks *_Nullable hooks);

/// The process-wide hooks, which pools made afterwards copy (`_ajctx_process_hooks`). In C so
/// that a library's constructor can register one before any Swift code runs. At most
/// `AJCTX_PROCESS_HOOKS_MAX`; returns 0, or ENOSPC when full.
#define AJCTX_PROCESS_HOOKS_MAX 16
int _ajctx_add_process_hook(_ajctx_switch_hook hook);

/// Copies the process-wide hooks into `out` (at most `capacity`) and returns how many there are.
size_t _ajctx_process_hooks(_ajctx_switch_hook *_Nullable out, size_t capacity);

/// Prepares `job` to run `job->entry` (and, after each return, `_ajctx_finish` and the entry
/// again) on the stack [`stack_low`, `stack_low + stack_size`) at its next `_ajctx_resume`. Any
/// earlier frame on that stack is forgotten. Registers the stack with the sanitizers the first
/// time.
void _ajctx_prepare(_ajctx_job *job);

/// Switches from the resumer into the job; returns when the job suspends, finishes or exits.
/// Swaps the Swift exclusivity access set and informs ASan/TSan of the switch.
/// (`_ajctx_resume_fast` is the same switch, inlined into the caller.)
void _ajctx_resume(_ajctx_job *job);

/// Switches from the running job back to its resumer; returns when the job is resumed.
/// (`_ajctx_suspend_fast` is the same switch, inlined into the caller.)
void _ajctx_suspend(_ajctx_job *job);

/// From inside the job, after its body returned: switches back to the resumer like
/// `_ajctx_suspend`, marking the frame `reusable`. Returns when the job is resumed to run its
/// next body on the same frame (no new first frame, no trampoline). In ASan builds it leaves
/// through `_ajctx_exit` instead (a fiber's fake stack must die with its frames) and never returns.
void _ajctx_finish(_ajctx_job *job);

/// Leaves the job for good: its stack may be reused or freed once this switch completes.
__attribute__((noreturn)) void _ajctx_exit(_ajctx_job *job);

/// Releases what `_ajctx_prepare` registered for the stack (TSan fiber, valgrind id) and forgets
/// a reusable frame.
void _ajctx_release(_ajctx_job *job);

/// Publishes a newly created wake fd unless another thread published one first.
/// Returns the fd that is now the job's (the caller closes its own if it lost the race).
int32_t _ajctx_publish_wake_fd(_ajctx_job *job, int32_t fd);

/// Reads the job's wake fd with acquire ordering (-1 if none).
static inline int32_t _ajctx_load_wake_fd(const _ajctx_job *job) {
    return __atomic_load_n(&job->wake_fd, __ATOMIC_ACQUIRE);
}

/// Test hook: 0 stops swapping Swift's exclusivity access sets (the default 1 swaps them).
/// Defined in debug builds only (Package.swift defines AJCTX_TEST_HOOKS for job_context.c and
/// ASYNCJOBS_TEST_HOOKS for the Swift code that calls it): the shipped library does not export it.
/// Declared unconditionally because Swift's importer does not see a C target's own defines.
void _ajctx_set_access_set_swapping(int enabled);

/// Test hook, debug builds only like the one above: 0 keeps the inline access-set swap off (every
/// switch calls the runtime's functions, as with ASYNCJOBS_INLINE_ACCESS_SWAP=0), 1 allows it
/// again; the calling thread searches for its head again at its next out-of-line switch.
void _ajctx_set_access_set_inline(int enabled);

/// Test hook, debug builds only: 1 in ASan or TSan builds, whose switches never swap access sets
/// inline (the sanitizer hooks are out of line).
int _ajctx_sanitized_build(void);

/// Installs, once per process, the SIGSEGV handler that reports a guard-page hit on a job stack
/// (naming the job and its stack size) and aborts; faults that are not on a job's guard page go
/// to the handler that was installed before (or the default action). Returns 0, or an errno.
int _ajctx_install_overflow_handler(void);

/// Gives the calling thread an alternate signal stack if it has none (the handler cannot run on
/// the overflowed stack). Returns 0, or an errno. Idempotent per thread.
int _ajctx_thread_altstack_acquire(void);

/// Removes and frees the alternate signal stack that `_ajctx_thread_altstack_acquire` installed
/// on this thread, if any.
void _ajctx_thread_altstack_release(void);

/// 1 when switching uses the hand-written assembly, 0 when the ucontext fallback is built.
int _ajctx_uses_assembly(void);

/// Name of the switch implementation ("x86_64_sysv_elf", "arm64_aapcs_elf" or "ucontext").
const char *_ajctx_implementation(void);

/// What the switch keeps per thread. One variable, so that a resume or a pause finds the
/// thread's block once and reaches every field from it (`initial-exec`: a %fs-relative access
/// even inside a shared library).
typedef struct _ajctx_thread_state {
    /// The job running on this thread, or NULL.
    _ajctx_job *_Nullable current;
    /// The thread's job pool (an opaque Swift object), or NULL.
    void *_Nullable pool;
    /// The address of the Swift runtime's exclusivity access-set head of this thread, once the
    /// out-of-line switch has found it (job_context.c); NULL while unknown, in sanitizer builds
    /// and while the swap is switched off for a test. Non-NULL means the inline switches below
    /// may run.
    uintptr_t *_Nullable access_head;
    /// The addresses of the Swift concurrency runtime's two per-thread words that task-local
    /// values depend on: its fallback task-local storage (bindings made outside a task) and its
    /// current task. Valid whenever `access_head` is non-NULL (published together); they point
    /// at a word that is always 0 where the words were not found or following them is switched
    /// off (ASYNCJOBS_JOB_TASK_LOCALS=0). The inline switches run only while both words are 0
    /// on the way in and the first is 0 on the way out: otherwise the out-of-line switch gives
    /// the job its own bindings and no task (job_context_task_locals.c).
    uintptr_t *_Nullable tl_fallback;
    uintptr_t *_Nullable tl_task;
    /// While a job runs after an out-of-line switch hid them: the resumer's values of those two
    /// words, restored when the job switches out. 0 otherwise (a resumer whose words were not
    /// hidden had both at 0, which restoring the zeros gives back).
    uintptr_t tl_saved_fallback;
    uintptr_t tl_saved_task;
} _ajctx_thread_state;

extern _Thread_local _ajctx_thread_state _ajctx_tls __attribute__((tls_model("initial-exec")));

static inline _ajctx_job *_Nullable _ajctx_current(void) { return _ajctx_tls.current; }
static inline void _ajctx_set_current(_ajctx_job *_Nullable job) { _ajctx_tls.current = job; }
static inline void *_Nullable _ajctx_pool(void) { return _ajctx_tls.pool; }
static inline void _ajctx_set_pool(void *_Nullable pool) { _ajctx_tls.pool = pool; }
/// Whether this thread's switches swap access sets inline (1: the head is known; 0: they call
/// the runtime's functions, or the thread has not switched yet).
static inline int _ajctx_access_set_inline(void) { return _ajctx_tls.access_head != NULL; }

/// Asks the cache for the lines a resume of `job` reads first: its `_ajctx_job` (and the Swift
/// record after it). For a driver that resumes many jobs in turn, one or two jobs ahead.
static inline void _ajctx_prefetch_job(const _ajctx_job *job) {
    __builtin_prefetch(job);
    __builtin_prefetch((const char *)job + 64);
    __builtin_prefetch((const char *)job + 128);
    __builtin_prefetch((const char *)job + 192);
}

/// Asks the cache for the top of the suspended job's stack: the frame the switch restores and
/// the frames above it that run first. Reads `job->job_sp`: prefetch the job itself earlier.
static inline void _ajctx_prefetch_stack(const _ajctx_job *job) {
    const char *sp = (const char *)job->job_sp;
    if (sp == NULL) return;
    __builtin_prefetch(sp);
    __builtin_prefetch(sp + 64);
    __builtin_prefetch(sp + 128);
    __builtin_prefetch(sp + 192);
    __builtin_prefetch(sp + 256);
    __builtin_prefetch(sp + 320);
}

/// Asks the cache for the first two lines of an object the resumed job touches at once (its
/// wait context).
static inline void _ajctx_prefetch_object(const void *object) {
    __builtin_prefetch(object);
    __builtin_prefetch((const char *)object + 64);
}

// ---- Bare switch, for the context tests and the benchmark floor only ----

/// Builds a first frame below `stack_top` (aligned down to 16 bytes) that calls
/// `entry(data)` when first switched to; returns the frame's stack pointer.
void *_ajctx_make(void *stack_top, void (*entry)(void *_Nullable data));

/// Saves the callee-saved state on the current stack, stores the stack pointer in `*save`,
/// switches to the frame at `to` and passes `data` to it. Returns the `data` passed by whoever
/// switches back. No sanitizer or exclusivity bookkeeping.
void *_Nullable _ajctx_swap(void *_Nullable *_Nonnull save, void *to, void *_Nullable data);

// ---- A record's generation ----

/// A job record's generation, read and written as a relaxed atomic: a stale C handle is checked
/// by reading the generation of a record that another thread's pool may be reusing at that
/// moment (the record's owner is then that thread). On x86_64 and arm64 these are plain loads
/// and stores; the atomic spelling tells the compiler and ThreadSanitizer that the race is
/// intended (the reader only compares, and any value it sees refuses a stale handle).
static inline __attribute__((always_inline)) uint64_t _ajctx_generation_load(const uint64_t *generation) {
    return __atomic_load_n(generation, __ATOMIC_RELAXED);
}
static inline __attribute__((always_inline)) void _ajctx_generation_store(uint64_t *generation, uint64_t value) {
    __atomic_store_n(generation, value, __ATOMIC_RELAXED);
}

// ---- Task-local values ----

/// The inline switches' tests, folded into one comparison each (no branch of their own; only
/// when `_ajctx_tls.access_head` is non-NULL, which publishes the task-local words' addresses).
/// Into the job: its access-set word is 0 (no open access saved, no tag) and the thread has
/// neither task-local bindings outside a task nor a current task. Out of it: the word is the
/// head the job found on entry and the job has no task-local bindings.
static inline __attribute__((always_inline)) int _ajctx_inline_resume_ok(const _ajctx_job *job) {
    return (job->access_set[0] | *_ajctx_tls.tl_fallback | *_ajctx_tls.tl_task) == 0;
}
static inline __attribute__((always_inline)) int _ajctx_inline_suspend_ok(const _ajctx_job *job,
                                                                          const uintptr_t *head) {
    return ((job->access_set[0] ^ *head) | *_ajctx_tls.tl_fallback) == 0;
}

/// Lets go of the task-local bindings of a job that will never run again (abandoned while
/// paused): destroys their values on the calling thread. Nothing if it has none.
void _ajctx_discard_task_locals(_ajctx_job *job);

/// For a job that another thread (a loop) will start: copies of the task-local bindings the
/// calling code sees (its task's, or its thread's outside a task), in a storage of their own, or
/// NULL if there are none (or task-local values are not followed). Any thread.
void *_Nullable _ajctx_task_locals_capture(void);

/// Makes `captured` (from `_ajctx_task_locals_capture`) the calling thread's task-local bindings,
/// with no current task, until `_ajctx_task_locals_uninstall` with the same `saved`: a job started
/// in between starts with copies of them. Nothing if `captured` is NULL. Not inside a job.
void _ajctx_task_locals_install(void *_Nullable captured, uintptr_t saved[_Nonnull 2]);
void _ajctx_task_locals_uninstall(void *_Nullable captured, const uintptr_t saved[_Nonnull 2]);

/// Destroys a captured storage's values and frees it (any thread; not while installed).
void _ajctx_task_locals_release(void *_Nullable captured);

/// Whether the calling thread's switches give each job its own task-local values: 1 yes, 0 no
/// (the runtime's words were not found, or ASYNCJOBS_JOB_TASK_LOCALS=0).
int _ajctx_task_locals_isolated(void);

// ---- The switch inlined into its callers ----
// The usual case of `_ajctx_resume`/`_ajctx_suspend`, without a call: the access-set head is
// known (so no sanitizer hooks are needed), and the job left no access open when it last
// suspended (resume) or since it was entered (suspend), which makes the swap of access sets two
// stores. Every other case calls the out-of-line function, which does the whole protocol.

/// Returns `job` (from the switch back, whose data is always the job: the caller need not keep
/// its own copy alive across the switch).
static inline __attribute__((always_inline)) _ajctx_job *_ajctx_resume_fast(_ajctx_job *job) {
    uintptr_t *head = _ajctx_tls.access_head;
    if (__builtin_expect(head != NULL && _ajctx_inline_resume_ok(job), 1)) {
        job->access_set[0] = *head;  // the head the job finds on entry, to recognise it on suspend
        return (_ajctx_job *)_ajctx_swap(&job->caller_sp, job->job_sp, job);
    }
    _ajctx_resume(job);
    return job;
}

static inline __attribute__((always_inline)) void _ajctx_suspend_fast(_ajctx_job *job) {
    uintptr_t *head = _ajctx_tls.access_head;
    if (__builtin_expect(head != NULL && _ajctx_inline_suspend_ok(job, head), 1)) {
        job->access_set[0] = 0;  // the job left no access open
        job->access_set[1] = 0;
        _ajctx_swap(&job->job_sp, job->caller_sp, job);
    } else {
        _ajctx_suspend(job);
    }
}

/// The exclusivity half of `_ajctx_resume_fast`, for a caller that then switches itself with
/// `_ajctx_swap(&job->caller_sp, job->job_sp, job)` and nothing in between (the C library's
/// assembly entry points). Returns 1 having done the two stores, or 0 having done nothing (the
/// caller then takes `_ajctx_resume`'s path).
static inline __attribute__((always_inline)) int _ajctx_resume_prepare(_ajctx_job *job) {
    uintptr_t *head = _ajctx_tls.access_head;
    if (__builtin_expect(head != NULL && _ajctx_inline_resume_ok(job), 1)) {
        job->access_set[0] = *head;
        return 1;
    }
    return 0;
}

/// The exclusivity half of `_ajctx_suspend_fast` (see `_ajctx_resume_prepare`): the caller then
/// switches with `_ajctx_swap(&job->job_sp, job->caller_sp, job)`.
static inline __attribute__((always_inline)) int _ajctx_suspend_prepare(_ajctx_job *job) {
    uintptr_t *head = _ajctx_tls.access_head;
    if (__builtin_expect(head != NULL && _ajctx_inline_suspend_ok(job, head), 1)) {
        job->access_set[0] = 0;
        job->access_set[1] = 0;
        return 1;
    }
    return 0;
}

#ifdef __cplusplus
}
#endif

#if defined(__clang__)
#pragma clang assume_nonnull end
#endif

#endif
