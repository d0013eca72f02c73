// SPDX-License-Identifier: Apache-2.0
// The C library's view of a job: its record's address is the `ASYNC_JOB *`.
import Synchronization
import _CJobContext

extension JobReference {
    /// The record's address, for messages naming the job.
    package var debugAddress: String { unsafe String(describing: slot.address) }

    /// The address the C library uses as this job's `ASYNC_JOB *`.
    package var opaqueHandle: UnsafeMutableRawPointer { unsafe slot.address }

    /// The job behind a C handle, at the record's current generation.
    /// - Important: `opaqueHandle` must be a value that `opaqueHandle` returned (records are
    ///   never freed, so any such value stays dereferenceable).
    @inlinable
    package init(opaqueHandle: UnsafeRawPointer) {
        let slot = unsafe JobSlot.from(address: opaqueHandle)
        self.init(slot: slot, generation: slot.generation)
    }
}

extension JobReference {
    /// The C handle of the job running on this thread, or nil (`SAJ_get_current_job`): inlined
    /// into the C entry point, one thread-local load.
    @inlinable @inline(__always)
    package static var currentOpaqueHandle: UnsafeMutableRawPointer? {
        guard let machine = unsafe _ajctx_current() else { return nil }
        return UnsafeMutableRawPointer(machine)
    }

    /// The address of the wait context of the job behind a C handle, unretained (the job holds
    /// it), while the job exists; nil for a job without one or a handle whose job finished
    /// (`SAJ_get_wait_ctx`). The same answer as `waitContext`, without the retain and release
    /// of the object (two atomic operations).
    /// - Important: `opaqueHandle` must be a value that `opaqueHandle` returned.
    @inlinable @inline(__always)
    package static func waitContextAddress(opaqueHandle: UnsafeRawPointer) -> UnsafeMutableRawPointer? {
        let slot = unsafe JobSlot.from(address: opaqueHandle)
        let state = slot.state
        guard state == .running || state == .paused else { return nil }
        return unsafe slot.record.pointee.waitContextAddress
    }
}

extension JobReference {
    /// Brings the job's record into the cache ahead of a resume (a driver resuming many jobs in
    /// turn calls it two jobs ahead, then `prefetchStack` one ahead). Only a hint: a stale
    /// reference reads a record that exists anyway.
    @inlinable @inline(__always)
    package func prefetchRecord() {
        unsafe _ajctx_prefetch_job(slot.machine)
    }

    /// Brings the top of the paused job's stack, and its wait context, into the cache ahead of a
    /// resume (after `prefetchRecord`: this reads the record).
    @inlinable @inline(__always)
    package func prefetchStack() {
        unsafe _ajctx_prefetch_stack(slot.machine)
        if let context = unsafe slot.record.pointee.waitContextAddress { unsafe _ajctx_prefetch_object(context) }
    }
}

/// What a resume through the C library did.
@usableFromInline package enum ForeignResume {
    /// The job's function returned this value; the job went back to the pool.
    case finished(Int32)
    /// The job paused again (its handle is unchanged).
    case paused
    /// The handle may not be resumed now; nothing changed.
    case refused(ResumeRefusal)
}

extension JobRuntime {
    /// The C library's resume of a paused `ASYNC_JOB *`: the usual case inlined into the C entry
    /// point (see `JobSlot.resumeInline`), the others out of line.
    /// - Important: `handle` must be a value that `opaqueHandle` returned.
    @inlinable @inline(__always)
    package static func resumeForeign(_ handle: UnsafeRawPointer) -> ForeignResume {
        let job = unsafe JobReference(opaqueHandle: handle)
        // A C handle carries no generation of its own (it is taken from the record, so the
        // inlined resume's generation check cannot tell a stale handle): the record's state does.
        guard job.slot.state == .paused else { return resumeForeignChecked(job) }
        var value: Int32 = 0
        let step = unsafe withUnsafeMutablePointer(to: &value) { pointer in
            // Jobs of the C library never throw: no error storage.
            unsafe JobSlot.resumeInline(job, value: UnsafeMutableRawPointer(pointer), error: nil)
        }
        switch step {
        case .finished?: return .finished(value)
        case .paused?: return .paused
        case nil, .noJobsAvailable?, .insideJob?: return resumeForeignChecked(job)
        }
    }

    /// `resumeForeign` when the inlined resume declined: says why, or resumes.
    @usableFromInline @inline(never)
    static func resumeForeignChecked(_ job: JobReference) -> ForeignResume {
        if let refusal = refusal(toResume: job) { return .refused(refusal) }
        var value: Int32 = 0
        let step = unsafe withUnsafeMutablePointer(to: &value) { pointer in
            unsafe resumeAccepted(job, value: UnsafeMutableRawPointer(pointer), error: nil)
        }
        switch step {
        case .finished: return .finished(value)
        case .paused: return .paused
        case .noJobsAvailable, .insideJob: return .refused(.insideJob)
        }
    }
}

extension JobRuntime {
    /// The first half of the C library's pause on x86_64, where the switch itself is made by
    /// the assembly entry point (`SAJ_pause_job`, so that no `ret` follows the switch): in the
    /// usual case (see `JobSlot.pauseInline`) it marks the job paused, saves its access set and
    /// returns the job's address; the caller must then switch with
    /// `_ajctx_swap(&job->job_sp, job->caller_sp, job)`, running no Swift code in between, and
    /// call `pauseForeignResumed` once resumed. nil: declined, nothing done (call `pause()`).
    @inlinable @inline(__always)
    package static func pauseForeignPrepare() -> UnsafeMutableRawPointer? {
        guard let machine = unsafe _ajctx_current() else { return nil }
        let record = unsafe JobSlot(machine: machine).record
        guard unsafe record.pointee.pauseGate == 0, unsafe _ajctx_suspend_prepare(machine) != 0 else { return nil }
        unsafe record.pointee.state = .paused
        return UnsafeMutableRawPointer(machine)
    }

    /// The second half (see `pauseForeignPrepare`), inside the resumed job: whether it was
    /// resumed normally (false: by its cancellation).
    @inlinable @inline(__always)
    package static func pauseForeignResumed(_ job: UnsafeMutableRawPointer) -> Bool {
        let slot = unsafe JobSlot.from(address: job)
        // The changes the application saw are now old news (docs/contract.md).
        if let address = unsafe slot.record.pointee.waitContextAddress,
            unsafe Unmanaged<WaitContext>.fromOpaque(address)._withUnsafeGuaranteedRef({
                $0.hasChanges.load(ordering: .acquiring)
            })
        {
            slot.resetWaitContextChanges()
        }
        return !slot.cancelRequested
    }

    /// The first half of the C library's resume of a paused handle on x86_64 (see
    /// `pauseForeignPrepare`): in the usual case (see `resumeForeign`) it prepares the job to run,
    /// with `value` as the place for its function's result, and returns its address; the caller
    /// must then switch with `_ajctx_swap(&job->caller_sp, job->job_sp, job)` and call
    /// `resumeForeignSwitchedBack` with the job the switch hands back. nil: declined, nothing
    /// done (call `resumeForeign`, which says why or resumes).
    /// - Important: `handle` must be a value that `opaqueHandle` returned.
    @inlinable @inline(__always)
    package static func resumeForeignPrepare(
        _ handle: UnsafeRawPointer, value: UnsafeMutableRawPointer
    ) -> UnsafeMutableRawPointer? {
        let slot = unsafe JobSlot.from(address: handle)
        let record = unsafe slot.record
        // A C handle carries no generation: the record's state says whether it is paused. A paused
        // job belongs to a pool; this thread's pool, and no job running, make it resumable here.
        guard unsafe record.pointee.state == .paused, unsafe _ajctx_current() == nil else { return nil }
        let pool = unsafe record.pointee.pool.unsafelyUnwrapped
        guard unsafe UInt(bitPattern: pool.core) == unsafeBitCast(_ajctx_pool(), to: UInt.self),
            unsafe _ajctx_resume_prepare(slot.machine) != 0
        else { return nil }
        unsafe record.pointee.delivery.value = value
        unsafe record.pointee.delivery.error = nil
        unsafe record.pointee.state = .running
        unsafe _ajctx_set_current(slot.machine)
        return unsafe UnsafeMutableRawPointer(slot.machine)
    }

    /// The second half (see `resumeForeignPrepare`), back from the switch: true if the job
    /// finished (its value is at the `value` of the first half, and the job went back to its
    /// pool), false if it paused again.
    @inlinable @inline(__always)
    package static func resumeForeignSwitchedBack(_ job: UnsafeMutableRawPointer) -> Bool {
        _ajctx_set_current(nil)
        let back = unsafe JobSlot.from(address: job)
        guard back.state == .finished else { return false }
        _ = JobSlot.recycleInline(back, pool: unsafe back.record.pointee.pool.unsafelyUnwrapped)
        return true
    }
}
