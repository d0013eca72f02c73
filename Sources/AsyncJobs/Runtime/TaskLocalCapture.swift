// SPDX-License-Identifier: Apache-2.0
// The C side of `TaskLocalSnapshot`: copies of the visible task-local bindings in a storage of
// their own (an address, 0 for none), installed on a thread around a job's start and released
// (job_context_task_locals.c, docs/job-local-state.md).
import _CJobContext

extension JobRuntime {
    /// Copies of the task-local bindings the calling code sees, as the address of their storage;
    /// 0 if there are none, or if jobs do not follow task-local values here.
    package static func captureTaskLocals() -> UInt {
        guard let storage = unsafe _ajctx_task_locals_capture() else { return 0 }
        return UInt(bitPattern: storage)
    }

    /// Runs `body` with the captured bindings at `address` as the calling thread's task-local
    /// values (and no current task).
    package static func withTaskLocalsInstalled<Result: ~Copyable, Failure: Error>(
        _ address: UInt, _ body: () throws(Failure) -> Result
    ) throws(Failure) -> Result {
        let storage = unsafe UnsafeMutableRawPointer(bitPattern: address)
        var saved: (UInt, UInt) = (0, 0)
        unsafe withUnsafeMutableBytes(of: &saved) { words in
            unsafe _ajctx_task_locals_install(storage, words.baseAddress!.assumingMemoryBound(to: UInt.self))
        }
        defer {
            unsafe withUnsafeBytes(of: &saved) { words in
                unsafe _ajctx_task_locals_uninstall(storage, words.baseAddress!.assumingMemoryBound(to: UInt.self))
            }
        }
        return try body()
    }

    /// Destroys the captured bindings at `address` (their values are released).
    package static func releaseTaskLocals(_ address: UInt) {
        unsafe _ajctx_task_locals_release(UnsafeMutableRawPointer(bitPattern: address))
    }
}
