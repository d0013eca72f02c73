// SPDX-License-Identifier: Apache-2.0
// How an engine thread's batch of completions reaches its sinks: one call per sink, each with
// its own entries in completion order, however the sinks' requests interleave (a device shared
// by a group of loops).
@testable import AsyncJobsLoop
import AsyncJobs
import Testing

/// Records every call an engine makes.
private final class RecordingSink: CompletionBatchSink {
    private let calls = FutexMutex<[[Int32]]>([])
    let caughtUp: Bool
    init(caughtUp: Bool = true) { self.caughtUp = caughtUp }
    var recorded: [[Int32]] { calls.withLock { $0 } }
    func entryReady(_ index: Int32) { calls.withLock { $0.append([index]) } }
    func entriesReady(_ indices: [Int32]) -> Bool {
        calls.withLock { $0.append(indices) }
        return caughtUp
    }
}

@Suite struct CompletionBatchTests {
    @Test func interleavedSinksGetOneCallEachWithTheirEntriesInOrder() {
        let first = RecordingSink()
        let second = RecordingSink()
        let third = RecordingSink()
        let callbacks = (0..<12).map { index -> BatchCallback in
            let sink: RecordingSink = [first, second, third][index % 3]
            return BatchCallback(sink: sink, index: Int32(index))
        }
        var batch = CompletionBatch(capacity: 4)
        for callback in callbacks { batch.add(callback) }
        #expect(first.recorded.isEmpty)
        #expect(batch.flush() == true)
        #expect(first.recorded == [[0, 3, 6, 9]])
        #expect(second.recorded == [[1, 4, 7, 10]])
        #expect(third.recorded == [[2, 5, 8, 11]])
        // Empty again: nothing more to announce, and the next batch starts afresh.
        #expect(batch.flush() == nil)
        batch.add(callbacks[1])
        #expect(batch.flush() == true)
        #expect(second.recorded == [[1, 4, 7, 10], [1]])
        #expect(first.recorded.count == 1)
    }

    @Test func theBatchKeptUpOnlyIfEverySinkDid() {
        let keeping = RecordingSink(caughtUp: true)
        let behind = RecordingSink(caughtUp: false)
        var batch = CompletionBatch(capacity: 2)
        batch.add(BatchCallback(sink: keeping, index: 0))
        batch.add(BatchCallback(sink: behind, index: 1))
        #expect(batch.flush() == false)
        batch.add(BatchCallback(sink: keeping, index: 2))
        #expect(batch.flush() == true)
    }
}
