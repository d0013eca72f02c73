// SPDX-License-Identifier: Apache-2.0
// SwiftPM needs one source file per C target; the module is only its header.
#include "async_jobs_nio_shims.h"
