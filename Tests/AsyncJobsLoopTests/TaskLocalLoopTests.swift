// SPDX-License-Identifier: Apache-2.0
// A loop's job starts with the task-local values of the code that submitted its work (as a
// task started there would), not with those of the loop's thread; values captured for work that
// never runs are released.
import AsyncJobs
import AsyncJobsLoop
import AsyncJobsTesting
import Foundation
import Synchronization
import Testing

private enum Request {
    @TaskLocal static var id: String?
    @TaskLocal static var held: Held?
}

/// Counts its live instances.
private final class Held: Sendable {
    static let live = Atomic(0)
    init() { Held.live.wrappingAdd(1, ordering: .relaxed) }
    deinit { Held.live.wrappingSubtract(1, ordering: .relaxed) }
}

@Suite(.serialized)
struct TaskLocalLoopTests {
    @Test(arguments: [JobLoop.Configuration.Notification.waitFD, .callback])
    func executeCarriesTheCallersValuesIntoTheJob(notification: JobLoop.Configuration.Notification) async throws {
        let loop = try JobLoop.spawn(configuration: .init(maxConcurrentJobs: 8, notification: notification))
        let accelerator = try SimulatedAccelerator(latency: .milliseconds(1), slots: 64)
        let seen = try await withThrowingTaskGroup(of: [String?].self) { group in
            for index in 0..<16 {
                group.addTask {
                    try await Request.$id.withValue("request-\(index)") {
                        try await loop.execute { () -> [String?] in
                            let before = Request.id
                            _ = try accelerator.perform(index)  // pauses; other requests' jobs run
                            return [before, Request.id, "request-\(index)"]
                        }
                    }
                }
            }
            var all: [[String?]] = []
            for try await one in group { all.append(one) }
            return all
        }
        #expect(seen.count == 16)
        for one in seen {
            #expect(one[0] == one[2], "the job did not start with its caller's value")
            #expect(one[1] == one[2], "the job lost its value across a pause")
        }
        loop.shutdownAndWait()
        accelerator.shutdown()
    }

    @Test func submitFromAThreadCarriesItsValuesAndWorkWithoutThemSeesNone() async throws {
        let loop = try JobLoop.spawn()
        let results = Mutex<[String?]>([])
        let latch = Latch(count: 2)
        let submitter = Thread {
            Request.$id.withValue("from-thread") {
                loop.submit({ Request.id }) { result in
                    let seen: String? = if case .success(let value) = result { value } else { "failed" }
                    results.withLock { $0.append(seen) }
                    latch.arrive()
                }
            }
            loop.submit({ Request.id }) { result in
                let seen: String? = if case .success(let value) = result { value } else { "failed" }
                results.withLock { $0.append(seen) }
                latch.arrive()
            }
        }
        submitter.start()
        await latch.wait()
        #expect(Set(results.withLock { $0 }) == Set(["from-thread", nil]))
        loop.shutdownAndWait()
    }

    @Test func valuesCapturedForWorkThatNeverStartsAreReleased() async throws {
        let loop = try JobLoop.spawn(configuration: .init(maxConcurrentJobs: 1))
        let gate = Gate()
        let engine = try OffloadEngine(workers: 1)
        let before = Held.live.load(ordering: .relaxed)
        let blocker = loop.submit({ try engine.perform { gate.waitUntilOpen() } }) { _ in }
        do {
            // Queued behind the blocker (one job at a time), then cancelled: it never starts.
            let queued = Request.$held.withValue(Held()) {
                loop.submit({ Request.held != nil }) { _ in }
            }
            guard case .accepted(let ticket) = queued else {
                Issue.record("the work was rejected")
                return
            }
            ticket.cancel()
        }
        gate.open()
        _ = blocker
        loop.shutdownAndWait()
        engine.shutdown()
        #expect(Held.live.load(ordering: .relaxed) == before, "a captured value outlived its work")
    }
}
