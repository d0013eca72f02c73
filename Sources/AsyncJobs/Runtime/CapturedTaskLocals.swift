// SPDX-License-Identifier: Apache-2.0
// Task-local values carried from the code that submits work to the thread that starts its job
// (a JobLoop): captured where the work is submitted, installed around the job's start, so the
// job starts with the submitter's values as it would have started with its starter's
// (job_context_task_locals.c, docs/job-local-state.md).
import _CJobContext

/// Copies of the task-local values visible where it was made, held until it is released.
package final class CapturedTaskLocals: @unchecked Sendable {
    // The address of an owned storage of the Swift runtime's task-local chain (kept as an
    // integer: it is never dereferenced in Swift); touched only through the C layer, which
    // installs it on one thread at a time (`withInstalled`) and releases it in `deinit`.
    private let address: UInt

    private init(address: UInt) {
        self.address = address
    }

    private var storage: UnsafeMutableRawPointer? { unsafe UnsafeMutableRawPointer(bitPattern: address) }

    /// The values the calling code sees (its task's, or its thread's outside a task), or nil if
    /// there are none, or if jobs do not follow task-local values here.
    package static func capture() -> CapturedTaskLocals? {
        guard let storage = unsafe _ajctx_task_locals_capture() else { return nil }
        return CapturedTaskLocals(address: UInt(bitPattern: storage))
    }

    /// Runs `body` with these values as the calling thread's task-local values (and no current
    /// task): a job started in `body` starts with copies of them. Not inside a job.
    package func withInstalled<Result: ~Copyable, Failure: Error>(
        _ body: () throws(Failure) -> Result
    ) throws(Failure) -> Result {
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

    deinit {
        unsafe _ajctx_task_locals_release(storage)
    }
}
