// SPDX-License-Identifier: Apache-2.0
// The generic halves of start and resume: inlined into the caller of `AsyncJob.start` and
// `PausedJob.resume`, and so specialized there. The result storage, the body's runner and the
// outcome are concrete types in the caller, and the non-generic core (`startInlined`,
// `JobSlot.resumeInline`) never looks up generic metadata or goes through a witness table.
//
// Invariant: the core moves the body's value (or error) into the temporary storage made here
// before it reports `.finished`; `JobOutcome.init(_:value:error:)` moves it out exactly once.

extension JobRuntime {
    /// `AsyncJob.start`: copies the body into temporary storage the job moves it out of, starts
    /// the job, and turns the core's step into the outcome.
    @inlinable @inline(__always)
    static func start<Value, Failure: Error>(
        waitContext: WaitContext?, _ body: @escaping () throws(Failure) -> Value
    ) throws(AsyncJobError) -> JobOutcome<Value, Failure> {
        try unsafe withUnsafeTemporaryAllocation(of: Value.self, capacity: 1) { value throws(AsyncJobError) in
            try unsafe withUnsafeTemporaryAllocation(of: Failure.self, capacity: 1) { error throws(AsyncJobError) in
                try unsafe withUnsafeTemporaryAllocation(of: (() throws(Failure) -> Value).self, capacity: 1) {
                    bodyCopy throws(AsyncJobError) in
                    unsafe bodyCopy.baseAddress!.initialize(to: body)
                    let step: RawStep
                    do throws(AsyncJobError) {
                        step = try unsafe JobRuntime.startInlined(
                            waitContext: waitContext, runner: JobSlot.runner(for: Value.self, failure: Failure.self),
                            body: UnsafeMutableRawPointer(bodyCopy.baseAddress!),
                            value: UnsafeMutableRawPointer(value.baseAddress), error: UnsafeMutableRawPointer(error.baseAddress))
                    } catch {
                        unsafe bodyCopy.baseAddress!.deinitialize(count: 1)
                        throw error
                    }
                    switch step {
                    case .finished, .paused: break  // the job took the body
                    case .noJobsAvailable, .insideJob: unsafe bodyCopy.baseAddress!.deinitialize(count: 1)
                    }
                    return unsafe JobOutcome(step, value: value.baseAddress, error: error.baseAddress)
                }
            }
        }
    }

    /// `PausedJob.resume`: the inlined resume, or the core's checked one (which traps on misuse).
    @inlinable @inline(__always)
    static func resume<Value, Failure: Error>(_ job: JobReference) -> JobOutcome<Value, Failure> {
        unsafe withUnsafeTemporaryAllocation(of: Value.self, capacity: 1) { value in
            unsafe withUnsafeTemporaryAllocation(of: Failure.self, capacity: 1) { error in
                let valueAddress = UnsafeMutableRawPointer(value.baseAddress)
                let errorAddress = UnsafeMutableRawPointer(error.baseAddress)
                let step = unsafe JobSlot.resumeInline(job, value: valueAddress, error: errorAddress)
                    ?? JobRuntime.resumeOrTrap(job, value: valueAddress, error: errorAddress)
                return unsafe JobOutcome(step, value: value.baseAddress, error: error.baseAddress)
            }
        }
    }
}

extension JobOutcome {
    /// The outcome of a start or resume whose value or error the core moved to `value`/`error`.
    @inlinable
    init(_ step: RawStep, value: UnsafeMutablePointer<Value>?, error: UnsafeMutablePointer<Failure>?) {
        switch step {
        // (A body that cannot throw did not: specialized for `Never`, the flag is not even read.)
        case .finished(let failed):
            self = unsafe Failure.self != Never.self && failed ? .failed(error!.move()) : .finished(value!.move())
        case .paused(let job): self = .paused(PausedJob(job))
        case .noJobsAvailable: self = .noJobsAvailable
        case .insideJob: preconditionFailure("AsyncJob.start called from inside a job: jobs do not nest")
        }
    }
}
