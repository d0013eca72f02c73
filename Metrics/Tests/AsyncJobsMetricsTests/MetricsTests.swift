// SPDX-License-Identifier: Apache-2.0
// The pool's and the loop's metrics as swift-metrics sees them (its test factory).
import AsyncJobs
import AsyncJobsLoop
import AsyncJobsMetrics
import AsyncJobsTesting
import MetricsTestKit
import Testing

@Suite(.serialized)
struct MetricsTests {
    @Test func aPoolsCountersGaugesAndTimerFollowItsJobs() throws {
        let factory = TestMetrics()
        let metrics = JobPoolMetrics(dimensions: [("pool", "test")], factory: factory)
        JobPool.cleanUp()
        try JobPool.configure(maxSize: 2)
        JobPool.observer = metrics
        metrics.update()
        guard case .paused(let first) = try AsyncJob.start({ AsyncJob.pause() && AsyncJob.pause() }),
            case .paused(let second) = try AsyncJob.start({ AsyncJob.pause() })
        else {
            Issue.record("expected two pauses")
            return
        }
        guard case .noJobsAvailable = try AsyncJob.start({ 0 }) else {
            Issue.record("expected no job: both are paused")
            return
        }
        metrics.update()
        #expect(try factory.expectGauge("asyncjobs_jobs_paused", [("pool", "test")]).lastValue == 2)
        #expect(try factory.expectGauge("asyncjobs_jobs_in_use", [("pool", "test")]).lastValue == 2)
        #expect(try factory.expectGauge("asyncjobs_stacks_guard_page", [("pool", "test")]).lastValue == 2)
        #expect(try factory.expectCounter("asyncjobs_jobs_started_total", [("pool", "test")]).totalValue == 2)
        guard case .paused(let again) = first.resume(), case .finished = again.resume() else {
            Issue.record("expected a pause, then the end")
            return
        }
        _ = consume second  // dropped: cancelled
        metrics.update()
        #expect(try factory.expectCounter("asyncjobs_pauses_total", [("pool", "test")]).totalValue == 3)
        #expect(try factory.expectCounter("asyncjobs_jobs_finished_total", [("pool", "test")]).totalValue == 1)
        #expect(try factory.expectCounter("asyncjobs_jobs_cancelled_total", [("pool", "test")]).totalValue == 1)
        #expect(try factory.expectCounter("asyncjobs_no_jobs_total", [("pool", "test")]).totalValue == 1)
        #expect(try factory.expectCounter("asyncjobs_jobs_started_total", [("pool", "test")]).totalValue == 2)
        #expect(try factory.expectGauge("asyncjobs_jobs_paused", [("pool", "test")]).lastValue == 0)
        #expect(try factory.expectGauge("asyncjobs_jobs_in_use", [("pool", "test")]).lastValue == 0)
        // Two normal resumes and the one that cancelled the second job.
        #expect(try factory.expectTimer("asyncjobs_pause_duration", [("pool", "test")]).values.count == 3)
        JobPool.cleanUp()
    }

    @Test func aLoopsQueueResumesAndPoolAreRecorded() async throws {
        let factory = TestMetrics()
        let metrics = JobLoopMetrics(factory: factory)
        var configuration = JobLoop.Configuration(maxConcurrentJobs: 2)
        configuration.poolObserver = metrics.pool
        let loop = try JobLoop.spawn(configuration: configuration)
        let device = try SimulatedAccelerator(latency: .microseconds(200), slots: 2)
        let latch = Latch(count: 10)
        for index in 0..<10 {
            loop.submit({ try device.perform(index) + device.perform(index) }) { _ in latch.arrive() }
        }
        await latch.wait()
        await metrics.update(loop)
        #expect(try factory.expectCounter("asyncjobs_loop_completed_total").totalValue == 10)
        #expect(try factory.expectCounter("asyncjobs_loop_resumes_total").totalValue >= 20)
        #expect(try factory.expectCounter("asyncjobs_pauses_total").totalValue == 20)
        #expect(try factory.expectCounter("asyncjobs_jobs_finished_total").totalValue == 10)
        #expect(try factory.expectCounter("asyncjobs_jobs_started_total").totalValue == 10)
        #expect(try factory.expectGauge("asyncjobs_loop_queue_depth").lastValue == 0)
        #expect(try factory.expectGauge("asyncjobs_jobs_pooled").lastValue == 2)
        #expect(try factory.expectTimer("asyncjobs_pause_duration").values.count == 20)
        loop.shutdownAndWait()
        device.shutdown()
    }
}

/// Waits until `count` arrivals.
final class Latch: Sendable {
    private let state: AsyncStream<Void>.Continuation
    private let stream: AsyncStream<Void>
    private let count: Int
    init(count: Int) {
        (stream, state) = AsyncStream.makeStream()
        self.count = count
    }
    func arrive() { state.yield() }
    func wait() async {
        var seen = 0
        for await _ in stream {
            seen += 1
            if seen == count { return }
        }
    }
}
