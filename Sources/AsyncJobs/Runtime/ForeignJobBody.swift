// SPDX-License-Identifier: Apache-2.0
// A job body that is a C function and an argument buffer, for the C library: the two words are
// stored in the record (no allocation per start beyond the argument copy the C API requires).
// An argument of up to 16 bytes (`JobRuntime.inlineArgumentBytes`: a pointer, or two, is the
// usual case) is not allocated at all: the job copies it, as it starts, over the two words it has
// just read, the first 16 bytes of its record (16-byte aligned, as malloc's copy would be), which
// nothing else uses until the record's next job is prepared; the copy lives as long as the job.
import Glibc

/// The C library's job function type.
@usableFromInline package typealias ForeignJobFunction = @convention(c) (UnsafeMutableRawPointer?) -> Int32

/// Runs a C job function: `delivery.body` holds the function and its argument (from `malloc`,
/// or nil), which the job frees when the function returns, cancelled or not. Its value is an
/// `Int32`; it never fails.
@usableFromInline func runForeignBody(_ delivery: UnsafeMutablePointer<JobDelivery>) {
    let words = UnsafeRawPointer(delivery)
    let function = unsafe unsafeBitCast(words.load(as: UnsafeRawPointer.self), to: ForeignJobFunction.self)
    let argument = unsafe UnsafeMutableRawPointer(mutating: words.load(fromByteOffset: MemoryLayout<UnsafeRawPointer>.size, as: UnsafeRawPointer?.self))
    let value = unsafe function(argument)
    unsafe free(argument)
    if let pointer = unsafe delivery.pointee.value { unsafe pointer.storeBytes(of: value, as: Int32.self) }
}

/// Runs a C job function whose argument is copied into the record (see the top of this file):
/// `delivery.body` holds the function, and the caller's argument address with its size (1 to
/// `JobRuntime.inlineArgumentBytes`) in the top 16 bits. The job starts inside the caller's
/// `SAJ_start_job`, so the caller's buffer is still there; nothing is freed when it returns.
@usableFromInline func runForeignBodyCopyingArgument(_ delivery: UnsafeMutablePointer<JobDelivery>) {
    let words = UnsafeMutableRawPointer(delivery)
    let function = unsafe unsafeBitCast(words.load(as: UnsafeRawPointer.self), to: ForeignJobFunction.self)
    let source = unsafe words.load(fromByteOffset: MemoryLayout<UnsafeRawPointer>.size, as: UInt.self)
    let address = unsafe UnsafeRawPointer(bitPattern: source & JobSlot.handleAddressMask).unsafelyUnwrapped
    // Both words are read: from here on they are the argument's copy. The usual sizes (an int,
    // a pointer, two pointers) as plain loads and stores, the others through memcpy.
    switch source >> 48 {
    case 4: unsafe words.storeBytes(of: address.loadUnaligned(as: UInt32.self), as: UInt32.self)
    case 8: unsafe words.storeBytes(of: address.loadUnaligned(as: UInt64.self), as: UInt64.self)
    case 16:
        let low = unsafe address.loadUnaligned(as: UInt64.self)
        let high = unsafe address.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
        unsafe words.storeBytes(of: low, as: UInt64.self)
        unsafe words.storeBytes(of: high, toByteOffset: 8, as: UInt64.self)
    case let size: unsafe words.copyMemory(from: address, byteCount: Int(size))
    }
    let value = unsafe function(words)
    if let pointer = unsafe delivery.pointee.value { unsafe pointer.storeBytes(of: value, as: Int32.self) }
}

/// What `JobRuntime.startForeignPrepare` did.
@usableFromInline @unsafe package enum ForeignStartEntry {
    /// The job is ready: switch into this record.
    case enter(UnsafeMutableRawPointer)
    /// The job ran on the general path (it finished or paused).
    case started(ForeignStart)
    /// Nothing was done.
    case declined
}

/// What starting a C function as a job did (its value, if it finished, is already at `ret`).
@usableFromInline package enum ForeignStart {
    case finished
    case paused(JobReference)
    case noJobsAvailable
    case insideJob
}

extension JobRuntime {
    /// Starts a C function as a job. `argument` must come from `malloc` (or be nil); the job
    /// frees it when the function returns. On any outcome other than `.finished` or `.paused`
    /// the caller still owns it. If the function returns, its value is stored at `ret` (unless
    /// nil), by the job itself; nothing is stored there otherwise. An idle record whose
    /// generation has used up the tags of C handles is retired first (see
    /// JobReference+OpaqueHandle.swift), so the job runs at a generation its handle can name.
    /// `copyingArgument`: `argument` is a value of `inlineArgument(_:size:)`, copied by the job
    /// into its record as it starts, and nothing is freed.
    /// OpenSSL equivalent: `ASYNC_start_job()` with `*job == NULL`.
    @inlinable @inline(__always)
    package static func start(
        waitContext: WaitContext?, function: ForeignJobFunction, argument: UnsafeMutableRawPointer?,
        copyingArgument: Bool = false, ret: UnsafeMutablePointer<Int32>?
    ) throws(AsyncJobError) -> ForeignStart {
        var body: (UnsafeRawPointer?, UnsafeRawPointer?) = unsafe (unsafeBitCast(function, to: UnsafeRawPointer.self), UnsafeRawPointer(argument))
        let runner = unsafe foreignRunner(copyingArgument: copyingArgument)
        // Unprotected: a stack protector would cost every start instructions for a two-word
        // local that is only copied from.
        let step = try unsafe _withUnprotectedUnsafeMutablePointer(to: &body) { body throws(AsyncJobError) in
            // C job functions never fail: no error storage. The value goes straight to `ret`.
            try unsafe startInlined(
                waitContext: waitContext, runner: runner, body: UnsafeMutableRawPointer(body),
                value: UnsafeMutableRawPointer(ret), error: nil, retiringSpentRecords: true)
        }
        switch step {
        case .finished: return .finished
        case .paused(let job): return .paused(job)
        case .noJobsAvailable: return .noJobsAvailable
        case .insideJob: return .insideJob
        }
    }

    /// The runner of a C job's body: the argument copied into the record as the job starts
    /// (`copyingArgument`) or `malloc`ed by the caller.
    @inlinable @inline(__always)
    static func foreignRunner(copyingArgument: Bool) -> JobBodyRunner {
        if copyingArgument { return unsafe runForeignBodyCopyingArgument }
        return unsafe runForeignBody
    }

    /// The largest argument a job of the C library keeps in its record instead of a `malloc`ed copy.
    @inlinable package static var inlineArgumentBytes: Int { JobSlot.bodyBytes }

    /// The argument word of a start that copies `size` bytes at `args` into the job's record
    /// (`start(...copyingArgument: true...)`), or nil if it cannot: `size` is 0 or above
    /// `inlineArgumentBytes`, or the address uses the top 16 bits that carry the size.
    @inlinable @inline(__always)
    package static func inlineArgument(_ args: UnsafeMutableRawPointer, size: Int) -> UnsafeMutableRawPointer? {
        let address = UInt(bitPattern: args)
        guard size > 0, size <= inlineArgumentBytes, address & ~JobSlot.handleAddressMask == 0 else { return nil }
        return unsafe UnsafeMutableRawPointer(bitPattern: address | UInt(size) << 48)
    }
}
