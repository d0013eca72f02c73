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
