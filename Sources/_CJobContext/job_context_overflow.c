// SPDX-License-Identifier: Apache-2.0
// Stack-overflow reporting: a SIGSEGV handler, run on a per-thread alternate signal stack, that
// recognises a fault on the guard page of the running job's stack, prints one line naming the
// job, its stack size and how to raise it, and aborts. Any other fault is passed on to the handler
// installed before ours (Swift's backtracer, a crash reporter) or to the default action.
// C because a signal handler must be async-signal-safe: no allocation, no locks, no Swift runtime.
#include "job_context.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
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

static void on_segv(int signal_number, siginfo_t *info, void *context) {
    _ajctx_job *job = _ajctx_tls.current;
    if (job != NULL && job->guard_size != 0) {
        uintptr_t address = (uintptr_t)info->si_addr;
        uintptr_t guard_low = (uintptr_t)job->guard_low;
        uintptr_t guard_high = guard_low + job->guard_size;
        uintptr_t lowest = guard_low > AJCTX_OVERFLOW_SLACK ? guard_low - AJCTX_OVERFLOW_SLACK : 0;
        if (address >= lowest && address < guard_high) report_and_abort(job, address);
    }
    // Not ours: hand it on.
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
