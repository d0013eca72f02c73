// SPDX-License-Identifier: Apache-2.0
// C side of the switch-test probes: the entry continuation, and floating-point control access.
#include "job_context_test_support.h"

__attribute__((visibility("hidden"))) void (*ajt_entry_continuation_slot)(void *, uintptr_t);

void ajt_set_entry_continuation(void (*continuation)(void *, uintptr_t)) {
    ajt_entry_continuation_slot = continuation;
}

#if defined(__x86_64__)
int ajt_checked_register_count(void) { return 7; }
uintptr_t ajt_expected_entry_alignment(void) { return 8; }
uint32_t ajt_get_mxcsr(void) {
    uint32_t value;
    __asm__ volatile("stmxcsr %0" : "=m"(value));
    return value;
}
void ajt_set_mxcsr(uint32_t value) { __asm__ volatile("ldmxcsr %0" : : "m"(value)); }
uint16_t ajt_get_x87_control_word(void) {
    uint16_t value;
    __asm__ volatile("fnstcw %0" : "=m"(value));
    return value;
}
void ajt_set_x87_control_word(uint16_t value) { __asm__ volatile("fldcw %0" : : "m"(value)); }
#elif defined(__aarch64__)
int ajt_checked_register_count(void) { return 20; }
uintptr_t ajt_expected_entry_alignment(void) { return 0; }
uint64_t ajt_get_fpcr(void) {
    uint64_t value;
    __asm__ volatile("mrs %0, fpcr" : "=r"(value));
    return value;
}
void ajt_set_fpcr(uint64_t value) { __asm__ volatile("msr fpcr, %0" : : "r"(value)); }
#endif
