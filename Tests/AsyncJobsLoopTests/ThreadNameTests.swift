// SPDX-License-Identifier: Apache-2.0
// The threads the package starts carry their names (as ps, top, gdb and /proc show them).
import AsyncJobs
import AsyncJobsLoop
import AsyncJobsTesting
import Foundation
import Testing

/// The calling thread's name, as the kernel reports it.
private func currentThreadName() -> String {
    ((try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? "")
        .trimmingCharacters(in: .whitespacesAndNewlines)
}

@Suite struct ThreadNameTests {
    @Test func loopAndWorkerThreadsAreNamed() async throws {
        let loop = try JobLoop.spawn()
        let engine = try OffloadEngine(workers: 1)
        let names = try await loop.execute { () -> [String] in
            [currentThreadName(), try engine.perform { currentThreadName() }]
        }
        #expect(names == ["aj-job-loop", "aj-offload"])
        loop.shutdownAndWait()
        engine.shutdown()
    }
}
