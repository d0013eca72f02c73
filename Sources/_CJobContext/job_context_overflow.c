// SPDX-License-Identifier: Apache-2.0
// Stack-overflow reporting: a SIGSEGV handler, run on a per-thread alternate signal stack, that
// recognises a fault on the guard page of the running job's stack, prints one line naming the
// job, its stack size and how to raise it, and aborts. Any other fault is passed on to the handler
// installed before ours (Swift's backtracer, a crash reporter) or to the default action, as the
// kernel would have run it (its signal mask and flags); a fault inside a job first prints the
// return addresses of the code that resumed the job, which no unwinder reaches from the job's stack.
// C because a signal handler must be async-signal-safe: no allocation, no locks, no Swift runtime.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE  // process_vm_readv
#endif
#include "job_context.h"
#include "job_context_layout.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

static struct sigaction previous_action;
static pthread_once_t install_once = PTHREAD_ONCE_INIT;
static int install_error;

// The alternate stack this library installed on the thread (NULL: none, or the thread had one).
static _Thread_local void *altstack_memory;
static _Thread_local size_t altstack_size;

// A fault this far below the guard page is still attributed to the job (a large frame can step
// over the guard page).
#define AJCTX_OVERFLOW_SLACK (64 * 1024)

static void append(char *buffer, size_t *length, size_t capacity, const char *text) {
    while (*text && *length + 1 < capacity) buffer[(*length)++] = *text++;
}

static void append_unsigned(char *buffer, size_t *length, size_t capacity, uintptr_t value, unsigned base) {
    char digits[32];
    size_t count = 0;
    do {
        unsigned digit = (unsigned)(value % base);
        digits[count++] = (char)(digit < 10 ? '0' + digit : 'a' + digit - 10);
        value /= base;
    } while (value != 0 && count < sizeof digits);
    if (base == 16) append(buffer, length, capacity, "0x");
    while (count > 0 && *length + 1 < capacity) buffer[(*length)++] = digits[--count];
}

static void report_and_abort(_ajctx_job *job, uintptr_t address) {
    char line[400];
    size_t length = 0;
    append(line, &length, sizeof line, "swift-async-jobs: stack overflow in job ");
    append_unsigned(line, &length, sizeof line, (uintptr_t)job, 16);
    append(line, &length, sizeof line, ": it used all of its ");
    append_unsigned(line, &length, sizeof line, job->stack_size, 10);
    append(line, &length, sizeof line, "-byte stack (guard page hit at ");
    append_unsigned(line, &length, sizeof line, address, 16);
    append(line, &length, sizeof line,
           "). Give the pool larger stacks: JobPool.configure(stackSize:) in Swift, "
           "SAJ_set_stack_size() in C.\n");
    ssize_t ignored = write(STDERR_FILENO, line, length);
    (void)ignored;
    // Default action for SIGABRT, so the report is the last word (no handler re-entering here).
    signal(SIGABRT, SIG_DFL);
    abort();
}

#if !defined(AJCTX_USE_UCONTEXT) && (defined(__x86_64__) || defined(__aarch64__)) && defined(__ELF__)
// Reads one word of this process without faulting (an unmapped address gives 0 instead).
static uintptr_t read_word(uintptr_t address) {
    uintptr_t value = 0;
    struct iovec local = {.iov_base = &value, .iov_len = sizeof value};
    struct iovec remote = {.iov_base = (void *)address, .iov_len = sizeof value};
    if (address == 0 || process_vm_readv(getpid(), &local, 1, &remote, 1, 0) != (ssize_t)sizeof value) return 0;
    return value;
}
#endif

// A backtracer unwinds the job's stack up to its first frame, which has no caller: the code
// that resumed the job is on the thread's own stack. Its return addresses, from the resumer's
// frame saved by the switch and its frame-pointer chain, printed before the fault is handed on.
static void report_resumer(_ajctx_job *job) {
#if !defined(AJCTX_USE_UCONTEXT) && (defined(__x86_64__) || defined(__aarch64__)) && defined(__ELF__)
    uintptr_t saved = (uintptr_t)job->caller_sp;
    if (saved == 0) return;
#if defined(__x86_64__)
    uintptr_t frame = read_word(saved + AJCTX_FRAME_RBP), return_address = read_word(saved + AJCTX_FRAME_RIP);
#else
    uintptr_t frame = read_word(saved + AJCTX_FRAME_X29), return_address = read_word(saved + AJCTX_FRAME_X30);
#endif
    char line[160];
    size_t length = 0;
    append(line, &length, sizeof line, "swift-async-jobs: fault inside job ");
    append_unsigned(line, &length, sizeof line, (uintptr_t)job, 16);
    append(line, &length, sizeof line, "; it was resumed from (return addresses on the thread's stack):\n");
    ssize_t ignored = write(STDERR_FILENO, line, length);
    for (int depth = 0; depth < 32 && return_address != 0; depth++) {
        length = 0;
        append(line, &length, sizeof line, "  ");
        append_unsigned(line, &length, sizeof line, return_address, 16);
        append(line, &length, sizeof line, "\n");
        ignored = write(STDERR_FILENO, line, length);
        uintptr_t next = read_word(frame);
        return_address = read_word(frame + sizeof(uintptr_t));
        if (next <= frame) break;  // the chain ends (or is not a chain): stop
        frame = next;
    }
    (void)ignored;
#else
    (void)job;
#endif
}

static void on_segv(int signal_number, siginfo_t *info, void *context) {
    _ajctx_job *job = _ajctx_tls.current;
    if (job != NULL && job->guard_size != 0) {
        uintptr_t address = (uintptr_t)info->si_addr;
        uintptr_t guard_low = (uintptr_t)job->guard_low;
        uintptr_t guard_high = guard_low + job->guard_size;
        uintptr_t lowest = guard_low > AJCTX_OVERFLOW_SLACK ? guard_low - AJCTX_OVERFLOW_SLACK : 0;
        if (address >= lowest && address < guard_high) report_and_abort(job, address);
    }
    if (job != NULL) report_resumer(job);
    // Not ours: hand it on, with the signal mask the kernel would have given that handler. Ours
    // runs with SIGSEGV blocked (no SA_NODEFER), and a thread the next handler creates inherits
    // the mask: Swift's backtracer starts a memory-server thread that survives bad reads by
    // catching its own SIGSEGV, and with SIGSEGV blocked the kernel kills the whole process at
    // its first bad read instead. The backtracer's helper then waits for good on the socket it
    // shares with the dead process, holding the process's stdout and stderr open.
    sigset_t mask = previous_action.sa_mask;
    if (!(previous_action.sa_flags & SA_NODEFER)) sigaddset(&mask, signal_number);
    pthread_sigmask(SIG_SETMASK, &mask, NULL);
    if (previous_action.sa_flags & SA_RESETHAND) {
        struct sigaction default_action;
        memset(&default_action, 0, sizeof default_action);
        default_action.sa_handler = SIG_DFL;
        sigaction(signal_number, &default_action, NULL);
    }
    if ((previous_action.sa_flags & SA_SIGINFO) && previous_action.sa_sigaction != NULL) {
        previous_action.sa_sigaction(signal_number, info, context);
        return;
    }
    if (previous_action.sa_handler != SIG_DFL && previous_action.sa_handler != SIG_IGN &&
        previous_action.sa_handler != NULL) {
        previous_action.sa_handler(signal_number);
        return;
    }
    // Restore the default action; returning re-executes the faulting instruction, which then
    // takes it (a core dump where enabled).
    sigaction(SIGSEGV, &previous_action, NULL);
}

static void install(void) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = on_segv;
    action.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&action.sa_mask);
    if (sigaction(SIGSEGV, &action, &previous_action) != 0) install_error = errno;
}

int _ajctx_install_overflow_handler(void) {
    pthread_once(&install_once, install);
    return install_error;
}

int _ajctx_thread_altstack_acquire(void) {
    if (altstack_memory != NULL) return 0;
    stack_t current;
    if (sigaltstack(NULL, &current) != 0) return errno;
    if (!(current.ss_flags & SS_DISABLE)) return 0;  // the thread already has one: keep it
    size_t size = 64 * 1024;
    long minimum = sysconf(_SC_SIGSTKSZ);
    if (minimum > 0 && (size_t)minimum * 4 > size) size = (size_t)minimum * 4;
    void *memory = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (memory == MAP_FAILED) return errno;
    stack_t stack = {.ss_sp = memory, .ss_size = size, .ss_flags = 0};
    if (sigaltstack(&stack, NULL) != 0) {
        int error = errno;
        munmap(memory, size);
        return error;
    }
    altstack_memory = memory;
    altstack_size = size;
    return 0;
}

void _ajctx_thread_altstack_release(void) {
    if (altstack_memory == NULL) return;
    stack_t current;
    if (sigaltstack(NULL, &current) == 0 && current.ss_sp == altstack_memory && !(current.ss_flags & SS_ONSTACK)) {
        stack_t disable = {.ss_sp = NULL, .ss_size = 0, .ss_flags = SS_DISABLE};
        if (sigaltstack(&disable, NULL) == 0) munmap(altstack_memory, altstack_size);
    }
    altstack_memory = NULL;
    altstack_size = 0;
}
