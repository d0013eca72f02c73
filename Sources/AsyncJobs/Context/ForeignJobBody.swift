// SPDX-License-Identifier: Apache-2.0
// A job body that is a C function and an argument buffer, for the C library: two words stored
// inline in the record (no allocation per start beyond the argument copy the C API requires).
import Glibc

/// A C job function with its argument. The job owns `argument` (allocated with `malloc` by the
/// caller) and frees it when the function returns, cancelled or not.
@unsafe struct ForeignJobBody: JobBody {
    let function: @convention(c) (UnsafeMutableRawPointer?) -> Int32
    let argument: UnsafeMutableRawPointer?

    func run(in slot: JobSlot) {
        let value = unsafe function(argument)
        unsafe free(argument)
        slot.deliver(Result<Int32, Never>.success(value))
    }
}

extension JobRuntime {
    /// Starts a C function as a job. `argument` must come from `malloc` (or be nil); the job
    /// frees it when the function returns. On any outcome other than `.finished` or `.paused`
    /// the caller still owns it.
    /// OpenSSL equivalent: `ASYNC_start_job()` with `*job == NULL`.
    @inline(__always)
    package static func start(
        waitContext: WaitContext?,
        function: @convention(c) (UnsafeMutableRawPointer?) -> Int32,
        argument: UnsafeMutableRawPointer?
    ) throws(AsyncJobError) -> JobStep<Int32, Never> {
        if JobSlot.current != nil { return .insideJob }
        let pool = PoolHandle.current ?? JobPool.installDefaultPool()
        guard let slot = try pool.acquire() else { return .noJobsAvailable }
        if let waitContext { slot.waitContext = waitContext }
        slot.prepare(body: unsafe ForeignJobBody(function: function, argument: argument))
        return complete(slot, pool: pool, slot.run(returning: Result<Int32, Never>.self))
    }
}
