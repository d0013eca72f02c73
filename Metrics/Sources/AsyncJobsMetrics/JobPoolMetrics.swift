// SPDX-License-Identifier: Apache-2.0
// A pool's jobs as swift-metrics metrics: the core tells this observer of each pause, resume,
// end and refused start (JobPoolObserver), and `update()`, called now and then on the pool's
// thread, takes the pool's census (jobs pooled, in use, paused; stacks with guard pages or
// canaries). A pool without an observer pays nothing for any of it.
import AsyncJobs
import CoreMetrics
import Synchronization

/// The metrics of one job pool (a thread's, or a ``JobLoop``'s).
///
/// Metrics, each labelled `<prefix>_<name>` with the given dimensions:
/// - counters `jobs_started_total`, `pauses_total`, `jobs_finished_total`,
///   `jobs_cancelled_total`, `no_jobs_total` (starts refused because the pool was at its limit;
///   OpenSSL's `ASYNC_NO_JOBS`);
/// - timer `pause_duration` (nanoseconds from a pause to its resume);
/// - gauges `jobs_paused` (kept by the events), and, from ``update()``, `jobs_pooled` (jobs the
///   pool owns), `jobs_idle`, `jobs_in_use`, `stacks_guard_page` and `stacks_canary`.
///
/// `jobs_started_total` is counted at each ``update()`` as the jobs that ended since the last one
/// plus the growth of `jobs_in_use`, because the start path itself has no hook (so that it costs
/// nothing). A stack overflow stops the process with a report line, so it has no counter.
///
/// Install it with `JobPool.observer = metrics` on the pool's thread, or through
/// ``JobLoop/Configuration/poolObserver`` for a loop (whose ``JobLoopMetrics`` then takes the
/// census).
public final class JobPoolMetrics: JobPoolObserver {
    private let started: Counter
    private let pauses: Counter
    private let finished: Counter
    private let cancelled: Counter
    private let noJobs: Counter
    private let pauseDuration: Timer
    private let paused: Gauge
    private let pooled: Gauge
    private let idle: Gauge
    private let inUse: Gauge
    private let guardPages: Gauge
    private let canaries: Gauge
    private struct Tally {
        var paused = 0
        var ended = 0
        var inUseAtLastUpdate = 0
    }
    private let tally = Mutex(Tally())

    /// Metrics named `<prefix>_<name>`, with `dimensions` (for example the pool's thread or the
    /// loop's name), made by `factory` (default: the bootstrapped `MetricsSystem`).
    public init(prefix: String = "asyncjobs", dimensions: [(String, String)] = [], factory: (any MetricsFactory)? = nil) {
        let factory = factory ?? MetricsSystem.factory
        func counter(_ name: String) -> Counter { Counter(label: "\(prefix)_\(name)", dimensions: dimensions, factory: factory) }
        func gauge(_ name: String) -> Gauge { Gauge(label: "\(prefix)_\(name)", dimensions: dimensions, factory: factory) }
        started = counter("jobs_started_total")
        pauses = counter("pauses_total")
        finished = counter("jobs_finished_total")
        cancelled = counter("jobs_cancelled_total")
        noJobs = counter("no_jobs_total")
        pauseDuration = Timer(label: "\(prefix)_pause_duration", dimensions: dimensions, factory: factory)
        paused = gauge("jobs_paused")
        pooled = gauge("jobs_pooled")
        idle = gauge("jobs_idle")
        inUse = gauge("jobs_in_use")
        guardPages = gauge("stacks_guard_page")
        canaries = gauge("stacks_canary")
    }

    public func jobWillPause() {
        pauses.increment()
        paused.record(tally.withLock { $0.paused += 1; return $0.paused })
    }

    public func jobResumed(after pausedFor: Duration) {
        let (seconds, attoseconds) = pausedFor.components
        pauseDuration.recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
        paused.record(tally.withLock { $0.paused = max(0, $0.paused - 1); return $0.paused })
    }

    public func jobEnded(cancelled wasCancelled: Bool) {
        (wasCancelled ? cancelled : finished).increment()
        tally.withLock { $0.ended += 1 }
    }

    public func startFoundNoJob() {
        noJobs.increment()
    }

    /// Takes the census of the calling thread's pool (a walk of its jobs: call it now and then,
    /// for example once per scrape or per second, on the pool's thread) and counts the starts
    /// since the last call.
    public func update() {
        guard let census = JobPool.stackCensus else { return }
        record(census)
    }

    /// Records a census taken on the pool's thread (``JobLoopMetrics`` takes the loop's there).
    func record(_ census: JobPool.StackCensus) {
        pooled.record(census.jobs)
        idle.record(census.idle)
        inUse.record(census.inUse)
        guardPages.record(census.guardPages)
        canaries.record(census.canaries)
        let starts = tally.withLock { tally -> Int in
            // Each start since the last update has ended since, or is still in use.
            let starts = tally.ended + census.inUse - tally.inUseAtLastUpdate
            tally.ended = 0
            tally.inUseAtLastUpdate = census.inUse
            return max(0, starts)
        }
        if starts > 0 { started.increment(by: Int64(starts)) }
    }
}
