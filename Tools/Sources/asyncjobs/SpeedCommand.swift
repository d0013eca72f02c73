// SPDX-License-Identifier: Apache-2.0
import ArgumentParser
import AsyncJobs
import AsyncJobsSpeed

/// `asyncjobs speed`: throughput and latency of offloaded operations, like `openssl speed -async_jobs`.
struct SpeedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "speed",
        abstract: "Operations per second and latency percentiles: jobs on one loop thread vs sync vs Swift concurrency.",
        discussion: """
            Each operation runs three ways for --seconds each, in --rounds alternating rounds: synchronously on one thread, as --jobs jobs \
            on one job loop thread (each pausing while the engine works), and with Swift concurrency (a task \
            per operation awaiting the same engine, --jobs in flight); --variant runs only some of them (to \
            profile one). --targets measures the project's \
            performance targets instead (accelerator runs at several job counts).
            """
    )

    enum Notify: String, ExpressibleByArgument, CaseIterable {
        case fd, callback
    }

    @Argument(help: "Operations: sha256, p256-sign, accel (default: all three).")
    var operations: [SpeedOperation] = []

    @Option(help: "Operations in flight: jobs of the loop, tasks of the Swift-concurrency variant.")
    var jobs = 64

    @Option(help: "Measured seconds per variant, over all its rounds.")
    var seconds = 1.0

    @Option(
        help: ArgumentHelp(
            "Rounds: the variants take turns this many times, each round --seconds / rounds long; ops/s counts every round, each percentile is the median of the rounds'.",
            valueName: "n"))
    var rounds = 3

    @Option(help: "Worker threads of the offload engine (sha256, p256-sign).")
    var workers = 2

    @Option(help: "How engines wake the loop's jobs: fd (eventfd + epoll) or callback.")
    var notify = Notify.fd

    @Option(help: "How the offload engine's workers are scheduled: batch (SCHED_BATCH, the engine's default: the loop's wake-ups come first) or normal.")
    var workerScheduling = WorkerSchedulingOption.batch

    @Option(
        help: ArgumentHelp(
            "Loops (threads) of the jobs variant; with more than 1, the jobs variant runs with 1, 2, ... up to this many loops and reports the scaling.",
            valueName: "n"))
    var loops = 1

    @Option(help: "Latency of the simulated accelerator, in microseconds.")
    var latencyUs = 1000

    @Option(help: "Parallel slots of the simulated accelerator.")
    var slots = 10_000

    @Option(
        name: .customLong("variant"),
        help: "Run only this variant (repeatable): sync, jobs or concurrency (default: all three, compared).")
    var variants: [SpeedVariant] = []

    @Flag(help: "Measure the performance targets (accelerator runs at 10 to 10,000 jobs, both notify modes).")
    var targets = false

    @Flag(help: "Never draw the live progress line.")
    var noProgress = false

    func validate() throws {
        guard jobs >= 1 else { throw ValidationError("--jobs must be at least 1") }
        guard seconds > 0 else { throw ValidationError("--seconds must be positive") }
        guard workers >= 1 else { throw ValidationError("--workers must be at least 1") }
        guard loops >= 1 else { throw ValidationError("--loops must be at least 1") }
        guard rounds >= 1 else { throw ValidationError("--rounds must be at least 1") }
        guard latencyUs >= 0, slots >= 1 else { throw ValidationError("--latency-us >= 0 and --slots >= 1") }
        guard !targets || variants.isEmpty else {
            throw ValidationError("--variant does not apply to --targets (which runs its own set)")
        }
    }

    func run() throws {
        let options = SpeedOptions(
            jobs: jobs, seconds: seconds, workers: workers, notification: notify == .fd ? .waitFD : .callback,
            latency: .microseconds(latencyUs), slots: slots, progress: !noProgress, loops: loops,
            workerScheduling: workerScheduling == .batch ? .batch : .normal, rounds: rounds)
        let chosen = operations.isEmpty ? SpeedOperation.allCases : operations
        let start = Machine.CPUTimes.now()
        (targets ? SpeedReport.targetsHeader(options) : SpeedReport.header(
            options, operations: chosen, variants: variants.isEmpty ? SpeedVariant.allCases : variants)).forEach {
            print($0)
        }
        Machine.warnings(since: nil).forEach { print($0) }
        // Said again at the end, where it is seen with the figures (and with the steal time).
        defer { Machine.warnings(since: start).forEach { print($0) } }
        if targets {
            let met = try SpeedTargets.run(options) { print($0) }
            if !met {
                print("some targets were NOT met")
                throw ExitCode.failure
            }
            return
        }
        let runner = SpeedRunner(options: options)
        var failed = false
        for operation in chosen {
            var plan: [SpeedMeasurement] = []
            for variant in variants.isEmpty ? SpeedVariant.allCases : variants {
                // The jobs variant at 1, 2, ... `loops` loops (one entry when `loops` is 1).
                for count in variant == .jobs ? Array(1...loops) : [1] {
                    plan.append(SpeedMeasurement(operation, as: variant, loops: count))
                }
            }
            let results = try runner.measureRounds(plan)
            failed = failed || results.contains { $0.error != nil }
            SpeedReport.table(operation, results: results, options: options).forEach { print($0) }
        }
        if failed { throw ExitCode.failure }
    }
}

extension SpeedOperation: ExpressibleByArgument {}
extension SpeedVariant: ExpressibleByArgument {}

/// `--worker-scheduling`'s values.
enum WorkerSchedulingOption: String, ExpressibleByArgument, CaseIterable {
    case normal
    case batch
}
