// SPDX-License-Identifier: Apache-2.0
import ArgumentParser
import AsyncJobsExamples

/// `asyncjobs soak`: long runs that check nothing is lost.
struct SoakCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "soak",
        abstract: "Soak runs: many paused jobs at once, and millions of start/finish and pause/resume cycles."
    )

    @Option(help: "Jobs paused at the same time.")
    var paused = 1_000_000

    @Option(help: "Usable stack bytes per job for the paused-jobs run.")
    var stackSize = 64 * 1024

    @Option(help: "Pooled start/finish cycles.")
    var startFinish = 10_000_000

    @Option(help: "Pause/resume cycles through a wait descriptor.")
    var pauseResume = 1_000_000

    func run() throws {
        var passed = true
        if paused > 0 {
            let report = try Soak.pausedJobs(count: paused, stackSize: stackSize)
            report.lines.forEach { print($0) }
            passed = passed && report.passed
        }
        if startFinish > 0 || pauseResume > 0 {
            let report = try Soak.cycles(startFinish: startFinish, pauseResume: max(pauseResume, 10))
            report.lines.forEach { print($0) }
            passed = passed && report.passed
        }
        print(passed ? "soak: all checks held" : "soak: a check FAILED")
        if !passed { throw ExitCode.failure }
    }
}
