// SPDX-License-Identifier: Apache-2.0
// SAJ_start_job (its resume of a paused job) and SAJ_pause_job on x86_64: the switch between the
// two C callers without a mispredicted return.
//
// Why assembly: the switch (`_ajctx_swap`) leaves through `jmp`, so the return-stack buffer is not
// popped; after a switch it holds the *other* side's return addresses. An entry point compiled
// from Swift or C ends in `ret`, which then mispredicts on each side of every round trip
// (docs/context-switch.md). These entry points return to their C caller with `pop` + `jmp`
// instead, which the indirect-branch predictor gets right, and make only balanced calls around
// the switch: the policy stays in Swift (AsyncJobsCompat, Jobs.swift), in two halves each:
//   _saj_pause_enter()               -> 0 or 1: done, the result (no switch was needed, or the
//                                       whole pause ran on the general path); otherwise the job
//                                       to switch out of (its state set, its access set saved)
//   _saj_pause_leave(job)            -> SAJ_pause_job's result, after the job was resumed
//   _saj_resume_enter(job, ret)      -> 0..3: done, SAJ_start_job's result (a refused or unusual
//                                       resume, run whole); otherwise the job to switch into (the
//                                       record's address: *job is a tagged handle, see
//                                       JobReference+OpaqueHandle.swift, and only the Swift half
//                                       reads it); the job writes its value to *ret itself
//   _saj_resume_leave(rec, job)      -> SAJ_PAUSE or SAJ_FINISH, after the switch back
//   _saj_start_enter(job, ctx, ret, func, args, size)
//                                    -> for *job == NULL: 0..3, done (a start taken whole, switch
//                                       included, or refused); otherwise the new job to switch
//                                       into (its record, ready to run func)
//   _saj_start_leave(rec, job)       -> SAJ_PAUSE (having set *job) or SAJ_FINISH, after the switch
// SAJ_start_job with job == NULL goes on to the Swift `_saj_start_job_new` (a tail jump with the
// arguments untouched), which refuses it.
//
// The switch: `_ajctx_swap(save, to, data)` with the offsets of `_ajctx_job` (job_sp at 0,
// caller_sp at 8; checked in Sources/_CJobContext/job_context.c). Like `_ajctx_swap`, these entry
// points are not shadow-stack (CET SHSTK) compatible; under IBT they begin with `endbr64` and
// jump with `notrack`.
#if defined(__x86_64__) && defined(__ELF__)

#if defined(__CET__) && (__CET__ & 1)
#define SAJ_ENDBR endbr64
#define SAJ_NOTRACK notrack
#else
#define SAJ_ENDBR
#define SAJ_NOTRACK
#endif

#define JOB_SP 0
#define CALLER_SP 8

// Switches into the job whose record is in rax, `_ajctx_swap(&rec->caller_sp, rec->job_sp, rec)`,
// and back from it calls `leave(rec, job)` with the record the switch returns and the
// SAJ_JOB ** kept in rbx; leave's result is in eax.
.macro SAJ_ENTER_JOB leave
    leaq CALLER_SP(%rax), %rdi
    movq JOB_SP(%rax), %rsi
    movq %rax, %rdx
    call _ajctx_swap@PLT
    movq %rax, %rdi
    movq %rbx, %rsi
    call \leave@PLT
.endm

    .text

// int SAJ_pause_job(void)
    .globl SAJ_pause_job
    .type SAJ_pause_job,@function
    .p2align 4
SAJ_pause_job:
    .cfi_startproc
    SAJ_ENDBR
    pushq %rbx
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset rbx, 0
    call _saj_pause_enter@PLT
    cmpq $1, %rax
    jbe 1f
    movq %rax, %rbx
    // _ajctx_swap(&job->job_sp, job->caller_sp, job)
    leaq JOB_SP(%rax), %rdi
    movq CALLER_SP(%rax), %rsi
    movq %rax, %rdx
    call _ajctx_swap@PLT
    // Resumed.
    movq %rbx, %rdi
    call _saj_pause_leave@PLT
1:
    popq %rbx
    .cfi_adjust_cfa_offset -8
    .cfi_restore rbx
    popq %rcx
    .cfi_adjust_cfa_offset -8
    .cfi_register rip, rcx
    SAJ_NOTRACK jmpq *%rcx
    .cfi_endproc
    .size SAJ_pause_job,.-SAJ_pause_job

// int SAJ_start_job(SAJ_JOB **job /* rdi */, SAJ_WAIT_CTX *ctx /* rsi */, int *ret /* rdx */,
//                   SAJ_job_fn func /* rcx */, void *args /* r8 */, size_t size /* r9 */)
    .globl SAJ_start_job
    .type SAJ_start_job,@function
    .p2align 4
SAJ_start_job:
    .cfi_startproc
    SAJ_ENDBR
    testq %rdi, %rdi
    je _saj_start_job_new@PLT
    // job (the SAJ_JOB **) in rbx; the push also aligns the stack for the calls.
    pushq %rbx
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset rbx, 0
    movq %rdi, %rbx
    cmpq $0, (%rdi)
    je 2f
    // A resume.
    movq %rdx, %rsi
    call _saj_resume_enter@PLT
    cmpq $3, %rax
    jbe 1f
    SAJ_ENTER_JOB _saj_resume_leave
1:
    .cfi_remember_state
    popq %rbx
    .cfi_adjust_cfa_offset -8
    .cfi_restore rbx
    popq %rcx
    .cfi_adjust_cfa_offset -8
    .cfi_register rip, rcx
    SAJ_NOTRACK jmpq *%rcx
2:
    .cfi_restore_state
    // A new job: the arguments as they came (rdi is still job).
    call _saj_start_enter@PLT
    cmpq $3, %rax
    jbe 1b
    SAJ_ENTER_JOB _saj_start_leave
    jmp 1b
    .cfi_endproc
    .size SAJ_start_job,.-SAJ_start_job

#endif

#if defined(__ELF__)
    .section .note.GNU-stack,"",%progbits
#endif
