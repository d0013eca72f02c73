// SPDX-License-Identifier: Apache-2.0
// The job-level switch: Swift exclusivity access sets, ASan/TSan fiber hooks and valgrind stack
// registration wrapped around the bare `_ajctx_swap`, plus first-frame construction.
// Everything here exists because Swift cannot do it: touch callee-saved registers, call the
// sanitizer runtimes' C entry points, or use `_Thread_local` with the initial-exec model.
#include "job_context.h"
#include "job_context_layout.h"
#include "job_context_task_locals.h"

// The frame layout's invariants (the .S files check that it matches their save order).
_Static_assert(AJCTX_FRAME_SIZE % 16 == 0, "a suspended frame keeps the stack 16-byte aligned");
#if defined(__x86_64__)
_Static_assert(AJCTX_FRAME_RIP == AJCTX_FRAME_SIZE - 8, "the return address is the frame's last slot");
_Static_assert(AJCTX_FRAME_X87CW + 2 <= AJCTX_FRAME_R15, "the FP control words fit below the registers");
#elif defined(__aarch64__)
_Static_assert(AJCTX_FRAME_FPCR + 8 <= AJCTX_FRAME_SIZE, "FPCR's slot is inside the frame");
_Static_assert(AJCTX_FRAME_X30 == AJCTX_FRAME_X29 + 8, "x29 and x30 are saved as a pair");
#endif

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stddef.h>
#include <string.h>

// The C library's assembly entry points (CAsyncJobsCompat, saj_entry_x86_64_sysv_elf.S) switch
// with these offsets.
_Static_assert(offsetof(_ajctx_job, job_sp) == 0 && offsetof(_ajctx_job, caller_sp) == 8,
               "saj_entry_x86_64_sysv_elf.S: job_sp at 0, caller_sp at 8");

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define AJCTX_ASAN 1
#endif
#if __has_feature(thread_sanitizer)
#define AJCTX_TSAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define AJCTX_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__)
#define AJCTX_TSAN 1
#endif

#if AJCTX_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#include <sanitizer/lsan_interface.h>
#endif
#if AJCTX_TSAN
#include <sanitizer/tsan_interface.h>
#endif
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define AJCTX_VALGRIND 1
#endif
#endif

_Thread_local _ajctx_thread_state _ajctx_tls __attribute__((tls_model("initial-exec")));

// Swift's per-thread exclusivity access set must follow the job, not the thread: a job that
// pauses inside an open access would otherwise leave it in the resumer's set (docs/fibers.md).
// These are exported by libswiftCore (runtime/Exclusivity.h) for Swift's own tasks. Weak, so
// pure C users of this target (the context tests, the aarch64 test) link without the runtime.
extern void swift_task_enterThreadLocalContext(char *state) __attribute__((weak));
extern void swift_task_exitThreadLocalContext(char *state) __attribute__((weak));

// Test hook: 0 turns the access-set swap off, so a regression test can show the crash it prevents.
static int swap_access_sets = 1;

// Fast path of the swap. Both runtime functions start by finding the thread's access-set head
// through a general-dynamic TLS lookup (`SwiftTLSContext::get()`, __tls_get_addr): ~70 of the
// ~270 instructions of a Swift round trip. In the usual case (the job saved no open access, or
// the head is what the job found on entry) they then only copy or clear `state`. With the head's
// address cached per thread, the switch does exactly that inline (`_ajctx_resume_fast` and
// `_ajctx_suspend_fast` in the header, inlined into Swift) and calls the runtime only for the
// other cases. The address is found once per thread by reading the runtime's own code: the call
// to `SwiftTLSContext::get()` in both functions, its `lea tls_index(%rip), %rdi; call
// __tls_get_addr` and the `mov (%rax), %rcx` that reads the head at offset 0. If any byte differs
// from the expected sequence (another runtime version, static linking, another architecture), the
// address stays unknown and every switch calls the runtime as before.
//
// `tls_access_probe` is this file's own record of the search (NULL: not searched yet on this
// thread; AJCTX_HEAD_UNKNOWN: searched, not found); `_ajctx_tls.access_head` publishes a found
// head to the inline switches. Sanitizer builds never publish it: their switches must call the
// fiber hooks, which only the out-of-line functions do.
#define AJCTX_HEAD_UNKNOWN ((uintptr_t *)1)
static _Thread_local uintptr_t *tls_access_probe __attribute__((tls_model("initial-exec")));
extern void *__tls_get_addr(void *index) __attribute__((weak));

#if AJCTX_ASAN || AJCTX_TSAN
#define AJCTX_PUBLISH_HEAD 0
#else
#define AJCTX_PUBLISH_HEAD 1
#endif

// Whether the inline swap may be used at all: 1 unless the environment variable
// ASYNCJOBS_INLINE_ACCESS_SWAP is "0" (read once per process, at the first thread's first
// out-of-line switch), which keeps the runtime's own functions for every switch: a switch in
// production for the day a runtime change fools the byte check below. -1: not read yet.
#if defined(__x86_64__)
static int inline_swap_allowed = -1;

static int inline_swap_is_allowed(void) {
    int allowed = __atomic_load_n(&inline_swap_allowed, __ATOMIC_RELAXED);
    if (allowed < 0) {
        const char *setting = getenv("ASYNCJOBS_INLINE_ACCESS_SWAP");
        allowed = !(setting != NULL && strcmp(setting, "0") == 0);
        __atomic_store_n(&inline_swap_allowed, allowed, __ATOMIC_RELAXED);
    }
    return allowed;
}
#endif

#ifdef AJCTX_TEST_HOOKS
int _ajctx_sanitized_build(void) { return AJCTX_PUBLISH_HEAD ? 0 : 1; }

void _ajctx_set_access_set_inline(int enabled) {
#if defined(__x86_64__)
    __atomic_store_n(&inline_swap_allowed, enabled ? 1 : 0, __ATOMIC_RELAXED);
#else
    (void)enabled;  // no inline swap on other architectures
#endif
    // The calling thread searches again at its next out-of-line switch.
    _ajctx_tls.access_head = NULL;
    tls_access_probe = NULL;
}

void _ajctx_set_access_set_swapping(int enabled) {
    swap_access_sets = enabled;
    // The inline switches of the calling thread must take the out-of-line path (which reads the
    // flag); other threads that already publish their head go on swapping.
    _ajctx_tls.access_head = NULL;
    tls_access_probe = NULL;
}
#endif

static uintptr_t *find_access_head(void) {
    uintptr_t *head = AJCTX_HEAD_UNKNOWN;
#if defined(__x86_64__)
    if (!inline_swap_is_allowed()) goto done;
    // push %rbp; mov %rsp,%rbp; push %rbx; push %rax; mov %rdi,%rbx; call rel32 (get)
    static const unsigned char prologue[] = {0x55, 0x48, 0x89, 0xe5, 0x53, 0x50, 0x48, 0x89, 0xfb, 0xe8};
    // mov (%rbx),%rdx; mov (%rax),%rcx: state[0] and the head at offset 0 of the TLS context
    static const unsigned char reads[] = {0x48, 0x8b, 0x13, 0x48, 0x8b, 0x08};
    // push %rbp; mov %rsp,%rbp; lea rel32(%rip),%rdi
    static const unsigned char get_start[] = {0x55, 0x48, 0x89, 0xe5, 0x48, 0x8d, 0x3d};
    // (call __tls_get_addr) lea 0x0(%rax),%rax; pop %rbp; ret
    static const unsigned char get_end[] = {0x48, 0x8d, 0x80, 0, 0, 0, 0, 0x5d, 0xc3};
    const unsigned char *enter = (const unsigned char *)swift_task_enterThreadLocalContext;
    const unsigned char *leave = (const unsigned char *)swift_task_exitThreadLocalContext;
    if (enter && leave && __tls_get_addr && memcmp(enter, prologue, sizeof prologue) == 0 &&
        memcmp(leave, prologue, sizeof prologue) == 0 && memcmp(enter + 14, reads, sizeof reads) == 0 &&
        memcmp(leave + 14, reads, sizeof reads) == 0) {
        int32_t to_get_enter, to_get_leave, to_index;
        memcpy(&to_get_enter, enter + 10, 4);
        memcpy(&to_get_leave, leave + 10, 4);
        const unsigned char *get = enter + 14 + to_get_enter;
        if (get == leave + 14 + to_get_leave && memcmp(get, get_start, sizeof get_start) == 0 && get[11] == 0xe8 &&
            memcmp(get + 16, get_end, sizeof get_end) == 0) {
            memcpy(&to_index, get + 7, 4);
            head = __tls_get_addr((void *)(get + 11 + to_index));
        }
    }
done:
#endif
    tls_access_probe = head;
    if (AJCTX_PUBLISH_HEAD && head != AJCTX_HEAD_UNKNOWN) {
        // The inline switches read the task-local words whenever the head is published.
        _ajctx_task_locals_publish();
        _ajctx_tls.access_head = head;
    }
    return head;
}

// Same effect as swift_task_enterThreadLocalContext(job->access_set).
#define AJCTX_ENTER_ACCESS_SET(job)                                                                   \
    do {                                                                                              \
        if (swift_task_enterThreadLocalContext && swap_access_sets) {                                 \
            uintptr_t *head_ = tls_access_probe;                                                      \
            if (__builtin_expect(head_ == NULL, 0)) head_ = find_access_head();                       \
            if (__builtin_expect(head_ != AJCTX_HEAD_UNKNOWN && (job)->access_set[0] == 0, 1))        \
                (job)->access_set[0] = *head_; /* no saved accesses: remember the entry head */       \
            else                                                                                      \
                swift_task_enterThreadLocalContext((char *)(job)->access_set);                        \
        }                                                                                             \
    } while (0)
// Same effect as swift_task_exitThreadLocalContext(job->access_set).
#define AJCTX_EXIT_ACCESS_SET(job)                                                                    \
    do {                                                                                              \
        if (swift_task_exitThreadLocalContext && swap_access_sets) {                                  \
            uintptr_t *head_ = tls_access_probe;                                                      \
            if (__builtin_expect(head_ == NULL, 0)) head_ = find_access_head();                       \
            if (__builtin_expect(head_ != AJCTX_HEAD_UNKNOWN && (job)->access_set[0] == *head_, 1)) { \
                (job)->access_set[0] = 0; /* the job left no access open */                           \
                (job)->access_set[1] = 0;                                                             \
            } else {                                                                                  \
                swift_task_exitThreadLocalContext((char *)(job)->access_set);                         \
            }                                                                                         \
        }                                                                                             \
    } while (0)

// ---- Switch hooks ----
// A job with hooks, or with task-local state to swap (its own bindings, bindings to inherit,
// or a resumer's hidden while it runs: job_context_task_locals.c), carries AJCTX_HOOK_TAG in
// `access_set[0]` whenever the runtime's access-set protocol is not looking at it: the inline
// switches compare that word (with 0 on resume, with the thread's head on suspend and finish),
// the tag makes both comparisons fail, and so every switch of such a job comes here. The
// out-of-line functions take the tag off around the access-set swap and put it back as the
// job's state then requires. Jobs without either never see the tag.
#define AJCTX_HOOK_TAG ((uintptr_t)1)

void _ajctx_set_hooks(_ajctx_job *job, _ajctx_job_hooks *hooks) {
    job->hooks = hooks;
    // The frame left by the last body loops through the other kind of finish: build a new one.
    job->reusable = 0;
    // The job is idle: no access of its is open, so its access set is empty (0).
    job->access_set[0] = hooks != NULL || job->task_locals != NULL ? AJCTX_HOOK_TAG : 0;
    job->access_set[1] = 0;
}

// Before the switch into the job, on the switcher's side: a body that starts makes its states,
// then every hook installs the job's state and keeps the switcher's in its place.
__attribute__((noinline)) static void hooks_enter(_ajctx_job_hooks *hooks) {
    const _ajctx_switch_hook *table = hooks->table;
    if (!hooks->active) {
        hooks->active = 1;
        for (size_t i = 0; i < hooks->count; i++) {
            hooks->state[i] = NULL;
            if (table[i].start != NULL) table[i].start(&hooks->state[i], table[i].arg);
        }
    }
    for (size_t i = 0; i < hooks->count; i++) table[i].swap(&hooks->state[i], table[i].arg);
}

// Before the switch out of the job, on the job's side, in reverse order: every hook restores the
// switcher's state and keeps the job's; when the body has ended, its states are let go.
__attribute__((noinline)) static void hooks_leave(_ajctx_job_hooks *hooks, int ended) {
    const _ajctx_switch_hook *table = hooks->table;
    for (size_t i = hooks->count; i-- > 0;) table[i].swap(&hooks->state[i], table[i].arg);
    if (ended && hooks->active) {
        for (size_t i = hooks->count; i-- > 0;) {
            if (table[i].end != NULL) table[i].end(&hooks->state[i], table[i].arg);
            hooks->state[i] = NULL;
        }
        hooks->active = 0;
    }
}

static pthread_mutex_t process_hooks_lock = PTHREAD_MUTEX_INITIALIZER;
static _ajctx_switch_hook process_hooks[AJCTX_PROCESS_HOOKS_MAX];
static size_t process_hook_count;

int _ajctx_add_process_hook(_ajctx_switch_hook hook) {
    int result = ENOSPC;
    pthread_mutex_lock(&process_hooks_lock);
    if (process_hook_count < AJCTX_PROCESS_HOOKS_MAX) {
        process_hooks[process_hook_count++] = hook;
        result = 0;
    }
    pthread_mutex_unlock(&process_hooks_lock);
    return result;
}

size_t _ajctx_process_hooks(_ajctx_switch_hook *out, size_t capacity) {
    pthread_mutex_lock(&process_hooks_lock);
    size_t count = process_hook_count;
    for (size_t i = 0; i < count && i < capacity && out != NULL; i++) out[i] = process_hooks[i];
    pthread_mutex_unlock(&process_hooks_lock);
    return count;
}

// The access-set swap of a switch into the job, with the tag taken off around it, then the
// task-local words; the tag stays on while the job runs if it had it or if the resumer's
// task-local words were hidden (so that its switch out comes back here to restore them).
static inline __attribute__((always_inline)) void enter_access_set(_ajctx_job *job) {
    uintptr_t tag = job->access_set[0] & AJCTX_HOOK_TAG;
    job->access_set[0] &= ~AJCTX_HOOK_TAG;
    AJCTX_ENTER_ACCESS_SET(job);
    if (_ajctx_task_locals_enter(job)) tag = AJCTX_HOOK_TAG;
    job->access_set[0] |= tag;
}

// The task-local words, the hooks and the access-set swap of a switch out of the job (`ended`:
// its body returned). The tag stays if the job keeps hooks or task-local bindings.
static inline __attribute__((always_inline)) void leave_job(_ajctx_job *job, int ended) {
    _ajctx_task_locals_leave(job, ended);
    _ajctx_job_hooks *hooks = job->hooks;
    if (hooks != NULL) hooks_leave(hooks, ended);
    uintptr_t tag = hooks != NULL || job->task_locals != NULL ? AJCTX_HOOK_TAG : 0;
    job->access_set[0] &= ~AJCTX_HOOK_TAG;
    AJCTX_EXIT_ACCESS_SET(job);
    job->access_set[0] |= tag;
}

#if !defined(AJCTX_USE_UCONTEXT) && ((defined(__x86_64__) || defined(__aarch64__)) && defined(__ELF__))
extern void _ajctx_trampoline(void);

void *_ajctx_make(void *stack_top, void (*entry)(void *)) {
    uintptr_t top = (uintptr_t)stack_top & ~(uintptr_t)15;
    unsigned char *sp = (unsigned char *)(top - AJCTX_FRAME_SIZE);
    memset(sp, 0, AJCTX_FRAME_SIZE);
#if defined(__x86_64__)
    // A new context starts with the creating thread's floating-point control state.
    uint32_t mxcsr;
    uint16_t fpucw;
    __asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
    __asm__ volatile("fnstcw %0" : "=m"(fpucw));
    memcpy(sp + AJCTX_FRAME_FPCTL, &mxcsr, 4);
    memcpy(sp + AJCTX_FRAME_X87CW, &fpucw, 2);
    void *entry_ptr = (void *)entry;
    void *trampoline = (void *)&_ajctx_trampoline;
    memcpy(sp + AJCTX_FRAME_R12, &entry_ptr, sizeof entry_ptr);
    memcpy(sp + AJCTX_FRAME_RIP, &trampoline, sizeof trampoline);
#else
    uint64_t fpcr;
    __asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
    memcpy(sp + AJCTX_FRAME_FPCR, &fpcr, 8);
    void *entry_ptr = (void *)entry;
    void *trampoline = (void *)&_ajctx_trampoline;
    memcpy(sp + AJCTX_FRAME_X19, &entry_ptr, sizeof entry_ptr);
    memcpy(sp + AJCTX_FRAME_X30, &trampoline, sizeof trampoline);
#endif
    return sp;
}

int _ajctx_uses_assembly(void) { return 1; }
const char *_ajctx_implementation(void) {
#if defined(__x86_64__)
    return "x86_64_sysv_elf";
#else
    return "arm64_aapcs_elf";
#endif
}
#endif

// The switch of `_ajctx_suspend` after the hooks and the access set.
static inline __attribute__((always_inline)) void switch_out(_ajctx_job *job) {
#if AJCTX_TSAN
    __tsan_switch_to_fiber(job->tsan_caller, 0);
#endif
#if AJCTX_ASAN
    __sanitizer_start_switch_fiber(&job->asan_fake_stack, job->asan_caller_bottom, job->asan_caller_size);
#endif
    _ajctx_swap(&job->job_sp, job->caller_sp, job);
#if AJCTX_ASAN
    __sanitizer_finish_switch_fiber(job->asan_fake_stack, &job->asan_caller_bottom, &job->asan_caller_size);
#endif
}

// The end of a body of a job without hooks, out of line (its task-local bindings to let go,
// the access set to swap through the runtime, or no inline switch on this thread).
#if !AJCTX_ASAN
static void finish_without_hooks(_ajctx_job *job) {
    job->reusable = 1;
    leave_job(job, 1);
    switch_out(job);
}
#endif

// Runs first on the stack of a job without hooks: completes the sanitizers' view of the switch,
// then runs one body after another on the same frame. After each it switches back to the resumer
// (inline in the usual case: the access-set head is known and the job left no access open) and
// returns when the record has its next body (in ASan builds `_ajctx_exit` leaves the stack for
// good instead). The loop is here, in C, so that the finish is inlined into it; it has no hook
// test at all, since jobs with hooks start on `job_entry_with_hooks`.
static void job_entry(void *data) {
    _ajctx_job *job = data;
#if AJCTX_ASAN
    __sanitizer_finish_switch_fiber(NULL, &job->asan_caller_bottom, &job->asan_caller_size);
#endif
    for (;;) {
        job->reusable = 0;  // a body runs (see `_ajctx_task_locals_enter`)
        job->entry(job);
        // (A job that ends untagged has no task-local binding left: the body's own are popped
        // by the scopes that pushed them, and a job with inherited ones is tagged.)
        uintptr_t *head = _ajctx_tls.access_head;
        if (__builtin_expect(head != NULL && job->access_set[0] == *head, 1)) {
            job->reusable = 1;
            job->access_set[0] = 0;  // the job left no access open
            job->access_set[1] = 0;
            _ajctx_swap(&job->job_sp, job->caller_sp, job);
        } else {
#if AJCTX_ASAN
            _ajctx_exit(job);
#else
            finish_without_hooks(job);
#endif
        }
    }
}

// The first frame of a job with hooks: like `job_entry`, but every body ends through
// `_ajctx_finish`, which runs the hooks out and ends the job's states. (`job_entry`'s inline
// finish cannot tell the end of a body from a pause without one more test on every finish.)
static void job_entry_with_hooks(void *data) {
    _ajctx_job *job = data;
#if AJCTX_ASAN
    __sanitizer_finish_switch_fiber(NULL, &job->asan_caller_bottom, &job->asan_caller_size);
#endif
    for (;;) {
        job->reusable = 0;
        job->entry(job);
        _ajctx_finish(job);
    }
}

void _ajctx_prepare(_ajctx_job *job) {
    unsigned char *top = (unsigned char *)job->stack_low + job->stack_size;
#if AJCTX_ASAN
    // A reused stack may still carry poisoned redzones of the frames of its previous job.
    ASAN_UNPOISON_MEMORY_REGION(job->stack_low, job->stack_size);
#endif
#if AJCTX_TSAN
    if (job->tsan_fiber == NULL) job->tsan_fiber = __tsan_create_fiber(0);
#endif
#if AJCTX_VALGRIND
    if (job->valgrind_id == 0)
        job->valgrind_id = VALGRIND_STACK_REGISTER(job->stack_low, top);
#endif
    // A body abandoned while paused leaves its task-local bindings: their values go now.
    if (job->task_locals != NULL) _ajctx_discard_task_locals(job);
    job->access_set[0] = job->hooks != NULL ? AJCTX_HOOK_TAG : 0;
    job->access_set[1] = 0;
    job->reusable = 1;  // at a body boundary: the next resume starts a body
    job->job_sp = _ajctx_make(top, job->hooks != NULL ? job_entry_with_hooks : job_entry);
}

void _ajctx_release(_ajctx_job *job) {
    if (job->task_locals != NULL) _ajctx_discard_task_locals(job);
#if AJCTX_TSAN
    if (job->tsan_fiber != NULL) {
        __tsan_destroy_fiber(job->tsan_fiber);
        job->tsan_fiber = NULL;
    }
#endif
#if AJCTX_VALGRIND
    if (job->valgrind_id != 0) {
        VALGRIND_STACK_DEREGISTER(job->valgrind_id);
        job->valgrind_id = 0;
    }
#endif
    job->reusable = 0;
}

void _ajctx_resume(_ajctx_job *job) {
    if (job->hooks != NULL) hooks_enter(job->hooks);
    enter_access_set(job);
#if AJCTX_TSAN
    job->tsan_caller = __tsan_get_current_fiber();
    __tsan_switch_to_fiber(job->tsan_fiber, 0);
#endif
#if AJCTX_ASAN
    void *fake_stack = NULL;
    __sanitizer_start_switch_fiber(&fake_stack, job->stack_low, job->stack_size);
#endif
    _ajctx_swap(&job->caller_sp, job->job_sp, job);
#if AJCTX_ASAN
    __sanitizer_finish_switch_fiber(fake_stack, NULL, NULL);
#endif
}

void _ajctx_suspend(_ajctx_job *job) {
    leave_job(job, 0);
    switch_out(job);
}

void _ajctx_finish(_ajctx_job *job) {
#if AJCTX_ASAN
    _ajctx_exit(job);
#else
    job->reusable = 1;
    leave_job(job, 1);
    switch_out(job);
#endif
}

static _Thread_local void *exit_discard_slot;

void _ajctx_exit(_ajctx_job *job) {
    job->reusable = 0;
    leave_job(job, 1);
#if AJCTX_TSAN
    __tsan_switch_to_fiber(job->tsan_caller, 0);
#endif
#if AJCTX_ASAN
    // NULL: this fiber's fake stack dies with it.
    __sanitizer_start_switch_fiber(NULL, job->asan_caller_bottom, job->asan_caller_size);
#endif
    // The dead job's stack pointer goes to a per-thread slot, never to a local: under ASan with
    // detect_stack_use_after_return an address-taken local lives on the fake stack that the
    // NULL start_switch_fiber above has just destroyed.
    _ajctx_swap(&exit_discard_slot, job->caller_sp, job);
    __builtin_trap();
}

int32_t _ajctx_publish_wake_fd(_ajctx_job *job, int32_t fd) {
    int32_t expected = -1;
    if (__atomic_compare_exchange_n(&job->wake_fd, &expected, fd, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        return fd;
    return expected;
}

