// SPDX-License-Identifier: Apache-2.0
// Job-local storage (``JobLocal``): one object per job that has set a value, kept in the word of
// `JobRecord.nextFree` while the job is in use (the word is only a free-list link while the record
// is idle), flagged by `PauseGate.locals`. The flag makes the job's finish take the slow recycle,
// which releases the storage; jobs that never set a value pay nothing.
//
// Invariant: `PauseGate.locals` is set exactly while the word holds a retained `JobLocalStorage`.

/// The values of one job, by key. Keys are kept alive with their values, so that an
/// `ObjectIdentifier` is never reused for another key while it is in the table.
final class JobLocalStorage {
    var values: [ObjectIdentifier: (key: AnyObject, value: Any)] = [:]
}

extension JobSlot {
    /// Whether the job has job-local storage.
    var hasLocals: Bool { unsafe record.pointee.pauseGate & PauseGate.locals != 0 }

    /// The job's storage, or nil if it has none.
    var locals: JobLocalStorage? {
        guard hasLocals else { return nil }
        let bits = unsafe UnsafeMutableRawPointer(mutating: localsWord.pointee)!
        return unsafe Unmanaged<JobLocalStorage>.fromOpaque(bits).takeUnretainedValue()
    }

    /// The job's storage, made on first use (retained by the record until `releaseLocals`).
    func makeLocals() -> JobLocalStorage {
        if let existing = locals { return existing }
        let storage = JobLocalStorage()
        unsafe localsWord.pointee = UnsafeRawPointer(Unmanaged.passRetained(storage).toOpaque())
        setGate(PauseGate.locals, true)
        return storage
    }

    /// Takes the job's storage out of the record (giving the word back to the free-list link)
    /// and returns it, so that the caller releases it, and with it the values, once the record is
    /// back in its pool: a value's deinit may run any code, even clean the pool up. The matching
    /// retain is in `makeLocals`.
    func takeLocals() -> JobLocalStorage? {
        guard hasLocals else { return nil }
        let bits = unsafe UnsafeMutableRawPointer(mutating: localsWord.pointee)!
        unsafe localsWord.pointee = nil
        setGate(PauseGate.locals, false)
        return unsafe Unmanaged<JobLocalStorage>.fromOpaque(bits).takeRetainedValue()
    }

    /// The word of `JobRecord.nextFree`, as the storage's address.
    private var localsWord: UnsafeMutablePointer<UnsafeRawPointer?> {
        unsafe UnsafeMutableRawPointer(record)
            .advanced(by: MemoryLayout<JobRecord>.offset(of: \.nextFree)!)
            .assumingMemoryBound(to: UnsafeRawPointer?.self)
    }
}

extension JobLocalStorage {
    /// The running job's storage (nil outside a job, or before its first value).
    static var current: JobLocalStorage? {
        JobSlot.current?.locals
    }

    /// The running job's storage, made if needed; nil outside a job.
    static var currentMakingIt: JobLocalStorage? {
        JobSlot.current?.makeLocals()
    }
}
