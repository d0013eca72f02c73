// SPDX-License-Identifier: Apache-2.0
// The project's own switch (Sources/_CJobContext), assembled again under other names so that it
// can be linked next to AsyncJobs and measured alone: no exclusivity swap, no TLS, no state.
#define _ajctx_swap _bare_swap
#define _ajctx_trampoline _bare_trampoline
#if defined(__x86_64__)
#include "../../../Sources/_CJobContext/jump_x86_64_sysv_elf.S"
#elif defined(__aarch64__)
#include "../../../Sources/_CJobContext/jump_arm64_aapcs_elf.S"
#endif
