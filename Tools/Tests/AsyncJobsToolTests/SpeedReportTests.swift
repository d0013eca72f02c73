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
