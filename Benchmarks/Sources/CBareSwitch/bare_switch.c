// SPDX-License-Identifier: Apache-2.0
// First-frame construction for the bare switch, as in Sources/_CJobContext/job_context.c.
#include "include/bare_switch.h"
#include "../../../Sources/_CJobContext/job_context_layout.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#if defined(__has_include)
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#endif
#endif

void _bench_callgrind_toggle(void) {
#if defined(CALLGRIND_TOGGLE_COLLECT)
    CALLGRIND_TOGGLE_COLLECT;
#endif
}

long _bench_rss_bytes(void) {
    long total = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL) return -1;
    if (fscanf(f, "%ld %ld", &total, &resident) != 2) resident = -1;
    fclose(f);
    return resident * sysconf(_SC_PAGESIZE);
}

extern void _bare_trampoline(void);

void *_bare_make(void *stack_top, void (*entry)(void *)) {
    uintptr_t top = (uintptr_t)stack_top & ~(uintptr_t)15;
    unsigned char *sp = (unsigned char *)(top - AJCTX_FRAME_SIZE);
    memset(sp, 0, AJCTX_FRAME_SIZE);
    void *entry_ptr = (void *)entry;
    void *trampoline = (void *)&_bare_trampoline;
#if defined(__x86_64__)
    uint32_t mxcsr;
    uint16_t fpucw;
    __asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
    __asm__ volatile("fnstcw %0" : "=m"(fpucw));
    memcpy(sp + AJCTX_FRAME_FPCTL, &mxcsr, 4);
    memcpy(sp + AJCTX_FRAME_FPCTL + 4, &fpucw, 2);
    memcpy(sp + AJCTX_FRAME_R12, &entry_ptr, sizeof entry_ptr);
    memcpy(sp + AJCTX_FRAME_RIP, &trampoline, sizeof trampoline);
#elif defined(__aarch64__)
    uint64_t fpcr;
    __asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
    memcpy(sp + AJCTX_FRAME_FPCR, &fpcr, 8);
    memcpy(sp + AJCTX_FRAME_X19, &entry_ptr, sizeof entry_ptr);
    memcpy(sp + AJCTX_FRAME_X30, &trampoline, sizeof trampoline);
#endif
    return sp;
}
