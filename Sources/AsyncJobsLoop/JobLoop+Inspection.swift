// SPDX-License-Identifier: Apache-2.0
// Looking into the loop's pool from any thread: the request waits for the loop's next turn,
// where the loop's thread (the only one that may read its pool) answers it.
import AsyncJobs

extension JobLoop {
    /// A question for the loop's thread: `answer` runs there at the loop's next turn, or
    /// `unanswered` runs on whichever thread finds the loop ended.
    struct Inspection: Sendable {
        let answer: @Sendable () -> Void
        let unanswered: @Sendable () -> Void
    }

    /// Runs `body` on the loop's thread at its next turn and returns its result; `ended` if the
    /// loop has ended (or ends first).
    func onLoopThread<Value: Sendable>(_ body: @escaping @Sendable () -> Value, ended: Value) async -> Value {
        precondition(!isLoopThread, "a JobLoop inspection awaited on the loop's own thread: use JobPool directly")
        return await withCheckedContinuation { continuation in
            let inspection = Inspection(
                answer: { continuation.resume(returning: body()) },
                unanswered: { continuation.resume(returning: ended) })
            let queued = shared.withLock { shared -> Bool in
                guard !shared.finished else { return false }
                shared.inspections.append(inspection)
                wakeIfSleeping(&shared)
                return true
            }
            if !queued { inspection.unanswered() }
        }
    }

    /// The loop's paused jobs: how long each has been paused and how often (with
    /// ``Configuration/recordsPauses``), how deep its stack went, where it is suspended.
    ///
    /// Answered at the loop's next turn, so a loop busy with one long job answers when that job
    /// pauses or ends; a loop that has ended has none.
    /// - Parameter symbolicated: whether to name each frame's function (see
    ///   `JobPool/pausedJobs(symbolicated:maximumFrames:)`).
    /// - Important: any thread except the loop's own (there, call
    ///   `JobPool/pausedJobs(symbolicated:maximumFrames:)`).
    public func pausedJobs(symbolicated: Bool = true) async -> [JobPool.PausedJobReport] {
        await onLoopThread({ JobPool.pausedJobs(symbolicated: symbolicated) }, ended: [])
    }

    /// The census of the loop's pool (`JobPool/stackCensus`), taken on the loop's thread at
    /// its next turn; nil once the loop has ended.
    /// - Important: any thread except the loop's own.
    public func poolCensus() async -> JobPool.StackCensus? {
        await onLoopThread({ JobPool.stackCensus }, ended: nil)
    }
}
