// SPDX-License-Identifier: Apache-2.0
// What the library keeps per job, beside the switch layer's `_ajctx_job`.
//
// Layout of one allocation: [_ajctx_job, rounded up to 16 bytes][JobRecord] (`JobSlot.recordOffset`).
// The memory is type-stable: records live in slabs that are never unmapped, a record leaves its
// pool only for a process-wide free list (`RecordRecycler`), and its generation grows on every
// reuse. A stale handle therefore always reads a record and detects the mismatch, instead of
// touching freed memory. A page of free records may be given back to the system: it then reads
// as zeros (generation 0, idle, no pool), which every check refuses as well.

/// Lifecycle of a job record.
@usableFromInline enum JobState: UInt8 {
    /// In the pool's free list (or recycled), no job on it.
    case idle
    /// Switched to; its code is executing (or it is the one that resumed... nothing: one per thread).
    case running
    /// Suspended in `pause`, waiting for `resume`.
    case paused
    /// Its body returned; the resumer is about to recycle it.
    case finished
}

/// What a job's body shares with the code that runs it on the job's stack: the body itself (two
/// words: a Swift closure, or a C function and its argument) and where the current resumer wants
/// the body's value and error. The first field of every `JobRecord`.
@usableFromInline @unsafe struct JobDelivery {
    /// The body of a job that has not started yet: raw storage for two words, copied in by
    /// `prepare` and moved out (through a pointer bound to the body's type) by its runner.
    @usableFromInline var body: (UnsafeRawPointer?, UnsafeRawPointer?) = (nil, nil)
    /// Uninitialized `Value` storage on the current resumer's stack; nil when nobody wants it.
    @usableFromInline var value: UnsafeMutableRawPointer?
    /// Uninitialized `Failure` storage on the current resumer's stack; nil when nobody wants it.
    @usableFromInline var error: UnsafeMutableRawPointer?

    @usableFromInline init() {}

    /// Records that the body threw (its error is at `error`): sets `JobRecord.failed` of the
    /// record whose first field `delivery` is (a flag here would make every record 16 bytes
    /// larger).
    @inlinable
    static func markFailed(_ delivery: UnsafeMutablePointer<JobDelivery>) {
        unsafe UnsafeMutableRawPointer(delivery).assumingMemoryBound(to: JobRecord.self).pointee.failed = true
    }
}

/// Runs a job's body on its stack: moves the body out of `delivery.body`, runs it, and moves its
/// value to `delivery.value` or its error to `delivery.error` (read after the body returns: the
/// job may have been resumed by other code since it started). Marks the record failed if the
/// body threw (`JobDelivery.markFailed`).
///
/// Made by `JobSlot.runner(for:failure:)` in the caller's code, where it is specialized for the
/// body's types and captures nothing; the core stores and calls it without knowing those types.
@usableFromInline typealias JobBodyRunner = (UnsafeMutablePointer<JobDelivery>) -> Void

/// The fields Swift keeps per job, next to the C `_ajctx_job`. Only reached through `JobSlot`.
@usableFromInline @unsafe struct JobRecord {
    /// The body and where its result goes (first: the runner reaches it at the record's address).
    @usableFromInline var delivery = unsafe JobDelivery()
    /// Raw storage of the `JobBodyRunner` of `delivery.body`: initialized by `prepare` (without
    /// releasing anything), moved out by `runBody`. Raw, so that neither side pays ARC for the
    /// runner's (usually absent) context beyond the one release after the call.
    var runnerStorage: (UnsafeRawPointer?, UnsafeRawPointer?) = (nil, nil)
    @usableFromInline var state: JobState = .idle
    /// Whether the finished body threw (its error is at `delivery.error`); cleared by `prepare`.
    @usableFromInline var failed = false
    /// Whether the record is on `RecordRecycler`'s free list, and whether it came from the memory
    /// allocator (`RecordRecycler.Recycling`); only the recycler, under its lock, reads and writes
    /// it. (A byte of the padding before `pauseGate`: the record is no larger.)
    var recycling: UInt8 = 0
    /// Everything that keeps a pause off the inlined path, in one word so that the path checks
    /// it once (zero: nothing does): the number of open `blockPause` calls
    /// (`PauseGate.blockMask`), a requested cancellation (`PauseGate.cancel`), a stack
    /// without a guard page, whose canary every pause checks (`PauseGate.canary`), job-local
    /// storage to release when the job ends (`PauseGate.locals`), and a pool that records
    /// pauses (`PauseGate.recorded`). Read through `JobSlot.blockCount`, `cancelRequested`,
    /// `checksCanary`, `hasLocals` and `recordsPauses`.
    @usableFromInline var pauseGate: UInt32 = 0
    @usableFromInline var generation: UInt64 = 0
    /// The pool that owns the job (and so the thread); nil while recycled.
    @usableFromInline var pool: PoolHandle?
    /// Next record in the pool's free list, or in the recycler's list, while the record is idle.
    /// While the job is in use and `pauseGate` has `PauseGate.locals`, the same word holds its
    /// job-local storage instead (a retained `JobLocalStorage`; JobLocals.swift): the two are
    /// never needed at once, and a field of its own would make every paused job 16 bytes larger.
    @usableFromInline var nextFree: JobSlot?
    /// Neighbours in the pool's list of all its records.
    var previousInPool: JobSlot?
    var nextInPool: JobSlot?
    /// Where the stack goes back to; nil while recycled. (The stack itself is described by the
    /// `_ajctx_job` fields: see `stack`.)
    var allocator: StackAllocatorBox?
    @usableFromInline var waitContext: WaitContext?
    /// The same object, unretained: lets a resume reach it without retain and release (two
    /// atomic operations, a third of a round trip). `waitContext` keeps it alive.
    @usableFromInline var waitContextAddress: UnsafeMutableRawPointer?
}

/// The bits of `JobRecord.pauseGate`.
@usableFromInline enum PauseGate {
    @inlinable static var cancel: UInt32 { 1 << 31 }
    @inlinable static var canary: UInt32 { 1 << 30 }
    /// The job has job-local storage (in `nextFree`'s word): its pauses take the out-of-line path
    /// (which ignores this bit) and its finish the slow recycle, which releases the storage.
    @inlinable static var locals: UInt32 { 1 << 29 }
    /// The job's pool records its pauses (PauseRecording.swift): every pause takes the full path,
    /// which records it, so that the inlined one has nothing to record.
    @inlinable static var recorded: UInt32 { 1 << 28 }
    @inlinable static var blockMask: UInt32 { recorded - 1 }
    /// The bits a recycled job keeps until `recycleSlowly` has dealt with them.
    @inlinable static var kept: UInt32 { canary | locals | recorded }
}
