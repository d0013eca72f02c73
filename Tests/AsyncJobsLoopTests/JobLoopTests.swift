// SPDX-License-Identifier: Apache-2.0
// Behaviour of the job loop, the offload engine, the simulated accelerator and the async bridge.
// No timing assertions: latencies only shape the interleavings.
import AsyncJobs
import AsyncJobsLoop
import AsyncJobsTesting
import Foundation
import SystemPackage
import Synchronization
import Testing

@Suite(.serialized)
struct JobLoopTests {
    // MARK: Queueing and engines

    @Test(arguments: [JobLoop.Configuration.Notification.waitFD, .callback])
    func workBeyondTheJobLimitWaitsInTheQueueAndAllCompletes(notification: JobLoop.Configuration.Notification) async throws {
        let loop = try JobLoop.spawn(configuration: .init(maxConcurrentJobs: 4, notification: notification))
        let accelerator = try SimulatedAccelerator(latency: .milliseconds(1), slots: 64)
        let concurrent = Atomic(0)
        let peak = Atomic(0)
        let count = 200
        let log = CompletionLog<Int>(count: count)
        for index in 0..<count {
            let submission = loop.submit({
                let now = concurrent.wrappingAdd(1, ordering: .relaxed).newValue
                peak.max(now, ordering: .relaxed)
                defer { concurrent.wrappingSubtract(1, ordering: .relaxed) }
                return try accelerator.perform(index * 3)
            }) { log.record(index, $0) }
            guard case .accepted = submission else { Issue.record("rejected \(index)"); return }
        }
        await log.latch.wait()
        for (index, results) in log.all.enumerated() {
            #expect(results.count == 1)
            #expect((try? results.first?.get()) == index * 3)
        }
        let peakValue = peak.load(ordering: .relaxed)
        #expect(peakValue == 4)
        loop.shutdownAndWait()
        accelerator.shutdown()
    }

    @Test func fdModeEngineUsesOneWatchedDescriptorPerWaitContext() async throws {
        let loop = try JobLoop.spawn(configuration: .init(maxConcurrentJobs: 8, notification: .waitFD))
        let engine = try OffloadEngine(workers: 2)
        let count = 64
        let log = CompletionLog<Int>(count: count)
        let sawDescriptor = Atomic(false)
        for index in 0..<count {
            loop.submit({
                var sum = 0
                for step in 0..<10 {
                    sum += try engine.perform { index * 100 + step }
                    if let context = AsyncJob.currentWaitContext, context.waitFD(forKey: engine.key) != nil {
                        #expect(context.waitFDCount == 1)
                        sawDescriptor.store(true, ordering: .relaxed)
                    }
                }
                return sum
            }) { log.record(index, $0) }
        }
        await log.latch.wait()
        for (index, results) in log.all.enumerated() {
            #expect(results.count == 1)
            #expect((try? results.first?.get()) == index * 1000 + 45)
        }
        let saw = sawDescriptor.load(ordering: .relaxed)
        #expect(saw)
        let watched = loop.statistics.watchedDescriptors
        #expect(watched >= 1 && watched <= 8)
        loop.shutdownAndWait()
        engine.shutdown()
    }

    @Test func callbackModeEngineNeedsNoDescriptorsAndSetsTheStatus() async throws {
        let loop = try JobLoop.spawn(configuration: .init(maxConcurrentJobs: 8, notification: .callback))
        let engine = try OffloadEngine(workers: 2)
        let count = 64
        let log = CompletionLog<Int>(count: count)
        for index in 0..<count {
            loop.submit({
                var sum = 0
                for step in 0..<10 { sum += try engine.perform { index + step } }
                let context = AsyncJob.currentWaitContext
                #expect(context?.waitFDCount == 0)
                #expect(context?.status == .ok)
                return sum
            }) { log.record(index, $0) }
        }
        await log.latch.wait()
        for (index, results) in log.all.enumerated() {
            #expect((try? results.first?.get()) == index * 10 + 45)
        }
        #expect(loop.statistics.watchedDescriptors == 0)
        loop.shutdownAndWait()
        engine.shutdown()
    }

    @Test func callbackModeJobsThatTheAcceleratorCompletesTogetherEachResumeWithTheirOwnResult() async throws {
        // Every job submits at about the same time, so the timer thread completes them in
        // batches, each handed to the loop in one call.
        let count = 600
        let loop = try JobLoop.spawn(configuration: .init(maxConcurrentJobs: count, notification: .callback))
        let accelerator = try SimulatedAccelerator(latency: .milliseconds(2), slots: count)
        let log = CompletionLog<Int>(count: count)
        for index in 0..<count {
            loop.submit({
                let first = try accelerator.perform(index)
                let second = try accelerator.perform(first + 1)
                #expect(AsyncJob.currentWaitContext?.status == .ok)
                return second
            }) { log.record(index, $0) }
        }
        await log.latch.wait()
        let all = log.all
        #expect(all.allSatisfy { $0.count == 1 })
        for (index, results) in all.enumerated() where (try? results.first?.get()) != index + 1 {
            Issue.record("job \(index) got \(results)")
        }
        #expect(accelerator.completedCount == 2 * count)
        #expect(loop.statistics.watchedDescriptors == 0)
        loop.shutdownAndWait()
        accelerator.shutdown()
    }

    @Test func aCallbackAJobSetsItselfIsTheOneTheAcceleratorCalls() async throws {
        // The loop's callback can be announced in batches; a callback set by the job replaces
        // it, batch form included, so the engine must call the job's own callback.
        let loop = try JobLoop.spawn(configuration: .init(maxConcurrentJobs: 4, notification: .callback))
        let accelerator = try SimulatedAccelerator(latency: .microseconds(300), slots: 4)
        let calls = Atomic(0)
        let log = CompletionLog<Int>(count: 1)
        loop.submit({
            guard let context = AsyncJob.currentWaitContext, let loopCallback = context.callback else {
                Issue.record("no wait context or callback in a callback-mode job")
                return -1
            }
            context.callback = {
                calls.wrappingAdd(1, ordering: .relaxed)
                loopCallback()
            }
            var sum = 0
            for step in 0..<5 { sum += try accelerator.perform(step) }
            return sum
        }) { log.record(0, $0) }
        await log.latch.wait()
        #expect((try? log.all[0].first?.get()) == 10)
        #expect(calls.load(ordering: .relaxed) == 5)
        loop.shutdownAndWait()
        accelerator.shutdown()
    }

    @Test(arguments: [JobLoop.Configuration.Notification.waitFD, .callback])
    func aCallbackAJobSetsEndsWithTheJob(notification: JobLoop.Configuration.Notification) async throws {
        // Entries reuse their wait context, and an engine calls a callback before it looks for
        // its fd: the next job on the entry must be woken the loop's way, not through the
        // callback the previous job left (which wakes nobody here). One entry, so both jobs
        // share it; the timeout turns a regression into a failure instead of a hang.
        let loop = try JobLoop.spawn(configuration: .init(maxConcurrentJobs: 1, notification: notification))
        let accelerator = try SimulatedAccelerator(latency: .microseconds(300), slots: 4)
        let strayCalls = Atomic(0)
        let first = CompletionLog<Int>(count: 1)
        loop.submit({ () -> Int in
            guard let context = AsyncJob.currentWaitContext else { return -1 }
            context.callback = { strayCalls.wrappingAdd(1, ordering: .relaxed) }
            return 1
        }) { first.record(0, $0) }
        await first.latch.wait()
        #expect((try? first.all[0].first?.get()) == 1)
        let second = CompletionLog<Int>(count: 1)
        loop.submit(timeout: .seconds(10), {
            var sum = 0
            for step in 0..<3 { sum += try accelerator.perform(step) }
            return sum
        }) { second.record(0, $0) }
        await second.latch.wait()
        #expect((try? second.all[0].first?.get()) == 3)
        #expect(strayCalls.load(ordering: .relaxed) == 0)
        loop.shutdownAndWait()
        accelerator.shutdown()
    }

    // The accelerator's timer thread wakes ahead of deadlines to make up for its wake-up
    // latency; it must still complete nothing early. Lower bounds only: they hold by design.

    @Test func theAcceleratorNeverBlocksACallerForLessThanItsLatency() throws {
        let latency: Duration = .microseconds(400)
        let accelerator = try SimulatedAccelerator(latency: latency, slots: 4)
        let clock = ContinuousClock()
        for _ in 0..<50 {
            let start = clock.now
            _ = try accelerator.perform(0)
            #expect(clock.now - start >= latency)
        }
        accelerator.shutdown()
    }

    @Test func theAcceleratorNeverCompletesAJobsRequestBeforeItsLatency() async throws {
        let latency: Duration = .microseconds(400)
        let run = try await shortestRoundTrips(
            latency: latency, slots: 4, jobs: 8, rounds: 20, notification: .callback)
        for shortest in run.shortest { #expect(shortest >= latency) }
    }

    /// Hundreds of requests in flight make the device moderate its completions (in callback
    /// mode with an interval adapted to the loop): late is allowed, early never.
    @Test(arguments: [JobLoop.Configuration.Notification.waitFD, .callback])
    func aModeratingAcceleratorNeverCompletesARequestBeforeItsLatency(
        notification: JobLoop.Configuration.Notification
    ) async throws {
        let latency: Duration = .milliseconds(1)
        let run = try await shortestRoundTrips(
            latency: latency, slots: 400, jobs: 400, rounds: 10, notification: notification)
        for shortest in run.shortest { #expect(shortest >= latency) }
        #expect(run.completed == 400 * 10)
    }

    /// Runs `jobs` jobs on a loop, each sending `rounds` requests through one accelerator, and
    /// returns each job's shortest round trip (zero if a request came back with another's
    /// payload) and how many requests the device completed.
    private func shortestRoundTrips(
        latency: Duration, slots: Int, jobs: Int, rounds: Int, notification: JobLoop.Configuration.Notification
    ) async throws -> (shortest: [Duration], completed: Int) {
        let accelerator = try SimulatedAccelerator(latency: latency, slots: slots)
        let clock = ContinuousClock()
        let loop = try JobLoop.spawn(configuration: .init(maxConcurrentJobs: jobs, notification: notification))
        let log = CompletionLog<Duration>(count: jobs)
        for index in 0..<jobs {
            loop.submit({
                var shortest = Duration.seconds(60)
                for round in 0..<rounds {
                    let payload = index * rounds + round
                    let start = clock.now
                    let answer = try accelerator.perform(payload)
                    shortest = min(shortest, clock.now - start)
                    if answer != payload { return .zero }
                }
                return shortest
            }) { log.record(index, $0) }
        }
        await log.latch.wait()
        let shortest = try log.all.map { results in try #require(try? results.first?.get()) }
        let completed = accelerator.completedCount
        loop.shutdownAndWait()
        accelerator.shutdown()
        return (shortest, completed)
    }

    @Test func errorsThrownByOffloadedWorkAreRethrownByPerform() async throws {
        let loop = try JobLoop.spawn()
        let engine = try OffloadEngine(workers: 1)
        let value: Int = try await loop.execute {
            do {
                _ = try engine.perform { () throws -> Int in throw TestFailure(code: 7) }
                return 0
            } catch let failure as TestFailure {
                return failure.code
            }
        }
        #expect(value == 7)
        await #expect(throws: TestFailure(code: 9)) {
            _ = try await loop.execute { try engine.perform { () throws -> Int in throw TestFailure(code: 9) } }
        }
        loop.shutdownAndWait()
        engine.shutdown()
    }

    @Test func performOutsideAJobRunsInline() throws {
        let engine = try OffloadEngine(workers: 1)
        #expect(try engine.perform { 41 + 1 } == 42)
        let accelerator = try SimulatedAccelerator(latency: .microseconds(100), slots: 1)
        #expect(try accelerator.perform("echo") == "echo")
        engine.shutdown()
        accelerator.shutdown()
    }

    @Test(arguments: [JobLoop.Configuration.Notification.waitFD, .callback])
    func spuriousResumesAreHarmless(notification: JobLoop.Configuration.Notification) async throws {
        let loop = try JobLoop.spawn(configuration: .init(maxConcurrentJobs: 16, notification: notification))
        let accelerator = try SimulatedAccelerator(latency: .milliseconds(3), slots: 16)
        let count = 16
        let log = CompletionLog<Int>(count: count)
        let stop = Atomic(false)
        let contexts = FutexMutex<[WaitContext]>([])
        for index in 0..<count {
            loop.submit({
                if let context = AsyncJob.currentWaitContext { contexts.withLock { $0.append(context) } }
                var total = 0
                for step in 0..<5 { total += try accelerator.perform(index + step) }
                return total
            }) { log.record(index, $0) }
        }
        // Poke every job from another thread: callbacks fire, engine fds are signalled, long
        // before the accelerator is done.
        let poker = Thread {
            while !stop.load(ordering: .relaxed) {
                for context in contexts.withLock({ $0 }) {
                    context.invokeCallback()
                    for fd in context.allWaitFDs { _ = try? fd.writeAll([1, 0, 0, 0, 0, 0, 0, 0] as [UInt8]) }
                }
                usleep(100)
            }
        }
        poker.start()
        await log.latch.wait()
        stop.store(true, ordering: .relaxed)
        for (index, results) in log.all.enumerated() {
            #expect(results.count == 1)
            #expect((try? results.first?.get()) == index * 5 + 10)
        }
        #expect(loop.statistics.resumes > count * 5)
        loop.shutdownAndWait()
        accelerator.shutdown()
    }

    @Test func thousandsOfJobsWithSeededRandomLatenciesEachFinishOnceWithTheirResult() async throws {
        let loop = try JobLoop.spawn(configuration: .init(maxConcurrentJobs: 500, notification: .waitFD))
        let engine = try OffloadEngine(workers: 8)
        var generator = SeededGenerator(seed: 0x5EED)
        let count = 3000
        let latencies = (0..<count).map { _ in UInt32.random(in: 0...400, using: &generator) }
        let log = CompletionLog<Int>(count: count)
        for index in 0..<count {
            let latency = latencies[index]
            loop.submit({
                let first = try engine.perform { usleep(latency); return index }
                let second = try engine.perform { usleep(latency / 2); return first * 2 }
                return second + 1
            }) { log.record(index, $0) }
        }
        await log.latch.wait()
        let all = log.all
        #expect(all.allSatisfy { $0.count == 1 })
        for (index, results) in all.enumerated() where (try? results.first?.get()) != index * 2 + 1 {
            Issue.record("job \(index) got \(results)")
        }
        loop.shutdownAndWait()
        // Published once per loop turn; final once the loop has ended.
        #expect(loop.statistics.completed == count)
        engine.shutdown()
    }

    // MARK: Timeouts and cancellation

    @Test func aJobThatOutlivesItsTimeoutIsCancelledAndReportsTimedOut() async throws {
        let loop = try JobLoop.spawn()
        let engine = try OffloadEngine(workers: 1)
        let gate = Gate()
        let before = liveFrameObjects()
        let sawCancellation = Atomic(false)
        await #expect(throws: JobLoopError(.timedOut)) {
            _ = try await loop.execute(timeout: .milliseconds(20)) { () throws -> Int in
                let held = FrameObject(1)
                do {
                    return try engine.perform { gate.waitUntilOpen(); return held.tag }
                } catch is CancellationError {
                    sawCancellation.store(true, ordering: .relaxed)
                    throw CancellationError()
                }
            }
        }
        let cancelled = sawCancellation.load(ordering: .relaxed)
        #expect(cancelled)
        let fast = try await loop.execute(timeout: .seconds(30)) { 5 }
        #expect(fast == 5)
        // A timeout too long to add to the clock means no limit: no trap, no early expiry.
        let accelerator = try SimulatedAccelerator(latency: .microseconds(200), slots: 1)
        let forever = try await loop.execute(timeout: .seconds(Int64.max)) { try accelerator.perform(6) }
        #expect(forever == 6)
        accelerator.shutdown()
        gate.open()
        engine.shutdown()
        #expect(liveFrameObjects() == before)
        loop.shutdownAndWait()
    }

    @Test func cancellingATicketCancelsThePausedJobAndReleasesItsFrames() async throws {
        let loop = try JobLoop.spawn(configuration: .init(maxConcurrentJobs: 1))
        let engine = try OffloadEngine(workers: 1)
        let gate = Gate()
        let before = liveFrameObjects()
        let started = Latch(count: 1)
        let log = CompletionLog<Int>(count: 2)
        let running = loop.submit({
            let held = FrameObject(2)
            started.arrive()
            return try engine.perform { gate.waitUntilOpen(); return 1 } + held.tag
        }) { log.record(0, $0) }
        // The only job is busy: this one waits in the queue, and is cancelled there.
        let queued = loop.submit({ 99 }) { log.record(1, $0) }
        await started.wait()
        guard case .accepted(let runningTicket) = running, case .accepted(let queuedTicket) = queued else {
            Issue.record("rejected")
            return
        }
        queuedTicket.cancel()
        runningTicket.cancel()
        runningTicket.cancel()
        await log.latch.wait()
        #expect(log.all[0].count == 1 && loopErrorCode(log.all[0][0]) == .cancelled)
        #expect(log.all[1].count == 1 && loopErrorCode(log.all[1][0]) == .cancelled)
        #expect(liveFrameObjects() == before)
        gate.open()
        engine.shutdown()
        loop.shutdownAndWait()
    }

    // MARK: Swift concurrency

    @Test func awaitingAJobReturnsItsValueFromTheLoopThread() async throws {
        let loop = try JobLoop.spawn()
        let accelerator = try SimulatedAccelerator(latency: .microseconds(200), slots: 8)
        let onLoopThread = try await loop.execute { loop.isLoopThread && AsyncJob.isInJob }
        #expect(onLoopThread)
        let values = try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 0..<100 { group.addTask { try await loop.execute { try accelerator.perform(index) } } }
            return try await group.reduce(0, +)
        }
        #expect(values == (0..<100).reduce(0, +))
        loop.shutdownAndWait()
        accelerator.shutdown()
    }

    @Test func cancellingTheAwaitingTaskCancelsTheJob() async throws {
        let loop = try JobLoop.spawn()
        let engine = try OffloadEngine(workers: 1)
        let gate = Gate()
        let started = Latch(count: 1)
        let before = liveFrameObjects()
        let task = Task {
            try await loop.execute { () throws -> Int in
                let held = FrameObject(3)
                started.arrive()
                return try engine.perform { gate.waitUntilOpen(); return 0 } + held.tag
            }
        }
        await started.wait()
        task.cancel()
        await #expect(throws: CancellationError.self) { _ = try await task.value }
        #expect(liveFrameObjects() == before)
        gate.open()
        engine.shutdown()
        loop.shutdownAndWait()
    }

    @Test func aFullQueueRejectsSubmissionsAndMakesTasksWaitForRoom() async throws {
        let loop = try JobLoop.spawn(configuration: .init(maxConcurrentJobs: 1, maxQueuedWork: 2))
        let engine = try OffloadEngine(workers: 1)
        let gate = Gate()
        let started = Latch(count: 1)
        let log = CompletionLog<Int>(count: 3)
        loop.submit({ started.arrive(); return try engine.perform { gate.waitUntilOpen(); return 0 } }) { log.record(0, $0) }
        await started.wait()
        loop.submit({ 1 }) { log.record(1, $0) }
        loop.submit({ 2 }) { log.record(2, $0) }
        guard case .rejected(let error) = loop.submit({ 3 }, completion: { _ in }) else {
            Issue.record("a submission beyond maxQueuedWork was accepted")
            return
        }
        #expect(error.code == .queueFull)
        // Tasks wait for room instead.
        let waiting = Task {
            try await withThrowingTaskGroup(of: Int.self) { group in
                for index in 0..<20 { group.addTask { try await loop.execute { index } } }
                return try await group.reduce(0, +)
            }
        }
        gate.open()
        #expect(try await waiting.value == (0..<20).reduce(0, +))
        await log.latch.wait()
        #expect(log.all.map { try? $0.first?.get() } == [0, 1, 2])
        loop.shutdownAndWait()
        guard case .rejected(let late) = loop.submit({ 4 }, completion: { _ in }) else {
            Issue.record("a submission after shutdown was accepted")
            return
        }
        #expect(late.code == .shutDown)
        engine.shutdown()
    }

    /// Regression: the loop published the queue slots it had freed only at its next turn, so a
    /// job that had started (and anyone it signalled) still saw its own work counted as queued,
    /// and a submission into the room it had left was rejected as `.queueFull`
    /// (aFullQueueRejectsSubmissionsAndMakesTasksWaitForRoom then waited forever).
    @Test func aStartedJobNoLongerCountsAgainstTheQueueLimit() async throws {
        let loop = try JobLoop.spawn(configuration: .init(maxConcurrentJobs: 1, maxQueuedWork: 1))
        let log = CompletionLog<Int>(count: 1)
        let outcome: String = try await loop.execute {
            // Our own work has started: the queue (room for 1) is empty.
            let queued = loop.statistics.queuedWork
            guard case .accepted = loop.submit({ 7 }, completion: { log.record(0, $0) }) else {
                return "rejected with \(queued) counted as queued"
            }
            return "accepted"
        }
        #expect(outcome == "accepted")
        if outcome == "accepted" {
            await log.latch.wait()
            #expect((try? log.all[0].first?.get()) == 7)
        }
        // From another thread, with a job paused: the same.
        let engine = try OffloadEngine(workers: 1)
        let gate = Gate()
        let started = Latch(count: 1)
        let second = CompletionLog<Int>(count: 2)
        loop.submit({ started.arrive(); return try engine.perform { gate.waitUntilOpen(); return 1 } }) {
            second.record(0, $0)
        }
        await started.wait()
        let accepted: Bool
        if case .accepted = loop.submit({ 2 }, completion: { second.record(1, $0) }) { accepted = true } else { accepted = false }
        #expect(accepted)
        gate.open()
        if accepted {
            await second.latch.wait()
            #expect(second.all.map { try? $0.first?.get() } == [1, 2])
        }
        loop.shutdownAndWait()
        engine.shutdown()
    }

    // MARK: Shutdown

    @Test(arguments: [JobLoop.ShutdownMode.cancel, .drain])
    func shutdownWithWorkInFlightCompletesEverythingOnceAndLeaksNoDescriptors(mode: JobLoop.ShutdownMode) async throws {
        let descriptorsBefore = openDescriptorCount()
        do {
            let loop = try JobLoop.spawn(configuration: .init(maxConcurrentJobs: 64, notification: .waitFD))
            let engine = try OffloadEngine(workers: 2)
            let accelerator = try SimulatedAccelerator(latency: .milliseconds(2), slots: 32)
            let count = 400
            let log = CompletionLog<Int>(count: count)
            for index in 0..<count {
                loop.submit({
                    let held = FrameObject(index)
                    let value = try accelerator.perform(index)
                    return try engine.perform { value + held.tag }
                }) { log.record(index, $0) }
            }
            loop.shutdownAndWait(mode)
            await log.latch.wait()
            for (index, results) in log.all.enumerated() {
                #expect(results.count == 1)
                switch results[0] {
                case .success(let value): #expect(value == index * 2)
                case .failure: #expect(mode == .cancel && loopErrorCode(results[0]) == .shutDown)
                }
            }
            #expect(loop.statistics.runningJobs == 0)
            #expect(loop.statistics.watchedDescriptors == 0)
            engine.shutdown()
            accelerator.shutdown()
        }
        // Other suites may hold descriptors for a moment: wait for the count to settle.
        var descriptorsAfter = openDescriptorCount()
        for _ in 0..<50 where descriptorsAfter > descriptorsBefore {
            try await Task.sleep(for: .milliseconds(20))
            descriptorsAfter = openDescriptorCount()
        }
        #expect(descriptorsAfter <= descriptorsBefore)
    }

    @Test func aLoopCanRunOnTheCallersThread() async throws {
        let loop = try JobLoop(configuration: .init(maxConcurrentJobs: 2))
        let log = CompletionLog<Int>(count: 10)
        for index in 0..<10 { loop.submit({ index * index }) { log.record(index, $0) } }
        loop.shutdown(.drain)
        let thread = Thread { loop.run() }
        thread.start()
        await log.latch.wait()
        #expect(log.all.map { try? $0.first?.get() } == (0..<10).map { $0 * $0 })
    }

    @Test func aLoopLetGoWithoutRunningClosesItsDescriptorsAndFailsWhatItAccepted() async throws {
        let before = openDescriptorCount()
        let log = CompletionLog<Int>(count: 3)
        do {
            let loop = try JobLoop(configuration: .init(maxConcurrentJobs: 2))
            for index in 0..<3 { loop.submit({ index }) { log.record(index, $0) } }
        }
        // Other suites may hold descriptors for a moment: wait for the count to settle.
        var after = openDescriptorCount()
        for _ in 0..<50 where after > before {
            try await Task.sleep(for: .milliseconds(20))
            after = openDescriptorCount()
        }
        #expect(after <= before)
        for results in log.all {
            #expect(results.count == 1)
            #expect(results.first.flatMap(loopErrorCode) == .shutDown)
        }
    }
}

/// SplitMix64: a small deterministic generator for seeded test data.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
