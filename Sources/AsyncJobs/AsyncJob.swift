// SPDX-License-Identifier: Apache-2.0
import SystemPackage

/// Runs synchronous code as jobs that can pause at any call depth.
///
/// A job runs a closure on its own stack. Anywhere inside it, ``pause()`` returns control to
/// whoever called ``start(waitContext:_:)`` or ``PausedJob/resume()``; resuming continues right
/// after the `pause()` call, on the same thread. Jobs and their stacks come from the calling
/// thread's ``JobPool``.
///
/// ```swift
/// var outcome = try AsyncJob.start { () -> Int in
///     guard AsyncJob.pause() else { return 0 }   // returns to the caller of start (false: cancelled)
///     return 42
/// }
/// while true {
///     switch consume outcome {
///     case .paused(let job): outcome = job.resume()
///     case .finished(let value): print(value); return
///     case .noJobsAvailable: return
///     }
/// }
/// ```
/// - Important: a job belongs to the thread that started it: only that thread may resume it, and
///   jobs must never be run from Swift concurrency's cooperative pool (an `await` may move the
///   task to another thread).
/// OpenSSL equivalent: the `ASYNC_*` job functions.
public enum AsyncJob {
    /// Starts `body` as a job on the calling thread.
    ///
    /// - Parameters:
    ///   - waitContext: the context through which engines inside the job announce what they wait
    ///     for; nil if the job needs none (it may still pause).
    ///   - body: the job's code. Its value, or the error it throws, comes back in the outcome.
    /// - Returns: ``JobOutcome/finished(_:)`` if the body returned without pausing,
    ///   ``JobOutcome/paused(_:)`` with the handle to resume it, or
    ///   ``JobOutcome/noJobsAvailable`` if the pool is at its limit.
    /// - Throws: ``AsyncJobError`` if a new job's stack cannot be allocated.
    /// - Important: traps if called from inside a job (jobs do not nest).
    /// OpenSSL equivalent: `ASYNC_start_job()` with `*job == NULL`.
    @available(*, noasync, message: "a job's stack belongs to one thread; start jobs from synchronous code on a pinned thread")
    @inlinable @inline(__always)
    public static func start<Value, Failure: Error>(
        waitContext: WaitContext? = nil, _ body: @escaping () throws(Failure) -> Value
    ) throws(AsyncJobError) -> JobOutcome<Value, Failure> {
        // Inlined into the caller, so specialized (see `JobRuntime.start(waitContext:_:)`).
        try JobRuntime.start(waitContext: waitContext, body)
    }

    /// Suspends the running job and returns control to whoever started or resumed it.
    ///
    /// - Returns: true when the job was suspended and then resumed; false, at once and without
    ///   suspending, when not inside a job or while pausing is blocked (``blockPause()``); false
    ///   when the job is cancelled (see ``isCancelled``): resumed by its cancellation, or, if it
    ///   pauses again once cancelled, after yielding to whoever resumed it (so that a loop
    ///   driving it goes on serving its other jobs).
    /// - Important: false means "stop waiting": a cancelled job must return (or throw) without
    ///   pausing again. The result is not discardable, so that a wait loop such as
    ///   `while !done { AsyncJob.pause() }` draws a warning: write
    ///   `while !done { guard AsyncJob.pause() else { return ... } }`. A job that ignores it and
    ///   pauses 1,000 more times once cancelled stops the process with a message naming this
    ///   rule when it is cancelled synchronously (``PausedJob/cancel()``, dropping its handle,
    ///   ``JobPool/cleanUp()``), and is abandoned (its stack and record left allocated, a
    ///   message on standard error) by a `JobLoop`, which serves its other jobs meanwhile.
    /// OpenSSL equivalent: `ASYNC_pause_job()`.
    @available(*, noasync, message: "a job's stack belongs to one thread")
    @inlinable @inline(__always)
    public static func pause() -> Bool {
        // The usual case inlined here; blocked, cancelled, canary-protected or outside a job:
        // the core's full pause.
        JobSlot.pauseInline() ?? JobRuntime.pauseFromSwift()
    }

    /// Whether the running job has been cancelled (its handle was dropped or cancelled, or its
    /// pool cleaned up). A cancelled job can no longer wait (its pauses return false) and must
    /// return promptly.
    public static var isCancelled: Bool {
        JobSlot.current?.cancelRequested ?? false
    }

    /// Throws `CancellationError` if the running job has been cancelled.
    public static func checkCancellation() throws(CancellationError) {
        if isCancelled { throw CancellationError() }
    }

    /// The running job, or nil outside a job.
    /// OpenSSL equivalent: `ASYNC_get_current_job()`.
    public static var current: JobReference? {
        JobRuntime.current
    }

    /// Whether the calling code runs inside a job.
    /// OpenSSL equivalent: `ASYNC_in_job()` (first design).
    @inlinable
    public static var isInJob: Bool {
        JobSlot.current != nil
    }

    /// The wait context of the running job, or nil (outside a job, or started without one).
    /// OpenSSL equivalent: `ASYNC_get_wait_ctx(ASYNC_get_current_job())`.
    public static var currentWaitContext: WaitContext? {
        JobSlot.current?.waitContext
    }

    /// Stops the running job from pausing until the matching ``unblockPause()``; calls nest.
    /// Use it around code that must not be suspended (for example while holding a lock).
    /// The count belongs to the job and ends with it. No effect outside a job.
    /// OpenSSL equivalent: `ASYNC_block_pause()`.
    public static func blockPause() {
        JobRuntime.blockPause()
    }

    /// Undoes one ``blockPause()``.
    /// - Important: traps if the running job has no block to undo.
    /// OpenSSL equivalent: `ASYNC_unblock_pause()` (which ignores an unbalanced call).
    public static func unblockPause() {
        precondition(JobRuntime.unblockPause(), "AsyncJob.unblockPause() without a matching blockPause() in this job")
    }

    /// Runs `body` with pausing blocked.
    public static func withPauseBlocked<Result, Failure: Error>(
        _ body: () throws(Failure) -> Result
    ) throws(Failure) -> Result {
        blockPause()
        defer { unblockPause() }
        return try body()
    }

    /// Stops the process for a handle used against the rules.
    @usableFromInline
    static func trap(_ refusal: ResumeRefusal, action: String) -> Never {
        switch refusal {
        case .stale: preconditionFailure("a job was \(action) after it finished or was cancelled")
        case .wrongThread: preconditionFailure("a paused job was \(action) on another thread than the one that started it")
        case .insideJob: preconditionFailure("a paused job was \(action) from inside a job: jobs do not nest")
        }
    }

    /// Whether jobs can run on this platform (always true: the assembly switch covers x86_64 and
    /// AArch64, and the ucontext fallback the rest).
    /// OpenSSL equivalent: `ASYNC_is_capable()`.
    public static var isCapable: Bool { true }

    /// Whether jobs started and resumed on the calling thread have task-local values of their
    /// own (true with the Swift runtime this package is tested with).
    ///
    /// A job then starts with copies of the task-local values its starter sees (as an
    /// unstructured task does), sees only its own bindings after every resume, and never leaks
    /// them to its resumer or to other jobs, on a plain thread as inside a task. Inside a job
    /// there is no current task: `withUnsafeCurrentTask` gives nil and `Task.isCancelled` is
    /// false (a job's cancellation is ``isCancelled``). False only if the package could not
    /// find the runtime's task-local state (another Swift runtime), or if the environment
    /// variable `ASYNCJOBS_JOB_TASK_LOCALS` is `0`: jobs then share their thread's task-local
    /// values, and a job must not pause inside `TaskLocal.withValue`.
    public static var isolatesTaskLocalValues: Bool { JobRuntime.isolatesTaskLocalValues }
}

/// The result of starting or resuming a job.
/// OpenSSL equivalent: `ASYNC_FINISH`, `ASYNC_PAUSE`, `ASYNC_NO_JOBS`.
public enum JobOutcome<Value, Failure: Error>: ~Copyable {
    /// The job's code returned this value; the job went back to the pool.
    case finished(Value)
    /// The job's code threw this error; the job went back to the pool.
    case failed(Failure)
    /// The job paused; resume it with the handle, on this thread.
    case paused(PausedJob<Value, Failure>)
    /// The pool is at its limit; try again after another job finishes.
    case noJobsAvailable

    init(_ result: Result<Value, Failure>) {
        switch result {
        case .success(let value): self = .finished(value)
        case .failure(let error): self = .failed(error)
        }
    }
}

/// The one handle to a paused job.
///
/// Resume it with ``resume()`` on the thread that started it. Dropping the handle without
/// resuming cancels the job: it is resumed with every pause failing, so that its code returns
/// and its frames release what they hold.
/// OpenSSL equivalent: the `ASYNC_JOB *` that `ASYNC_start_job()` returns with `ASYNC_PAUSE`.
@frozen
public struct PausedJob<Value, Failure: Error>: ~Copyable {
    /// Identifies the job (for its wait context and first-design descriptor).
    public let reference: JobReference

    @usableFromInline
    init(_ reference: JobReference) {
        self.reference = reference
    }

    /// Continues the job where it paused, until it pauses again or finishes.
    /// - Important: traps if called on another thread than the one that started the job, or
    ///   from inside a job.
    /// OpenSSL equivalent: `ASYNC_start_job()` with the paused `*job`.
    @available(*, noasync, message: "a job's stack belongs to one thread")
    @inlinable @inline(__always)
    public consuming func resume() -> JobOutcome<Value, Failure> {
        let job = reference
        discard self
        // Inlined and specialized in the caller, like AsyncJob.start.
        return JobRuntime.resume(job)
    }

    /// Cancels the job now: it is resumed with every pause failing until its code returns; its
    /// result is discarded. Dropping the handle does the same.
    public consuming func cancel() {
        let job = reference
        discard self
        PausedJob.cancel(job)
    }

    /// Marks the job cancelled without running it (see `JobRuntime.requestCancellation`): a
    /// driver then resumes it in turn with its other jobs until it returns.
    package func requestCancellation() {
        JobRuntime.requestCancellation(reference)
    }

    /// Gives up on the job for good without running it again (see `JobRuntime.abandon`): for a
    /// driver whose cancelled job keeps pausing.
    package consuming func abandon() {
        let job = reference
        discard self
        if !JobRuntime.abandon(job) { PausedJob.cancel(job) }
    }

    /// The wait context the job was started with, or nil.
    /// OpenSSL equivalent: `ASYNC_get_wait_ctx()`.
    public var waitContext: WaitContext? { reference.waitContext }

    /// The job's own wait descriptor (first design): readable once the job is woken.
    /// OpenSSL equivalent: `ASYNC_get_wait_fd()` (first design).
    public func waitFD() throws(AsyncJobError) -> FileDescriptor { try reference.waitFD() }

    deinit {
        PausedJob.cancel(reference)
    }

    static func cancel(_ job: JobReference) {
        switch JobRuntime.refusal(toResume: job) {
        case nil: JobRuntime.cancel(job)
        case .stale: return
        // Cannot run it here; its pool cancels it at cleanup or thread exit.
        case .wrongThread, .insideJob: return
        }
    }

    static func trap(_ refusal: ResumeRefusal, action: String) -> Never {
        AsyncJob.trap(refusal, action: action)
    }
}
