// SPDX-License-Identifier: Apache-2.0
// What `asyncjobs speed` prints: a table per operation (sync, jobs, Swift concurrency, with
// ops/s and latency percentiles), and in `--targets` mode the project's performance targets
// with what this run measured; warnings when the machine was too busy for the figures to hold.
import AsyncJobs
import Foundation

/// Formats measurements as the lines `asyncjobs speed` prints.
public enum SpeedReport {
    /// The run's heading: what it runs, on which machine.
    public static func header(
        _ options: SpeedOptions, operations: [SpeedOperation], variants: [SpeedVariant] = SpeedVariant.allCases
    ) -> [String] {
        let notify = options.notification == .waitFD ? "fd (eventfd + epoll)" : "callback"
        var settings = ["\(options.jobs) in flight", "notify \(notify)", "\(Format.seconds(options.seconds)) s per variant\(inRounds(options))"]
        if operations.contains(where: { $0 != .accel }) { settings.insert("\(options.workers) engine workers\(options.workerScheduling == .batch ? " (SCHED_BATCH)" : " (SCHED_OTHER)")", at: 1) }
        if options.loops > 1 { settings.insert("1 to \(options.loops) loops", at: 1) }
        if operations.contains(.accel) {
            settings.append("accelerator \(Format.duration(options.latency)) latency, \(options.slots) slots")
        }
        return [
            "asyncjobs speed: \(operations.map(\.rawValue).joined(separator: ", ")), each run as "
                + variants.map { $0 == .concurrency ? "Swift concurrency" : $0.rawValue }.joined(separator: ", ")
                + "; " + settings.joined(separator: ", "),
            "machine: \(Machine.description)",
        ]
    }

    /// The heading of `--targets`, which runs its own set of measurements.
    public static func targetsHeader(_ options: SpeedOptions) -> [String] {
        [
            "asyncjobs speed --targets: the simulated accelerator (\(Format.duration(options.latency)) latency, "
                + "\(options.slots) slots) driven by one job loop at "
                + SpeedTargets.jobCounts.map { Format.count(Double($0)) }.joined(separator: ", ")
                + " jobs with fd and with callback notification, and by Swift concurrency tasks; "
                + "\(Format.seconds(options.seconds)) s per run\(inRounds(options))",
            "machine: \(Machine.description)",
        ]
    }

    /// How the measured time is divided (" in 3 alternating rounds"), or nothing for one round.
    static func inRounds(_ options: SpeedOptions) -> String {
        options.rounds > 1 ? " in \(options.rounds) alternating rounds" : ""
    }

    /// With more than one round: what the table's percentiles are, and each round's p99.9 of the
    /// compared variants (the jobs and Swift concurrency), which shows how much a tail moved
    /// between rounds; nil for one round.
    static func roundsLine(_ results: [VariantResult]) -> String? {
        let compared = results.filter { $0.variant != .sync && $0.rounds.count > 1 }
        guard let first = compared.first else { return nil }
        let jobRuns = results.filter { $0.variant == .jobs }.count
        let each = compared.map { result in
            let name =
                switch result.variant {
                case .jobs: jobRuns > 1 ? "jobs, \(result.loops ?? 1) loop\((result.loops ?? 1) == 1 ? "" : "s")" : "jobs"
                case .concurrency: "Swift concurrency"
                case .sync: "sync"
                }
            return "\(name) " + result.rounds.map { Format.latency($0.p999) }.joined(separator: ", ")
        }
        return "percentiles: the median of \(first.rounds.count) alternating rounds; p99.9 by round: "
            + each.joined(separator: "; ")
    }

    /// The table of one operation's variants; a group's bound assumes `processors`.
    public static func table(
        _ operation: SpeedOperation, results: [VariantResult], options: SpeedOptions,
        processors: Int = SpeedBound.processors
    ) -> [String] {
        var lines = ["", "== \(operation.rawValue): \(operation.summary) =="]
        if operation == .accel {
            lines.append(
                "accelerator: \(Format.duration(options.latency)) latency, \(options.slots) slots; ideal "
                    + "min(jobs, slots) / latency = \(Format.count(ideal(jobs: options.jobs, options))) ops/s")
        }
        lines.append(columns("variant", "in flight", "ops/s", "p50", "p99", "p99.9"))
        for result in results {
            lines.append(
                columns(
                    SpeedRunner.label(result.variant, notification: options.notification, loops: result.loops ?? 1),
                    "\(result.concurrency)",
                    Format.count(result.operationsPerSecond), Format.latency(result.p50), Format.latency(result.p99),
                    Format.latency(result.p999)))
            if let error = result.error { lines.append("  error: \(error)") }
        }
        if let rounds = roundsLine(results) { lines.append(rounds) }
        let jobRuns = results.filter { $0.variant == .jobs }
        let oneLoop = jobRuns.first { ($0.loops ?? 1) == 1 }
        for jobs in jobRuns {
            let loops = jobs.loops ?? 1
            let prefix = jobRuns.count > 1 ? "jobs, \(loops) loop\(loops == 1 ? "" : "s")" : "jobs"
            var comparisons: [String] = []
            if let tasks = results.first(where: { $0.variant == .concurrency }), tasks.operationsPerSecond > 0 {
                comparisons.append(
                    "\(Format.ratio(jobs.operationsPerSecond / tasks.operationsPerSecond)) Swift concurrency")
            }
            if let sync = results.first(where: { $0.variant == .sync }), sync.operationsPerSecond > 0 {
                comparisons.append("\(Format.ratio(jobs.operationsPerSecond / sync.operationsPerSecond)) sync")
            }
            if let oneLoop, loops > 1, oneLoop.operationsPerSecond > 0 {
                comparisons.append("\(Format.ratio(jobs.operationsPerSecond / oneLoop.operationsPerSecond)) one loop")
            }
            if !comparisons.isEmpty { lines.append("\(prefix): " + comparisons.joined(separator: ", ")) }
            if let cpu = jobs.loopCPUPerOperation, let resumes = jobs.resumesPerSecond {
                var line =
                    (comparisons.isEmpty && jobRuns.count > 1 ? "\(prefix): " : "")
                    + "\(loops == 1 ? "loop thread" : "loop threads"): \(Format.nanoseconds(cpu)) CPU per operation, "
                    + "\(Format.count(resumes)) resumes/s"
                if let wait = jobs.loopWaitShare {
                    line += ", runnable but waiting for a CPU \(Format.percent(wait)) of the time"
                }
                lines.append(line)
            }
            if let cpu = jobs.engineCPUPerOperation, let threads = jobs.engineThreads, threads > 0 {
                var line =
                    "\(threads == 1 ? "engine thread" : "\(threads) engine threads"): "
                    + "\(Format.nanoseconds(cpu)) CPU per operation"
                if let wait = jobs.engineWaitShare {
                    line += ", runnable but waiting for a CPU \(Format.percent(wait)) of the time"
                }
                lines.append(line)
            }
            if let oneLoop, loops > 1, let bound = groupBound(jobs, oneLoop: oneLoop, processors: processors) {
                lines.append(
                    "\(prefix): \(bound.processors) processors allow at most \(Format.ratio(bound.atOneLoopCost)) one loop "
                        + "at one loop's CPU per operation (loop + engine, \(bound.oneLoopCost)), "
                        + "\(Format.ratio(bound.atGroupCost)) at this run's (\(bound.groupCost)); measured "
                        + Format.ratio(jobs.operationsPerSecond / oneLoop.operationsPerSecond))
            }
            if operation == .accel {
                let efficiency = jobs.operationsPerSecond / ideal(jobs: jobs.concurrency, options)
                lines.append("jobs reach \(Format.percent(efficiency)) of the ideal")
            }
        }
        return lines
    }

    /// What the processors allow a group of loops, against one loop's measured throughput.
    public struct GroupBound: Sendable {
        /// The processors the bound assumes.
        public var processors: Int
        /// The group's bound over one loop's throughput, if each operation cost what it cost on
        /// one loop (no cross-core cost).
        public var atOneLoopCost: Double
        /// The same at the CPU per operation the group's run measured.
        public var atGroupCost: Double
        /// One loop's CPU per operation, loop thread + engine threads, as printed ("571 ns + 207 ns").
        public var oneLoopCost: String
        /// The group's, likewise.
        public var groupCost: String
    }

    /// The most a group's run could reach over one loop's on `processors` processors (see
    /// ``SpeedBound``), at one loop's and at the group's own CPU per operation; nil without the
    /// engine threads' figures.
    public static func groupBound(_ group: VariantResult, oneLoop: VariantResult, processors: Int) -> GroupBound? {
        guard oneLoop.operationsPerSecond > 0, let oneLoopCPU = oneLoop.loopCPUPerOperation,
            let oneEngineCPU = oneLoop.engineCPUPerOperation, let groupLoopCPU = group.loopCPUPerOperation,
            let groupEngineCPU = group.engineCPUPerOperation, let threads = group.engineThreads
        else { return nil }
        let loops = group.loops ?? 1
        let atOne = SpeedBound.operationsPerSecond(
            processors: processors, loops: loops, loopCPUPerOperation: oneLoopCPU, engineThreads: threads,
            engineCPUPerOperation: oneEngineCPU)
        let atGroup = SpeedBound.operationsPerSecond(
            processors: processors, loops: loops, loopCPUPerOperation: groupLoopCPU, engineThreads: threads,
            engineCPUPerOperation: groupEngineCPU)
        return GroupBound(
            processors: processors, atOneLoopCost: atOne / oneLoop.operationsPerSecond,
            atGroupCost: atGroup / oneLoop.operationsPerSecond,
            oneLoopCost: "\(Format.nanoseconds(oneLoopCPU)) + \(Format.nanoseconds(oneEngineCPU))",
            groupCost: "\(Format.nanoseconds(groupLoopCPU)) + \(Format.nanoseconds(groupEngineCPU))")
    }

    /// A share as the targets show it: as many decimals as it takes not to read as `threshold`
    /// when it is below it.
    public static func percent(_ value: Double, against threshold: Double) -> String {
        Format.percent(value, against: threshold)
    }

    /// Ideal accelerator throughput: min(jobs, slots) / latency, in operations per second.
    public static func ideal(jobs: Int, _ options: SpeedOptions) -> Double {
        Double(min(jobs, options.slots)) / Format.secondsValue(options.latency)
    }

    static func columns(_ name: String, _ flight: String, _ rate: String, _ p50: String, _ p99: String, _ p999: String)
        -> String
    {
        name.padding(toLength: 40, withPad: " ", startingAt: 0) + pad(flight, 9) + pad(rate, 13) + pad(p50, 11)
            + pad(p99, 11) + pad(p999, 11)
    }

    static func pad(_ text: String, _ width: Int) -> String {
        String(repeating: " ", count: max(1, width - text.count)) + text
    }
}

/// Number formatting for the report.
enum Format {
    static func count(_ value: Double) -> String {
        guard value.isFinite else { return "-" }
        let rounded = Int(value.rounded())
        var digits = String(abs(rounded))
        var groups: [String] = []
        while digits.count > 3 {
            groups.insert(String(digits.suffix(3)), at: 0)
            digits.removeLast(3)
        }
        groups.insert(digits, at: 0)
        return (rounded < 0 ? "-" : "") + groups.joined(separator: ",")
    }

    static func fixed(_ value: Double, _ decimals: Int) -> String {
        String(format: "%.\(decimals)f", value)
    }

    static func seconds(_ value: Double) -> String { fixed(value, value < 10 ? 1 : 0) }

    static func nanoseconds(_ value: Double) -> String {
        if value < 1000 { return "\(fixed(value, 0)) ns" }
        if value < 1_000_000 { return "\(fixed(value / 1000, 2)) us" }
        return "\(fixed(value / 1_000_000, 2)) ms"
    }

    static func latency(_ value: UInt64) -> String {
        let value = Double(value)
        if value < 1_000_000 { return "\(fixed(value / 1000, 1)) us" }
        return "\(fixed(value / 1_000_000, 2)) ms"
    }

    static func ratio(_ value: Double) -> String { "\(fixed(value, 2))x" }

    static func percent(_ value: Double) -> String { "\(fixed(value * 100, 1)) %" }

    /// `value` with as many decimals as it takes not to read as `threshold` when it is below it
    /// (89.96 % is not shown as 90.0 % next to a target of 90 %).
    static func percent(_ value: Double, against threshold: Double) -> String {
        "\(precise(value * 100, below: threshold * 100)) %"
    }

    /// `ratio`, likewise.
    static func ratio(_ value: Double, against threshold: Double) -> String { "\(precise(value, below: threshold))x" }

    private static func precise(_ value: Double, below threshold: Double) -> String {
        for decimals in (value >= 10 ? 1 : 2)...4 {
            let text = fixed(value, decimals)
            if value >= threshold || Double(text)! < threshold { return text }
        }
        return "< " + fixed(threshold, 4)
    }

    static func secondsValue(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }

    static func duration(_ duration: Duration) -> String { nanoseconds(secondsValue(duration) * 1e9) }
}

/// The machine, for the report's heading, and whether it is quiet enough for the figures to hold.
public enum Machine {
    static var description: String {
        var model = "unknown CPU"
        if let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
            let line = info.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
            let colon = line.firstIndex(of: ":")
        {
            model = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let load = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").first ?? "?"
        return "\(model), \(cores) cores, load \(load)"
    }
}

extension Machine {
    /// The processors' time counters of /proc/stat (all processors), in clock ticks.
    public struct CPUTimes: Sendable {
        /// Time stolen by the hypervisor for other guests.
        public var steal: UInt64
        /// All time counted.
        public var total: UInt64

        /// Now; nil where /proc/stat cannot be read.
        public static func now() -> CPUTimes? {
            guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
                let line = text.split(separator: "\n").first, line.hasPrefix("cpu ")
            else { return nil }
            // user nice system idle iowait irq softirq steal (guest time is already in user).
            let fields = line.split(separator: " ").dropFirst().prefix(8).compactMap { UInt64($0) }
            guard fields.count == 8 else { return nil }
            return CPUTimes(steal: fields[7], total: fields.reduce(0, +))
        }
    }

    /// The 1-minute load average, or nil.
    static var loadAverage: Double? {
        (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").first.flatMap {
            Double($0)
        }
    }

    /// Warnings about a machine too busy for this run's figures to be trusted: a load average
    /// above the number of cores (other processes compete for them: the loop's figures can fall
    /// by half), or more than 5 % of the CPU time stolen by the hypervisor since `start`.
    public static func warnings(since start: CPUTimes?) -> [String] {
        var warnings: [String] = []
        let cores = ProcessInfo.processInfo.activeProcessorCount
        if let load = loadAverage, load > Double(cores) {
            warnings.append(
                "warning: the machine is busy (load average \(Format.fixed(load, 1)) on \(cores) cores): other "
                    + "processes take CPU time from these runs, so their figures can be far lower (half, or less) "
                    + "than on a quiet machine; do not compare them with other runs")
        }
        if let start, let end = CPUTimes.now(), end.total > start.total {
            let share = Double(end.steal &- start.steal) / Double(end.total - start.total)
            if share > 0.05 {
                warnings.append(
                    "warning: the hypervisor took \(Format.percent(share)) of the CPU time during these runs "
                        + "(steal time, /proc/stat): the figures understate what this code does on a machine of its own")
            }
        }
        return warnings
    }
}
