// SPDX-License-Identifier: Apache-2.0
// Portable fallback for `_ajctx_make`/`_ajctx_swap` on top of ucontext, built when
// AJCTX_USE_UCONTEXT is defined (ASYNCJOBS_UCONTEXT=1 at build time) or the architecture has no
// assembly. About 65x slower than the assembly (440 ns vs 6.8 ns a round trip: swapcontext makes a
// signal-mask syscall; docs/context-switch.md), so it serves unknown architectures, shadow-stack
// systems and as a test oracle, never as a default.
//
// A context's "stack pointer" here is the address of a `struct uctx_frame` on its own stack:
// the saving side keeps one in its swap frame, a fresh context keeps one just below its top.
#include "job_context.h"

#if defined(AJCTX_USE_UCONTEXT) || !((defined(__x86_64__) || defined(__aarch64__)) && defined(__ELF__))

#include <stdint.h>
#include <stdlib.h>
#include <ucontext.h>

struct uctx_frame {
    ucontext_t context;
    void (*entry)(void *);
};

// The value carried by a switch, and the frame being entered (for a fresh context's entry).
static _Thread_local void *transfer_data;
static _Thread_local struct uctx_frame *transfer_target;

static void uctx_entry(void) {
    struct uctx_frame *frame = transfer_target;
    frame->entry(transfer_data);
    abort();
}

void *_ajctx_make(void *stack_top, void (*entry)(void *)) {
    uintptr_t top = (uintptr_t)stack_top & ~(uintptr_t)63;
    struct uctx_frame *frame = (struct uctx_frame *)((top - sizeof(struct uctx_frame)) & ~(uintptr_t)63);
    frame->entry = entry;
    getcontext(&frame->context);
    // The usable stack ends below the frame; its lower bound is unknown here, so give makecontext
    // a generous size ending at the frame (it only uses the top to place the first frame).
    size_t size = 1u << 14;
    frame->context.uc_stack.ss_sp = (char *)frame - size;
    frame->context.uc_stack.ss_size = size;
    frame->context.uc_link = NULL;
    makecontext(&frame->context, uctx_entry, 0);
    return frame;
}

void *_ajctx_swap(void **save, void *to, void *data) {
    struct uctx_frame self;
    *save = &self;
    transfer_data = data;
    transfer_target = to;
    swapcontext(&self.context, &((struct uctx_frame *)to)->context);
    return transfer_data;
}

int _ajctx_uses_assembly(void) { return 0; }
const char *_ajctx_implementation(void) { return "ucontext"; }

#endif
