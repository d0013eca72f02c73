// SPDX-License-Identifier: Apache-2.0
// Linux headers that Glibc's Swift module map does not export, for the examples and the soak.
#ifndef AJ_TOOL_SHIMS_H
#define AJ_TOOL_SHIMS_H
#include <sys/eventfd.h>
#endif
