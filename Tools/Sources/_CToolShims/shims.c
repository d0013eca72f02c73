// SPDX-License-Identifier: Apache-2.0
// Empty: the target only exports its header (SwiftPM needs one source file per C target).
#include "tool_shims.h"
