// SPDX-License-Identifier: Apache-2.0
// Test code shares the library's pthread-based mutex: ThreadSanitizer cannot see
// Synchronization.Mutex's contended hand-over (see Sources/AsyncJobs/System/PosixMutex.swift).
import AsyncJobs

typealias Mutex = PosixMutex
