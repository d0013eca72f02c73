// SPDX-License-Identifier: Apache-2.0
// A paused job is never silently leaked: dropping its handle, cancelling it or cleaning up its
// pool runs it to completion with failing pauses, and its frames release what they hold.
import AsyncJobs
import Foundation
import Testing

@Suite("Cancellation")
struct CancellationTests {
    @Test func droppingThePausedHandleCancelsTheJobAndReleasesItsFrames() throws {
        let counter = LiveCounter()
        var seen: [String] = []
        try withFreshPool {
            do {
                let outcome = try AsyncJob.start { () -> Int in
                    let held = counter.make()
                    let first = AsyncJob.pause()
                    seen.append("resumed \(first) cancelled \(AsyncJob.isCancelled)")
                    let second = AsyncJob.pause()
                    seen.append("second \(second)")
                    return held.counter.count
                }
                guard case .paused(let job) = consume outcome else {
                    Issue.record("expected a pause")
                    return
                }
                #expect(counter.count == 1)
                #expect(job.reference.isAlive)
            }
            #expect(counter.count == 0)
            #expect(seen == ["resumed false cancelled true", "second false"])
        }
    }

    @Test func explicitCancelRunsTheJobToItsEnd() throws {
        try withFreshPool {
            var cancelledSeen = false
            guard case .paused(let job) = try AsyncJob.start({ () throws -> Int in
                while AsyncJob.pause() {}
                do {
                    try AsyncJob.checkCancellation()
                } catch {
                    cancelledSeen = true
                    throw error
                }
                return 1
            }) else {
                Issue.record("expected a pause")
                return
            }
            let reference = job.reference
            job.cancel()
            #expect(cancelledSeen)
            #expect(!reference.isAlive)
        }
    }

    @Test func cleanUpCancelsPausedJobsAndReportsHowMany() throws {
        let counter = LiveCounter()
        JobPool.cleanUp()
        var boxes: [PausedBox<Int, Never>] = []
        for index in 0..<5 {
            guard case .paused(let job) = try AsyncJob.start({ () -> Int in
                let held = counter.make()
                _ = AsyncJob.pause()
                return index + held.counter.count
            }) else { return }
            boxes.append(PausedBox(job))
        }
        #expect(counter.count == 5)
        #expect(JobPool.cleanUp() == 5)
        #expect(counter.count == 0)
        #expect(boxes.allSatisfy { $0.job?.reference.isAlive == false })
        // Dropping the now stale handles is harmless.
        boxes.removeAll()
        #expect(JobPool.statistics == nil)
    }

    @Test func resumingAHandleWhoseJobWasCancelledByCleanUpTraps() async {
        await #expect(processExitsWith: .failure) {
            try runSynchronously {
                guard case .paused(let job) = try AsyncJob.start({ AsyncJob.pause() }) else { return }
                JobPool.cleanUp()
                _ = job.resume()
            }
        }
    }

    @Test func cancelledJobCannotPauseAgain() throws {
        try withFreshPool {
            var results: [Bool] = []
            guard case .paused(let job) = try AsyncJob.start({ () -> Void in
                _ = AsyncJob.pause()
                for _ in 0..<3 { results.append(AsyncJob.pause()) }
            }) else { return }
            job.cancel()
            #expect(results == [false, false, false])
        }
    }

    // Once pause() returns false a job must return: one that keeps pausing would hold the
    // cancelling thread forever; past the limit the process stops with the rule instead.
    @Test func aCancelledJobThatKeepsPausingStopsTheProcessWithTheRule() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            runSynchronously {
                guard case .paused(let job) = try! AsyncJob.start({ () -> Int in
                    while true { _ = AsyncJob.pause() }
                }) else { return }
                job.cancel()
            }
        }
        let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(message.contains("paused 1000 more times"))
        #expect(message.contains("once AsyncJob.pause() returns false"))
    }

}
