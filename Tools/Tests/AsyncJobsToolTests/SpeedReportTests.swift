// SPDX-License-Identifier: Apache-2.0
// The speed report says what it measured in words a user can place, never contradicts itself,
// and marks only targets as met or not.
import AsyncJobsLoop
import AsyncJobsSpeed
import Testing

struct SpeedReportTests {
    @Test func aShareJustBelowTheTargetIsNotShownAsTheTarget() {
        #expect(SpeedReport.percent(0.8996, against: 0.9) == "89.96 %")
        #expect(SpeedReport.percent(0.89999, against: 0.9) == "89.999 %")
        #expect(SpeedReport.percent(0.9, against: 0.9) == "90.0 %")
        #expect(SpeedReport.percent(0.934, against: 0.9) == "93.4 %")
    }

    @Test func targetsReadAsWordsAndInformationRowsJudgeNothing() {
        let missed = SpeedTargets.Verdict(name: "share", measured: "89.96 %", goal: "at least 90 %", met: false)
        #expect(missed.line.hasSuffix("at least 90 %: NOT MET"))
        let met = SpeedTargets.Verdict(name: "cpu", measured: "1.1 us", goal: "at most 2 us", met: true)
        #expect(met.line.hasSuffix("at most 2 us: met"))
        let info = SpeedTargets.Verdict(information: "best rate", measured: "1,000")
        #expect(info.line.hasSuffix("(for information; no target)"))
        #expect(!info.line.contains("met"))
    }

    @Test func theTargetsHeaderDescribesWhatTheTargetsRun() {
        let options = SpeedOptions(
            jobs: 64, seconds: 1, workers: 2, notification: .waitFD, latency: .milliseconds(1), slots: 10_000,
            progress: false)
        let header = SpeedReport.targetsHeader(options).joined(separator: "\n")
        #expect(header.contains("10, 100, 1,000, 10,000 jobs"))
        #expect(header.contains("fd and with callback"))
        #expect(!header.contains("64"), "the targets do not run --jobs")
        let plain = SpeedReport.header(options, operations: [.accel], variants: [.jobs]).joined(separator: "\n")
        #expect(plain.contains("each run as jobs;"))
        #expect(!plain.contains("workers"), "the accelerator uses no engine workers")
    }

    @Test func theHeaderNamesTheWorkersScheduling() {
        var options = SpeedOptions(
            jobs: 64, seconds: 1, workers: 2, notification: .waitFD, latency: .milliseconds(1), slots: 10_000,
            progress: false)
        let batch = SpeedReport.header(options, operations: [.sha256]).joined(separator: "\n")
        #expect(batch.contains("2 engine workers (SCHED_BATCH)"), "the engine's default")
        options.workerScheduling = .normal
        let normal = SpeedReport.header(options, operations: [.sha256]).joined(separator: "\n")
        #expect(normal.contains("2 engine workers (SCHED_OTHER)"))
    }
}

struct SpeedMeterTests {
    @Test func onlyOperationsWithinTheMeasuredTimeEnterTheHistogram() {
        let meter = Meter()
        let beforeMeasuring = Clock.nanoseconds()
        meter.startMeasuring()
        // In flight when the measurement began (held up by the setup): not recorded.
        meter.record(since: beforeMeasuring)
        #expect(meter.recordedOperations == 0)
        // Begun and ended within it: recorded.
        let within = Clock.nanoseconds()
        meter.record(since: within)
        #expect(meter.recordedOperations == 1)
        // Begun within it, ended after it: not recorded.
        let late = Clock.nanoseconds()
        meter.stopMeasuring(at: late)
        while Clock.nanoseconds() == late {}
        meter.record(since: within)
        #expect(meter.recordedOperations == 1)
    }
}

struct SpeedMeterShardTests {
    @Test func eachLoopRecordsIntoItsOwnShardAndTheMeterSumsThem() {
        let meter = Meter(shards: 2)
        meter.startMeasuring()
        let start = Clock.nanoseconds()
        meter.record(since: start, shard: 0)
        meter.record(since: start, shard: 1)
        meter.record(since: start, shard: 1)
        #expect(meter.operations == 3)
        #expect(meter.recordedOperations == 3)
    }
}

struct SpeedBoundTests {
    /// A jobs run of `operations` in one second at these CPU costs per operation.
    private func run(loops: Int, operations: Int, loopCPU: Int, engineCPU: Int) -> VariantResult {
        var result = VariantResult(
            variant: .jobs, concurrency: 10_000, operations: operations, seconds: 1, p50: 1, p99: 1, p999: 1)
        result.loops = loops
        result.loopCPUNanoseconds = UInt64(operations * loopCPU)
        result.engineThreads = 1
        result.engineCPUNanoseconds = UInt64(operations * engineCPU)
        return result
    }

    @Test func theBoundIsWhatTheProcessorsAndEachThreadAllow() {
        // 2 processors shared by every thread, 600 + 200 ns per operation: 2.5 M a second.
        #expect(
            SpeedBound.operationsPerSecond(
                processors: 2, loops: 2, loopCPUPerOperation: 600, engineThreads: 1, engineCPUPerOperation: 200)
                == 2_500_000)
        // One loop thread runs on one processor at a time, however many there are.
        #expect(
            SpeedBound.operationsPerSecond(
                processors: 2, loops: 1, loopCPUPerOperation: 500, engineThreads: 1, engineCPUPerOperation: 100)
                == 2_000_000)
        // Nor can the device's one thread.
        #expect(
            SpeedBound.operationsPerSecond(
                processors: 8, loops: 8, loopCPUPerOperation: 600, engineThreads: 1, engineCPUPerOperation: 400)
                == 2_500_000)
    }

    @Test func aGroupsRowShowsTheBoundAtBothCostsBesideTheMeasuredRatio() throws {
        let one = run(loops: 1, operations: 1_600_000, loopCPU: 600, engineCPU: 200)
        let two = run(loops: 2, operations: 2_000_000, loopCPU: 800, engineCPU: 200)
        let bound = try #require(SpeedReport.groupBound(two, oneLoop: one, processors: 2))
        #expect(bound.atOneLoopCost == 2_500_000 / 1_600_000.0)
        #expect(bound.atGroupCost == 2_000_000 / 1_600_000.0)
        let options = SpeedOptions(
            jobs: 10_000, seconds: 1, workers: 2, notification: .callback, latency: .milliseconds(1), slots: 10_000,
            progress: false, loops: 2)
        let table = SpeedReport.table(.accel, results: [one, two], options: options, processors: 2)
            .joined(separator: "\n")
        #expect(table.contains("engine thread: 200 ns CPU per operation"))
        #expect(
            table.contains(
                "jobs, 2 loops: 2 processors allow at most 1.56x one loop at one loop's CPU per operation "
                    + "(loop + engine, 600 ns + 200 ns), 1.25x at this run's (800 ns + 200 ns); measured 1.25x"))
        // --targets judges the ratio and shows the bound on the next line, for information.
        let lines = SpeedTargets.evaluate(
            [TargetRun(result: one, notification: .callback), TargetRun(result: two, notification: .callback)],
            options
        ).map(\.line)
        let judged = try #require(lines.firstIndex { $0.hasPrefix("2 loops / 1 loop ops/s, callback, 10000 jobs") })
        #expect(lines[judged].hasSuffix(">= 1.50x: NOT MET"))
        #expect(lines[judged + 1].contains("processors allow it, at 1 loop's / at its own CPU per op"))
        #expect(lines[judged + 1].contains("(for information; no target)"))
        // Without the engine threads' figures there is no bound to show.
        var bare = two
        bare.engineCPUNanoseconds = nil
        #expect(SpeedReport.groupBound(bare, oneLoop: one, processors: 2) == nil)
    }
}

/// Alternating rounds: every figure of a variant comes from all its rounds, and a tail that one
/// round's stall lengthened does not decide the comparison.
struct SpeedRoundsTests {
    private func round(
        _ variant: SpeedVariant = .jobs, operations: Int, p50: UInt64, p99: UInt64, p999: UInt64, loopCPU: UInt64?
    ) -> VariantResult {
        var result = VariantResult(
            variant: variant, concurrency: 64, operations: operations, seconds: 0.5, p50: p50, p99: p99, p999: p999)
        result.loops = variant == .jobs ? 1 : nil
        result.loopCPUNanoseconds = loopCPU
        result.resumes = loopCPU.map { _ in operations }
        return result
    }

    @Test func roundsAddUpTheirCountsAndTakeTheMedianOfEachPercentile() {
        let stalled = round(operations: 1000, p50: 10, p99: 100, p999: 9000, loopCPU: 1_000_000)
        let second = round(operations: 3000, p50: 30, p99: 300, p999: 1000, loopCPU: 2_000_000)
        let third = round(operations: 2000, p50: 20, p99: 200, p999: 2000, loopCPU: 3_000_000)
        let combined = VariantResult(rounds: [stalled, second, third])
        #expect(combined.operations == 6000)
        #expect(combined.seconds == 1.5)
        #expect(combined.operationsPerSecond == 4000)
        #expect(combined.p50 == 20 && combined.p99 == 200)
        #expect(combined.p999 == 2000, "the stalled round's 9,000 does not set the p99.9")
        #expect(combined.rounds.map(\.p999) == [9000, 1000, 2000], "each round's own, in the order they ran")
        #expect(combined.loopCPUPerOperation == 1000, "CPU per operation over all the rounds")
        #expect(combined.resumes == 6000)
        // An even count: the mean of the middle two.
        #expect(VariantResult(rounds: [stalled, second]).p999 == 5000)
        #expect(VariantResult.median([UInt64.max, UInt64.max - 2]) == UInt64.max - 1, "no overflow")
        // A figure some round lacks is not made up from the others.
        let unprobed = round(operations: 1000, p50: 10, p99: 100, p999: 1000, loopCPU: nil)
        #expect(VariantResult(rounds: [second, unprobed]).loopCPUNanoseconds == nil)
        // One round is itself.
        let one = VariantResult(rounds: [second])
        #expect(one.p999 == 1000 && one.operations == 3000 && one.rounds.count == 1)
    }

    @Test func eachRoundRunsTheEntriesInTheOtherOrderThanTheRoundBefore() {
        #expect(SpeedRunner.order(of: 3, inRound: 0) == [0, 1, 2])
        #expect(SpeedRunner.order(of: 3, inRound: 1) == [2, 1, 0])
        #expect(SpeedRunner.order(of: 3, inRound: 2) == [0, 1, 2])
        #expect(SpeedRunner.order(of: 1, inRound: 1) == [0])
    }

    @Test func theReportSaysHowTheTimeWasDividedAndShowsEachRoundsTail() {
        var options = SpeedOptions(
            jobs: 64, seconds: 1, workers: 2, notification: .waitFD, latency: .milliseconds(1), slots: 10_000,
            progress: false, rounds: 3)
        #expect(SpeedReport.header(options, operations: [.accel]).joined().contains("1.0 s per variant in 3 alternating rounds"))
        #expect(SpeedReport.targetsHeader(options).joined().contains("s per run in 3 alternating rounds"))
        let sync = VariantResult(rounds: (0..<3).map { _ in
            round(.sync, operations: 10, p50: 1, p99: 1, p999: 1, loopCPU: nil)
        })
        let jobs = VariantResult(rounds: [
            round(operations: 100, p50: 1000, p99: 2000, p999: 1_500_000, loopCPU: nil),
            round(operations: 100, p50: 1000, p99: 2000, p999: 2_500_000, loopCPU: nil),
            round(operations: 100, p50: 1000, p99: 2000, p999: 3_500_000, loopCPU: nil),
        ])
        let tasks = VariantResult(rounds: [
            round(.concurrency, operations: 100, p50: 1000, p99: 2000, p999: 4_000_000, loopCPU: nil),
            round(.concurrency, operations: 100, p50: 1000, p99: 2000, p999: 5_000_000, loopCPU: nil),
            round(.concurrency, operations: 100, p50: 1000, p99: 2000, p999: 6_000_000, loopCPU: nil),
        ])
        let table = SpeedReport.table(.sha256, results: [sync, jobs, tasks], options: options).joined(separator: "\n")
        #expect(
            table.contains(
                "percentiles: the median of 3 alternating rounds; p99.9 by round: jobs 1.50 ms, 2.50 ms, 3.50 ms; "
                    + "Swift concurrency 4.00 ms, 5.00 ms, 6.00 ms"))
        // One round: the header and the table say nothing of rounds.
        options.rounds = 1
        #expect(!SpeedReport.header(options, operations: [.accel]).joined().contains("rounds"))
        let single = SpeedReport.table(
            .sha256, results: [round(operations: 100, p50: 1, p99: 2, p999: 3, loopCPU: nil)], options: options)
        #expect(!single.joined().contains("rounds"))
    }

    @Test func theTargetsPlanCoversEveryCountInBothModesAndTheTasks() {
        let options = SpeedOptions(
            jobs: 64, seconds: 1, workers: 2, notification: .waitFD, latency: .milliseconds(1), slots: 10_000,
            progress: false, loops: 2)
        let plan = SpeedTargets.plan(options)
        for notification in [JobLoop.Configuration.Notification.waitFD, .callback] {
            #expect(plan.filter { $0.variant == .jobs && $0.notification == notification && $0.loops == nil }
                .map(\.jobs) == SpeedTargets.jobCounts)
        }
        #expect(plan.filter { $0.variant == .concurrency }.map(\.jobs) == Array(SpeedTargets.jobCounts.dropFirst()))
        #expect(plan.last == SpeedMeasurement(.accel, as: .jobs, jobs: 10_000, notification: .callback, loops: 2))
    }

    @Test func aPlanMeasuredInRoundsGivesOneResultPerEntryWithEveryRound() throws {
        let options = SpeedOptions(
            jobs: 4, seconds: 0.2, workers: 1, notification: .callback, latency: .microseconds(100), slots: 16,
            progress: false, rounds: 2)
        var seen: [(Int, SpeedVariant)] = []
        let plan = [SpeedMeasurement(.accel, as: .jobs), SpeedMeasurement(.accel, as: .concurrency)]
        let results = try SpeedRunner(options: options).measureRounds(plan) { index, result in
            seen.append((index, result.variant))
        }
        #expect(seen.map(\.0) == [0, 1, 1, 0])
        #expect(seen.allSatisfy { plan[$0.0].variant == $0.1 })
        #expect(results.map(\.variant) == [.jobs, .concurrency])
        for result in results {
            #expect(result.rounds.count == 2)
            #expect(result.operations > 0 && result.error == nil)
            #expect(result.seconds > 0.19, "two rounds of (at least) 0.1 s each")
        }
    }
}
