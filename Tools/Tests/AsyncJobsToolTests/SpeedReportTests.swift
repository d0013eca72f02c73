// SPDX-License-Identifier: Apache-2.0
// The speed report says what it measured in words a user can place, never contradicts itself,
// and marks only targets as met or not.
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
