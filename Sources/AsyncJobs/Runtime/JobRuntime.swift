// SPDX-License-Identifier: Apache-2.0
// The job protocol shared by the Swift API and the C library: start, resume, pause, cancel and
// the checks that decide whether a handle may be resumed. Returns outcomes as values; the Swift
// API turns misuse into preconditions, the C library into OpenSSL's integers.
import SystemPackage

/// Why a handle may not be resumed.
@usableFromInline package enum ResumeRefusal: Equatable, Sendable {
    /// The job finished or was cancelled; the handle is stale.
    case stale
    /// The job belongs to another thread's pool.
    case wrongThread
    /// A job is running on this thread (jobs do not nest).
    case insideJob
}

/// What a call to pause did.
package enum PauseResult: Equatable, Sendable {
    /// Suspended, then resumed normally.
    case resumed
    /// Not inside a job: nothing happened.
    case notInJob
    /// Pausing is blocked for the running job: nothing happened.
    case blocked
    /// The job is cancelled: it was not suspended, or it was resumed by its cancellation.
    case cancelled
}

/// One step of a job, as seen by whoever started or resumed it.
@usableFromInline package enum JobStep<Value, Failure: Error> {
    case finished(Result<Value, Failure>)
    case paused(JobReference)
    case noJobsAvailable
    case insideJob
}

/// What the non-generic core of start and resume reports to the generic Swift API, which is
/// inlined (and so specialized) into its callers; the value or error is in the caller's storage.
@usableFromInline enum RawStep {
    case finished(failed: Bool)
    case paused(JobReference)
    case noJobsAvailable
    case insideJob
}

/// The operations behind ``AsyncJob``, ``PausedJob`` and the C library.
@usableFromInline package enum JobRuntime {
    /// `start(waitContext:runner:body:value:error:)` with its usual case (an idle pooled job)
    /// inlined into the caller (`JobSlot.startInline`).
    /// - Throws: ``AsyncJobError`` when a new job's stack cannot be allocated.
    @inlinable @inline(__always)
    static func startInlined(
        waitContext: WaitContext?, runner: @escaping JobBodyRunner, body: UnsafeMutableRawPointer,
        value: UnsafeMutableRawPointer?, error: UnsafeMutableRawPointer?, retiringSpentRecords: Bool = false
    ) throws(AsyncJobError) -> RawStep {
        if let step = unsafe JobSlot.startInline(
            waitContext: waitContext, runner: runner, body: body, value: value, error: error,
            retiringSpentRecords: retiringSpentRecords)
        {
            return step
        }
        return try unsafe start(
            waitContext: waitContext, runner: runner, body: body, value: value, error: error,
            retiringSpentRecords: retiringSpentRecords)
    }

    /// Starts a body on the calling thread's pool (created on first use): `runner` runs the two
    /// words at `body`, which this moves into the job if it returns `.finished` or `.paused` (on
    /// any other outcome, and when it throws, they stay the caller's). A body that finishes at
    /// once moves its value to `value` or its error to `error`. Not generic, so that nothing on
    /// this path looks up generic metadata: the generic wrapper (`AsyncJob.start`) is specialized
    /// in the caller, and makes the runner there. `retiringSpentRecords` (the C library's starts):
    /// the idle records whose generation has used up the tags of C handles are retired first (see
    /// JobReference+OpaqueHandle.swift).
    /// - Throws: ``AsyncJobError`` when a new job's stack cannot be allocated.
    @usableFromInline
    static func start(
        waitContext: WaitContext?, runner: consuming @escaping JobBodyRunner, body: UnsafeMutableRawPointer,
        value: UnsafeMutableRawPointer?, error: UnsafeMutableRawPointer?, retiringSpentRecords: Bool = false
    ) throws(AsyncJobError) -> RawStep {
        if JobSlot.current != nil { return .insideJob }
        let pool = PoolHandle.current ?? JobPool.installDefaultPool()
        if retiringSpentRecords { pool.retireSpentFreeRecords() }
        guard let slot = try pool.acquire() else {
            pool.observeNoJobs()
            return .noJobsAvailable
        }
        if let waitContext { slot.waitContext = waitContext }
        unsafe slot.prepare(runner: runner, body: body)
        guard unsafe slot.run(value: value, error: error) else {
            return .paused(JobReference(slot: slot, generation: slot.generation))
        }
        // Inline here (unlike after a resume): a job started without pausing usually finishes.
        let failed = slot.failed
        pool.recycle(slot)
        return .finished(failed: failed)
    }

    /// Resumes `job`, trapping on misuse (stale handle, wrong thread, inside a job); a body that
    /// finishes moves its value to `value` or its error to `error`.
    @usableFromInline
    static func resumeOrTrap(
        _ job: JobReference, value: UnsafeMutableRawPointer?, error: UnsafeMutableRawPointer?
    ) -> RawStep {
        if let refusal = refusal(toResume: job) { AsyncJob.trap(refusal, action: "resumed") }
        let slot = job.slot
        return unsafe step(slot, pool: slot.pool!, finished: slot.run(value: value, error: error))
    }

    @inline(__always)
    static func step(_ slot: JobSlot, pool: PoolHandle, finished: Bool) -> RawStep {
        guard finished else { return .paused(JobReference(slot: slot, generation: slot.generation)) }
        return recycleFinished(slot, pool: pool)
    }

    /// Out of line: recycling (with its wake-fd drain) would otherwise give every resume the
    /// frame, saved registers and stack protector of the finish path.
    @usableFromInline @inline(never)
    static func recycleFinished(_ slot: JobSlot, pool: PoolHandle) -> RawStep {
        JobSlot.recycleInline(slot, pool: pool)
    }

    /// Whether `job` may be resumed now, on this thread.
    @inline(__always)
    package static func refusal(toResume job: JobReference) -> ResumeRefusal? {
        let slot = job.slot
        if slot.generation != job.generation || slot.state != .paused { return .stale }
        if JobSlot.current != nil { return .insideJob }
        guard let pool = slot.pool, pool == PoolHandle.current else { return .wrongThread }
        return nil
    }

    /// Resumes a paused job that `refusal(toResume:)` accepted. Inlinable, so that callers in
    /// other modules (the C library) get it specialized: unspecialized, building the
    /// `JobStep<Value, Failure>` costs generic metadata lookups (~1700 instructions a resume).
    @inlinable
    package static func resume<Value, Failure: Error>(
        _ job: JobReference, as: Result<Value, Failure>.Type
    ) -> JobStep<Value, Failure> {
        unsafe withUnsafeTemporaryAllocation(of: Value.self, capacity: 1) { value in
            unsafe withUnsafeTemporaryAllocation(of: Failure.self, capacity: 1) { error in
                let step = unsafe resumeAccepted(
                    job, value: UnsafeMutableRawPointer(value.baseAddress), error: UnsafeMutableRawPointer(error.baseAddress))
                switch step {
                case .finished(let failed):
                    return unsafe .finished(failed ? .failure(error.baseAddress!.move()) : .success(value.baseAddress!.move()))
                case .paused(let reference): return .paused(reference)
                case .noJobsAvailable: return .noJobsAvailable
                case .insideJob: return .insideJob
                }
            }
        }
    }

    /// Resumes a paused job that `refusal(toResume:)` accepted (non-generic core of `resume`).
    @usableFromInline
    static func resumeAccepted(
        _ job: JobReference, value: UnsafeMutableRawPointer?, error: UnsafeMutableRawPointer?
    ) -> RawStep {
        let slot = job.slot
        return unsafe step(slot, pool: slot.pool!, finished: slot.run(value: value, error: error))
    }

    /// `AsyncJob.pause()` when `JobSlot.pauseInline()` declined: true if the job was suspended
    /// and then resumed normally.
    @usableFromInline @inline(never)
    static func pauseFromSwift() -> Bool {
        pause() == .resumed
    }

    /// The usual pause inlined into the caller (`JobSlot.pauseInline`): nil when it declined
    /// (call `pause()`), else whether the job was resumed normally (false: cancelled).
    @inlinable @inline(__always)
    package static func pauseInline() -> Bool? {
        JobSlot.pauseInline()
    }

    /// Suspends the running job until it is resumed.
    @inline(__always)
    package static func pause() -> PauseResult {
        guard let slot = JobSlot.current else { return .notInJob }
        if slot.blockCount != 0 { return .blocked }
        slot.checkCanary()
        if slot.cancelRequested {
            // A cancelled job may not wait any longer, but one that pauses anyway yields to its
            // resumer rather than returning at once: a job looping on a failing pause would
            // otherwise keep the thread, and every other job of its loop, forever.
            slot.state = .paused
            slot.suspend()
            return .cancelled
        }
        // Out of the inlined pause's way: the recording bit sends every pause of the job here.
        if slot.recordsPauses { slot.recordPause() }
        slot.state = .paused
        slot.suspend()
        if slot.recordsPauses { slot.recordResume() }
        // Resumed. The changes the application saw are now old news (docs/contract.md).
        slot.resetWaitContextChanges()
        return slot.cancelRequested ? .cancelled : .resumed
    }

    /// Cancels a paused job that `refusal(toResume:)` accepted: resumes it with every pause
    /// failing until its code returns, and discards its result.
    package static func cancel(_ job: JobReference) {
        let slot = job.slot
        slot.cancelRequested = true
        let pool = slot.pool!
        var pausesAfterCancellation = 0
        if slot.recordsPauses { pool.observeCancellation(of: slot) }
        while slot.state == .paused {
            // Its first resume is the one its pending pause returns false from; each further
            // round is a pause of a job that was told to stop waiting.
            if pausesAfterCancellation > cancelledPauseLimit { trapCancelledJobKeptPausing(slot) }
            pausesAfterCancellation += 1
            slot.runDiscardingResult()
        }
        pool.recycle(slot)
    }

    /// How many times a cancelled job may pause again before a synchronous cancellation stops
    /// the process, or a `JobLoop` abandons it.
    package static let cancelledPauseLimit = 1_000

    static func trapCancelledJobKeptPausing(_ slot: JobSlot) -> Never {
        preconditionFailure(
            "a cancelled job (\(unsafe String(describing: slot.address))) paused \(cancelledPauseLimit) more times: once "
                + "AsyncJob.pause() returns false (ASYNC_pause_job() returns 0), a job must return without pausing again")
    }

    /// Marks a paused job that `refusal(toResume:)` accepts as cancelled without running it: its
    /// pending pause returns false when it is next resumed, and so does every later one (each
    /// yielding to the resumer). For a driver that resumes cancelled jobs in turn with the rest.
    package static func requestCancellation(_ job: JobReference) {
        guard refusal(toResume: job) == nil else { return }
        job.slot.cancelRequested = true
    }

    /// Lets go of a paused job that will never return, without running it again: it leaves its
    /// pool (which no longer counts or cancels it) and its handle goes stale; its record and
    /// stack stay allocated for good (its frames may hold anything), and its wait context is
    /// released. For a driver giving up on a cancelled job that keeps pausing.
    /// - Returns: false if the job may not be resumed here (nothing was done).
    package static func abandon(_ job: JobReference) -> Bool {
        guard refusal(toResume: job) == nil, let pool = job.slot.pool else { return false }
        let slot = job.slot
        pool.disown(slot)
        if slot.hasWaitContext { slot.waitContext = nil }
        slot.generation &+= 1
        slot.state = .finished
        slot.pool = nil
        return true
    }

    /// Blocks pausing for the running job (nested calls count); no effect outside a job.
    package static func blockPause() {
        guard let slot = JobSlot.current else { return }
        slot.blockCount += 1
    }

    /// Undoes one `blockPause`.
    /// - Returns: false if the running job had no block to undo (outside a job: true).
    package static func unblockPause() -> Bool {
        guard let slot = JobSlot.current else { return true }
        guard slot.blockCount > 0 else { return false }
        slot.blockCount -= 1
        return true
    }

    /// The running job.
    package static var current: JobReference? {
        guard let slot = JobSlot.current else { return nil }
        return JobReference(slot: slot, generation: slot.generation)
    }
}
