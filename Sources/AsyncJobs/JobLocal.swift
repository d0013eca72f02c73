// SPDX-License-Identifier: Apache-2.0

/// A value that lives with a job, as a thread-local variable lives with a thread: each job sees
/// its own, whichever thread resumes it, and the value is released when the job ends (its body
/// returns, or it is cancelled: its handle dropped, its pool cleaned up or its thread exited).
///
/// ```swift
/// let requestID = JobLocal<String>()          // a key, usually a global or a static
/// let outcome = try AsyncJob.start {
///     requestID.value = "r-42"                // this job's value
///     AsyncJob.pause()
///     log("done", requestID.value!)            // still this job's, after any resume
/// }
/// ```
///
/// Outside a job ``value`` is nil and setting it is a programmer error (it traps). A value is
/// read and written by its job only, on the job's thread. Values are kept in one table per job
/// that has set any, made on first use; a job with values pauses and finishes through the
/// runtime's slower paths (docs/job-local-state.md), jobs without any pay nothing.
/// Like Boost.Fiber's `fiber_specific_ptr` and folly's fiber-local data; unlike task-local values,
/// a job does not inherit its starter's values.
/// OpenSSL equivalent: none.
public final class JobLocal<Value>: Sendable {
    /// Creates a key. Each key is a separate slot in every job.
    public init() {}

    /// The running job's value for this key: nil before the job sets one, after it sets nil, and
    /// outside a job. Setting it outside a job traps ("JobLocal set outside a job").
    @available(*, noasync, message: "a job's values belong to the job, not to a task")
    public var value: Value? {
        get {
            guard let entry = JobLocalStorage.current?.values[ObjectIdentifier(self)] else { return nil }
            return entry.value as? Value
        }
        set {
            precondition(AsyncJob.isInJob, "JobLocal set outside a job: a job-local value belongs to the running job")
            if let newValue {
                JobLocalStorage.currentMakingIt?.values[ObjectIdentifier(self)] = (key: self, value: newValue)
            } else {
                JobLocalStorage.current?.values[ObjectIdentifier(self)] = nil
            }
        }
    }
}
