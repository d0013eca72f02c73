// SPDX-License-Identifier: Apache-2.0
// Stack switch for x86_64, System V ABI, ELF. Reference: System V AMD64 ABI 1.0, section 3.2.1
// (registers rbx, rbp, r12-r15 and rsp are callee-saved; the control bits of MXCSR and the x87
// control word are callee-saved too, section 3.2.3).
//
// Frame of a suspended context (offsets from its saved rsp, see job_context_layout.h):
//   +0  MXCSR (32 bits) and x87 control word (16 bits)
//   +8  r15   +16 r14   +24 r13   +32 r12   +40 rbx   +48 rbp
//   +56 return address
//
// Deliberately not saved: caller-saved registers (the switch is an ordinary call to the C
// compiler), the MXCSR status flags and x87 status/tag words (not callee-saved), AVX upper halves
// (caller-saved), and the signal mask (a job shares its thread's mask, unlike ucontext).
//
// MXCSR and the x87 control word are always stored, but loaded only when the incoming context's
// control bits differ from the current ones: loading both every time made a round trip 40% slower
// (9.5 vs 6.8 ns, docs/context-switch.md), and contexts on one thread almost never differ.
// The switch leaves through `jmp` to the saved return address rather than `ret`: returning to a
// call site that is not on the return stack buffer mispredicts every time. For the same reason it
// is not shadow-stack (CET SHSTK) compatible; see the property note at the end.
#if defined(__x86_64__) && defined(__ELF__) && !defined(AJCTX_USE_UCONTEXT)

#include "job_context_layout.h"
// The pushes below fix the integer slots' order; the header must say the same.
#if AJCTX_FRAME_FPCTL != 0 || AJCTX_FRAME_X87CW != 4 || AJCTX_FRAME_R15 != 8 || AJCTX_FRAME_R14 != 16 \
    || AJCTX_FRAME_R13 != 24 || AJCTX_FRAME_R12 != 32 || AJCTX_FRAME_RBX != 40 || AJCTX_FRAME_RBP != 48 \
    || AJCTX_FRAME_RIP != 56 || AJCTX_FRAME_SIZE != 64
#error "job_context_layout.h does not match the push order of _ajctx_swap"
#endif

#if defined(__CET__) && (__CET__ & 1)
#define AJCTX_ENDBR endbr64
#define AJCTX_NOTRACK notrack
#else
#define AJCTX_ENDBR
#define AJCTX_NOTRACK
#endif

    .text

// void *_ajctx_swap(void **save /* rdi */, void *to /* rsi */, void *data /* rdx */)
    .globl _ajctx_swap
    .hidden _ajctx_swap
    .type _ajctx_swap,@function
    .p2align 4
_ajctx_swap:
    .cfi_startproc
    AJCTX_ENDBR
    // Save the callee-saved integer registers; the return address is already on the stack.
    // The CFI records each save slot, so a profiler or debugger stopped inside the switch can
    // unwind (before the stack pointer moves, through this context; after, through the other one,
    // whose frame has the same layout).
    pushq %rbp
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset rbp, 0
    pushq %rbx
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset rbx, 0
    pushq %r12
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset r12, 0
    pushq %r13
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset r13, 0
    pushq %r14
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset r14, 0
    pushq %r15
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset r15, 0
    // Save the floating-point control state, and keep its control bits for the comparison.
    // (Each is read back with a load of the size it was stored with: a wider load across both
    // stores cannot be forwarded from the store buffer and stalls, measured at +10 ns a round trip.)
    leaq -8(%rsp), %rsp
    .cfi_adjust_cfa_offset 8
    stmxcsr AJCTX_FRAME_FPCTL(%rsp)
    fnstcw AJCTX_FRAME_X87CW(%rsp)
    movl AJCTX_FRAME_FPCTL(%rsp), %ecx
    movzwl AJCTX_FRAME_X87CW(%rsp), %r8d
    // Publish this context and adopt the other one.
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    // Load MXCSR and the x87 control word only if the incoming control bits differ (bits 6-15
    // of MXCSR are its control bits; 0-5 are sticky status flags).
    xorl AJCTX_FRAME_FPCTL(%rsp), %ecx
    testl $0xffc0, %ecx
    jnz .Lload_fpctl
    cmpw AJCTX_FRAME_X87CW(%rsp), %r8w
    jne .Lload_fpctl
.Lfpctl_done:
    // Restore the incoming context's integer registers.
    movq AJCTX_FRAME_R15(%rsp), %r15
    movq AJCTX_FRAME_R14(%rsp), %r14
    movq AJCTX_FRAME_R13(%rsp), %r13
    movq AJCTX_FRAME_R12(%rsp), %r12
    movq AJCTX_FRAME_RBX(%rsp), %rbx
    movq AJCTX_FRAME_RBP(%rsp), %rbp
    movq AJCTX_FRAME_RIP(%rsp), %rcx
    // The out-of-line loads below still run with the full frame: keep its CFI state for them.
    .cfi_remember_state
    leaq AJCTX_FRAME_SIZE(%rsp), %rsp
    // Popped: the CFA is rsp itself now, and every register holds its own value again.
    .cfi_def_cfa_offset 0
    .cfi_register rip, rcx
    .cfi_same_value rbp
    .cfi_same_value rbx
    .cfi_same_value r12
    .cfi_same_value r13
    .cfi_same_value r14
    .cfi_same_value r15
    // Hand `data` over as the return value (a fresh context's trampoline passes it on).
    movq %rdx, %rax
    AJCTX_NOTRACK jmpq *%rcx
    .cfi_restore_state
.Lload_fpctl:
    ldmxcsr AJCTX_FRAME_FPCTL(%rsp)
    fldcw AJCTX_FRAME_X87CW(%rsp)
    jmp .Lfpctl_done
    .cfi_endproc
    .size _ajctx_swap,.-_ajctx_swap

// First instruction of every new context, reached through the frame that _ajctx_make built:
// r12 = entry function, rax = data from the first switch. The entry never returns.
    .globl _ajctx_trampoline
    .hidden _ajctx_trampoline
    .type _ajctx_trampoline,@function
    .p2align 4
_ajctx_trampoline:
    .cfi_startproc
    // No caller: unwinders and debuggers stop at this frame.
    .cfi_undefined rip
    AJCTX_ENDBR
    xorl %ebp, %ebp
    movq %rax, %rdi
    callq *%r12
    // The entry returned, which it must never do.
    ud2
    .cfi_endproc
    .size _ajctx_trampoline,.-_ajctx_trampoline

#if defined(__CET__) && (__CET__ & 1)
    // GNU property note: this object is IBT-compatible (endbr64 at both indirect-branch targets,
    // `notrack` on the jump to a return address). Deliberately NOT shadow-stack compatible (no
    // SHSTK bit): the switch never executes the `ret` that would pop the shadow stack, so the
    // linker must turn SHSTK off for any binary that contains it (use the ucontext fallback there).
    .pushsection .note.gnu.property, "a"
    .p2align 3
    .long 4            // n_namesz
    .long 16           // n_descsz
    .long 5            // NT_GNU_PROPERTY_TYPE_0
    .asciz "GNU"
    .long 0xc0000002   // GNU_PROPERTY_X86_FEATURE_1_AND
    .long 4            // pr_datasz
    .long 1            // GNU_PROPERTY_X86_FEATURE_1_IBT
    .long 0            // padding to 8 bytes
    .popsection
#endif

#endif

// Every ELF object needs this note, including the empty one this file assembles to on another
// architecture or in a ucontext build: a single object without it makes the linker mark the
// whole program's stack executable (GNU_STACK RWE).
#if defined(__ELF__)
    .section .note.GNU-stack,"",%progbits
#endif
