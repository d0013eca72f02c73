// SPDX-License-Identifier: Apache-2.0
// A request that an engine announces in a batch carries its loop and entry as a value (the
// loop counted once per request, on the loop's thread): the loop stays alive while a request
// of one of its jobs is still held by the device, a request its job gave up on announces
// nothing (not even to the next job on the same entry), and loops shut down with requests in
// flight complete every work once. No timing assertions: waits only order the steps.
import AsyncJobs
import AsyncJobsLoop
import AsyncJobsTesting
import Foundation
import Synchronization
import Testing

@Suite(.serialized)
struct BatchCompletionLifetimeTests {
    @Test(arguments: [JobLoop.ShutdownMode.cancel, .drain])
    func loopsShutDownWithRequestsInFlightCompleteEverythingOnceAndAreFreedWhenTheDeviceLetsGo(
        mode: JobLoop.ShutdownMode
    ) async throws {
        let count = 600
        let log = CompletionLog<Int>(count: count)
        let submitting = Latch(count: count)
        let accelerator = try SimulatedAccelerator(latency: .milliseconds(200), slots: count)
        weak var firstLoop: JobLoop?
        weak var secondLoop: JobLoop?
        do {
            let group = try JobLoopGroup(
                loopCount: 2, configuration: .init(maxConcurrentJobs: count, notification: .callback))
            firstLoop = group.loops[0]
            secondLoop = group.loops[1]
            for index in 0..<count {
                group.submit({
                    submitting.arrive()
                    return try accelerator.perform(index)
                }) { log.record(index, $0) }
            }
            // Every job has started and is about to submit its request (which the device holds
            // for its latency, so most are still in flight when the loops are told to stop).
            await submitting.wait()
            group.shutdownAndWait(mode)
        }
        await log.latch.wait()
        for (index, results) in log.all.enumerated() {
            #expect(results.count == 1)
            switch results[0] {
            case .success(let value): #expect(value == index)
            case .failure: #expect(mode == .cancel && loopErrorCode(results[0]) == .shutDown)
            }
        }
        // The device completes every request at its deadline, those whose jobs gave up on them
        // after their loops ended (announcing nothing), and then lets go of them: with them,
        // the last references to the loops.
        accelerator.shutdown()
        #expect(accelerator.completedCount == count)
        #expect(firstLoop == nil && secondLoop == nil)
    }

    @Test func aRequestCompletedAfterItsJobWasCancelledWakesNotTheEntrysNextJob() async throws {
        let loop = try JobLoop.spawn(configuration: .init(maxConcurrentJobs: 1, notification: .callback))
        // One slot: the second job's request waits for the first one's to complete. (Long enough
        // for the cancellation to reach the first job before its request completes.)
        let accelerator = try SimulatedAccelerator(latency: .milliseconds(300), slots: 1)
        let submitted = Latch(count: 1)
        let log = CompletionLog<Int>(count: 2)
        let first = loop.submit({
            submitted.arrive()
            return try accelerator.perform(1)
        }) { log.record(0, $0) }
        // Runs on the same entry (the loop's only one) once the first job has ended.
        loop.submit({ try accelerator.perform(2) }) { log.record(1, $0) }
        await submitted.wait()
        guard case .accepted(let ticket) = first else {
            Issue.record("rejected")
            return
        }
        ticket.cancel()
        await log.latch.wait()
        #expect(log.all[0].count == 1 && loopErrorCode(log.all[0][0]) == .cancelled)
        #expect(log.all[1].count == 1 && (try? log.all[1][0].get()) == 2)
        loop.shutdownAndWait(.drain)
        accelerator.shutdown()
        #expect(accelerator.completedCount == 2)
        // One resume for the cancellation, one for the second job's own request: the first
        // request, completed while the second job waited, announced nothing.
        #expect(loop.statistics.resumes == 2)
    }
}
