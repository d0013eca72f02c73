// SPDX-License-Identifier: Apache-2.0
// The bare switch (the benchmark floor): the project's assembly `_ajctx_swap` under another name.
#ifndef BENCH_BARE_SWITCH_H
#define BENCH_BARE_SWITCH_H

#ifdef __cplusplus
extern "C" {
#endif

/// Builds a first frame below `stack_top` that calls `entry(data)` when first switched to.
void *_bare_make(void *stack_top, void (*entry)(void *data));

/// Saves the callee-saved state, stores the stack pointer in `*save`, switches to `to` and hands
/// it `data`; returns the `data` of whoever switches back.
void *_bare_swap(void **save, void *to, void *data);

/// Toggles callgrind's collection (no-op outside valgrind), so that only the measured loop counts.
void _bench_callgrind_toggle(void);

/// Resident set size of the process in bytes (/proc/self/statm).
long _bench_rss_bytes(void);

#ifdef __cplusplus
}
#endif

#endif
