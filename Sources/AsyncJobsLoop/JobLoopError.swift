// SPDX-License-Identifier: Apache-2.0
import AsyncJobs
import SystemPackage

/// Why a job loop did not run a piece of work to its own result.
///
/// Work that was accepted always gets exactly one completion: its own result, or one of these.
/// A submission that was not accepted gets none (``JobLoop/Submission/rejected(_:)``).
public struct JobLoopError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What happened.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Storage: Hashable, Sendable {
            case queueFull, shutDown, cancelled, timedOut, jobUnavailable, threadUnavailable, setupFailed
        }
        let storage: Storage

        /// The loop's queue of work waiting for a job is at ``JobLoop/Configuration/maxQueuedWork``.
        public static var queueFull: Code { Code(storage: .queueFull) }
        /// The loop is shutting down or has shut down.
        public static var shutDown: Code { Code(storage: .shutDown) }
        /// The work was cancelled (``JobTicket/cancel()`` or the awaiting task was cancelled).
        public static var cancelled: Code { Code(storage: .cancelled) }
        /// The work did not finish within its timeout; its job was cancelled.
        public static var timedOut: Code { Code(storage: .timedOut) }
        /// The loop could not make a job for the work (a stack could not be allocated).
        public static var jobUnavailable: Code { Code(storage: .jobUnavailable) }
        /// A thread (loop, worker or accelerator) could not be created.
        public static var threadUnavailable: Code { Code(storage: .threadUnavailable) }
        /// The loop's epoll or wake descriptor could not be created.
        public static var setupFailed: Code { Code(storage: .setupFailed) }

        public var description: String {
            switch storage {
            case .queueFull: "queue full"
            case .shutDown: "loop shut down"
            case .cancelled: "cancelled"
            case .timedOut: "timed out"
            case .jobUnavailable: "no job could be made"
            case .threadUnavailable: "no thread could be created"
            case .setupFailed: "descriptor setup failed"
            }
        }
    }

    /// What happened.
    public let code: Code
    /// The system error behind ``Code/threadUnavailable`` or ``Code/setupFailed`` (or behind
    /// ``jobError``), as `AsyncJobError/underlying` is for the core.
    public let underlying: Errno?
    /// The job system's error behind ``Code/jobUnavailable``.
    public let jobError: AsyncJobError?

    /// Creates an error.
    public init(_ code: Code, underlying: Errno? = nil, jobError: AsyncJobError? = nil) {
        self.code = code
        self.underlying = underlying ?? jobError?.underlying
        self.jobError = jobError
    }

    public var description: String {
        if let jobError { return "JobLoopError(\(code): \(jobError))" }
        if let underlying { return "JobLoopError(\(code): \(underlying))" }
        return "JobLoopError(\(code))"
    }
}
