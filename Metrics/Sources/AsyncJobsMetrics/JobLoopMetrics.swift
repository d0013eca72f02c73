// SPDX-License-Identifier: Apache-2.0
// A job loop's statistics as swift-metrics metrics, and its pool's through JobPoolMetrics.
import AsyncJobs
import AsyncJobsLoop
import CoreMetrics
import Synchronization

/// The metrics of a ``JobLoop``: its queue and its resumes, plus its pool's (``JobPoolMetrics``).
///
/// Gauges `<prefix>_loop_queue_depth` (accepted work waiting for a job), `<prefix>_loop_running`
/// (jobs started and not finished), `<prefix>_loop_watched_descriptors`; counters
/// `<prefix>_loop_resumes_total` and `<prefix>_loop_completed_total`.
///
/// ```swift
/// let metrics = JobLoopMetrics()
/// var configuration = JobLoop.Configuration()
/// configuration.poolObserver = metrics.pool
/// let loop = try JobLoop.spawn(configuration: configuration)
/// // now and then (for example before each scrape):
/// await metrics.update(loop)
/// ```
public final class JobLoopMetrics: Sendable {
    /// The metrics of the loop's pool: give it to the loop as ``JobLoop/Configuration/poolObserver``.
    public let pool: JobPoolMetrics
    private let queueDepth: Gauge
    private let running: Gauge
    private let watched: Gauge
    private let resumes: Counter
    private let completed: Counter
    private let last = Mutex((resumes: 0, completed: 0))

    /// Metrics named `<prefix>_...` with `dimensions`, made by `factory` (default: the
    /// bootstrapped `MetricsSystem`).
    public init(prefix: String = "asyncjobs", dimensions: [(String, String)] = [], factory: (any MetricsFactory)? = nil) {
        let factory = factory ?? MetricsSystem.factory
        pool = JobPoolMetrics(prefix: prefix, dimensions: dimensions, factory: factory)
        queueDepth = Gauge(label: "\(prefix)_loop_queue_depth", dimensions: dimensions, factory: factory)
        running = Gauge(label: "\(prefix)_loop_running", dimensions: dimensions, factory: factory)
        watched = Gauge(label: "\(prefix)_loop_watched_descriptors", dimensions: dimensions, factory: factory)
        resumes = Counter(label: "\(prefix)_loop_resumes_total", dimensions: dimensions, factory: factory)
        completed = Counter(label: "\(prefix)_loop_completed_total", dimensions: dimensions, factory: factory)
    }

    /// Records the loop's pool census (taken at its next turn) and its statistics; any thread but
    /// the loop's.
    public func update(_ loop: JobLoop) async {
        // The census first: the loop answers at its next turn, after publishing the statistics
        // of the turn before (so what completed before this call is counted).
        if let census = await loop.poolCensus() { pool.record(census) }
        let statistics = loop.statistics
        queueDepth.record(statistics.queuedWork)
        running.record(statistics.runningJobs)
        watched.record(statistics.watchedDescriptors)
        let (newResumes, newCompleted) = last.withLock { last -> (Int, Int) in
            defer { last = (statistics.resumes, statistics.completed) }
            return (statistics.resumes - last.resumes, statistics.completed - last.completed)
        }
        if newResumes > 0 { resumes.increment(by: Int64(newResumes)) }
        if newCompleted > 0 { completed.increment(by: Int64(newCompleted)) }
    }
}
