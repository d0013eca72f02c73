// SPDX-License-Identifier: Apache-2.0
// The C library's view of a job: its record's address is the `ASYNC_JOB *`.
import _CJobContext

extension JobReference {
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
