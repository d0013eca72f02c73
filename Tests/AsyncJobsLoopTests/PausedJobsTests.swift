// SPDX-License-Identifier: Apache-2.0
// A loop lists its paused jobs from any thread: how often and how long each paused, and where.
import AsyncJobs
import AsyncJobsLoop
import Glibc
import Testing

@Suite("Loop paused jobs", .serialized)
struct LoopPausedJobsTests {
    @Test func aLoopListsItsPausedJobWithItsPausesAndWhereItWaits() async throws {
        var configuration = JobLoop.Configuration(maxConcurrentJobs: 4)
        configuration.recordsPauses = true
        let loop = try JobLoop.spawn(configuration: configuration)
        let engine = try OffloadEngine(workers: 1)
        let gate = Gate()
        let log = CompletionLog<Int>(count: 1)
        loop.submit({ try engine.perform { gate.waitUntilOpen(); return 5 } }) { log.record(0, $0) }
        // Until the job has reached its pause (no time limit: the test waits for the state).
        var reports = await loop.pausedJobs()
        while reports.isEmpty {
            await Task.yield()
            reports = await loop.pausedJobs()
        }
        #expect(reports.count == 1)
        let report = try #require(reports.first)
        #expect(report.pauseCount == 1)
        #expect(report.pausedFor != nil)
        #expect(report.stackSize == JobPool.defaultStackSize)
        #expect(report.stackHighWater != nil)
        if getenv("ASYNCJOBS_UCONTEXT").map({ String(cString: $0) }) != "1" {
            #expect(report.backtrace.contains { $0.symbol?.contains("OffloadEngine") == true }, "\(report)")
        }
        gate.open()
        await log.latch.wait()
        #expect((try? log.all[0].first?.get()) == 5)
        loop.shutdownAndWait()
        engine.shutdown()
        #expect(await loop.pausedJobs().isEmpty, "an ended loop has no jobs")
    }
}
