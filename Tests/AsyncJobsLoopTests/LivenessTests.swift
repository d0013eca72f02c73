// SPDX-License-Identifier: Apache-2.0
// One job cannot freeze a loop: a job that keeps pausing after its cancellation (here one that
// waits for something that never happens and ignores pause()'s result) is resumed once per turn
// between the others, then abandoned; the other jobs complete and shutdown returns. No timing
// assertions: the time limit only turns a frozen loop into a failure instead of a hang.
import AsyncJobs
import AsyncJobsLoop
import AsyncJobsTesting
import Foundation
import Synchronization
import Testing

/// A job that waits for `flag` the wrong way: it ignores pause()'s result, so that once
/// cancelled it would spin on failing pauses forever.
private func waitIgnoringCancellation(for gate: Gate, started: Latch) -> Int {
    started.arrive()
    while !gate.opened { _ = AsyncJob.pause() }
    return 7
}

/// Whether LeakSanitizer checks this process: an abandoned job's stack and record stay allocated
/// by design (docs/job-loop.md), which it would report as leaks.
private let abandonedMemoryIsReported = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "__asan_init") != nil

// In the loop suite, which runs its tests one at a time: they count live frame objects.
extension JobLoopTests {
    @Test(
        .timeLimit(.minutes(2)),
        .disabled(if: abandonedMemoryIsReported, "an abandoned job's memory stays allocated by design"),
        arguments: ["timeout", "ticket cancel"])
    func aJobThatKeepsPausingAfterItsCancellationDoesNotStopTheOtherJobsOrShutdown(cancelledBy: String) async throws {
        let loop = try JobLoop.spawn(configuration: .init(maxConcurrentJobs: 256))
        let accelerator = try SimulatedAccelerator(latency: .microseconds(200), slots: 256)
        let never = Gate()
        let started = Latch(count: 1)
        let stuckLog = CompletionLog<Int>(count: 1)
        let timeout: Duration? = cancelledBy == "timeout" ? .milliseconds(20) : nil
        let stuck = loop.submit(timeout: timeout, { waitIgnoringCancellation(for: never, started: started) }) {
            stuckLog.record(0, $0)
        }
        await started.wait()
        if cancelledBy != "timeout" {
            guard case .accepted(let ticket) = stuck else {
                Issue.record("rejected")
                return
            }
            ticket.cancel()
        }
        // Its work fails once the loop gives up on it.
        await stuckLog.latch.wait()
        #expect(loopErrorCode(stuckLog.all[0][0]) == (cancelledBy == "timeout" ? .timedOut : .cancelled))
        // 2,000 other jobs, each pausing on the accelerator, all complete.
        let count = 2_000
        let log = CompletionLog<Int>(count: count)
        for index in 0..<count {
            loop.submit({ try accelerator.perform(index) + 1 }) { log.record(index, $0) }
        }
        await log.latch.wait()
        for (index, results) in log.all.enumerated() {
            #expect(results.count == 1)
            if case .success(let value)? = results.first { #expect(value == index + 1) } else { Issue.record("job \(index) failed") }
        }
        loop.shutdownAndWait()
        #expect(loop.statistics.runningJobs == 0)
        accelerator.shutdown()
    }

    @Test(
        .timeLimit(.minutes(2)),
        .disabled(if: abandonedMemoryIsReported, "an abandoned job's memory stays allocated by design"))
    func shutdownThatCancelsReturnsDespiteAJobThatKeepsPausing() async throws {
        let loop = try JobLoop.spawn(configuration: .init(maxConcurrentJobs: 16))
        let never = Gate()
        let started = Latch(count: 1)
        let log = CompletionLog<Int>(count: 2)
        loop.submit({ waitIgnoringCancellation(for: never, started: started) }) { log.record(0, $0) }
        loop.submit({ 5 }) { log.record(1, $0) }
        await started.wait()
        loop.shutdownAndWait(.cancel)
        await log.latch.wait()
        #expect(loopErrorCode(log.all[0][0]) == .shutDown)
        #expect(try log.all[1][0].get() == 5)
        #expect(loop.statistics.runningJobs == 0)
    }

    @Test(.timeLimit(.minutes(2)))
    func aCancelledJobThatPausesAFewMoreTimesRunsToItsEndBetweenTheOthers() async throws {
        let loop = try JobLoop.spawn(configuration: .init(maxConcurrentJobs: 16))
        let before = liveFrameObjects()
        let started = Latch(count: 1)
        let log = CompletionLog<Int>(count: 1)
        let submitted = loop.submit({ () -> Int in
            let held = FrameObject(3)
            started.arrive()
            // Waits (ignoring failures), then, once cancelled, pauses 100 more times before it
            // notices: under the limit, so it ends normally and releases its frames.
            var failures = 0
            while failures < 100 { if !AsyncJob.pause() { failures += 1 } }
            return held.tag
        }) { log.record(0, $0) }
        await started.wait()
        guard case .accepted(let ticket) = submitted else {
            Issue.record("rejected")
            return
        }
        ticket.cancel()
        await log.latch.wait()
        #expect(loopErrorCode(log.all[0][0]) == .cancelled)
        loop.shutdownAndWait()
        #expect(liveFrameObjects() == before)
    }
}
