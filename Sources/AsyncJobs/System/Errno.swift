// SPDX-License-Identifier: Apache-2.0
import Glibc

/// The calling thread's `errno`, for callers that report it after a failed allocation callback.
func errnoValue() -> Int32 { errno }
