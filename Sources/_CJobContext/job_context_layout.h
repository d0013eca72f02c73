// SPDX-License-Identifier: Apache-2.0
// Frame layout of a suspended context, shared by the assembly files (which save and restore it
// with these offsets) and job_context.c (which builds first frames). Offsets are from the saved
// stack pointer. Checked at build time twice: each .S refuses to assemble if these values do not
// match the order of its pushes, and job_context.c asserts the layout's own invariants (size a
// multiple of 16, return address last, slots inside the frame).
#ifndef AJCTX_JOB_CONTEXT_LAYOUT_H
#define AJCTX_JOB_CONTEXT_LAYOUT_H

#if defined(__x86_64__)
// [sp+0]  MXCSR (4 bytes), x87 control word (2 bytes), 2 bytes unused
// [sp+8]  r15   [sp+16] r14   [sp+24] r13   [sp+32] r12   [sp+40] rbx   [sp+48] rbp
// [sp+56] return address
#define AJCTX_FRAME_FPCTL 0
#define AJCTX_FRAME_X87CW 4
#define AJCTX_FRAME_R15 8
#define AJCTX_FRAME_R14 16
#define AJCTX_FRAME_R13 24
#define AJCTX_FRAME_R12 32
#define AJCTX_FRAME_RBX 40
#define AJCTX_FRAME_RBP 48
#define AJCTX_FRAME_RIP 56
#define AJCTX_FRAME_SIZE 64
#elif defined(__aarch64__)
// [sp+0] x19 x20 | x21 x22 | x23 x24 | x25 x26 | x27 x28 | [sp+80] x29 x30(lr)
// [sp+96] d8 d9 | d10 d11 | d12 d13 | d14 d15 | [sp+160] FPCR, 8 bytes unused
#define AJCTX_FRAME_X19 0
#define AJCTX_FRAME_X21 16
#define AJCTX_FRAME_X23 32
#define AJCTX_FRAME_X25 48
#define AJCTX_FRAME_X27 64
#define AJCTX_FRAME_X29 80
#define AJCTX_FRAME_X30 88
#define AJCTX_FRAME_D8 96
#define AJCTX_FRAME_D10 112
#define AJCTX_FRAME_D12 128
#define AJCTX_FRAME_D14 144
#define AJCTX_FRAME_FPCR 160
#define AJCTX_FRAME_SIZE 176
#endif

#endif
