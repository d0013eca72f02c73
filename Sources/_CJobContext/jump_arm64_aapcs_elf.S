// SPDX-License-Identifier: Apache-2.0
// Stack switch for AArch64, AAPCS64, ELF. Reference: Procedure Call Standard for the Arm 64-bit
// Architecture, section 6.1.1 (x19-x28, x29 (fp), x30 (lr), sp and the low 64 bits of v8-v15 are
// callee-saved) and 6.1.2 (FPCR's rounding and trap bits are preserved across calls).
//
// Frame of a suspended context (offsets from its saved sp, see job_context_layout.h):
//   +0 x19 x20  +16 x21 x22  +32 x23 x24  +48 x25 x26  +64 x27 x28  +80 x29 x30
//   +96 d8 d9  +112 d10 d11  +128 d12 d13  +144 d14 d15  +160 FPCR  (+168 unused)
//
// Deliberately not saved: caller-saved registers, the upper halves of v8-v15 (caller-saved),
// FPSR (status flags), and the signal mask. FPCR is stored always but written only when it
// differs (msr fpcr is serialising on many cores).
// The switch leaves through `ret x30`: unlike x86 there is no return-stack penalty worth a `br`,
// and under BTI a `br` to a return address (which carries no landing pad) would fault.
#if defined(__aarch64__) && defined(__ELF__) && !defined(AJCTX_USE_UCONTEXT)

#include "job_context_layout.h"
#if AJCTX_FRAME_X19 != 0 || AJCTX_FRAME_X21 != 16 || AJCTX_FRAME_X23 != 32 || AJCTX_FRAME_X25 != 48 \
    || AJCTX_FRAME_X27 != 64 || AJCTX_FRAME_X29 != 80 || AJCTX_FRAME_X30 != 88 || AJCTX_FRAME_D8 != 96 \
    || AJCTX_FRAME_D10 != 112 || AJCTX_FRAME_D12 != 128 || AJCTX_FRAME_D14 != 144 || AJCTX_FRAME_FPCR != 160 \
    || AJCTX_FRAME_SIZE != 176
#error "job_context_layout.h does not match the frame of _ajctx_swap"
#endif

#if defined(__ARM_FEATURE_BTI_DEFAULT) && __ARM_FEATURE_BTI_DEFAULT
#define AJCTX_BTI_C hint #34
#else
#define AJCTX_BTI_C
#endif

    .text

// void *_ajctx_swap(void **save /* x0 */, void *to /* x1 */, void *data /* x2 */)
    .globl _ajctx_swap
    .hidden _ajctx_swap
    .type _ajctx_swap,%function
    .p2align 4
_ajctx_swap:
    .cfi_startproc
    AJCTX_BTI_C
    // Save the callee-saved general and floating-point registers, and FPCR.
    sub sp, sp, #AJCTX_FRAME_SIZE
    .cfi_adjust_cfa_offset 176
    stp x19, x20, [sp, #AJCTX_FRAME_X19]
    stp x21, x22, [sp, #AJCTX_FRAME_X21]
    stp x23, x24, [sp, #AJCTX_FRAME_X23]
    stp x25, x26, [sp, #AJCTX_FRAME_X25]
    stp x27, x28, [sp, #AJCTX_FRAME_X27]
    stp x29, x30, [sp, #AJCTX_FRAME_X29]
    stp d8, d9, [sp, #AJCTX_FRAME_D8]
    stp d10, d11, [sp, #AJCTX_FRAME_D10]
    stp d12, d13, [sp, #AJCTX_FRAME_D12]
    stp d14, d15, [sp, #AJCTX_FRAME_D14]
    // Save slots relative to the CFA (sp + 176), for unwinding from inside the switch.
    .cfi_offset x19, -176
    .cfi_offset x20, -168
    .cfi_offset x21, -160
    .cfi_offset x22, -152
    .cfi_offset x23, -144
    .cfi_offset x24, -136
    .cfi_offset x25, -128
    .cfi_offset x26, -120
    .cfi_offset x27, -112
    .cfi_offset x28, -104
    .cfi_offset x29, -96
    .cfi_offset x30, -88
    .cfi_offset d8, -80
    .cfi_offset d9, -72
    .cfi_offset d10, -64
    .cfi_offset d11, -56
    .cfi_offset d12, -48
    .cfi_offset d13, -40
    .cfi_offset d14, -32
    .cfi_offset d15, -24
    mrs x9, fpcr
    str x9, [sp, #AJCTX_FRAME_FPCR]
    // Publish this context and adopt the other one.
    mov x10, sp
    str x10, [x0]
    mov sp, x1
    // Write FPCR only if the incoming value differs.
    ldr x10, [sp, #AJCTX_FRAME_FPCR]
    cmp x9, x10
    b.ne .Lload_fpcr
.Lfpcr_done:
    ldp x19, x20, [sp, #AJCTX_FRAME_X19]
    ldp x21, x22, [sp, #AJCTX_FRAME_X21]
    ldp x23, x24, [sp, #AJCTX_FRAME_X23]
    ldp x25, x26, [sp, #AJCTX_FRAME_X25]
    ldp x27, x28, [sp, #AJCTX_FRAME_X27]
    ldp x29, x30, [sp, #AJCTX_FRAME_X29]
    ldp d8, d9, [sp, #AJCTX_FRAME_D8]
    ldp d10, d11, [sp, #AJCTX_FRAME_D10]
    ldp d12, d13, [sp, #AJCTX_FRAME_D12]
    ldp d14, d15, [sp, #AJCTX_FRAME_D14]
    // The out-of-line FPCR write below still runs with the full frame: keep its CFI state.
    .cfi_remember_state
    add sp, sp, #AJCTX_FRAME_SIZE
    // Popped: the CFA is sp itself, and every register holds its own value again.
    .cfi_def_cfa_offset 0
    .cfi_restore x19
    .cfi_restore x20
    .cfi_restore x21
    .cfi_restore x22
    .cfi_restore x23
    .cfi_restore x24
    .cfi_restore x25
    .cfi_restore x26
    .cfi_restore x27
    .cfi_restore x28
    .cfi_restore x29
    .cfi_restore x30
    .cfi_restore d8
    .cfi_restore d9
    .cfi_restore d10
    .cfi_restore d11
    .cfi_restore d12
    .cfi_restore d13
    .cfi_restore d14
    .cfi_restore d15
    // Hand `data` over as the return value, and as the first argument of a fresh context.
    mov x0, x2
    ret x30
    .cfi_restore_state
.Lload_fpcr:
    msr fpcr, x10
    b .Lfpcr_done
    .cfi_endproc
    .size _ajctx_swap,.-_ajctx_swap

// First instruction of every new context, reached through the frame that _ajctx_make built:
// x19 = entry function, x0 = data from the first switch. The entry never returns.
    .globl _ajctx_trampoline
    .hidden _ajctx_trampoline
    .type _ajctx_trampoline,%function
    .p2align 4
_ajctx_trampoline:
    .cfi_startproc
    // No caller: unwinders and debuggers stop at this frame.
    .cfi_undefined x30
    AJCTX_BTI_C
    mov x29, #0
    mov x30, #0
    blr x19
    // The entry returned, which it must never do.
    brk #0x1
    .cfi_endproc
    .size _ajctx_trampoline,.-_ajctx_trampoline

// GNU property note: BTI-compatible (a `bti c` at both entry points; the switch leaves with
// `ret`, which BTI does not check), and PAC-compatible (nothing here signs or authenticates: the
// callers' signed return addresses are saved and restored untouched on their own stacks). Not
// GCS-compatible (no guarded-control-stack bit): the switch returns to call sites that are not
// on this thread's control stack.
#if defined(__ARM_FEATURE_BTI_DEFAULT) && __ARM_FEATURE_BTI_DEFAULT
#define AJCTX_PROP_BTI 1
#else
#define AJCTX_PROP_BTI 0
#endif
#if defined(__ARM_FEATURE_PAC_DEFAULT) && __ARM_FEATURE_PAC_DEFAULT
#define AJCTX_PROP_PAC 2
#else
#define AJCTX_PROP_PAC 0
#endif
#if AJCTX_PROP_BTI || AJCTX_PROP_PAC
    .pushsection .note.gnu.property, "a"
    .p2align 3
    .word 4            // n_namesz
    .word 16           // n_descsz
    .word 5            // NT_GNU_PROPERTY_TYPE_0
    .asciz "GNU"
    .word 0xc0000000   // GNU_PROPERTY_AARCH64_FEATURE_1_AND
    .word 4            // pr_datasz
    .word AJCTX_PROP_BTI | AJCTX_PROP_PAC
    .word 0            // padding to 8 bytes
    .popsection
#endif

#endif

// Every ELF object needs this note, including the empty one this file assembles to on another
// architecture or in a ucontext build: a single object without it makes the linker mark the
// whole program's stack executable (GNU_STACK RWE).
#if defined(__ELF__)
    .section .note.GNU-stack,"",%progbits
#endif
