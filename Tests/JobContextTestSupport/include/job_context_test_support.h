// SPDX-License-Identifier: Apache-2.0
// Test-only probes for the switch layer: what Swift (and portable C) cannot see, namely the
// callee-saved registers around a switch, the stack pointer at a context's first instruction,
// and the floating-point control registers. Shared by Tests/JobContextTests (Swift) and
// Tests/ContextC/switch_test.c (plain C, native and aarch64 under qemu).
#ifndef AJT_JOB_CONTEXT_TEST_SUPPORT_H
#define AJT_JOB_CONTEXT_TEST_SUPPORT_H

#include <stdint.h>

#if defined(__clang__)
#pragma clang assume_nonnull begin
#else
#ifndef _Nullable
#define _Nullable
#endif
#ifndef _Nonnull
#define _Nonnull
#endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

/// Loads every callee-saved register with a pattern derived from `seed` (register i gets
/// `seed + i`, and FP register i gets the bits of `seed + 0x100 + i`), calls
/// `_ajctx_swap(save, to, data)`, then compares each register with its pattern.
///
/// - Returns: a bit mask of the registers that changed across the switch (0: all preserved).
///   x86_64: bit 0 rbx, 1 rbp, 2 r12, 3 r13, 4 r14, 5 r15, 6 rsp.
///   aarch64: bits 0-9 x19-x28, 10 x29, 11-18 d8-d15, 19 sp.
///   `*received` gets the value that the switch returned (the `data` of whoever switched back).
uint64_t ajt_swap_checking_registers(void *_Nullable *_Nonnull save, void *to, void *_Nullable data, uint64_t seed,
                                     void *_Nullable *_Nonnull received);

/// Number of registers `ajt_swap_checking_registers` checks on this architecture.
int ajt_checked_register_count(void);

/// An entry for `_ajctx_make`: tail-jumps to the continuation set with
/// `ajt_set_entry_continuation`, on the same stack, passing its own `data` and the stack pointer
/// it found at its very first instruction (on x86_64 the trampoline reached it with a `call`, so
/// the ABI wants `sp % 16 == 8`; on aarch64 `sp % 16 == 0`).
void ajt_recording_entry(void *_Nullable data);

/// Sets the function that `ajt_recording_entry` continues into. A process-wide setting: set it
/// to the same function from every test that uses it.
void ajt_set_entry_continuation(void (*continuation)(void *_Nullable data, uintptr_t entry_sp));

/// The stack pointer the ABI wants at a function's first instruction, modulo 16.
uintptr_t ajt_expected_entry_alignment(void);

#if defined(__x86_64__)
/// MXCSR, whole register (control bits 6-15, status flags 0-5).
uint32_t ajt_get_mxcsr(void);
void ajt_set_mxcsr(uint32_t value);
/// The x87 FPU control word.
uint16_t ajt_get_x87_control_word(void);
void ajt_set_x87_control_word(uint16_t value);
#endif

#if defined(__aarch64__)
/// FPCR (rounding mode in bits 22-23, flush-to-zero in bit 24).
uint64_t ajt_get_fpcr(void);
void ajt_set_fpcr(uint64_t value);
#endif

#ifdef __cplusplus
}
#endif

#if defined(__clang__)
#pragma clang assume_nonnull end
#endif

#endif
