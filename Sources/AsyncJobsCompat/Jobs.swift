// SPDX-License-Identifier: Apache-2.0
// The job and pool functions of <asyncjobs/saj_async.h> (OpenSSL's ASYNC_* job API), on
// JobRuntime. Hot path rule (start, resume, pause): no locks, no dictionary lookups, no
// allocation except the argument copy the API requires when size > 0, no ARC when ctx is NULL.
import AsyncJobs
import CAsyncJobsCompat
import Glibc

/// What `SAJ_start_job` and the first design's `SAJ_start_job_v1` share.
enum CompatJobs {
    /// Starts (`*job == NULL`) or resumes (`*job` = a paused handle) a job.
    /// OpenSSL equivalent: `ASYNC_start_job()`.
    @inline(__always)
    static func start(
        _ job: UnsafeMutablePointer<OpaquePointer?>?, _ ctx: OpaquePointer?, _ ret: UnsafeMutablePointer<Int32>?,
        _ function: SAJ_job_fn?, _ args: UnsafeMutableRawPointer?, _ size: Int
    ) -> Int32 {
        guard let job = unsafe job else { return OpenSSLResult.failed(.nullArgument) }
        if let handle = unsafe job.pointee {
            return unsafe OpenSSLResult.resumed(JobRuntime.resumeForeign(UnsafeRawPointer(handle), ret: ret), job: job)
        }
        // Checked before the copy is made; JobRuntime.start checks it again.
        if AsyncJob.isInJob { return OpenSSLResult.failed(.nestedStart) }
        guard let function = unsafe function else { return OpenSSLResult.failed(.nullArgument) }
        // The page: the data at args, of size bytes, is copied and the copy passed to func,
        // aligned for max_align_t. Up to 16 bytes, the job copies it into its record as it
        // starts (ForeignJobBody.swift); otherwise it is copied here into malloc'd memory, which
        // the job frees when func returns.
        var copy: UnsafeMutableRawPointer? = nil
        var argument: UnsafeMutableRawPointer? = nil
        if let args = unsafe args, size != 0 {
            if let inline = unsafe JobRuntime.inlineArgument(args, size: size) {
                unsafe argument = inline
            } else {
                guard let memory = unsafe malloc(size) else { return OpenSSLResult.failed(.outOfMemory) }
                unsafe memory.copyMemory(from: args, byteCount: size)
                unsafe copy = memory
                unsafe argument = memory
            }
        }
        let copying = unsafe copy == nil && argument != nil
        let step: ForeignStart
        do {
            if let ctx = unsafe ctx {
                step = unsafe try WaitContextHandle.withObject(ctx) { context throws(AsyncJobError) in
                    unsafe try JobRuntime.start(
                        waitContext: context, function: function, argument: argument, copyingArgument: copying, ret: ret)
                }
            } else {
                step = unsafe try JobRuntime.start(
                    waitContext: nil, function: function, argument: argument, copyingArgument: copying, ret: ret)
            }
        } catch {
            unsafe free(copy)
            return OpenSSLResult.failed(error)
        }
        switch step {
        case .noJobsAvailable, .insideJob: unsafe free(copy)  // the job never took it
        case .finished, .paused: break
        }
        return unsafe OpenSSLResult.startJob(step, job: job)
    }
}

#if arch(x86_64) && os(Linux)
// SAJ_start_job and SAJ_pause_job are the assembly entry points of saj_entry_x86_64_sysv_elf.S
// (CAsyncJobsCompat), which make the switch themselves and return to their C caller without a
// mispredicted `ret`; these are their halves. Each half returns either a small result (the call
// is done) or the address of a job record, which is never that small.

/// SAJ_pause_job, before the switch: 1 or 0 (done: SAJ_pause_job's result), or the job to
/// switch out of.
@c(_saj_pause_enter)
func sajPauseEnter() -> UInt {
    if let job = unsafe JobRuntime.pauseForeignPrepare() { return UInt(bitPattern: job) }
    return sajPauseWhole()
}

/// A pause that `pauseForeignPrepare` declined, taken whole (out of line).
@inline(never)
func sajPauseWhole() -> UInt {
    UInt(OpenSSLResult.pauseJob(JobRuntime.pause()))
}

/// SAJ_pause_job, resumed: its result.
@c(_saj_pause_leave)
func sajPauseLeave(_ job: UnsafeMutableRawPointer) -> Int32 {
    unsafe JobRuntime.pauseForeignResumed(job) ? 1 : 0
}

/// SAJ_start_job resuming `*job` (not NULL), before the switch: SAJ_start_job's result (0-3: a
/// resume taken whole, or refused), or the job to switch into (its record's address); `*ret`
/// receives the job function's result if it returns (written by the job).
@c(_saj_resume_enter)
func sajResumeEnter(_ job: UnsafeMutablePointer<OpaquePointer?>, _ ret: UnsafeMutablePointer<Int32>?) -> UInt {
    let handle = unsafe UnsafeRawPointer(job.pointee.unsafelyUnwrapped)
    if let running = unsafe JobRuntime.resumeForeignPrepare(handle, ret: ret) {
        return UInt(bitPattern: running)
    }
    return unsafe sajResumeWhole(handle, job, ret)
}

/// A resume that `resumeForeignPrepare` declined, taken whole (out of line, so that the usual
/// path keeps a small frame).
@inline(never)
func sajResumeWhole(
    _ handle: UnsafeRawPointer, _ job: UnsafeMutablePointer<OpaquePointer?>, _ ret: UnsafeMutablePointer<Int32>?
) -> UInt {
    unsafe UInt(OpenSSLResult.resumed(JobRuntime.resumeForeign(handle, ret: ret), job: job))
}

/// SAJ_start_job, back from the switch: SAJ_PAUSE, or SAJ_FINISH with `*job` cleared (`*ret`
/// was written by the job).
@c(_saj_resume_leave)
func sajResumeLeave(_ back: UnsafeMutableRawPointer, _ job: UnsafeMutablePointer<OpaquePointer?>) -> Int32 {
    guard unsafe JobRuntime.resumeForeignSwitchedBack(back) else { return SAJ_PAUSE }
    unsafe job.pointee = nil
    return SAJ_FINISH
}

/// SAJ_start_job with `*job == NULL` (`job` is not NULL), before the switch: SAJ_start_job's
/// result (0-3: a start taken whole, or refused), or the new job to switch into (its record's
/// address). The usual start (an idle pooled job, an argument of at most 16 bytes or none) is
/// prepared here; any other goes the whole way (`CompatJobs.start`), switch included.
@c(_saj_start_enter)
func sajStartEnter(
    _ job: UnsafeMutablePointer<OpaquePointer?>, _ ctx: OpaquePointer?, _ ret: UnsafeMutablePointer<Int32>?,
    _ function: SAJ_job_fn?, _ args: UnsafeMutableRawPointer?, _ size: Int
) -> UInt {
    if let function = unsafe function {
        var argument: UnsafeMutableRawPointer? = nil
        if let args = unsafe args, size != 0 { unsafe argument = unsafe JobRuntime.inlineArgument(args, size: size) }
        if unsafe argument != nil || args == nil || size == 0 {
            switch unsafe JobRuntime.startForeignPrepare(
                waitContext: UnsafeMutableRawPointer(ctx), function: function, argument: argument,
                copyingArgument: argument != nil, ret: ret)
            {
            case .enter(let record): return UInt(bitPattern: record)
            case .started(let step): return unsafe UInt(OpenSSLResult.startJob(step, job: job))
            case .declined: break
            }
        }
    }
    return unsafe sajStartWhole(job, ctx, ret, function, args, size)
}

/// A start that `startForeignPrepare` declined, taken whole (out of line).
@inline(never)
func sajStartWhole(
    _ job: UnsafeMutablePointer<OpaquePointer?>, _ ctx: OpaquePointer?, _ ret: UnsafeMutablePointer<Int32>?,
    _ function: SAJ_job_fn?, _ args: UnsafeMutableRawPointer?, _ size: Int
) -> UInt {
    unsafe UInt(CompatJobs.start(job, ctx, ret, function, args, size))
}

/// SAJ_start_job starting a new job, back from the switch: SAJ_PAUSE with `*job` set to the
/// job's handle, or SAJ_FINISH (`*job` stays NULL; `*ret` was written by the job).
@c(_saj_start_leave)
func sajStartLeave(_ back: UnsafeMutableRawPointer, _ job: UnsafeMutablePointer<OpaquePointer?>) -> Int32 {
    guard let handle = unsafe JobRuntime.startForeignSwitchedBack(back) else { return SAJ_FINISH }
    unsafe job.pointee = OpaquePointer(handle)
    return SAJ_PAUSE
}

/// SAJ_start_job with `job == NULL` (the assembly entry point's tail jump): refused by the whole
/// version.
@c(_saj_start_job_new)
func sajStartJobNew(
    _ job: UnsafeMutablePointer<OpaquePointer?>?, _ ctx: OpaquePointer?, _ ret: UnsafeMutablePointer<Int32>?,
    _ function: SAJ_job_fn?, _ args: UnsafeMutableRawPointer?, _ size: Int
) -> Int32 {
    unsafe CompatJobs.start(job, ctx, ret, function, args, size)
}
#else
@c @implementation
public func SAJ_start_job(
    _ job: UnsafeMutablePointer<OpaquePointer?>?, _ ctx: OpaquePointer?, _ ret: UnsafeMutablePointer<Int32>?,
    _ function: SAJ_job_fn?, _ args: UnsafeMutableRawPointer?, _ size: Int
) -> Int32 {
    unsafe CompatJobs.start(job, ctx, ret, function, args, size)
}

@c @implementation
public func SAJ_pause_job() -> Int32 {
    // The usual pause inlined here; the other cases through the core.
    if let resumed = JobRuntime.pauseInline() { return resumed ? 1 : 0 }
    return OpenSSLResult.pauseJob(JobRuntime.pause())
}
#endif

@c @implementation
public func SAJ_get_current_job() -> OpaquePointer? {
    unsafe OpaquePointer(JobReference.currentOpaqueHandle)
}

@c @implementation
public func SAJ_get_wait_ctx(_ job: OpaquePointer?) -> OpaquePointer? {
    guard let job = unsafe job else { return nil }
    // The context's address is its handle (WaitContextHandle), read without retaining it.
    return unsafe OpaquePointer(JobReference.waitContextAddress(opaqueHandle: UnsafeRawPointer(job)))
}

@c @implementation
public func SAJ_block_pause() {
    JobRuntime.blockPause()
}

@c @implementation
public func SAJ_unblock_pause() {
    // OpenSSL ignores an unblock without a block; so does the C library (the Swift API traps).
    _ = JobRuntime.unblockPause()
}

@c @implementation
public func SAJ_is_capable() -> Int32 {
    AsyncJob.isCapable ? 1 : 0
}

@c @implementation
public func SAJ_init_thread(_ maxSize: Int, _ initSize: Int) -> Int32 {
    // size_t arrives as Int: a value above Int.max means "more than can ever be made".
    let maxSize = maxSize < 0 ? Int.max : maxSize
    let initSize = initSize < 0 ? Int.max : initSize
    do {
        try JobPool.configure(maxSize: maxSize, initialSize: initSize)
        return 1
    } catch {
        return OpenSSLResult.failed(error)
    }
}

@c @implementation
public func SAJ_cleanup_thread() {
    if AsyncJob.isInJob {
        OpenSSLResult.failed(.insideJob)
        return
    }
    if JobPool.cleanUp() > 0 { OpenSSLResult.failed(.pausedJobsCancelled) }
}

@c @implementation
public func SAJ_set_stack_size(_ bytes: Int) -> Int32 {
    guard bytes >= JobPool.minimumStackSize else { return OpenSSLResult.failed(.invalidStackSize) }
    JobPool.stackSizeForNewPools = bytes
    return 1
}

@c @implementation
public func SAJ_get_stack_size() -> Int {
    JobPool.stackSizeForNewPools
}

// MARK: First design (2015)

@c @implementation
public func SAJ_start_job_v1(
    _ job: UnsafeMutablePointer<OpaquePointer?>?, _ ret: UnsafeMutablePointer<Int32>?, _ function: SAJ_job_fn?,
    _ args: UnsafeMutableRawPointer?, _ size: Int
) -> Int32 {
    unsafe CompatJobs.start(job, nil, ret, function, args, size)
}

@c @implementation
public func SAJ_get_wait_fd(_ job: OpaquePointer?) -> Int32 {
    guard let job = unsafe job else {
        OpenSSLResult.failed(.nullArgument)
        return -1
    }
    do {
        return try unsafe JobReference(opaqueHandle: UnsafeRawPointer(job)).waitFD().rawValue
    } catch {
        OpenSSLResult.failed(error)
        return -1
    }
}

@c @implementation
public func SAJ_wake(_ job: OpaquePointer?) {
    guard let job = unsafe job else { return }
    unsafe JobReference(opaqueHandle: UnsafeRawPointer(job)).wake()
}

@c @implementation
public func SAJ_clear_wake(_ job: OpaquePointer?) {
    guard let job = unsafe job else { return }
    unsafe JobReference(opaqueHandle: UnsafeRawPointer(job)).clearWake()
}

@c @implementation
public func SAJ_in_job() -> Int32 {
    AsyncJob.isInJob ? 1 : 0
}

// MARK: Switch hooks

@c @implementation
public func SAJ_add_thread_switch_hook(
    _ start: SAJ_switch_fn?, _ swap: SAJ_switch_fn?, _ end: SAJ_switch_fn?, _ arg: UnsafeMutableRawPointer?
) -> Int32 {
    guard let swap = unsafe swap else { return OpenSSLResult.failed(.nullArgument) }
    do {
        try unsafe JobPool.addSwitchHook(start: start, swap: swap, end: end, argument: arg)
        return 1
    } catch {
        return OpenSSLResult.failed(error)
    }
}

@c @implementation
public func SAJ_add_process_switch_hook(
    _ start: SAJ_switch_fn?, _ swap: SAJ_switch_fn?, _ end: SAJ_switch_fn?, _ arg: UnsafeMutableRawPointer?
) -> Int32 {
    guard let swap = unsafe swap else { return OpenSSLResult.failed(.nullArgument) }
    do {
        try unsafe JobPool.addSwitchHookForNewPools(start: start, swap: swap, end: end, argument: arg)
        return 1
    } catch {
        return OpenSSLResult.failed(error)
    }
}
