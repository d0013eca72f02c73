// SPDX-License-Identifier: Apache-2.0
// The threads the package starts carry their names (as ps, top, gdb and /proc show them), and
// an offload engine's workers the scheduling class asked for.
import AsyncJobs
import AsyncJobsLoop
import AsyncJobsTesting
import Foundation
import Synchronization
import Testing

/// The calling thread's name, as the kernel reports it.
private func currentThreadName() -> String {
    ((try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? "")
        .trimmingCharacters(in: .whitespacesAndNewlines)
}

/// The calling thread's scheduling policy, as /proc reports it (field 41 of its stat line:
/// 0 SCHED_OTHER, 3 SCHED_BATCH).
private func currentSchedulingPolicy() -> Int? {
    guard let stat = try? String(contentsOfFile: "/proc/thread-self/stat", encoding: .utf8),
        let close = stat.lastIndex(of: ")")
    else { return nil }
    // Fields after the command name, which is in parentheses, start with field 3.
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    return fields.count > 38 ? Int(fields[38]) : nil
}

/// Requests that reached a worker.
private final class Arrivals: Sendable {
    let count = Atomic<Int>(0)
}

@Suite struct ThreadNameTests {
    @Test(arguments: [OffloadEngine.WorkerScheduling.normal, .batch])
    func workersAreScheduledAsAsked(scheduling: OffloadEngine.WorkerScheduling) async throws {
        let loop = try JobLoop.spawn()
        let engine = try OffloadEngine(workers: 2, scheduling: scheduling)
        let policies = try await loop.execute { () -> [Int?] in
            [currentSchedulingPolicy(), try engine.perform { currentSchedulingPolicy() }]
        }
        // The loop's own thread is never changed; the workers are as asked.
        #expect(policies == [0, scheduling == .batch ? 3 : 0])
        loop.shutdownAndWait()
        engine.shutdown()
    }

    @Test func aDefaultEnginesWorkersAreBatchScheduled() async throws {
        let loop = try JobLoop.spawn()
        let engine = try OffloadEngine(workers: 2)
        // Both workers: a worker stays busy until the other has taken a request too, so the two
        // requests cannot run on the same worker.
        let arrived = Arrivals()
        let policies = try await withThrowingTaskGroup(of: Int?.self) { group in
            for _ in 0..<2 {
                group.addTask {
                    try await engine.performAsync { () -> Int? in
                        arrived.count.add(1, ordering: .relaxed)
                        while arrived.count.load(ordering: .relaxed) < 2 { sched_yield() }
                        return currentSchedulingPolicy()
                    }
                }
            }
            return try await group.reduce(into: [Int?]()) { $0.append($1) }
        }
        #expect(policies == [3, 3], "SCHED_BATCH unless asked otherwise")
        // The loop's own thread is never changed.
        #expect(try await loop.execute { currentSchedulingPolicy() } == 0)
        loop.shutdownAndWait()
        engine.shutdown()
    }

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
