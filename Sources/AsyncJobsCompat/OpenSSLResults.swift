// SPDX-License-Identifier: Apache-2.0
// The compat edge: the only file where a Swift outcome becomes one of OpenSSL's integers
// (ASYNC_ERR, ASYNC_NO_JOBS, ASYNC_PAUSE, ASYNC_FINISH, the 0/1 of ASYNC_pause_job), and where
// failures are recorded as the calling thread's last error (SAJ_get_last_error). Errors stop
// here: nothing behind this file returns an int code, nothing in front of it throws.
import AsyncJobs
import CAsyncJobsCompat
import Glibc

/// Why a C call failed; the raw values are the header's `SAJ_E_*` codes.
enum CompatFailure: Int32 {
    case nestedStart = 1
    case staleJob = 2
    case wrongThread = 3
    case outOfMemory = 4
    case stackAllocation = 5
    case invalidPoolSize = 6
    case invalidStackSize = 7
    case nullArgument = 8
    case waitFDUnavailable = 9
    case pausedJobsCancelled = 10
    case insideJob = 11
    case jobsInUse = 12
    case tooManyHooks = 13

    /// The header's description of the code (a NUL-terminated literal).
    var message: StaticString {
        switch self {
        case .nestedStart: "ASYNC_start_job called from inside a job (jobs do not nest)"
        case .staleJob: "the job handle is stale: its job finished or was cancelled"
        case .wrongThread: "a job was resumed on another thread than the one that started it"
        case .outOfMemory: "the copy of the job's arguments could not be allocated"
        case .stackAllocation: "a job stack could not be allocated"
        case .invalidPoolSize: "init_size is larger than a nonzero max_size"
        case .invalidStackSize: "the stack size is below the minimum (16384 bytes)"
        case .nullArgument: "a required pointer argument was NULL"
        case .waitFDUnavailable: "no wait file descriptor could be created"
        case .pausedJobsCancelled: "ASYNC_cleanup_thread cancelled jobs that were still paused"
        case .insideJob: "ASYNC_cleanup_thread called from inside a job: nothing was done"
        case .jobsInUse: "a switch hook cannot be added to a pool while one of its jobs is paused or running"
        case .tooManyHooks: "the process already has 16 process-wide switch hooks"
        }
    }
}

/// Maps Swift outcomes to OpenSSL's integers.
enum OpenSSLResult {
    /// The result of `ASYNC_start_job` for one step of a job, writing `*job` as the page says:
    /// PAUSE sets `*job`; FINISH sets `*job = NULL` (`*ret` was written by the job, when `ret`
    /// is not NULL); NO_JOBS and ERR touch neither.
    @inline(__always)
    static func startJob(_ step: ForeignStart, job: UnsafeMutablePointer<OpaquePointer?>) -> Int32 {
        switch step {
        case .finished:
            unsafe job.pointee = nil
            return SAJ_FINISH
        case .paused(let reference):
            unsafe job.pointee = unsafe OpaquePointer(reference.opaqueHandle)
            return SAJ_PAUSE
        case .noJobsAvailable:
            return SAJ_NO_JOBS
        case .insideJob:
            return failed(.nestedStart)
        }
    }

    /// `ASYNC_start_job()`'s result for a resumed handle (`*ret` was written by the job).
    @inline(__always)
    static func resumed(_ resume: ForeignResume, job: UnsafeMutablePointer<OpaquePointer?>) -> Int32 {
        switch resume {
        case .finished:
            unsafe job.pointee = nil
            return SAJ_FINISH
        case .paused:
            return SAJ_PAUSE
        case .refused(let refusal):
            return refused(refusal)
        }
    }

    /// `ASYNC_ERR` for a handle that may not be resumed now.
    static func refused(_ refusal: ResumeRefusal) -> Int32 {
        switch refusal {
        case .stale: failed(.staleJob)
        case .wrongThread: failed(.wrongThread)
        case .insideJob: failed(.nestedStart)
        }
    }

    /// `ASYNC_pause_job`'s result: 0 only when the job is being cancelled and must return.
    @inline(__always)
    static func pauseJob(_ result: PauseResult) -> Int32 {
        switch result {
        case .resumed, .notInJob, .blocked: 1
        case .cancelled: 0
        }
    }

    @discardableResult
    /// Records an environmental failure of the core and returns `ASYNC_ERR` (also the 0 of
    /// `ASYNC_init_thread`).
    static func failed(_ error: AsyncJobError) -> Int32 {
        if error.code == .invalidPoolSize { return failed(.invalidPoolSize) }
        if error.code == .invalidStackSize { return failed(.invalidStackSize) }
        if error.code == .waitDescriptorUnavailable { return failed(.waitFDUnavailable) }
        if error.code == .jobsInUse { return failed(.jobsInUse) }
        if error.code == .tooManySwitchHooks { return failed(.tooManyHooks) }
        return failed(.stackAllocation)
    }

    /// Records `failure` as the thread's last error and returns `ASYNC_ERR` (0).
    @discardableResult
    static func failed(_ failure: CompatFailure) -> Int32 {
        LastError.record(failure.rawValue)
        return SAJ_ERR
    }
}

/// The calling thread's last failure, kept in a pthread key (set only on failure paths, so the
/// successful paths never touch it).
enum LastError {
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        let result = unsafe pthread_key_create(&key, nil)
        precondition(result == 0, "pthread_key_create failed: \(result) (the process is out of thread keys)")
        return key
    }()

    static func record(_ code: Int32) {
        _ = unsafe pthread_setspecific(key, UnsafeRawPointer(bitPattern: Int(code)))
    }

    static var current: Int32 {
        Int32(truncatingIfNeeded: Int(bitPattern: unsafe pthread_getspecific(key)))
    }
}

@c @implementation
public func SAJ_get_last_error() -> Int32 {
    LastError.current
}

@c @implementation
public func SAJ_clear_last_error() {
    LastError.record(SAJ_E_NONE)
}

@c @implementation
public func SAJ_error_string(_ code: Int32) -> UnsafePointer<CChar> {
    let message: StaticString =
        if code == SAJ_E_NONE { "no error" } else { CompatFailure(rawValue: code)?.message ?? "unknown error code" }
    return unsafe UnsafeRawPointer(message.utf8Start).assumingMemoryBound(to: CChar.self)
}
