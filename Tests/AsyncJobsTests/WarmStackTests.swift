// SPDX-License-Identifier: Apache-2.0
// The default allocator's warm mark: stacks given back past it have their memory given back to the
// system, and the mark grows with the stacks that are needed again. Reads the allocator's store
// through the debug build's test hooks.
#if ASYNCJOBS_TEST_HOOKS
@testable import AsyncJobs
import Foundation
import Testing

@Suite("Warm stacks")
struct WarmStackTests {
    /// Bursts that come back: the first cleanup gives back the memory of the stacks past the
    /// warm reserve, but every stack that is then needed again raises its size's warm mark, so
    /// that the same burst, cleaned up again, stays warm instead of faulting each stack in anew.
    /// (A stack size no other test uses: the allocator's store is process-wide, per size.)
    @Test
    func stacksOfABurstThatComesBackStayWarm() throws {
        let stackSize = 76 * 1024
        let warmReserve = GuardedStackAllocator.warmStackLimit
        let burst = warmReserve + 136
        let before = StackStoreTestHooks.stacks(ofSize: stackSize)
        try runBurst(of: burst, stackSize: stackSize)
        // One burst: its stacks past the reserve give their memory back.
        let afterFirst = StackStoreTestHooks.stacks(ofSize: stackSize)
        #expect(afterFirst.warm == warmReserve)
        #expect(afterFirst.cold == before.cold + burst - warmReserve)
        #expect(afterFirst.warmMark == warmReserve)
        try runBurst(of: burst, stackSize: stackSize)
        // The same burst again took every cold stack back: all of them now stay warm.
        let afterSecond = StackStoreTestHooks.stacks(ofSize: stackSize)
        #expect(afterSecond.warmMark == burst)
        #expect(afterSecond.warm == burst)
        #expect(afterSecond.cold == 0)
        try runBurst(of: burst, stackSize: stackSize)
        let afterThird = StackStoreTestHooks.stacks(ofSize: stackSize)
        #expect(afterThird.warm == burst && afterThird.cold == 0 && afterThird.warmMark == burst)
    }

    /// Setting `warmStackLimit` resets a grown mark and gives back the warm stacks beyond it at
    /// once. In a child process: the setting is process-wide.
    @Test func settingTheWarmLimitGivesBackTheWarmStacksBeyondIt() async {
        await #expect(processExitsWith: .success) {
            runSynchronously {
                let stackSize = 84 * 1024
                let burst = GuardedStackAllocator.warmStackLimit + 100
                for _ in 0..<2 { try? runBurst(of: burst, stackSize: stackSize) }
                let grown = StackStoreTestHooks.stacks(ofSize: stackSize)
                guard grown.warm == burst, grown.warmMark == burst else { exit(2) }
                GuardedStackAllocator.warmStackLimit = 10
                let reset = StackStoreTestHooks.stacks(ofSize: stackSize)
                guard reset.warm == 10, reset.cold == burst - 10, reset.warmMark == 10 else { exit(3) }
            }
        }
    }
}

/// Starts `count` jobs of `stackSize` bytes that each pause once, so that all of them are paused
/// at once, then resumes them to their end and cleans the pool up (its stacks go back to the
/// allocator).
private func runBurst(of count: Int, stackSize: Int) throws {
    try withFreshPool(stackSize: stackSize) {
        var boxes: [PausedBox<Int, Never>] = []
        for value in 0..<count {
            guard case .paused(let job) = try AsyncJob.start({ () -> Int in
                guard AsyncJob.pause() else { return -1 }
                return value
            }) else {
                Issue.record("job \(value) did not pause")
                return
            }
            boxes.append(PausedBox(job))
        }
        for box in boxes { _ = box.resume() }
    }
}
#endif
