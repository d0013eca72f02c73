// SPDX-License-Identifier: Apache-2.0
// The floor: the project's assembly switch alone (Sources/_CJobContext/jump_*.S, assembled under
// other names by ../Sources/CBareSwitch), with no exclusivity swap, thread-local or pool.
// Same command line as loops.c; OP: roundtrip | startfinish (make a first frame, enter, leave).
#include "../Sources/CBareSwitch/include/bare_switch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <valgrind/callgrind.h>

enum { STACK_SIZE = 64 * 1024 };
static void *caller_sp, *job_sp;
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
    void (*op)(long) = !strcmp(argv[2], "roundtrip") ? op_roundtrip : !strcmp(argv[2], "startfinish") ? op_startfinish : NULL;
    if (!op) {
        fprintf(stderr, "floor: unknown operation %s\n", argv[2]);
        return 2;
    }
    if (op == op_roundtrip) {
        job_sp = _bare_make(stack_top, bounce);
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
