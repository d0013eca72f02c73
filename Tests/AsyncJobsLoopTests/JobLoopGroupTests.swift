// SPDX-License-Identifier: Apache-2.0
// Behaviour of a group of job loops: where submissions go, that a job stays on the loop that
// started it, and that execute, tickets and shutdown behave as on one loop. No timing
// assertions: waits only order the steps.
import AsyncJobs
import AsyncJobsLoop
import AsyncJobsTesting
import Foundation
import Synchronization
import Testing

@Suite(.serialized)
struct JobLoopGroupTests {
    /// The index of the group's loop whose thread runs the caller, or -1.
    private static func loopIndex(in group: JobLoopGroup) -> Int {
        group.loops.firstIndex { $0.isLoopThread } ?? -1
    }

    /// Waits until each loop of `loops` publishes `running` running jobs.
    private static func waitUntilRunning(_ loops: [JobLoop], _ running: Int) async throws {
        while loops.contains(where: { $0.statistics.runningJobs < running }) { try await Task.sleep(for: .milliseconds(1)) }
    }

    /// The CPUs this process may run on, as the kernel lists them in /proc/self/status
    /// ("Cpus_allowed_list: 0-3,8"), counted independently of the code under test.
    private static func allowedProcessors() -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed_list:") })
        else { return nil }
        var count = 0
        for range in line.dropFirst("Cpus_allowed_list:".count).split(separator: ",") {
            let bounds = range.trimmingCharacters(in: .whitespaces).split(separator: "-").compactMap { Int($0) }
            count += bounds.count == 2 ? bounds[1] - bounds[0] + 1 : 1
        }
        return count
    }

    @Test func theDefaultGroupHasOneLoopPerAvailableProcessor() throws {
        let group = try JobLoopGroup()
        #expect(JobLoopGroup.defaultLoopCount >= 1)
        if let allowed = Self.allowedProcessors() { #expect(JobLoopGroup.defaultLoopCount == allowed) }
        #expect(group.loops.count == JobLoopGroup.defaultLoopCount)
        #expect(Set(group.loops.map(ObjectIdentifier.init)).count == group.loops.count)
        group.shutdownAndWait()
    }

    @Test func aGroupOfNoLoopsIsRefused() {
        #expect(throws: JobLoopError(.setupFailed)) { _ = try JobLoopGroup(loopCount: 0) }
    }

    @Test(arguments: [JobLoop.Configuration.Notification.waitFD, .callback])
    func roundRobinGivesEveryLoopItsShareAndNoJobMovesBetweenLoops(
        notification: JobLoop.Configuration.Notification
    ) async throws {
        let group = try JobLoopGroup(loopCount: 4, configuration: .init(maxConcurrentJobs: 16, notification: notification))
        let engine = try OffloadEngine(workers: 2)
        let accelerator = try SimulatedAccelerator(latency: .microseconds(100), slots: 64)
        let count = 40
        let log = CompletionLog<[Int]>(count: count)
        for index in 0..<count {
            let submission = group.submit({ () throws -> [Int] in
                // The loop before and after each pause: a job resumes where it started.
                var seen = [Self.loopIndex(in: group)]
                for step in 0..<5 {
                    if step % 2 == 0 {
                        _ = try engine.perform { step }
                    } else {
                        _ = try accelerator.perform(step)
                    }
                    seen.append(Self.loopIndex(in: group))
                }
                return seen
            }) { log.record(index, $0) }
            guard case .accepted = submission else {
                Issue.record("submission \(index) rejected")
                return
            }
        }
        await log.latch.wait()
        var perLoop = [Int](repeating: 0, count: 4)
        for (index, results) in log.all.enumerated() {
            #expect(results.count == 1)
            guard let seen = try? results.first?.get(), let first = seen.first else {
                Issue.record("job \(index) failed: \(results)")
                continue
            }
            #expect(first >= 0)
            #expect(seen.allSatisfy { $0 == first })
            #expect(first == index % 4)
            if first >= 0 { perLoop[first] += 1 }
        }
        #expect(perLoop == [10, 10, 10, 10])
        group.shutdownAndWait()
        // Published by each loop at its last turn.
        #expect(group.statistics.completed == count)
        engine.shutdown()
        accelerator.shutdown()
    }

    @Test func executeRunsOnALoopThreadAndSpreadsTasksOverTheLoops() async throws {
        let group = try JobLoopGroup(loopCount: 3)
        let accelerator = try SimulatedAccelerator(latency: .microseconds(200), slots: 64)
        let loopsUsed = try await withThrowingTaskGroup(of: Int.self) { tasks in
            for index in 0..<30 {
                tasks.addTask {
                    try await group.execute { () throws -> Int in
                        #expect(AsyncJob.isInJob)
                        let loop = Self.loopIndex(in: group)
                        #expect(try accelerator.perform(index) == index)
                        #expect(Self.loopIndex(in: group) == loop)
                        return loop
                    }
                }
            }
            var used = Set<Int>()
            for try await loop in tasks { used.insert(loop) }
            return used
        }
        #expect(loopsUsed == [0, 1, 2])
        group.shutdownAndWait()
        accelerator.shutdown()
    }

    @Test func cancellingATaskOrATicketCancelsTheJobOnItsLoop() async throws {
        let group = try JobLoopGroup(loopCount: 2)
        let engine = try OffloadEngine(workers: 2)
        let gate = Gate()
        let started = Latch(count: 2)
        let before = liveFrameObjects()
        let task = Task {
            try await group.execute { () throws -> Int in
                let held = FrameObject(1)
                started.arrive()
                return try engine.perform { gate.waitUntilOpen(); return 0 } + held.tag
            }
        }
        let ticketResult = Mutex<Result<Int, any Error>?>(nil)
        let ticketDone = Latch(count: 1)
        let submission = group.submit({ () throws -> Int in
            let held = FrameObject(2)
            started.arrive()
            return try engine.perform { gate.waitUntilOpen(); return 0 } + held.tag
        }) { result in
            ticketResult.withLock { $0 = result }
            ticketDone.arrive()
        }
        guard case .accepted(let ticket) = submission else {
            Issue.record("rejected")
            return
        }
        await started.wait()
        task.cancel()
        ticket.cancel()
        await #expect(throws: CancellationError.self) { _ = try await task.value }
        await ticketDone.wait()
        #expect(ticketResult.withLock { $0.flatMap { loopErrorCode($0) } } == .cancelled)
        #expect(liveFrameObjects() == before)
        gate.open()
        group.shutdownAndWait()
        engine.shutdown()
    }

    @Test func aFullLoopIsPassedOverAndTheGroupRejectsOnlyWhenEveryLoopIsFull() async throws {
        let group = try JobLoopGroup(loopCount: 2, configuration: .init(maxConcurrentJobs: 1, maxQueuedWork: 1))
        let engine = try OffloadEngine(workers: 4)
        let gate = Gate()
        let log = CompletionLog<Int>(count: 4)
        let body: @Sendable () throws -> Int = {
            let loop = Self.loopIndex(in: group)
            _ = try engine.perform { gate.waitUntilOpen() }
            return loop
        }
        // One running job on each loop (turns 0 and 1).
        #expect(group.submit(body, completion: { log.record(0, $0) }).isAccepted)
        #expect(group.submit(body, completion: { log.record(1, $0) }).isAccepted)
        try await Self.waitUntilRunning(group.loops, 1)
        // Fill loop 0's queue directly; the group's next turn is loop 0, which is full.
        #expect(group.loops[0].submit(body, completion: { log.record(2, $0) }).isAccepted)
        #expect(group.submit(body, completion: { log.record(3, $0) }).isAccepted)
        // Now both queues are full.
        let rejected = group.submit(body, completion: { _ in Issue.record("a rejected submission completed") })
        guard case .rejected(let error) = rejected else {
            Issue.record("accepted with every queue full")
            return
        }
        #expect(error.code == .queueFull)
        gate.open()
        await log.latch.wait()
        let loops = log.all.map { results in results.count == 1 ? (try? results[0].get()) : nil }
        #expect(loops == [0, 1, 0, 1])
        group.shutdownAndWait()
        engine.shutdown()
    }

    @Test func leastLoadedPlacementSendsWorkToTheLessBusyLoop() async throws {
        let group = try JobLoopGroup(loopCount: 2, placement: .leastLoaded)
        let engine = try OffloadEngine(workers: 6)
        let gate = Gate()
        let count = 8
        let log = CompletionLog<Int>(count: count)
        let body: @Sendable () throws -> Int = {
            let loop = Self.loopIndex(in: group)
            _ = try engine.perform { gate.waitUntilOpen() }
            return loop
        }
        // Five jobs held on loop 0: it stays the busier loop while three more are placed.
        for index in 0..<5 { group.loops[0].submit(body) { log.record(index, $0) } }
        for index in 5..<count { #expect(group.submit(body, completion: { log.record(index, $0) }).isAccepted) }
        gate.open()
        await log.latch.wait()
        let loops = log.all.map { results in results.count == 1 ? (try? results[0].get()) : nil }
        #expect(loops == [0, 0, 0, 0, 0, 1, 1, 1])
        group.shutdownAndWait()
        engine.shutdown()
    }

    @Test func shuttingTheGroupDownEndsEveryLoopAsOneLoopWould() async throws {
        let group = try JobLoopGroup(loopCount: 3)
        let engine = try OffloadEngine(workers: 3)
        let gate = Gate()
        let count = 3
        let log = CompletionLog<Int>(count: count)
        for index in 0..<count {
            group.submit({ try engine.perform { gate.waitUntilOpen(); return index } }) { log.record(index, $0) }
        }
        try await Self.waitUntilRunning(group.loops, 1)
        group.shutdown(.cancel)
        await log.latch.wait()
        for results in log.all {
            #expect(results.count == 1)
            #expect(results.first.flatMap { loopErrorCode($0) } == .shutDown)
        }
        gate.open()
        group.shutdownAndWait()
        let late = group.submit({ 1 }) { _ in Issue.record("work accepted after shutdown completed") }
        guard case .rejected(let error) = late else {
            Issue.record("accepted after shutdown")
            return
        }
        #expect(error.code == .shutDown)
        #expect(group.statistics.runningJobs == 0)
        engine.shutdown()
    }

    @Test func shutdownAndWaitFromALoopThreadTrapsNamingTheRule() async {
        await #expect(processExitsWith: .failure) {
            let group = try JobLoopGroup(loopCount: 2)
            _ = try await group.execute { group.shutdownAndWait() }
        }
    }
}

extension JobLoop.Submission {
    var isAccepted: Bool {
        if case .accepted = self { return true }
        return false
    }
}
