// SPDX-License-Identifier: Apache-2.0
// The floor: the project's assembly switch alone (Sources/_CJobContext/jump_*.S, assembled under
// other names by ../Sources/CBareSwitch), with no exclusivity swap, thread-local or pool.
// Same command line as loops.c; OP: roundtrip | startfinish (make a first frame, enter, leave) |
// roundtripcalled | roundtripjumped: the round trip with each side's switch behind a function
// that returns with `ret` (the structure of an entry point compiled from C or Swift) or with
// `pop` + `jmp` (the C library's x86_64 entry points, Sources/CAsyncJobsCompat), to measure what
// the return predictor costs after a switch (docs/context-switch.md).
#include "../Sources/CBareSwitch/include/bare_switch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <valgrind/callgrind.h>

enum { STACK_SIZE = 64 * 1024 };
// Not static: the assembly below names them.
__attribute__((visibility("hidden"))) void *caller_sp, *job_sp;
static unsigned char *stack_top;

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

// Job side of the round trip: switch back at once, forever.
static void bounce(void *data) {
    (void)data;
    for (;;) _bare_swap(&job_sp, caller_sp, NULL);
}

// Job side of start -> finish: leave for good (the frame is discarded).
static void leave(void *data) {
    (void)data;
    void *discarded;
    _bare_swap(&discarded, caller_sp, NULL);
    abort();
}

static void op_roundtrip(long n) {
    for (long i = 0; i < n; i++) _bare_swap(&caller_sp, job_sp, NULL);
}

// Each side's switch behind a function that returns with `ret`.
__attribute__((noinline)) static void resume_ret(void) {
    _bare_swap(&caller_sp, job_sp, NULL);
    __asm__ volatile("");  // keeps the call from becoming a tail jump
}
__attribute__((noinline)) static void pause_ret(void) {
    _bare_swap(&job_sp, caller_sp, NULL);
    __asm__ volatile("");
}

static void bounce_called(void *data) {
    (void)data;
    for (;;) pause_ret();
}

static void op_roundtripcalled(long n) {
    for (long i = 0; i < n; i++) resume_ret();
}

#if defined(__x86_64__)
// The same functions returning with `pop` + `jmp`, as the C library's entry points do.
void floor_resume_jmp(void);
void floor_pause_jmp(void);
__asm__(".text\n"
        "floor_resume_jmp:\n"
        "  subq $8, %rsp\n"
        "  leaq caller_sp(%rip), %rdi\n"
        "  movq job_sp(%rip), %rsi\n"
        "  xorl %edx, %edx\n"
        "  call _bare_swap\n"
        "  addq $8, %rsp\n"
        "  popq %rcx\n"
        "  jmpq *%rcx\n"
        "floor_pause_jmp:\n"
        "  subq $8, %rsp\n"
        "  leaq job_sp(%rip), %rdi\n"
        "  movq caller_sp(%rip), %rsi\n"
        "  xorl %edx, %edx\n"
        "  call _bare_swap\n"
        "  addq $8, %rsp\n"
        "  popq %rcx\n"
        "  jmpq *%rcx\n");

static void bounce_jumped(void *data) {
    (void)data;
    for (;;) floor_pause_jmp();
}

static void op_roundtripjumped(long n) {
    for (long i = 0; i < n; i++) floor_resume_jmp();
}
#endif

static void op_startfinish(long n) {
    for (long i = 0; i < n; i++) {
        void *sp = _bare_make(stack_top, leave);
        _bare_swap(&caller_sp, sp, NULL);
    }
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: floor time OP | floor count OP N\n");
        return 2;
    }
    unsigned char *stack = mmap(NULL, STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) return 1;
    stack_top = stack + STACK_SIZE;
    void (*op)(long) = NULL;
    void (*bounce_entry)(void *) = bounce;
    if (!strcmp(argv[2], "roundtrip")) op = op_roundtrip;
    if (!strcmp(argv[2], "startfinish")) op = op_startfinish;
    if (!strcmp(argv[2], "roundtripcalled")) op = op_roundtripcalled, bounce_entry = bounce_called;
#if defined(__x86_64__)
    if (!strcmp(argv[2], "roundtripjumped")) op = op_roundtripjumped, bounce_entry = bounce_jumped;
#endif
    if (!op) {
        fprintf(stderr, "floor: unknown operation %s\n", argv[2]);
        return 2;
    }
    if (op != op_startfinish) {
        job_sp = _bare_make(stack_top, bounce_entry);
        _bare_swap(&caller_sp, job_sp, NULL);
    }
    if (!strcmp(argv[1], "count")) {
        long n = atol(argv[3]);
        CALLGRIND_TOGGLE_COLLECT;
        op(n);
        CALLGRIND_TOGGLE_COLLECT;
        return 0;
    }
    long n = 1000;
    for (;;) {
        double t0 = now_ns();
        op(n);
        if (now_ns() - t0 >= 5e7) break;
        n *= 2;
    }
    n = (long)((double)n * 6.5);
    double t0 = now_ns();
    op(n);
    printf("%s %.2f %ld\n", argv[2], (now_ns() - t0) / (double)n, n);
    return 0;
}
