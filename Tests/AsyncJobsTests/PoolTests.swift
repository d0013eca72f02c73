// SPDX-License-Identifier: Apache-2.0
// The per-thread pool: limits, pre-creation, reuse, re-configuration, cleanup, thread exit,
// custom stack allocators.
import AsyncJobs
import Foundation
import Synchronization
import Testing

/// Counts the stacks it hands out and takes back; can be told to fail.
final class CountingAllocator: StackAllocator, @unchecked Sendable {
    let inner = GuardedStackAllocator()
    let allocations = Atomic(0)
    let deallocations = Atomic(0)
    let failing = Atomic(false)
    var live: Int { allocations.load(ordering: .relaxed) - deallocations.load(ordering: .relaxed) }

    func allocateStack(minimumByteCount: Int) -> StackMemory? {
        if failing.load(ordering: .relaxed) { return nil }
        allocations.add(1, ordering: .relaxed)
        return inner.allocateStack(minimumByteCount: minimumByteCount)
    }

    func deallocateStack(_ stack: StackMemory) {
        deallocations.add(1, ordering: .relaxed)
        inner.deallocateStack(stack)
    }
}

@Suite("Pool")
struct PoolTests {
    @Test func poolIsCreatedOnFirstUseWithNoLimitAndNoJobs() throws {
        JobPool.cleanUp()
        #expect(JobPool.statistics == nil)
        let ending33 = drive(try AsyncJob.start { 1 })
        #expect(ending33.value == 1)
        let statistics = try #require(JobPool.statistics)
        #expect(statistics.maxSize == 0)
        #expect(statistics.jobs == 1)
        #expect(statistics.idle == 1)
        #expect(statistics.stackSize == JobPool.defaultStackSize)
        JobPool.cleanUp()
    }

    @Test func configureMakesInitialJobsUpFront() throws {
        try withFreshPool(maxSize: 5, initialSize: 3) {
            let statistics = try #require(JobPool.statistics)
            #expect(statistics.jobs == 3)
            #expect(statistics.idle == 3)
            #expect(statistics.maxSize == 5)
        }
    }

    @Test func initialSizeAboveMaximumIsRejected() {
        #expect(throws: AsyncJobError(.invalidPoolSize)) { try JobPool.configure(maxSize: 2, initialSize: 3) }
        #expect(throws: AsyncJobError(.invalidPoolSize)) { try JobPool.configure(maxSize: -1) }
        JobPool.cleanUp()
    }

    @Test func zeroMaximumMeansNoLimitEvenWithInitialJobs() throws {
        try withFreshPool(maxSize: 0, initialSize: 4) {
            #expect(JobPool.statistics?.jobs == 4)
            var boxes: [PausedBox<Void, Never>] = []
            for _ in 0..<10 {
                guard case .paused(let job) = try AsyncJob.start({ _ = AsyncJob.pause(); return () }) else {
                    Issue.record("expected a pause")
                    return
                }
                boxes.append(PausedBox(job))
            }
            #expect(JobPool.statistics?.jobs == 10)
            for box in boxes { _ = box.resume() }
        }
    }

    @Test func poolAtItsLimitReportsNoJobsAndRecoversWhenOneFinishes() throws {
        try withFreshPool(maxSize: 2) {
            guard case .paused(let first) = try AsyncJob.start({ _ = AsyncJob.pause(); return 1 }) else {
                Issue.record("first did not pause")
                return
            }
            guard case .paused(let second) = try AsyncJob.start({ _ = AsyncJob.pause(); return 2 }) else {
                Issue.record("second did not pause")
                return
            }
            var ran = false
            let third = try AsyncJob.start { () -> Int in ran = true; return 3 }
            guard case .noJobsAvailable = consume third else {
                Issue.record("third should get no job")
                return
            }
            #expect(!ran)
            #expect(drive(first.resume()).value == 1)
            let ending92 = drive(try AsyncJob.start { 3 })
            #expect(ending92.value == 3)
            #expect(drive(second.resume()).value == 2)
            #expect(JobPool.statistics?.jobs == 2)
        }
    }

    @Test func finishedJobsAreReused() throws {
        try withFreshPool {
            for index in 0..<1000 {
                let ending102 = drive(try AsyncJob.start { () -> Int in _ = AsyncJob.pause(); return index })
                #expect(ending102.value == index)
            }
            #expect(JobPool.statistics?.jobs == 1)
        }
    }

    @Test func configuringAgainAppliesTheNewLimitsAtOnce() throws {
        let allocator = CountingAllocator()
        try withFreshPool {
            try JobPool.configure(maxSize: 6, initialSize: 6, allocator: allocator)
            #expect(allocator.live == 6)
            try JobPool.configure(maxSize: 2)
            #expect(JobPool.statistics?.jobs == 2)
            #expect(allocator.live == 2)
            try JobPool.configure(maxSize: 3, initialSize: 3)
            #expect(JobPool.statistics?.jobs == 3)
        }
        #expect(allocator.live == 0)
    }

    @Test func lowerLimitWithJobsInUseFreesThemWhenTheyFinish() throws {
        try withFreshPool(maxSize: 3) {
            var boxes: [PausedBox<Int, Never>] = []
            for index in 0..<3 {
                guard case .paused(let job) = try AsyncJob.start({ _ = AsyncJob.pause(); return index }) else { return }
                boxes.append(PausedBox(job))
            }
            try JobPool.configure(maxSize: 1)
            #expect(JobPool.statistics?.jobs == 3)
            for box in boxes { _ = box.resume() }
            #expect(JobPool.statistics?.jobs == 1)
        }
    }

    @Test func cleanUpTwiceIsHarmlessAndAFreshPoolFollows() throws {
        _ = drive(try AsyncJob.start { 1 })
        #expect(JobPool.cleanUp() == 0)
        #expect(JobPool.cleanUp() == 0)
        #expect(JobPool.statistics == nil)
        let ending142 = drive(try AsyncJob.start { 2 })
        #expect(ending142.value == 2)
        #expect(JobPool.statistics?.jobs == 1)
        JobPool.cleanUp()
    }

    @Test func stackSizeIsConfigurablePerPool() throws {
        #expect(throws: AsyncJobError(.invalidStackSize)) { try JobPool.configure(stackSize: 8 * 1024) }
        try withFreshPool(stackSize: 256 * 1024) {
            #expect(JobPool.statistics?.stackSize == 256 * 1024)
            // 100 KiB of locals would overflow the default 64 KiB stack.
            let ending = drive(try AsyncJob.start { () -> Int in
                withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 100 * 1024) { buffer in
                    buffer.initialize(repeating: 1)
                    _ = AsyncJob.pause()
                    return buffer.reduce(0) { $0 + Int($1) }
                }
            })
            #expect(ending.value == 100 * 1024)
        }
    }

    @Test func customAllocatorIsUsedByConfigureAndCleanUp() throws {
        let allocator = CountingAllocator()
        try withFreshPool {
            try JobPool.configure(maxSize: 4, initialSize: 2, allocator: allocator)
            #expect(allocator.allocations.load(ordering: .relaxed) == 2)
            let ending169 = drive(try AsyncJob.start { AsyncJob.pause() })
            #expect(ending169.value == true)
            #expect(allocator.allocations.load(ordering: .relaxed) == 2)
        }
        #expect(allocator.deallocations.load(ordering: .relaxed) == 2)
    }

    @Test func failingAllocatorGivesACleanError() throws {
        let allocator = CountingAllocator()
        allocator.failing.store(true, ordering: .relaxed)
        try withFreshPool {
            try JobPool.configure(allocator: allocator)
            #expect(throws: AsyncJobError.self) { try JobPool.configure(initialSize: 1) }
            do {
                _ = try AsyncJob.start { 1 }
                Issue.record("start should throw")
            } catch let error as AsyncJobError {
                #expect(error.code == .stackAllocationFailed)
            } catch {
                Issue.record("unexpected error \(error)")
            }
            allocator.failing.store(false, ordering: .relaxed)
            let ending189 = drive(try AsyncJob.start { 5 })
            #expect(ending189.value == 5)
        }
        #expect(allocator.live == 0)
    }

    @Test func threadThatExitsWithoutCleanupLeaksNothing() throws {
        let allocator = CountingAllocator()
        let counter = LiveCounter()
        // The handle outlives its thread on purpose: thread exit cancels the job.
        let box = try runOnJoinedThread { () -> PausedBox<Int, Never>? in
            try JobPool.configure(maxSize: 0, initialSize: 3, allocator: allocator)
            guard case .paused(let job) = try AsyncJob.start({ () -> Int in
                let held = counter.make()
                _ = AsyncJob.pause()
                return held.counter.count
            }) else { return nil }
            #expect(counter.count == 1)
            return PausedBox(job)
        }
        #expect(box != nil)
        #expect(allocator.live == 0)
        #expect(counter.count == 0)
        #expect(box?.job?.reference.isAlive == false)
    }

    @Test func aPooledJobRunsItsNextBodyOnTheSameFrame() throws {
        try withFreshPool(maxSize: 1) {
            @inline(never) func frameAddress() -> UInt {
                var local = 0
                return withUnsafeMutablePointer(to: &local) { UInt(bitPattern: $0) }
            }
            // Finished bodies leave their frame for the next one: the same depth of the same stack.
            let first = drive(try AsyncJob.start { frameAddress() }).value
            let second = drive(try AsyncJob.start { frameAddress() }).value
            #expect(first != nil)
            #expect(first == second)
            // A body that paused and was cancelled leaves it too.
            switch try AsyncJob.start({ () -> Int in _ = AsyncJob.pause(); return 1 }) {
            case .paused(let job): job.cancel()
            default: Issue.record("the job should have paused")
            }
            let third = drive(try AsyncJob.start { frameAddress() }).value
            #expect(third == first)
        }
    }

    @Test func aBodyReleasesWhatItCapturesOnEveryOutcome() throws {
        let counter = LiveCounter()
        try withFreshPool(maxSize: 1) {
            do {
                // Finished: the job consumed the body.
                let tracked = counter.make()
                let same = drive(try AsyncJob.start { tracked.counter === counter }).value
                #expect(same == true)
            }
            #expect(counter.count == 0)
            do {
                // Paused, then resumed to the end.
                let tracked = counter.make()
                let outcome = try AsyncJob.start { () -> Bool in
                    _ = AsyncJob.pause()
                    return tracked.counter === counter
                }
                #expect(counter.count == 1)
                #expect(drive(outcome).value == true)
            }
            #expect(counter.count == 0)
            // Never started (the pool is at its limit): the body is still released.
            guard case .paused(let holder) = try AsyncJob.start({ () -> Int in _ = AsyncJob.pause(); return 0 }) else {
                Issue.record("the job should have paused")
                return
            }
            do {
                let tracked = counter.make()
                guard case .noJobsAvailable = try AsyncJob.start({ tracked.counter === counter }) else {
                    Issue.record("the pool should be full")
                    return
                }
            }
            #expect(counter.count == 0)
            holder.cancel()
        }
    }
}
