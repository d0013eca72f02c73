// SPDX-License-Identifier: Apache-2.0
// The manual pages' examples print exactly their expected output.
import AsyncJobs
import AsyncJobsExamples
import Synchronization
import Testing

/// Collects the lines an example prints.
final class Transcript: Sendable {
    private let storage = Mutex<[String]>([])
    var lines: [String] { storage.withLock { $0 } }
    func append(_ line: String) { storage.withLock { $0.append(line) } }
}

@Suite("Examples")
struct ExampleTests {
    @Test func firstPageExamplePrintsThePagesExpectedOutput() {
        let transcript = Transcript()
        let status = ManPageExamples.firstDesign(output: transcript.append)
        #expect(status == 0)
        #expect(transcript.lines == ManPageExamples.firstDesignTranscript)
        #expect(transcript.lines == [
            "Starting...",
            "Executing within a job",
            "Passed in message is: Hello world!",
            "Job was paused",
            "Waiting for the job to be woken up",
            "Resumed the job after a pause",
            "Job finished with return value 1",
            "Finishing",
        ])
        #expect(JobPool.statistics == nil)
    }

    @Test func waitContextExamplePrintsItsTranscript() {
        let transcript = Transcript()
        let status = WaitContextExample.run(output: transcript.append)
        #expect(status == 0)
        #expect(transcript.lines == WaitContextExample.transcript)
        #expect(JobPool.statistics == nil)
    }
}
