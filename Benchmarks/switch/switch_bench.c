// SPDX-License-Identifier: Apache-2.0
// Measures one switch round trip (there and back) for docs/context-switch.md; not a test.
//   switch_bench time [rounds] : median ns per round trip of 15 samples, per variant
//   switch_bench count VARIANT N : just N round trips (for callgrind's instruction counts)
// Variants: compare (the real _ajctx_swap: load MXCSR/x87 CW only when control bits differ),
// compare-differ (same, with the two contexts in different rounding modes, so it loads every time),
// always (store and load every time), none (no FP control state at all). Built with
// -DAJCTX_USE_UCONTEXT, "compare" is the ucontext fallback instead.
#include "job_context.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

void *bench_swap_always(void **save, void *to, void *data);
void *bench_swap_none(void **save, void *to, void *data);

typedef void *(*swap_fn)(void **, void *, void *);
static void *main_sp, *ctx_sp;

#define DEFINE_VARIANT(name, swap)                                                                                    \
    static void entry_##name(void *data) {                                                                            \
        (void)data;                                                                                                   \
        for (;;) swap(&ctx_sp, main_sp, NULL);                                                                        \
    }                                                                                                                 \
    __attribute__((noinline)) static void loop_##name(long rounds) {                                                  \
        for (long i = 0; i < rounds; i++) swap(&main_sp, ctx_sp, NULL);                                               \
    }

DEFINE_VARIANT(compare, _ajctx_swap)
DEFINE_VARIANT(always, bench_swap_always)
DEFINE_VARIANT(none, bench_swap_none)

static void *stack_top_new(void) {
    size_t size = 256 * 1024;
    unsigned char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (p == MAP_FAILED) abort();
    return p + size;
}

static uint32_t get_mxcsr(void) {
    uint32_t v;
    __asm__ volatile("stmxcsr %0" : "=m"(v));
    return v;
}
static void set_mxcsr(uint32_t v) { __asm__ volatile("ldmxcsr %0" : : "m"(v)); }

// Prepares a context for `variant`; returns its loop. `differ` makes the context round toward
// zero while main keeps round-to-nearest, so every compare-scheme switch has to load.
static void (*prepare(const char *variant))(long) {
    void *top = stack_top_new();
    int differ = strcmp(variant, "compare-differ") == 0;
    uint32_t saved = get_mxcsr();
    if (differ) set_mxcsr(saved | 0x6000); // context created with round-toward-zero
    void (*loop)(long) = NULL;
    if (strcmp(variant, "compare") == 0 || differ) {
        ctx_sp = _ajctx_make(top, entry_compare);
        loop = loop_compare;
    } else if (strcmp(variant, "always") == 0) {
        ctx_sp = _ajctx_make(top, entry_always);
        loop = loop_always;
    } else if (strcmp(variant, "none") == 0) {
        ctx_sp = _ajctx_make(top, entry_none);
        loop = loop_none;
    } else {
        fprintf(stderr, "unknown variant %s\n", variant);
        exit(2);
    }
    if (!_ajctx_uses_assembly() && loop != loop_compare) {
        fprintf(stderr, "variant %s needs the assembly build\n", variant);
        exit(2);
    }
    set_mxcsr(saved);
    loop(1); // enter the context once: later rounds are steady-state round trips
    return loop;
}

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int compare_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc >= 4 && strcmp(argv[1], "count") == 0) {
        void (*loop)(long) = prepare(argv[2]);
        loop(atol(argv[3]));
        return 0;
    }
    long rounds = argc >= 3 ? atol(argv[2]) : 1000000;
    const char *variants[] = {"compare", "compare-differ", "always", "none"};
    printf("implementation %s, %ld round trips per sample, median of 15\n", _ajctx_implementation(), rounds);
    // The ucontext build's _ajctx_make builds ucontext frames: only its own swap can enter them.
    size_t count = _ajctx_uses_assembly() ? sizeof variants / sizeof variants[0] : 2;
    for (size_t v = 0; v < count; v++) {
        void (*loop)(long) = prepare(variants[v]);
        double samples[15];
        for (int s = 0; s < 15; s++) {
            double start = now_ns();
            loop(rounds);
            samples[s] = (now_ns() - start) / (double)rounds;
        }
        qsort(samples, 15, sizeof samples[0], compare_double);
        printf("%-15s %7.2f ns per round trip (min %.2f, max %.2f)\n", variants[v], samples[7], samples[0], samples[14]);
    }
    return 0;
}
