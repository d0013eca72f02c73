// SPDX-License-Identifier: Apache-2.0
// Assembly probes for the switch tests (see include/job_context_test_support.h).
// ajt_swap_checking_registers: own callee-saved registers are saved and restored around the
// probe like any function's; in between they hold patterns that must survive _ajctx_swap.
// ajt_recording_entry: passes the stack pointer of its first instruction on to a continuation.

#if defined(__x86_64__) && defined(__ELF__)

#if defined(__CET__) && (__CET__ & 1)
#define AJT_ENDBR endbr64
#else
#define AJT_ENDBR
#endif

    .text
// uint64_t ajt_swap_checking_registers(void **save /* rdi */, void *to /* rsi */,
//     void *data /* rdx */, uint64_t seed /* rcx */, void **received /* r8 */)
    .globl ajt_swap_checking_registers
    .type ajt_swap_checking_registers,@function
    .p2align 4
ajt_swap_checking_registers:
    .cfi_startproc
    AJT_ENDBR
    pushq %rbp
    .cfi_adjust_cfa_offset 8
    pushq %rbx
    .cfi_adjust_cfa_offset 8
    pushq %r12
    .cfi_adjust_cfa_offset 8
    pushq %r13
    .cfi_adjust_cfa_offset 8
    pushq %r14
    .cfi_adjust_cfa_offset 8
    pushq %r15
    .cfi_adjust_cfa_offset 8
    // Keep `received` and `seed` across the switch in our own frame (caller-saved registers
    // are fair game for the other context); 16 bytes keeps rsp 16-aligned at the call.
    subq $24, %rsp
    .cfi_adjust_cfa_offset 24
    movq %r8, 0(%rsp)
    movq %rcx, 8(%rsp)
    // Patterns: register i holds seed + i.
    movq %rcx, %rbx
    leaq 1(%rcx), %rbp
    leaq 2(%rcx), %r12
    leaq 3(%rcx), %r13
    leaq 4(%rcx), %r14
    leaq 5(%rcx), %r15
    movq %rsp, 16(%rsp)
    call _ajctx_swap
    movq 0(%rsp), %r8
    movq %rax, (%r8)
    movq 8(%rsp), %rcx
    xorl %eax, %eax
    cmpq %rcx, %rbx
    je 1f
    orq $1, %rax
1:  leaq 1(%rcx), %rdx
    cmpq %rdx, %rbp
    je 1f
    orq $2, %rax
1:  leaq 2(%rcx), %rdx
    cmpq %rdx, %r12
    je 1f
    orq $4, %rax
1:  leaq 3(%rcx), %rdx
    cmpq %rdx, %r13
    je 1f
    orq $8, %rax
1:  leaq 4(%rcx), %rdx
    cmpq %rdx, %r14
    je 1f
    orq $16, %rax
1:  leaq 5(%rcx), %rdx
    cmpq %rdx, %r15
    je 1f
    orq $32, %rax
1:  cmpq %rsp, 16(%rsp)
    je 1f
    orq $64, %rax
1:  addq $24, %rsp
    .cfi_adjust_cfa_offset -24
    popq %r15
    .cfi_adjust_cfa_offset -8
    popq %r14
    .cfi_adjust_cfa_offset -8
    popq %r13
    .cfi_adjust_cfa_offset -8
    popq %r12
    .cfi_adjust_cfa_offset -8
    popq %rbx
    .cfi_adjust_cfa_offset -8
    popq %rbp
    .cfi_adjust_cfa_offset -8
    ret
    .cfi_endproc
    .size ajt_swap_checking_registers,.-ajt_swap_checking_registers

// void ajt_recording_entry(void *data /* rdi */)
    .globl ajt_recording_entry
    .type ajt_recording_entry,@function
    .p2align 4
ajt_recording_entry:
    .cfi_startproc
    AJT_ENDBR
    movq %rsp, %rsi
    jmpq *ajt_entry_continuation_slot(%rip)
    .cfi_endproc
    .size ajt_recording_entry,.-ajt_recording_entry

#if defined(__CET__) && (__CET__ & 1)
    .pushsection .note.gnu.property, "a"
    .p2align 3
    .long 4, 16, 5
    .asciz "GNU"
    .long 0xc0000002, 4, 1, 0
    .popsection
#endif

#elif defined(__aarch64__) && defined(__ELF__)

#if defined(__ARM_FEATURE_BTI_DEFAULT) && __ARM_FEATURE_BTI_DEFAULT
#define AJT_BTI_C hint #34
#else
#define AJT_BTI_C
#endif

    .text
// uint64_t ajt_swap_checking_registers(void **save /* x0 */, void *to /* x1 */,
//     void *data /* x2 */, uint64_t seed /* x3 */, void **received /* x4 */)
    .globl ajt_swap_checking_registers
    .type ajt_swap_checking_registers,%function
    .p2align 4
ajt_swap_checking_registers:
    .cfi_startproc
    AJT_BTI_C
    sub sp, sp, #192
    .cfi_adjust_cfa_offset 192
    stp x19, x20, [sp, #0]
    stp x21, x22, [sp, #16]
    stp x23, x24, [sp, #32]
    stp x25, x26, [sp, #48]
    stp x27, x28, [sp, #64]
    stp x29, x30, [sp, #80]
    stp d8, d9, [sp, #96]
    stp d10, d11, [sp, #112]
    stp d12, d13, [sp, #128]
    stp d14, d15, [sp, #144]
    .cfi_offset x29, -112
    .cfi_offset x30, -104
    // Keep `received`, `seed` and sp across the switch in our own frame.
    str x4, [sp, #160]
    str x3, [sp, #168]
    // Patterns: x19 + i holds seed + i, x29 seed + 10, d8 + i the bits of seed + 0x100 + i.
    add x19, x3, #0
    add x20, x3, #1
    add x21, x3, #2
    add x22, x3, #3
    add x23, x3, #4
    add x24, x3, #5
    add x25, x3, #6
    add x26, x3, #7
    add x27, x3, #8
    add x28, x3, #9
    add x29, x3, #10
    add x9, x3, #0x100
    fmov d8, x9
    add x9, x3, #0x101
    fmov d9, x9
    add x9, x3, #0x102
    fmov d10, x9
    add x9, x3, #0x103
    fmov d11, x9
    add x9, x3, #0x104
    fmov d12, x9
    add x9, x3, #0x105
    fmov d13, x9
    add x9, x3, #0x106
    fmov d14, x9
    add x9, x3, #0x107
    fmov d15, x9
    mov x9, sp
    str x9, [sp, #176]
    bl _ajctx_swap
    ldr x4, [sp, #160]
    str x0, [x4]
    ldr x3, [sp, #168]
    mov x0, #0
    // One check per register: compare with its pattern, set bit i on mismatch.
    .macro AJT_CHECK reg, offset, bit
    add x9, x3, #\offset
    cmp \reg, x9
    b.eq 1f
    orr x0, x0, #(1 << \bit)
1:
    .endm
    AJT_CHECK x19, 0, 0
    AJT_CHECK x20, 1, 1
    AJT_CHECK x21, 2, 2
    AJT_CHECK x22, 3, 3
    AJT_CHECK x23, 4, 4
    AJT_CHECK x24, 5, 5
    AJT_CHECK x25, 6, 6
    AJT_CHECK x26, 7, 7
    AJT_CHECK x27, 8, 8
    AJT_CHECK x28, 9, 9
    AJT_CHECK x29, 10, 10
    .macro AJT_CHECK_D reg, offset, bit
    add x9, x3, #\offset
    fmov x11, \reg
    cmp x11, x9
    b.eq 1f
    orr x0, x0, #(1 << \bit)
1:
    .endm
    AJT_CHECK_D d8, 0x100, 11
    AJT_CHECK_D d9, 0x101, 12
    AJT_CHECK_D d10, 0x102, 13
    AJT_CHECK_D d11, 0x103, 14
    AJT_CHECK_D d12, 0x104, 15
    AJT_CHECK_D d13, 0x105, 16
    AJT_CHECK_D d14, 0x106, 17
    AJT_CHECK_D d15, 0x107, 18
    // sp: must equal the value stored just before the switch.
    ldr x9, [sp, #176]
    mov x11, sp
    cmp x9, x11
    b.eq 1f
    orr x0, x0, #(1 << 19)
1:
    ldp x19, x20, [sp, #0]
    ldp x21, x22, [sp, #16]
    ldp x23, x24, [sp, #32]
    ldp x25, x26, [sp, #48]
    ldp x27, x28, [sp, #64]
    ldp x29, x30, [sp, #80]
    ldp d8, d9, [sp, #96]
    ldp d10, d11, [sp, #112]
    ldp d12, d13, [sp, #128]
    ldp d14, d15, [sp, #144]
    add sp, sp, #192
    .cfi_adjust_cfa_offset -192
    ret
    .cfi_endproc
    .size ajt_swap_checking_registers,.-ajt_swap_checking_registers

// void ajt_recording_entry(void *data /* x0 */)
    .globl ajt_recording_entry
    .type ajt_recording_entry,%function
    .p2align 4
ajt_recording_entry:
    .cfi_startproc
    AJT_BTI_C
    mov x1, sp
    adrp x10, ajt_entry_continuation_slot
    ldr x16, [x10, :lo12:ajt_entry_continuation_slot]
    br x16
    .cfi_endproc
    .size ajt_recording_entry,.-ajt_recording_entry

#if defined(__ARM_FEATURE_BTI_DEFAULT) && __ARM_FEATURE_BTI_DEFAULT
    .pushsection .note.gnu.property, "a"
    .p2align 3
    .word 4, 16, 5
    .asciz "GNU"
    .word 0xc0000000, 4, 1, 0
    .popsection
#endif

#endif

#if defined(__ELF__)
    .section .note.GNU-stack,"",%progbits
#endif
