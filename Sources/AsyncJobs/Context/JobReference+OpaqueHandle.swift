// SPDX-License-Identifier: Apache-2.0
// The C library's view of a job: its record's address is the `ASYNC_JOB *`.

extension JobReference {
    /// The address the C library uses as this job's `ASYNC_JOB *`.
    package var opaqueHandle: UnsafeMutableRawPointer { unsafe slot.address }

    /// The job behind a C handle, at the record's current generation.
    /// - Important: `opaqueHandle` must be a value that `opaqueHandle` returned (records are
    ///   never freed, so any such value stays dereferenceable).
    package init(opaqueHandle: UnsafeRawPointer) {
        let slot = unsafe JobSlot.from(address: opaqueHandle)
        self.init(slot: slot, generation: slot.generation)
    }
}

/// What a resume through the C library did.
package enum ForeignResume {
    /// The job's function returned this value; the job went back to the pool.
    case finished(Int32)
    /// The job paused again (its handle is unchanged).
    case paused
    /// The handle may not be resumed now; nothing changed.
    case refused(ResumeRefusal)
}

extension JobRuntime {
    /// The C library's resume of a paused `ASYNC_JOB *`: checks the handle and runs the job in one
    /// non-generic call, so that every step inlines here (the generic path costs the C library
    /// three cross-module calls and a generic specialization per resume).
    /// - Important: `handle` must be a value that `opaqueHandle` returned.
    package static func resumeForeign(_ handle: UnsafeRawPointer) -> ForeignResume {
        let job = unsafe JobReference(opaqueHandle: handle)
        if let refusal = refusal(toResume: job) { return .refused(refusal) }
        var value: Int32 = 0
        let step = unsafe withUnsafeMutablePointer(to: &value) { pointer in
            // Jobs of the C library never throw: no error storage.
            unsafe resumeAccepted(job, value: UnsafeMutableRawPointer(pointer), error: nil)
        }
        switch step {
        case .finished: return .finished(value)
        case .paused: return .paused
        case .noJobsAvailable, .insideJob: return .refused(.insideJob)
        }
    }
}
