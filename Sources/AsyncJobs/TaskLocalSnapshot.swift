// SPDX-License-Identifier: Apache-2.0

/// Copies of the task-local values visible where it was made, for a job that another thread
/// will start: the way a scheduler of jobs (a loop, an event loop's runner) carries its
/// submitter's logging metadata and tracing context to the job, as a task started there would
/// inherit them.
///
/// A job starts with copies of the task-local values of the code that starts it
/// (``AsyncJob/isolatesTaskLocalValues``). When that code is a loop's thread serving work
/// submitted from elsewhere, capture a snapshot where the work is submitted and start the job
/// inside ``withInstalled(_:)``:
///
/// ```swift
/// // On the submitting side (any thread, any task):
/// let snapshot = TaskLocalSnapshot.capture()
/// // On the loop's thread, outside any job:
/// let outcome = try snapshot.withInstalled { try AsyncJob.start(body) }   // or without one: no values
/// ```
///
/// The values are released when the snapshot is. `JobLoop` does this for the work it is given.
public final class TaskLocalSnapshot: Sendable {
    private let address: UInt

    private init(address: UInt) {
        self.address = address
    }

    /// A snapshot of the task-local values the calling code sees (its task's, or its thread's
    /// outside a task, or its job's inside a job), or nil if it sees none (nothing is
    /// allocated then), or if jobs do not follow task-local values on this runtime.
    public static func capture() -> TaskLocalSnapshot? {
        let address = JobRuntime.captureTaskLocals()
        return address == 0 ? nil : TaskLocalSnapshot(address: address)
    }

    /// Runs `body` with these values as the calling thread's task-local values and no current
    /// task: a job started in `body` starts with copies of them. The thread's own values are
    /// back when it returns.
    /// - Important: outside any job (a job is started from outside jobs anyway); a call from
    ///   inside a job traps.
    public func withInstalled<Result: ~Copyable, Failure: Error>(
        _ body: () throws(Failure) -> Result
    ) throws(Failure) -> Result {
        precondition(
            !AsyncJob.isInJob,
            "TaskLocalSnapshot.withInstalled called inside a job: install a snapshot on the thread that starts the job, outside any job")
        return try JobRuntime.withTaskLocalsInstalled(address, body)
    }

    deinit {
        JobRuntime.releaseTaskLocals(address)
    }
}

extension Optional where Wrapped == TaskLocalSnapshot {
    /// Runs `body` with the snapshot's values installed, or as it is if there is none.
    public func withInstalled<Result: ~Copyable, Failure: Error>(
        _ body: () throws(Failure) -> Result
    ) throws(Failure) -> Result {
        switch self {
        case .some(let snapshot): try snapshot.withInstalled(body)
        case .none: try body()
        }
    }
}
