// SPDX-License-Identifier: Apache-2.0
// What modules of this package that build engines (the job loop) need of the job running on
// this thread, without reaching into the job record. Inlinable: engines call it once per
// operation (and `@usableFromInline` on the type: without it the 6.3 compiler does not give other
// modules the bodies of a `package` type's inlinable members).

/// The job running on the calling thread, as an engine's job side sees it.
@usableFromInline package struct RunningJob {
    @usableFromInline let slot: JobSlot

    @inlinable init(slot: JobSlot) { self.slot = slot }

    /// The job running on this thread, or nil outside a job.
    @inlinable @inline(__always)
    package static var current: RunningJob? {
        JobSlot.current.map(RunningJob.init(slot:))
    }

    /// Whether the job was asked to cancel (its next pause returns false at once).
    @inlinable package var isCancelRequested: Bool { slot.cancelRequested }

    /// Whether pausing is blocked (`AsyncJob.blockPause`), so nothing could resume a pause.
    @inlinable package var isPauseBlocked: Bool { slot.blockCount != 0 }

    /// The job's wait context, retained; nil without one.
    @inlinable package var waitContext: WaitContext? { slot.waitContext }

    /// Calls `body` with the job's wait context borrowed from the job record (no retain: the
    /// record holds it, and only the job's own thread replaces it); nil without a wait context.
    @inlinable
    package func withWaitContext<Result>(_ body: (WaitContext) -> Result) -> Result? {
        slot.withWaitContext(body)
    }
}
