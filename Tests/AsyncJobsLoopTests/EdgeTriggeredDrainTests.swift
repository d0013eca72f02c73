// SPDX-License-Identifier: Apache-2.0
// Who reads an engine's eventfd back to 0: the engine does after each resume, unless the job is
// one of an fd-mode loop's, which watches the fd edge-triggered (every write is an event), so
// the read would be a system call per operation for nothing.
@testable import AsyncJobs
@testable import AsyncJobsLoop
import AsyncJobsTesting
import Glibc
import Testing

@Suite(.serialized)
struct EdgeTriggeredDrainTests {
    @Test(arguments: [3, 50])
    func anFdLoopsJobsLeaveTheirEnginesCounterUndrainedAndStillResumeEveryTime(operations: Int) async throws {
        let loop = try JobLoop.spawn(configuration: .init(maxConcurrentJobs: 4, notification: .waitFD))
        let engine = try OffloadEngine(workers: 1)
        let accelerator = try SimulatedAccelerator(latency: .microseconds(50), slots: 4)
        let counters = try await loop.execute { () throws -> [UInt64] in
            var sum = 0
            for step in 0..<operations {
                sum += try engine.perform { step }
                sum += try accelerator.perform(step)
            }
            #expect(sum == 2 * (0..<operations).reduce(0, +))
            let context = try #require(AsyncJob.currentWaitContext)
            let engineFD = try #require(context.waitFD(forKey: engine.key))
            let deviceFD = try #require(context.waitFD(forKey: accelerator.key))
            return [EventCounter.drain(engineFD), EventCounter.drain(deviceFD)]
        }
        // One signal per operation, none read back.
        #expect(counters == [UInt64(operations), UInt64(operations)])
        loop.shutdownAndWait()
        engine.shutdown()
        accelerator.shutdown()
    }

    @Test func aJobDrivenByItsOwnCallerDrainsItsEnginesCounterAfterEachResume() throws {
        let engine = try OffloadEngine(workers: 1)
        let context = WaitContext()
        let readAfterEach = try AsyncJob.start(waitContext: context) { () throws -> [UInt64] in
            var counters: [UInt64] = []
            for step in 0..<3 {
                _ = try engine.perform { step }
                let fd = try #require(AsyncJob.currentWaitContext?.waitFD(forKey: engine.key))
                counters.append(EventCounter.drain(fd))
            }
            return counters
        }
        // A level-triggered caller: resume whenever the job pauses (spurious resumes pause again).
        var outcome = readAfterEach
        var counters: [UInt64]? = nil
        loop: while true {
            switch consume outcome {
            case .paused(let job):
                usleep(100)
                outcome = job.resume()
            case .finished(let value):
                counters = value
                break loop
            case .failed:
                break loop
            case .noJobsAvailable:
                break loop
            }
        }
        #expect(counters == [0, 0, 0])
        engine.shutdown()
        context.runCleanups()
    }

    @Test func aCallbackLoopsJobsUseNoDescriptor() async throws {
        let loop = try JobLoop.spawn(configuration: .init(maxConcurrentJobs: 2, notification: .callback))
        let engine = try OffloadEngine(workers: 1)
        let hasFD = try await loop.execute { () throws -> Bool in
            _ = try engine.perform { 1 }
            return AsyncJob.currentWaitContext?.waitFD(forKey: engine.key) != nil
        }
        #expect(!hasFD)
        loop.shutdownAndWait()
        engine.shutdown()
    }
}
