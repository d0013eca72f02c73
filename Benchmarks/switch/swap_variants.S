// SPDX-License-Identifier: Apache-2.0
// Two variants of the x86_64 _ajctx_swap for the measurement in docs/context-switch.md; same frame
// layout as the real one (so _ajctx_make's frames work), differing only in the FP control state:
//   bench_swap_always: always stores and always loads MXCSR and the x87 control word;
//   bench_swap_none:   neither stores nor loads them (the slot stays as _ajctx_make wrote it).
// The real _ajctx_swap (store always, load only when the control bits differ) is the third.
#if defined(__x86_64__) && defined(__ELF__)
    .text
    .macro SAVE_GPRS
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    leaq -8(%rsp), %rsp
    .endm
    .macro RESTORE_GPRS_AND_LEAVE
    movq 8(%rsp), %r15
    movq 16(%rsp), %r14
    movq 24(%rsp), %r13
    movq 32(%rsp), %r12
    movq 40(%rsp), %rbx
    movq 48(%rsp), %rbp
    movq 56(%rsp), %rcx
    leaq 64(%rsp), %rsp
    movq %rdx, %rax
    movq %rdx, %rdi
    jmpq *%rcx
    .endm

    .globl bench_swap_always
    .type bench_swap_always,@function
    .p2align 4
bench_swap_always:
    SAVE_GPRS
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    RESTORE_GPRS_AND_LEAVE
    .size bench_swap_always,.-bench_swap_always

    .globl bench_swap_none
    .type bench_swap_none,@function
    .p2align 4
bench_swap_none:
    SAVE_GPRS
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    RESTORE_GPRS_AND_LEAVE
    .size bench_swap_none,.-bench_swap_none
#endif
#if defined(__ELF__)
    .section .note.GNU-stack,"",%progbits
#endif
