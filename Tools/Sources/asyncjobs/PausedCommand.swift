// SPDX-License-Identifier: Apache-2.0
import ArgumentParser
import AsyncJobsExamples

/// `asyncjobs paused`: the paused jobs of a running loop.
struct PausedCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "paused",
        abstract: "Run a job loop whose jobs wait on a slow device, and list its paused jobs: for how long, how often, stack use, backtrace."
    )

    @Option(help: "Requests served at once (one job each).")
    var requests = 4

    @Option(help: "Device calls per request (each pauses its job).")
    var calls = 3

    @Option(help: "Milliseconds per device call.")
    var latency = 200

    func run() async throws {
        let status = try await PausedJobsDemo.run(
            requests: requests, calls: calls, latency: .milliseconds(latency), output: { print($0) })
        if status != 0 { throw ExitCode(status) }
    }
}
