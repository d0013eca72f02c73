// SPDX-License-Identifier: Apache-2.0
// The simulated accelerator's submission shards: requests from many threads (more threads than
// shards, and more requests than slots) each complete exactly once and never hold more slots
// than the device has; a slot set aside for one thread's shard goes to a request waiting in
// another's; shutdown with requests still in the shards completes each of them once; the loops
// of a group submit to different shards. No timing assertions: joins and latches only order the
// steps.
import AsyncJobs
import AsyncJobsLoop
import AsyncJobsTesting
import Synchronization
import Testing

@Suite(.serialized)
struct AcceleratorShardTests {
    /// Counts each request's completions by index.
    private final class Tally: Sendable {
        private let counts: FutexMutex<[Int]>
        init(count: Int) { counts = FutexMutex(Array(repeating: 0, count: count)) }
        func complete(_ index: Int) { counts.withLock { $0[index] += 1 } }
        var all: [Int] { counts.withLock { $0 } }
    }

    /// Runs `body(thread)` on `count` new threads at once, each with a fresh submitter number,
    /// and waits for them all.
    private static func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) throws {
        var threads: [PlatformThread] = []
        for index in 0..<count {
            let spawned = PlatformThread.spawn(name: "aj-test-submit") {
                SubmitterNumber.claim()
                body(index)
            }
            threads.append(try spawned.get())
        }
        for thread in threads { thread.join() }
    }

    @Test(arguments: [1, 3, 64])
    func requestsFromManyThreadsEachCompleteOnceWithinTheSlots(slots: Int) async throws {
        let accelerator = try SimulatedAccelerator(latency: .microseconds(100), slots: slots)
        // More threads than shards: some threads share a shard.
        let threads = accelerator.shardCount * 2 + 1
        let perThread = 40
        let tally = Tally(count: threads * perThread)
        let done = Latch(count: threads * perThread)
        try Self.onThreads(threads) { thread in
            for round in 0..<perThread {
                let index = thread * perThread + round
                accelerator.submit {
                    tally.complete(index)
                    done.arrive()
                }
            }
        }
        await done.wait()
        #expect(tally.all.allSatisfy { $0 == 1 })
        #expect(accelerator.completedCount == threads * perThread)
        #expect(accelerator.peakInFlight <= slots)
        accelerator.shutdown()
        #expect(tally.all.allSatisfy { $0 == 1 })
    }

    @Test func aSlotSetAsideForOneShardGoesToARequestWaitingInAnother() throws {
        // One slot: after the first thread's request completes, that slot is set aside for the
        // first thread's shard. The second thread's request, in another shard, must get it.
        let accelerator = try SimulatedAccelerator(latency: .microseconds(100), slots: 1)
        let tally = Tally(count: 2)
        let firstShard = Atomic<Int>(-1)
        try Self.onThreads(1) { _ in
            firstShard.store(accelerator.shard(forSubmitter: SubmitterNumber.current), ordering: .relaxed)
            let parker = ThreadParker()
            accelerator.submit {
                tally.complete(0)
                parker.unpark()
            }
            parker.park()
        }
        let thread = PlatformThread.spawn(name: "aj-test-submit") {
            while accelerator.shard(forSubmitter: SubmitterNumber.claim()) == firstShard.load(ordering: .relaxed) {}
            let parker = ThreadParker()
            accelerator.submit {
                tally.complete(1)
                parker.unpark()
            }
            parker.park()
        }
        try thread.get().join()
        #expect(tally.all == [1, 1])
        #expect(accelerator.completedCount == 2)
        accelerator.shutdown()
    }

    @Test(arguments: [2, 1_000])
    func shutdownWithRequestsInTheShardsCompletesEachOnceAndLaterOnesAtOnce(slots: Int) async throws {
        let accelerator = try SimulatedAccelerator(latency: .milliseconds(2), slots: slots)
        let threads = accelerator.shardCount + 1
        let perThread = 25
        let tally = Tally(count: threads * perThread)
        let submitted = Latch(count: threads)
        let stopped = Gate()
        // Each thread submits its requests and then waits until shutdown has begun: with two
        // slots nearly all of them are still waiting in the shards then, with a thousand nearly
        // all are in flight.
        let submitters = try (0..<threads).map { thread in
            try PlatformThread.spawn(name: "aj-test-submit") {
                SubmitterNumber.claim()
                for round in 0..<perThread {
                    let index = thread * perThread + round
                    accelerator.submit { tally.complete(index) }
                }
                submitted.arrive()
                stopped.waitUntilOpen()
            }.get()
        }
        await submitted.wait()
        accelerator.shutdown()
        stopped.open()
        for submitter in submitters { submitter.join() }
        // Shutdown returned after completing every accepted request.
        #expect(tally.all.allSatisfy { $0 == 1 })
        #expect(accelerator.completedCount == threads * perThread)
        // After shutdown a submission completes before `submit` returns, from any shard.
        let late = Tally(count: threads)
        try Self.onThreads(threads) { thread in
            accelerator.submit { late.complete(thread) }
            #expect(late.all[thread] == 1)
        }
    }

    @Test func theLoopsOfAGroupSubmitToDifferentShards() async throws {
        let accelerator = try SimulatedAccelerator(latency: .microseconds(100), slots: 16)
        let loopCount = min(accelerator.shardCount, 4)
        let group = try JobLoopGroup(loopCount: loopCount, configuration: .init(maxConcurrentJobs: 4))
        var shards: [Int] = []
        for loop in group.loops {
            shards.append(
                try await loop.execute {
                    _ = try accelerator.perform(0)
                    return accelerator.shard(forSubmitter: SubmitterNumber.current)
                })
            // Another thread takes a number between the loops' first submissions.
            try Self.onThreads(1) { _ in _ = SubmitterNumber.current }
        }
        #expect(Set(shards).count == loopCount)
        group.shutdownAndWait()
        accelerator.shutdown()
    }
}
