// SPDX-License-Identifier: Apache-2.0
// The three variants `asyncjobs speed` compares, each measured the same way: its drivers start,
// the measurement begins once every driver runs (so pool and stack creation stay out of it),
// lasts the requested time, and ends by raising a stop flag that every driver checks between
// operations. Latencies go into one HdrHistogram per variant.
import AsyncJobs
import AsyncJobsLoop
import AsyncJobsTesting
import Foundation
import Histogram
import Synchronization

/// The settings of one `asyncjobs speed` run.
public struct SpeedOptions: Sendable {
    /// Operations in flight at once: jobs of the loop, and tasks of the Swift-concurrency variant.
    public var jobs: Int
    /// Measured seconds per variant, over all its rounds.
    public var seconds: Double
    /// Rounds per variant: the variants of one comparison take turns `rounds` times, each round
    /// `seconds / rounds` long (see ``SpeedRunner/measureRounds(_:)``).
    public var rounds: Int
    /// Threads of the offload engine (sha256, p256-sign).
    public var workers: Int
    /// How engines wake the loop's jobs.
    public var notification: JobLoop.Configuration.Notification
    /// The simulated accelerator's latency.
    public var latency: Duration
    /// The simulated accelerator's parallel slots.
    public var slots: Int
    /// Whether to redraw a progress line (only where standard output is a terminal).
    public var progress: Bool
    /// Loops of the jobs variant (a ``JobLoopGroup`` when more than 1; the jobs are spread
    /// evenly over them).
    public var loops: Int
    /// How the offload engine's workers are scheduled.
    public var workerScheduling: OffloadEngine.WorkerScheduling

    /// Creates run settings.
    public init(
        jobs: Int, seconds: Double, workers: Int, notification: JobLoop.Configuration.Notification,
        latency: Duration, slots: Int, progress: Bool, loops: Int = 1,
        workerScheduling: OffloadEngine.WorkerScheduling = .batch, rounds: Int = 1
    ) {
        self.loops = max(1, loops)
        self.rounds = max(1, rounds)
        self.workerScheduling = workerScheduling
        self.jobs = jobs
        self.seconds = seconds
        self.workers = workers
        self.notification = notification
        self.latency = latency
        self.slots = slots
        self.progress = progress
    }
}

/// How one batch of operations was driven.
public enum SpeedVariant: String, Sendable, CaseIterable {
    /// One thread doing the operations one after another (the accelerator blocks it).
    case sync
    /// A job loop on one thread, one job per concurrent operation, pausing in the engine.
    case jobs
    /// Swift concurrency: a task per operation, awaiting the same engine.
    case concurrency
}

/// One entry of a run's plan: what ``SpeedRunner/measure(_:as:jobs:notification:loops:seconds:)``
/// measures (nil: the options' value).
public struct SpeedMeasurement: Sendable, Equatable {
    /// The operation.
    public var operation: SpeedOperation
    /// How it is driven.
    public var variant: SpeedVariant
    /// Operations in flight (ignored by ``SpeedVariant/sync``).
    public var jobs: Int?
    /// The loop's notification (jobs only).
    public var notification: JobLoop.Configuration.Notification?
    /// The jobs variant's loops.
    public var loops: Int?

    /// An entry of a plan.
    public init(
        _ operation: SpeedOperation, as variant: SpeedVariant, jobs: Int? = nil,
        notification: JobLoop.Configuration.Notification? = nil, loops: Int? = nil
    ) {
        self.operation = operation
        self.variant = variant
        self.jobs = jobs
        self.notification = notification
        self.loops = loops
    }
}

/// What one variant measured.
public struct VariantResult: Sendable {
    /// How the operations were driven.
    public var variant: SpeedVariant
    /// Operations in flight at once.
    public var concurrency: Int
    /// Operations completed within the measured time.
    public var operations: Int
    /// The measured time, in seconds.
    public var seconds: Double
    /// Latency percentiles in nanoseconds: p50, p99, p99.9.
    public var p50: UInt64, p99: UInt64, p999: UInt64
    /// Jobs only: CPU time the loop thread used during the measured time, in nanoseconds.
    public var loopCPUNanoseconds: UInt64?
    /// Jobs only: jobs the loops resumed during the measured time.
    public var resumes: Int?
    /// Jobs only: how many loops (threads) ran the jobs.
    public var loops: Int?
    /// Jobs only: time the loop threads spent runnable but waiting for a processor during the
    /// measured time (the scheduler's run-queue delay, `/proc/<pid>/task/<tid>/schedstat`), in
    /// nanoseconds; nil where the kernel does not report it.
    public var loopWaitNanoseconds: UInt64?
    /// Jobs only: the engine's own threads (the simulated accelerator's timer thread, the offload
    /// engine's workers) found during the measured time; nil where `/proc` could not be read.
    public var engineThreads: Int?
    /// Jobs only: CPU time the engine's threads used during the measured time, in nanoseconds.
    public var engineCPUNanoseconds: UInt64?
    /// Jobs only: time the engine's threads spent runnable but waiting for a processor, in
    /// nanoseconds.
    public var engineWaitNanoseconds: UInt64?
    /// The first error an operation threw, if any (the variant stops at it).
    public var error: String?
    /// Each round's own percentiles, in the order the rounds ran (one entry for a single
    /// measurement).
    public var rounds: [Percentiles]

    /// Latency percentiles of one round, in nanoseconds.
    public struct Percentiles: Sendable, Equatable {
        /// The median, the 99th and the 99.9th percentile.
        public var p50: UInt64, p99: UInt64, p999: UInt64

        /// Percentiles as measured.
        public init(p50: UInt64, p99: UInt64, p999: UInt64) {
            self.p50 = p50
            self.p99 = p99
            self.p999 = p999
        }
    }

    /// A measurement of one round; the jobs-only figures start empty.
    public init(
        variant: SpeedVariant, concurrency: Int, operations: Int, seconds: Double, p50: UInt64, p99: UInt64,
        p999: UInt64
    ) {
        self.variant = variant
        self.concurrency = concurrency
        self.operations = operations
        self.seconds = seconds
        self.p50 = p50
        self.p99 = p99
        self.p999 = p999
        self.rounds = [Percentiles(p50: p50, p99: p99, p999: p999)]
    }

    /// The rounds of one variant as one result: counts, times and CPU times summed (so the rates
    /// and the figures per operation are those of all the rounds together), and each percentile
    /// the median of the rounds' (the mean of the middle two for an even count): a stall that
    /// lengthens one round's tail (another process, the hypervisor taking the processors) does
    /// not decide the comparison, as it did when each variant ran once. The rounds' own
    /// percentiles stay in ``rounds``.
    /// - Precondition: `rounds` is not empty and holds one variant at one concurrency.
    public init(rounds: [VariantResult]) {
        precondition(!rounds.isEmpty, "VariantResult(rounds:) needs at least one round")
        var result = rounds[0]
        for round in rounds.dropFirst() {
            precondition(
                round.variant == result.variant && round.concurrency == result.concurrency && round.loops == result.loops,
                "VariantResult(rounds:) combines rounds of one variant at one concurrency")
            result.operations += round.operations
            result.seconds += round.seconds
            result.loopCPUNanoseconds = Self.sum(result.loopCPUNanoseconds, round.loopCPUNanoseconds)
            result.resumes = Self.sum(result.resumes, round.resumes)
            result.loopWaitNanoseconds = Self.sum(result.loopWaitNanoseconds, round.loopWaitNanoseconds)
            result.engineCPUNanoseconds = Self.sum(result.engineCPUNanoseconds, round.engineCPUNanoseconds)
            result.engineWaitNanoseconds = Self.sum(result.engineWaitNanoseconds, round.engineWaitNanoseconds)
            result.engineThreads = result.engineThreads.flatMap { mine in round.engineThreads.map { max(mine, $0) } }
            result.error = result.error ?? round.error
            result.rounds += round.rounds
        }
        result.p50 = Self.median(result.rounds.map(\.p50))
        result.p99 = Self.median(result.rounds.map(\.p99))
        result.p999 = Self.median(result.rounds.map(\.p999))
        self = result
    }

    /// A figure summed over rounds; nil if any round lacks it.
    private static func sum<Value: AdditiveArithmetic>(_ first: Value?, _ second: Value?) -> Value? {
        guard let first, let second else { return nil }
        return first + second
    }

    /// The median of `values` (not empty); for an even count, the mean of the middle two.
    package static func median(_ values: [UInt64]) -> UInt64 {
        let sorted = values.sorted()
        let middle = sorted.count / 2
        if sorted.count % 2 == 1 { return sorted[middle] }
        return sorted[middle - 1] / 2 + sorted[middle] / 2 + (sorted[middle - 1] % 2 + sorted[middle] % 2) / 2
    }

    /// Operations per second.
    public var operationsPerSecond: Double { seconds > 0 ? Double(operations) / seconds : 0 }
    /// Jobs only: loop-thread CPU time per operation, in nanoseconds.
    public var loopCPUPerOperation: Double? {
        guard let cpu = loopCPUNanoseconds, operations > 0 else { return nil }
        return Double(cpu) / Double(operations)
    }
    /// Jobs only: the engine threads' CPU time per operation, in nanoseconds.
    public var engineCPUPerOperation: Double? {
        guard let cpu = engineCPUNanoseconds, operations > 0 else { return nil }
        return Double(cpu) / Double(operations)
    }
    /// Jobs only: the share of the measured time the engine's threads (on average) waited for a
    /// processor while runnable.
    public var engineWaitShare: Double? {
        guard let wait = engineWaitNanoseconds, let threads = engineThreads, threads > 0, seconds > 0 else { return nil }
        return Double(wait) / 1e9 / seconds / Double(threads)
    }
    /// Jobs only: resumes per second of loop-thread CPU time.
    public var resumesPerLoopCPUSecond: Double? {
        guard let cpu = loopCPUNanoseconds, let resumes, cpu > 0 else { return nil }
        return Double(resumes) / (Double(cpu) / 1e9)
    }
    /// Jobs only: the share of the measured time the loop threads (on average) waited for a
    /// processor while runnable.
    public var loopWaitShare: Double? {
        guard let wait = loopWaitNanoseconds, let loops, seconds > 0 else { return nil }
        return Double(wait) / 1e9 / seconds / Double(loops)
    }
    /// Jobs only: resumes per second of wall-clock time.
    public var resumesPerSecond: Double? {
        guard let resumes, seconds > 0 else { return nil }
        return Double(resumes) / seconds
    }
}

/// Counters and the latency histogram shared by a variant's drivers and the measuring thread.
///
/// One shard (operation count and histogram) per loop of the jobs variant: with one shared
/// shard, a group's loop threads took the same lock and wrote the same histogram and counter at
/// every operation, a cache line moved between processors each time (a cost of the harness,
/// charged to the group). Each loop's jobs record into their loop's shard; the measuring thread
/// sums and merges them.
package final class Meter: Sendable {
    /// What one recording thread writes.
    final class Shard: Sendable {
        let operations = Atomic<Int>(0)
        let histogram = Mutex(
            Histogram<UInt64>(
                lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000_000, numberOfSignificantValueDigits: .three))
    }

    let started = Atomic<Int>(0)
    let stopped = Atomic<Bool>(false)
    let firstError = Mutex<String?>(nil)
    /// When the measured time began (``Clock/nanoseconds()``; `UInt64.max` before it): only
    /// operations that began at or after it enter the histogram.
    private let measuredSince = Atomic<UInt64>(.max)
    /// When the measured time ended (`UInt64.max` until then): operations that end later are
    /// not recorded.
    private let measuredUntil = Atomic<UInt64>(.max)
    private let shards: [Shard]

    /// - Parameter shards: how many threads record separately (the loops of a group).
    package init(shards: Int = 1) {
        self.shards = (0..<max(1, shards)).map { _ in Shard() }
    }

    var isStopped: Bool { stopped.load(ordering: .relaxed) }

    /// Operations recorded so far, all shards.
    package var operations: Int { shards.reduce(0) { $0 + $1.operations.load(ordering: .relaxed) } }

    /// Records one operation that began at `start` (``Clock/nanoseconds()``), in shard `shard`.
    /// Its latency enters the histogram only if it began within the measured time: an operation
    /// in flight when the measurement began was held up by the setup (the drivers still being
    /// started, the first descriptors being made and watched), which is not the steady state the
    /// percentiles describe, and which costs each variant differently. Operations still in
    /// flight when the measurement ends are not recorded either, so both ends are cut the same
    /// way.
    /// - Returns: the time it ended: a driver that starts its next operation at once uses it as
    ///   that one's start (one clock read per operation instead of two).
    @discardableResult
    package func record(since start: UInt64, shard: Int = 0) -> UInt64 {
        let end = Clock.nanoseconds()
        let shard = shards[shard]
        if start >= measuredSince.load(ordering: .relaxed) && end <= measuredUntil.load(ordering: .relaxed) {
            shard.histogram.withLock { _ = $0.record(max(1, end &- start)) }
        }
        shard.operations.wrappingAdd(1, ordering: .relaxed)
        return end
    }

    func fail(_ error: any Error) {
        firstError.withLock { if $0 == nil { $0 = "\(error)" } }
        stopped.store(true, ordering: .relaxed)
    }

    /// Empties the histograms and starts the measured time now.
    package func startMeasuring() {
        for shard in shards { shard.histogram.withLock { $0.reset() } }
        measuredSince.store(Clock.nanoseconds(), ordering: .relaxed)
    }

    /// Ends the measured time at `end`.
    package func stopMeasuring(at end: UInt64) {
        measuredUntil.store(end, ordering: .relaxed)
    }

    /// Operations in the histograms.
    package var recordedOperations: UInt64 {
        shards.reduce(0) { total, shard in total + shard.histogram.withLock { $0.totalCount } }
    }

    func percentiles() -> (UInt64, UInt64, UInt64) {
        var merged = shards[0].histogram.withLock { $0 }
        for shard in shards.dropFirst() { merged.add(shard.histogram.withLock { $0 }) }
        return (merged.valueAtPercentile(50), merged.valueAtPercentile(99), merged.valueAtPercentile(99.9))
    }
}

/// Runs the variants of one operation.
public struct SpeedRunner: Sendable {
    /// The run's settings.
    public let options: SpeedOptions

    /// Creates a runner for `options`.
    public init(options: SpeedOptions) {
        self.options = options
    }

    /// Measures every entry of `plan` in ``SpeedOptions/rounds`` rounds of
    /// `seconds / rounds` each, the entries taking turns: in order in the first round, in
    /// reverse in the second, and so on (so that no entry always runs first, or always right
    /// after the same other one); then each entry's rounds combined (``VariantResult/init(rounds:)``).
    /// Alternating short rounds spreads the moments a shared machine takes the processors away
    /// over every entry, where one long window per entry left each comparison to whichever
    /// entry such a moment fell on.
    /// - Parameter finished: called after each round of each entry, with the entry's index and
    ///   the round's result, in the order the rounds ran.
    /// - Returns: one combined result per entry, in `plan`'s order.
    /// - Throws: if an engine, the accelerator or a loop cannot be created.
    public func measureRounds(
        _ plan: [SpeedMeasurement], finished: (Int, VariantResult) -> Void = { _, _ in }
    ) throws -> [VariantResult] {
        let rounds = max(1, options.rounds)
        let seconds = options.seconds / Double(rounds)
        var measured = [[VariantResult]](repeating: [], count: plan.count)
        for round in 0..<rounds {
            for index in Self.order(of: plan.count, inRound: round) {
                let entry = plan[index]
                let result = try measure(
                    entry.operation, as: entry.variant, jobs: entry.jobs, notification: entry.notification,
                    loops: entry.loops, seconds: seconds)
                measured[index].append(result)
                finished(index, result)
            }
        }
        return measured.map { VariantResult(rounds: $0) }
    }

    /// The order in which round `round` (from 0) measures `count` entries: forward in even rounds,
    /// backward in odd ones.
    package static func order(of count: Int, inRound round: Int) -> [Int] {
        round % 2 == 0 ? Array(0..<count) : Array((0..<count).reversed())
    }

    /// Measures `operation` driven as `variant`, with `jobs` operations in flight (ignored by
    /// ``SpeedVariant/sync``) and `notification` for the loop, once, for `seconds` (the
    /// options' whole ``SpeedOptions/seconds`` by default).
    /// - Throws: if an engine, the accelerator or the loop cannot be created.
    public func measure(
        _ operation: SpeedOperation, as variant: SpeedVariant, jobs: Int? = nil,
        notification: JobLoop.Configuration.Notification? = nil, loops: Int? = nil, seconds: Double? = nil
    ) throws -> VariantResult {
        let seconds = seconds ?? options.seconds
        let loops = max(1, loops ?? options.loops)
        let concurrency = variant == .sync ? 1 : max(1, jobs ?? options.jobs)
        let engines = try SpeedEngines(
            workload: SpeedWorkload(operation: operation), workers: options.workers,
            workerScheduling: options.workerScheduling, latency: options.latency,
            slots: options.slots)
        defer { engines.shutdown() }
        let meter = Meter(shards: variant == .jobs ? loops : 1)
        let label =
            "\(operation.rawValue), \(Self.label(variant, notification: notification ?? options.notification, loops: loops))"
        switch variant {
        case .sync:
            let done = DispatchSemaphore(value: 0)
            let thread = Thread {
                meter.started.wrappingAdd(1, ordering: .relaxed)
                var start = Clock.nanoseconds()
                while !meter.isStopped {
                    do { _ = try engines.performInline() } catch { meter.fail(error) }
                    start = meter.record(since: start)
                }
                done.signal()
            }
            thread.stackSize = 1 << 20
            thread.start()
            var result = observe(meter, expected: 1, seconds: seconds, label: label, probe: nil)
            done.wait()
            result.loops = nil
            result.variant = variant
            result.concurrency = 1
            return result
        case .jobs:
            return try measureJobs(
                engines, meter: meter, jobs: concurrency, loops: loops, notification: notification, seconds: seconds,
                label: label)
        case .concurrency:
            let done = DispatchSemaphore(value: 0)
            Task.detached {
                await Self.driveTasks(engines, meter: meter, concurrency: concurrency)
                done.signal()
            }
            var result = observe(meter, expected: concurrency, seconds: seconds, label: label, probe: nil)
            done.wait()
            result.variant = variant
            result.concurrency = concurrency
            return result
        }
    }

    private func measureJobs(
        _ engines: SpeedEngines, meter: Meter, jobs: Int, loops: Int, notification: JobLoop.Configuration.Notification?,
        seconds: Double, label: String
    ) throws -> VariantResult {
        // One more job per loop than its share of the drivers, for the CPU-time probes. The
        // group's round robin gives each loop its share.
        let configuration = JobLoop.Configuration(
            maxConcurrentJobs: (jobs + loops - 1) / loops + 1, notification: notification ?? options.notification)
        let group = try JobLoopGroup(loopCount: loops, configuration: configuration)
        let finished = Atomic<Int>(0)
        let done = DispatchSemaphore(value: 0)
        let loopList = group.loops
        for _ in 0..<jobs {
            let submission = group.submit({
                meter.started.wrappingAdd(1, ordering: .relaxed)
                // The shard of the loop this job runs on (jobs never move).
                let shard = loopList.firstIndex { $0.isLoopThread } ?? 0
                var start = Clock.nanoseconds()
                // The device bound once per job: called through the closure's capture, it was
                // retained and released at every operation, and a group's loop threads then
                // wrote the one device object's count by turns from both processors (a cache
                // line moved per operation: a cost of the harness, charged to the group).
                if let accelerator = engines.accelerator {
                    while !meter.isStopped {
                        _ = try accelerator.perform(1)
                        start = meter.record(since: start, shard: shard)
                    }
                    return
                }
                while !meter.isStopped {
                    _ = try engines.performInJob()
                    start = meter.record(since: start, shard: shard)
                }
            }) { result in
                if case .failure(let error) = result { meter.fail(error) }
                if finished.wrappingAdd(1, ordering: .relaxed).newValue == jobs { done.signal() }
            }
            if case .rejected(let error) = submission {
                meter.fail(error)
                if finished.wrappingAdd(1, ordering: .relaxed).newValue == jobs { done.signal() }
            }
        }
        let probe = { () -> LoopProbe in
            // Each loop's thread reads its own CPU clock and scheduler statistics.
            let readings = Mutex<[(UInt64, UInt64?)]>([])
            let probed = DispatchSemaphore(value: 0)
            for loop in group.loops {
                loop.submit({ (Clock.threadCPUNanoseconds(), Clock.runQueueWaitNanoseconds()) }) { result in
                    if let reading = try? result.get() { readings.withLock { $0.append(reading) } }
                    probed.signal()
                }
            }
            for _ in group.loops { probed.wait() }
            let taken = readings.withLock { $0 }
            let waits = taken.map(\.1)
            return LoopProbe(
                cpu: taken.reduce(0) { $0 &+ $1.0 }, resumes: group.statistics.resumes,
                runQueueWait: waits.contains(nil) ? nil : waits.reduce(0) { $0 &+ $1! },
                engine: EngineThreadTimes.read())
        }
        var result = observe(meter, expected: jobs, seconds: seconds, label: label, probe: probe)
        done.wait()
        group.shutdownAndWait(.drain)
        result.variant = .jobs
        result.concurrency = jobs
        result.loops = loops
        return result
    }

    /// Keeps `concurrency` child tasks in flight, one per operation, until the meter stops.
    ///
    /// An operation's latency counts from the end of the operation whose place it takes, as in
    /// the jobs variant (where a job's next operation starts as soon as it has recorded the last
    /// one): so it includes the time the group takes to notice the end and start the next task.
    /// Counted from the new task's own start, that delay went unmeasured, and a driver held up
    /// by the scheduler started fewer operations instead of slower ones.
    private static func driveTasks(_ engines: SpeedEngines, meter: Meter, concurrency: Int) async {
        await withTaskGroup(of: UInt64.self) { group in
            let operation = { @Sendable (start: UInt64) -> @Sendable () async -> UInt64 in
                {
                    do { _ = try await engines.performAsync() } catch { meter.fail(error) }
                    return meter.record(since: start)
                }
            }
            let now = Clock.nanoseconds()
            for _ in 0..<concurrency {
                group.addTask(operation: operation(now))
                meter.started.wrappingAdd(1, ordering: .relaxed)
            }
            while let end = await group.next() {
                if !meter.isStopped { group.addTask(operation: operation(end)) }
            }
        }
    }

    /// Waits until `expected` drivers run, measures for `seconds`, stops the drivers.
    private func observe(
        _ meter: Meter, expected: Int, seconds: Double, label: String, probe: (() -> LoopProbe)?
    ) -> VariantResult {
        let progress = ProgressLine(enabled: options.progress)
        let setupDeadline = Clock.nanoseconds() + 30_000_000_000
        while meter.started.load(ordering: .relaxed) < expected && !meter.isStopped
            && Clock.nanoseconds() < setupDeadline
        {
            usleep(1000)
        }
        meter.startMeasuring()
        let baseline = probe?()
        let startOperations = meter.operations
        let start = Clock.nanoseconds()
        let duration = UInt64(max(0.001, seconds) * 1e9)
        var now = start
        while now - start < duration && !meter.isStopped {
            let remaining = duration - (now - start)
            usleep(UInt32(min(remaining, 200_000_000) / 1000))
            now = Clock.nanoseconds()
            let done = meter.operations - startOperations
            progress.show(
                "\(label): \(Format.seconds(Double(now - start) / 1e9)) s, "
                    + "\(Format.count(Double(done) / (Double(now - start) / 1e9))) ops/s")
        }
        let endOperations = meter.operations
        let end = Clock.nanoseconds()
        meter.stopMeasuring(at: end)
        let final = probe?()
        meter.stopped.store(true, ordering: .relaxed)
        progress.clear()
        let (p50, p99, p999) = meter.percentiles()
        var result = VariantResult(
            variant: .sync, concurrency: expected, operations: endOperations - startOperations,
            seconds: Double(end - start) / 1e9, p50: p50, p99: p99, p999: p999)
        if let baseline, let final {
            result.loopCPUNanoseconds = final.cpu &- baseline.cpu
            result.resumes = final.resumes - baseline.resumes
            if let before = baseline.runQueueWait, let after = final.runQueueWait {
                result.loopWaitNanoseconds = after &- before
            }
            if let before = baseline.engine, let after = final.engine, !after.isEmpty {
                // Threads present at both ends (an engine's threads live as long as the run).
                var cpu: UInt64 = 0
                var wait: UInt64 = 0
                var threads = 0
                for (thread, end) in after {
                    guard let start = before[thread] else { continue }
                    cpu &+= end.cpu &- start.cpu
                    wait &+= end.wait &- start.wait
                    threads += 1
                }
                result.engineThreads = threads
                result.engineCPUNanoseconds = cpu
                result.engineWaitNanoseconds = wait
            }
        }
        result.error = meter.firstError.withLock { $0 }
        return result
    }

    static func label(
        _ variant: SpeedVariant, notification: JobLoop.Configuration.Notification, loops: Int = 1
    ) -> String {
        switch variant {
        case .sync: "sync, 1 thread"
        case .jobs:
            "jobs, \(loops) loop thread\(loops == 1 ? "" : "s"), notify \(notification == .waitFD ? "fd" : "callback")"
        case .concurrency: "Swift concurrency, a task per op"
        }
    }
}

/// What a probe read from the loops at one end of the measured time.
struct LoopProbe {
    /// The loop threads' CPU time, summed.
    var cpu: UInt64
    /// The loops' resumes, summed.
    var resumes: Int
    /// The loop threads' run-queue wait so far, summed (nil if not reported).
    var runQueueWait: UInt64?
    /// The engine's threads' CPU time and run-queue wait so far, by thread id (nil if not
    /// reported).
    var engine: [Int: EngineThreadTimes.Reading]?
}

/// The CPU time and run-queue wait of an engine's own threads (the simulated accelerator's timer
/// thread, `aj-accelerator`; the offload engine's workers, `aj-offload`), read by name from
/// `/proc/self/task/<tid>/schedstat` (time on a processor, then time runnable but waiting for
/// one, in nanoseconds). The speed run's engines are the only ones in the process, and each
/// variant shuts its own down (joining its threads) before the next starts.
enum EngineThreadTimes {
    struct Reading {
        var cpu: UInt64
        var wait: UInt64
    }

    static let threadNames: Set<String> = ["aj-accelerator", "aj-offload"]

    /// Every engine thread's times now; nil if `/proc/self/task` cannot be read.
    static func read() -> [Int: Reading]? {
        guard let tasks = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task") else { return nil }
        var readings: [Int: Reading] = [:]
        for task in tasks {
            guard let thread = Int(task),
                let name = try? String(contentsOfFile: "/proc/self/task/\(task)/comm", encoding: .utf8),
                threadNames.contains(name.trimmingCharacters(in: .whitespacesAndNewlines)),
                let stat = try? String(contentsOfFile: "/proc/self/task/\(task)/schedstat", encoding: .utf8)
            else { continue }
            let fields = stat.split(separator: " ")
            guard fields.count >= 2, let cpu = UInt64(fields[0]), let wait = UInt64(fields[1]) else { continue }
            readings[thread] = Reading(cpu: cpu, wait: wait)
        }
        return readings
    }
}

/// What the processors allow a set of threads that all take part in every operation.
public enum SpeedBound {
    /// The most operations per second when each operation takes `loopCPUPerOperation` ns of the
    /// loop threads' CPU and `engineCPUPerOperation` ns of the engine threads', on `processors`
    /// processors: the CPU of both together cannot exceed the processors', and no thread runs on
    /// more than one processor at once (`loops` loop threads, `engineThreads` engine threads).
    /// Cross-core costs are in the per-operation figures of the run they come from.
    public static func operationsPerSecond(
        processors: Int, loops: Int, loopCPUPerOperation: Double, engineThreads: Int, engineCPUPerOperation: Double
    ) -> Double {
        var bound = Double(max(1, processors)) * 1e9 / max(1, loopCPUPerOperation + engineCPUPerOperation)
        if loopCPUPerOperation > 0 { bound = min(bound, Double(max(1, loops)) * 1e9 / loopCPUPerOperation) }
        if engineThreads > 0, engineCPUPerOperation > 0 {
            bound = min(bound, Double(engineThreads) * 1e9 / engineCPUPerOperation)
        }
        return bound
    }

    /// The processors this process may run on (its affinity mask), as the group's default.
    public static var processors: Int { JobLoopGroup.defaultLoopCount }
}

/// Monotonic and per-thread CPU clocks in nanoseconds.
package enum Clock {
    package static func nanoseconds() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }

    /// Time the calling thread has spent runnable but waiting for a processor: the second field
    /// of `/proc/thread-self/schedstat`. Nil if the kernel does not report it.
    static func runQueueWaitNanoseconds() -> UInt64? {
        guard let text = try? String(contentsOfFile: "/proc/thread-self/schedstat", encoding: .utf8) else {
            return nil
        }
        let fields = text.split(separator: " ")
        return fields.count >= 2 ? UInt64(fields[1]) : nil
    }

    static func threadCPUNanoseconds() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }
}

/// One status line redrawn in place, only where standard output is a terminal.
struct ProgressLine {
    let enabled: Bool

    init(enabled: Bool) {
        self.enabled = enabled && isatty(STDOUT_FILENO) == 1
    }

    func show(_ text: String) {
        guard enabled else { return }
        print("\r\u{1B}[K  \(text)", terminator: "")
        fflush(nil)
    }

    func clear() {
        guard enabled else { return }
        print("\r\u{1B}[K", terminator: "")
        fflush(nil)
    }
}
