// SPDX-License-Identifier: Apache-2.0
// A job body that is a C function and an argument buffer, for the C library: the two words are
// stored in the record (no allocation per start beyond the argument copy the C API requires).
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
    /// OpenSSL equivalent: `ASYNC_start_job()` with `*job == NULL`.
    @inlinable @inline(__always)
    package static func start(
        waitContext: WaitContext?, function: ForeignJobFunction, argument: UnsafeMutableRawPointer?,
        ret: UnsafeMutablePointer<Int32>?
    ) throws(AsyncJobError) -> ForeignStart {
        var body: (UnsafeRawPointer?, UnsafeRawPointer?) = unsafe (unsafeBitCast(function, to: UnsafeRawPointer.self), UnsafeRawPointer(argument))
        // Unprotected: a stack protector would cost every start instructions for a two-word
        // local that is only copied from.
        let step = try unsafe _withUnprotectedUnsafeMutablePointer(to: &body) { body throws(AsyncJobError) in
            // C job functions never fail: no error storage. The value goes straight to `ret`.
            try unsafe startInlined(
                waitContext: waitContext, runner: runForeignBody, body: UnsafeMutableRawPointer(body),
                value: UnsafeMutableRawPointer(ret), error: nil, retiringSpentRecords: true)
        }
        switch step {
        case .finished: return .finished
        case .paused(let job): return .paused(job)
        case .noJobsAvailable: return .noJobsAvailable
        case .insideJob: return .insideJob
        }
    }
}
