// SPDX-License-Identifier: Apache-2.0
// `asyncjobs speed --targets`: the runs behind the project's performance targets (README,
// "Driving many jobs"; docs/speed.md), all on the
// simulated accelerator (1 ms latency, 10,000 slots unless told otherwise), where the device burns
// no CPU and the loop's own cost is what is left to see.
//
// - loop overhead per offloaded operation, fd notification: loop-thread CPU time per operation,
//   judged where the loop is busiest (the floor for one signal + epoll + consume is about
//   1.47 us; a loop that sleeps between events also pays a wake-up per event, shown as info);
// - job resumes per second on one thread, callback notification: resumes per second of the loop
//   thread's CPU time (its capacity on a core of its own) and per wall-clock second;
// - share of the ideal throughput min(jobs, slots) / latency, for the job counts whose ideal one
//   loop thread can drive (at most the best rate a loop with the same notification reached in
//   these runs);
// - jobs versus Swift concurrency (a task per operation) at equal concurrency, where the device
//   allows 3x at all (ideal / tasks' rate >= 3; otherwise the bound is shown as info), and their
//   tails: the jobs' p99 and p99.9 no higher than the tasks';
// - a group of loops (one per processor, when there is more than one) where one loop's thread is
//   the bottleneck (callback notification, 10,000 jobs): at least 0.75x the loop count times one
//   loop's rate (1.5x with 2 loops), with the bound the processors set beside it: the loops and
//   the device's thread share them, so at most processors / (loop + device CPU per operation).
import AsyncJobs
import AsyncJobsLoop
import AsyncJobsTesting

/// One measured run of the targets mode.
public struct TargetRun: Sendable {
    /// The measurement.
    public var result: VariantResult
    /// The notification mode (jobs variant only).
    public var notification: JobLoop.Configuration.Notification?

    /// A measured run.
    public init(result: VariantResult, notification: JobLoop.Configuration.Notification?) {
        self.result = result
        self.notification = notification
    }
}

/// The targets mode of `asyncjobs speed`.
public enum SpeedTargets {
    /// Job counts the targets mode measures.
    public static let jobCounts = [10, 100, 1000, 10_000]

    /// What the targets mode measures: the jobs at every count of ``jobCounts`` with fd and with
    /// callback notification, Swift concurrency at the same counts from 100, and (on a machine
    /// with more than one processor, or with `--loops` above 1) a group of loops at the largest
    /// count with callbacks.
    public static func plan(_ options: SpeedOptions) -> [SpeedMeasurement] {
        var plan: [SpeedMeasurement] = []
        for notification in [JobLoop.Configuration.Notification.waitFD, .callback] {
            for jobs in jobCounts { plan.append(SpeedMeasurement(.accel, as: .jobs, jobs: jobs, notification: notification)) }
        }
        for jobs in jobCounts.dropFirst() { plan.append(SpeedMeasurement(.accel, as: .concurrency, jobs: jobs)) }
        let groupLoops = max(options.loops, JobLoopGroup.defaultLoopCount)
        if groupLoops > 1 {
            plan.append(
                SpeedMeasurement(.accel, as: .jobs, jobs: jobCounts.last!, notification: .callback, loops: groupLoops))
        }
        return plan
    }

    /// Runs every measurement of the targets mode; `report` receives each line as it is ready.
    /// - Returns: whether every target was met.
    /// - Throws: if the accelerator or a loop cannot be created.
    public static func run(_ options: SpeedOptions, report: (String) -> Void) throws -> Bool {
        let runner = SpeedRunner(options: options)
        report("")
        report(
            "== targets: accel, \(Format.duration(options.latency)) latency, \(options.slots) slots, "
                + "\(Format.seconds(options.seconds)) s per run ==")
        report(
            SpeedReport.columns("run", "jobs", "ops/s", "p50", "p99", "p99.9")
                + "   ideal   loop CPU/op   resumes/s   resumes/CPU-s   engine CPU/op")
        let plan = plan(options)
        let runs = zip(plan, try runner.measureRounds(plan)).map { entry, result in
            TargetRun(result: result, notification: entry.notification)
        }
        for run in runs { report(line(run, options)) }
        let verdicts = evaluate(runs, options)
        report("")
        report("== this run against the project's performance targets ==")
        report(
            "what".padding(toLength: 84, withPad: " ", startingAt: 0) + SpeedReport.pad("measured", 14)
                + "   target")
        for verdict in verdicts { report(verdict.line) }
        return verdicts.allSatisfy(\.met)
    }

    /// One line of the comparison: a measurement with its target, or shown for information.
    public struct Verdict: Sendable {
        let name: String
        let measured: String
        /// The target in words ("at most 2 us"); nil for a figure shown for information only.
        let goal: String?
        /// Whether the target was met (true for information rows, which judge nothing).
        public let met: Bool

        /// A measurement judged against a target.
        public init(name: String, measured: String, goal: String, met: Bool) {
            self.name = name
            self.measured = measured
            self.goal = goal
            self.met = met
        }

        /// A figure that has no target of its own.
        public init(information name: String, measured: String) {
            self.name = name
            self.measured = measured
            self.goal = nil
            self.met = true
        }

        /// The report's line.
        public var line: String {
            let verdict = goal.map { "\($0): " + (met ? "met" : "NOT MET") } ?? "(for information; no target)"
            return name.padding(toLength: 84, withPad: " ", startingAt: 0) + SpeedReport.pad(measured, 14) + "   "
                + verdict
        }
    }

    static func line(_ run: TargetRun, _ options: SpeedOptions) -> String {
        let result = run.result
        let name =
            run.notification.map { SpeedRunner.label(.jobs, notification: $0, loops: result.loops ?? 1) }
            ?? SpeedRunner.label(result.variant, notification: options.notification)
        var text = SpeedReport.columns(
            name, "\(result.concurrency)", Format.count(result.operationsPerSecond), Format.latency(result.p50),
            Format.latency(result.p99), Format.latency(result.p999))
        let ideal = SpeedReport.ideal(jobs: result.concurrency, options)
        text += SpeedReport.pad(Format.percent(result.operationsPerSecond / ideal), 8)
        text += SpeedReport.pad(result.loopCPUPerOperation.map(Format.nanoseconds) ?? "-", 14)
        text += SpeedReport.pad(result.resumesPerSecond.map(Format.count) ?? "-", 12)
        text += SpeedReport.pad(result.resumesPerLoopCPUSecond.map(Format.count) ?? "-", 16)
        text += SpeedReport.pad(result.engineCPUPerOperation.map(Format.nanoseconds) ?? "-", 16)
        if let error = result.error { text += "  error: \(error)" }
        return text
    }

    /// The verdicts on `runs`, in the report's order.
    package static func evaluate(_ runs: [TargetRun], _ options: SpeedOptions) -> [Verdict] {
        var verdicts: [Verdict] = []
        let groupRuns = runs.filter { $0.result.variant == .jobs && ($0.result.loops ?? 1) > 1 }
        let jobRuns = runs.filter { $0.result.variant == .jobs && ($0.result.loops ?? 1) == 1 }
        let fdRuns = jobRuns.filter { $0.notification == .waitFD }
        let callbackRuns = jobRuns.filter { $0.notification == .callback }

        // 1. fd overhead: loop CPU per operation in the fd run where the loop did the most work
        //    (at low rates the figure also holds the idle loop's sleep and wake-up per event).
        if let busiest = fdRuns.max(by: { $0.result.operationsPerSecond < $1.result.operationsPerSecond }),
            let perOperation = busiest.result.loopCPUPerOperation
        {
            verdicts.append(
                Verdict(
                    name: "fd: loop CPU per offloaded op (busiest run: \(busiest.result.concurrency) jobs)",
                    measured: Format.nanoseconds(perOperation), goal: "at most 2 us", met: perOperation <= 2000))
            for run in fdRuns where run.result.concurrency != busiest.result.concurrency {
                verdicts.append(
                    Verdict(
                        information: "fd: loop CPU per offloaded op, \(run.result.concurrency) jobs (includes sleeping and waking)",
                        measured: run.result.loopCPUPerOperation.map(Format.nanoseconds) ?? "-"))
            }
        }
        // 2. callback resumes per second of the loop thread.
        if let best = callbackRuns.compactMap({ run in run.result.resumesPerLoopCPUSecond.map { (run, $0) } })
            .max(by: { $0.1 < $1.1 })
        {
            verdicts.append(
                Verdict(
                    name: "callback: resumes per loop-thread CPU second (\(best.0.result.concurrency) jobs)",
                    measured: "\(Format.count(best.1))", goal: "at least 1,000,000", met: best.1 >= 1_000_000))
            let wall = best.0.result.resumesPerSecond ?? 0
            verdicts.append(
                Verdict(
                    information: "callback: resumes per wall-clock second (same run; the loop shares the cores)",
                    measured: Format.count(wall)))
        }
        // 3. share of the ideal, where the ideal is within what the loop reached with the same
        //    notification (an fd loop also pays an eventfd write, an epoll event and a read per
        //    operation, so it drives fewer operations than a callback loop).
        for run in jobRuns {
            let ideal = SpeedReport.ideal(jobs: run.result.concurrency, options)
            let share = run.result.operationsPerSecond / ideal
            let notify = run.notification == .waitFD ? "fd" : "callback"
            let modeCapacity =
                jobRuns.filter { $0.notification == run.notification }.map(\.result.operationsPerSecond).max() ?? 0
            if ideal <= modeCapacity {
                verdicts.append(
                    Verdict(
                        name: "share of the device's ideal throughput, \(run.result.concurrency) jobs, \(notify)",
                        measured: Format.percent(share, against: 0.9), goal: "at least 90 %", met: share >= 0.9))
            } else {
                verdicts.append(
                    Verdict(
                        information: "share of the device's ideal throughput, \(run.result.concurrency) jobs, \(notify) "
                            + "(more than one \(notify) loop drove here)",
                        measured: Format.percent(share)))
            }
        }
        // 4. jobs versus Swift concurrency at equal concurrency.
        for tasks in runs where tasks.result.variant == .concurrency {
            for run in jobRuns where run.result.concurrency == tasks.result.concurrency {
                let ratio = run.result.operationsPerSecond / max(1, tasks.result.operationsPerSecond)
                let notify = run.notification == .waitFD ? "fd" : "callback"
                let name = "jobs (\(notify)) / Swift concurrency ops/s, \(run.result.concurrency) in flight"
                // No driver can beat the device: the best possible ratio is ideal / tasks. Where
                // that is below 3x, the target cannot be met by any loop and is shown as info,
                // with the bound (the share-of-ideal target judges the jobs there).
                let ideal = SpeedReport.ideal(jobs: run.result.concurrency, options)
                let bound = ideal / max(1, tasks.result.operationsPerSecond)
                if bound < 3 {
                    verdicts.append(
                        Verdict(
                            information: name + " (the device allows at most \(Format.ratio(bound)))",
                            measured: Format.ratio(ratio)))
                } else {
                    verdicts.append(
                        Verdict(name: name, measured: Format.ratio(ratio, against: 3), goal: "at least 3x", met: ratio >= 3))
                }
                // Tails at equal concurrency: the jobs' may not be longer than the tasks'.
                let tails = "jobs (\(notify)) / Swift concurrency p99, p99.9, \(run.result.concurrency) in flight"
                let p99 = Double(run.result.p99) / Double(max(1, tasks.result.p99))
                let p999 = Double(run.result.p999) / Double(max(1, tasks.result.p999))
                verdicts.append(
                    Verdict(
                        name: tails, measured: "\(Format.fixed(p99, 2)), \(Format.fixed(p999, 2))", goal: "<= 1, 1",
                        met: p99 <= 1 && p999 <= 1))
            }
        }
        // 5. A group of loops where one loop's thread is the bottleneck.
        for group in groupRuns {
            let loops = group.result.loops ?? 1
            guard
                let single = jobRuns.first(where: {
                    $0.notification == group.notification && $0.result.concurrency == group.result.concurrency
                })
            else { continue }
            let ratio = group.result.operationsPerSecond / max(1, single.result.operationsPerSecond)
            let goal = 0.75 * Double(loops)
            verdicts.append(
                Verdict(
                    name: "\(loops) loops / 1 loop ops/s, callback, \(group.result.concurrency) jobs",
                    measured: Format.ratio(ratio), goal: ">= \(Format.ratio(goal))", met: ratio >= goal))
            // What the processors allow, beside it: whether a shortfall is the loops' or the
            // machine's (the device's thread takes its share of the same processors).
            if let bound = SpeedReport.groupBound(group.result, oneLoop: single.result, processors: SpeedBound.processors) {
                verdicts.append(
                    Verdict(
                        information: "  what \(bound.processors) processors allow it, at 1 loop's / at its own CPU per op",
                        measured: "\(Format.ratio(bound.atOneLoopCost)) / \(Format.ratio(bound.atGroupCost))"))
            }
        }
        for notification in [JobLoop.Configuration.Notification.waitFD, .callback] {
            let best = jobRuns.filter { $0.notification == notification }.map(\.result.operationsPerSecond).max() ?? 0
            let notify = notification == .waitFD ? "fd" : "callback"
            verdicts.append(
                Verdict(information: "best rate one loop thread reached, \(notify) (ops/s)", measured: Format.count(best)))
        }
        return verdicts
    }
}
