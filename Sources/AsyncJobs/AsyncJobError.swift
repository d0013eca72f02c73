// SPDX-License-Identifier: Apache-2.0
import SystemPackage

/// An environmental failure of the job system: memory or file descriptors ran out, or the pool was
/// configured with limits that cannot hold.
///
/// Normal protocol outcomes (paused, finished, no jobs available) are values of ``JobOutcome``,
/// never errors; programmer errors (resuming on the wrong thread, a stale handle) trap.
/// OpenSSL equivalent: `ASYNC_ERR` plus an entry on the error queue.
public struct AsyncJobError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Storage: Hashable, Sendable {
            case stackAllocationFailed
            case invalidPoolSize
            case invalidStackSize
            case waitDescriptorUnavailable
            case jobsInUse
            case tooManySwitchHooks
        }
        let storage: Storage

        /// The stack allocator returned no memory (mmap failed, or the mapping budget is spent).
        public static var stackAllocationFailed: Code { Code(storage: .stackAllocationFailed) }
        /// `initialSize` is larger than a nonzero `maxSize`.
        public static var invalidPoolSize: Code { Code(storage: .invalidPoolSize) }
        /// The stack size is below ``JobPool/minimumStackSize``.
        public static var invalidStackSize: Code { Code(storage: .invalidStackSize) }
        /// A wait file descriptor could not be created (the process is out of descriptors).
        public static var waitDescriptorUnavailable: Code { Code(storage: .waitDescriptorUnavailable) }
        /// A switch hook was added to a pool while one of its jobs was paused or running.
        public static var jobsInUse: Code { Code(storage: .jobsInUse) }
        /// The process already has as many process-wide switch hooks as it may have (16).
        public static var tooManySwitchHooks: Code { Code(storage: .tooManySwitchHooks) }

        public var description: String {
            switch storage {
            case .stackAllocationFailed: "stack allocation failed"
            case .invalidPoolSize: "initial pool size exceeds the maximum size"
            case .invalidStackSize: "stack size below the minimum"
            case .waitDescriptorUnavailable: "wait file descriptor unavailable"
            case .jobsInUse: "a job of the pool is paused or running"
            case .tooManySwitchHooks: "too many process-wide switch hooks"
            }
        }
    }

    /// What went wrong.
    public let code: Code
    /// The system error behind it, if any.
    public let underlying: Errno?

    /// Creates an error.
    public init(_ code: Code, underlying: Errno? = nil) {
        self.code = code
        self.underlying = underlying
    }

    public var description: String {
        if let underlying { return "AsyncJobError(\(code): \(underlying))" }
        return "AsyncJobError(\(code))"
    }
}
