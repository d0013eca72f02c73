// SPDX-License-Identifier: Apache-2.0
import ArgumentParser
import AsyncJobsExamples

@main
struct AsyncJobsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "asyncjobs",
        abstract: "Stackful jobs that pause and resume, with OpenSSL's ASYNC semantics.",
        subcommands: [Example.self, PausedCommand.self, SoakCommand.self, SpeedCommand.self]
    )
}

/// `asyncjobs example`: the manual pages' example programs.
struct Example: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the manual pages' example: the first design's, or with --wait-ctx the released design's."
    )

    @Flag(name: .customLong("wait-ctx"), help: "Show wait contexts: an engine with one fd per context, and the callback path.")
    var waitContext = false

    func run() throws {
        let output: @Sendable (String) -> Void = { line in print(line) }
        let status = waitContext ? WaitContextExample.run(output: output) : ManPageExamples.firstDesign(output: output)
        if status != 0 { throw ExitCode(status) }
    }
}
