// SPDX-License-Identifier: Apache-2.0
// The runner on its own: jobs on the event loop's thread, both notification modes, many jobs
// paused at once, errors, shutdown with paused jobs.
import AsyncJobs
import AsyncJobsLoop
import AsyncJobsTesting
import AsyncJobsNIO
import Foundation
import NIOCore
import NIOPosix
import Synchronization
import Testing

private enum RequestContext {
    @TaskLocal static var id: String?
}

@Suite struct EventLoopJobRunnerTests {
    @Test func theWatcherThreadCarriesItsNameInTheKernel() async throws {
        let watcher = try DescriptorWatcher()
        defer { watcher.shutdown() }
        // The thread names itself as it starts: wait for it (bounded), then read what `top -H`
        // and `perf` read.
        var names: [String] = []
        for _ in 0..<500 {
            names = threadNames()
            if names.contains("aj-nio-watcher") { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(names.contains("aj-nio-watcher"))
    }

    @Test(arguments: [EventLoopJobRunner.Notification.callback, .waitFD])
    func aJobStartsWithItsSubmittersTaskLocalValues(notification: EventLoopJobRunner.Notification) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let runner = try EventLoopJobRunner(eventLoop: group.next(), notification: notification)
        let accelerator = try SimulatedAccelerator(latency: .microseconds(200), slots: 64)
        let futures = (0..<32).map { index in
            RequestContext.$id.withValue("request-\(index)") {
                runner.submit { () throws -> [String?] in
                    let before = RequestContext.id
                    _ = try accelerator.perform(index)  // pauses while the other jobs run
                    return [before, RequestContext.id]
                }
            }
        }
        for (index, future) in futures.enumerated() {
            #expect(try await future.get() == ["request-\(index)", "request-\(index)"])
        }
        try await runner.shutdown().get()
        accelerator.shutdown()
        try await group.shutdownGracefully()
    }

    @Test(arguments: [EventLoopJobRunner.Notification.callback, .waitFD])
    func manyJobsPausedInAnEngineEachCompleteWithTheirOwnValueOnTheLoop(
        notification: EventLoopJobRunner.Notification
    ) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let runner = try EventLoopJobRunner(eventLoop: loop, notification: notification)
        let engine = try OffloadEngine(workers: 2)
        let accelerator = try SimulatedAccelerator(latency: .microseconds(200), slots: 64)
        let count = 500
        let futures = (0..<count).map { index in
            runner.submit { () throws -> Int in
                precondition(loop.inEventLoop, "a job ran off the event loop")
                let doubled = try engine.perform { index * 2 }
                let echoed = try accelerator.perform(doubled)
                precondition(loop.inEventLoop, "a job resumed off the event loop")
                return echoed + 1
            }
        }
        for (index, future) in futures.enumerated() {
            #expect(try await future.get() == index * 2 + 1)
        }
        #expect(try await loop.submit { runner.jobsInFlight }.get() == 0)
        try await runner.shutdown().get()
        engine.shutdown()
        accelerator.shutdown()
        try await group.shutdownGracefully()
    }

    /// A server with a loop per core runs a runner per loop, the runners sharing one device and
    /// one engine: every job starts, pauses and resumes on its own runner's loop, never another's.
    @Test(arguments: [EventLoopJobRunner.Notification.callback, .waitFD])
    func runnersOfTwoLoopsSharingADeviceKeepEachJobOnItsOwnLoop(
        notification: EventLoopJobRunner.Notification
    ) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let loops = Array(group.makeIterator())
        #expect(loops.count == 2)
        let runners = try loops.map { try EventLoopJobRunner(eventLoop: $0, notification: notification) }
        let engine = try OffloadEngine(workers: 2)
        let accelerator = try SimulatedAccelerator(latency: .microseconds(200), slots: 64)
        let count = 200
        let futures = (0..<count).map { index in
            let loop = loops[index % 2]
            return runners[index % 2].submit { () throws -> [Bool] in
                let started = loop.inEventLoop
                let echoed = try accelerator.perform(index)
                let afterDevice = loop.inEventLoop
                let doubled = try engine.perform { echoed * 2 }
                return [started, afterDevice, loop.inEventLoop, doubled == index * 2]
            }
        }
        for future in futures {
            #expect(try await future.get() == [true, true, true, true])
        }
        for (loop, runner) in zip(loops, runners) {
            #expect(try await loop.submit { runner.jobsInFlight }.get() == 0)
            try await runner.shutdown().get()
        }
        engine.shutdown()
        accelerator.shutdown()
        try await group.shutdownGracefully()
    }

    /// A job may set its own callback on the wait context it runs with; once it ends, the slot's
    /// next job must be woken the runner's way again (engines call a set callback first).
    @Test(arguments: [EventLoopJobRunner.Notification.callback, .waitFD])
    func aCallbackAJobSetsEndsWithTheJob(notification: EventLoopJobRunner.Notification) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let runner = try EventLoopJobRunner(eventLoop: group.next(), notification: notification)
        let accelerator = try SimulatedAccelerator(latency: .microseconds(200), slots: 4)
        let own = Atomic(0)
        // One job at a time, so that every job runs on the same slot.
        let first = try await runner.submit { () throws -> Int in
            AsyncJob.currentWaitContext?.callback = { own.wrappingAdd(1, ordering: .relaxed) }
            return 1
        }.get()
        #expect(first == 1)
        let second = runner.submit { () throws -> Int in try accelerator.perform(2) }
        // A future's `get` does not end on cancellation: after 10 s, shutting the runner down
        // cancels a job left paused, which fails the future, so a failure reports, not hangs.
        let resumedInTime = try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                _ = try? await second.get()
                return true
            }
            group.addTask {
                try await Task.sleep(for: .seconds(10))
                return false
            }
            let first = try await group.next() ?? false
            if !first { try await runner.shutdown().get() }
            group.cancelAll()
            return first
        }
        #expect(resumedInTime, "the second job was never resumed")
        if resumedInTime { #expect(try await second.get() == 2) }
        #expect(own.load(ordering: .relaxed) == 0)
        try await runner.shutdown().get()
        accelerator.shutdown()
        try await group.shutdownGracefully()
    }

    @Test func errorsThrownInAJobFailItsFuture() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let runner = try EventLoopJobRunner(eventLoop: group.next())
        let engine = try OffloadEngine(workers: 1)
        struct Refused: Error {}
        await #expect(throws: Refused.self) {
            try await runner.submit { () throws -> Int in try engine.perform { throw Refused() } }.get()
        }
        try await runner.shutdown().get()
        engine.shutdown()
        try await group.shutdownGracefully()
    }

    @Test(arguments: [EventLoopJobRunner.Notification.callback, .waitFD])
    func shutdownCancelsPausedJobsAndRejectsNewWork(notification: EventLoopJobRunner.Notification) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let runner = try EventLoopJobRunner(eventLoop: loop, notification: notification)
        let engine = try OffloadEngine(workers: 1)
        let gate = Gate()
        let started = Atomic(0)
        let futures = (0..<4).map { index in
            runner.submit { () throws -> Int in
                started.wrappingAdd(1, ordering: .relaxed)
                return try engine.perform {
                    gate.waitUntilOpen()
                    return index
                }
            }
        }
        while started.load(ordering: .relaxed) < 4 { try await Task.sleep(for: .milliseconds(2)) }
        try await runner.shutdown().get()
        for future in futures {
            await #expect(throws: EventLoopJobRunner.Failure.cancelled) { try await future.get() }
        }
        await #expect(throws: EventLoopJobRunner.Failure.shutDown) {
            try await runner.submit { 1 }.get()
        }
        // The abandoned work still runs on the worker; its late completion announces nothing.
        gate.open()
        engine.shutdown()
        try await group.shutdownGracefully()
    }
}

/// The kernel's names of this process's threads (`/proc/self/task/*/comm`).
private func threadNames() -> [String] {
    guard let tasks = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task") else { return [] }
    return tasks.compactMap { task in
        (try? String(contentsOfFile: "/proc/self/task/\(task)/comm", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
