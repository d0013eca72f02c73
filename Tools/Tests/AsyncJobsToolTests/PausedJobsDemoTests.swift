// SPDX-License-Identifier: Apache-2.0
// `asyncjobs paused` lists each request's paused job with its pauses, stack and backtrace.
import AsyncJobsExamples
import Synchronization
import Testing

struct PausedJobsDemoTests {
    @Test func theDemoListsEveryPausedRequestWithItsPausesAndFrames() async throws {
        let lines = Mutex<[String]>([])
        let status = try await PausedJobsDemo.run(requests: 3, calls: 3, latency: .milliseconds(100)) { line in
            lines.withLock { $0.append(line) }
        }
        #expect(status == 0)
        let text = lines.withLock { $0.joined(separator: "\n") }
        #expect(text.contains("paused jobs of a loop serving 3 requests"))
        #expect(text.contains(" pauses, stack") || text.contains(" pause, stack"), "\(text)")
        #expect(text.contains("KiB used of 64 KiB (guard page)"))
        #expect(text.contains("3 of 3 requests completed"))
    }
}
