// SPDX-License-Identifier: Apache-2.0
// Jobs: start, pause, resume, finish, values and errors, depth, order, misuse.
import AsyncJobs
import Foundation
import Testing

@Suite("Jobs")
struct JobTests {
    @Test func jobThatDoesNotPauseFinishesWithItsValue() throws {
        try withFreshPool {
            let ending = drive(try AsyncJob.start { 42 })
            #expect(ending.value == 42)
            #expect(ending.pauses == 0)
        }
    }

    @Test func pausedJobResumesAfterItsPauseAndFinishes() throws {
        try withFreshPool {
            var steps: [String] = []
            let ending = drive(
                try AsyncJob.start { () -> String in
                    steps.append("before")
                    let resumed = AsyncJob.pause()
                    steps.append("after \(resumed)")
                    return "done"
                },
                betweenPauses: { _ in steps.append("caller") })
            #expect(steps == ["before", "caller", "after true"])
            #expect(ending.value == "done")
            #expect(ending.pauses == 1)
        }
    }

    @Test func valuesOfAnyTypeComeBack() throws {
        try withFreshPool {
            struct Big: Equatable { var a = [1, 2, 3, 4, 5, 6, 7, 8]; var b = 9.5; var c = 10; var d = 11; var s = "x" }
            let ending36 = drive(try AsyncJob.start { () -> Big in _ = AsyncJob.pause(); return Big() })
            #expect(ending36.value == Big())
            let ending38 = drive(try AsyncJob.start { [1, 2, 3] })
            #expect(ending38.value == [1, 2, 3])
            let ending40 = drive(try AsyncJob.start { () -> String? in nil })
            #expect(ending40.value == .some(nil))
            drive(try AsyncJob.start { () -> Void in _ = AsyncJob.pause() }).value.map { #expect(Bool(true)) }
        }
    }

    @Test func thrownErrorComesBackAsTheOutcome() throws {
        try withFreshPool {
            let ending = drive(
                try AsyncJob.start { () throws(TestFailure) -> Int in
                    _ = AsyncJob.pause()
                    throw TestFailure(code: 7)
                })
            guard case .failed(let error, let pauses) = ending else {
                Issue.record("expected a failure")
                return
            }
            #expect(error == TestFailure(code: 7))
            #expect(pauses == 1)
        }
    }

    @Test func untypedThrowingClosureFailsWithAnyError() throws {
        try withFreshPool {
            struct Boom: Error {}
            let ending = drive(try AsyncJob.start { () throws -> Int in throw Boom() })
            guard case .failed(let error, _) = ending else {
                Issue.record("expected a failure")
                return
            }
            #expect(error is Boom)
        }
    }

    @Test(arguments: [1, 16, 100, 250])
    func pauseAtDepthResumesInOrder(depth: Int) throws {
        // 256 KiB: sanitizer builds make frames several times larger.
        try withFreshPool(stackSize: 256 * 1024) {
            var trail: [Int] = []
            func descend(_ level: Int) -> Int {
                if level == depth {
                    _ = AsyncJob.pause()
                    trail.append(level)
                    _ = AsyncJob.pause()
                    return level
                }
                let below = descend(level + 1)
                trail.append(level)
                return below + 1
            }
            let ending = drive(try AsyncJob.start { descend(1) })
            #expect(ending.value == 2 * depth - 1)
            #expect(ending.pauses == 2)
            #expect(trail == Array((1...depth).reversed()))
        }
    }

    @Test func manyPausesInOneJob() throws {
        try withFreshPool {
            let ending = drive(try AsyncJob.start { () -> Int in
                var total = 0
                for index in 0..<10_000 {
                    total += index
                    _ = AsyncJob.pause()
                }
                return total
            })
            #expect(ending.value == 49_995_000)
            #expect(ending.pauses == 10_000)
        }
    }

    @Test func pauseWorksWhileUnwinding() throws {
        try withFreshPool {
            var log: [String] = []
            struct Unwind: Error {}
            func inner() throws { defer { _ = AsyncJob.pause(); log.append("deferred") }; throw Unwind() }
            let ending = drive(try AsyncJob.start { () -> Bool in
                do { try inner() } catch { log.append("caught") }
                return true
            })
            #expect(ending.value == true)
            #expect(ending.pauses == 1)
            #expect(log == ["deferred", "caught"])
        }
    }

    @Test func pauseOutsideAJobDoesNothing() {
        #expect(AsyncJob.pause() == false)
        #expect(AsyncJob.current == nil)
        #expect(AsyncJob.isInJob == false)
        #expect(AsyncJob.currentWaitContext == nil)
    }

    @Test func currentJobInsideEqualsThePausedHandle() throws {
        try withFreshPool {
            var inside: [JobReference?] = []
            let outcome = try AsyncJob.start { () -> Bool in
                inside.append(AsyncJob.current)
                _ = AsyncJob.pause()
                inside.append(AsyncJob.current)
                return AsyncJob.isInJob
            }
            guard case .paused(let job) = consume outcome else {
                Issue.record("expected a pause")
                return
            }
            #expect(inside == [job.reference])
            #expect(job.reference.isAlive)
            let reference = job.reference
            #expect(drive(job.resume()).value == true)
            #expect(inside == [reference, reference])
            #expect(!reference.isAlive)
        }
    }

    @Test func thousandPausedJobsResumeInShuffledOrder() throws {
        try withFreshPool {
            var generator = SplitMix64(seed: 0x5EED)
            var finished: [Int] = []
            var boxes: [PausedBox<Int, Never>] = []
            for index in 0..<1000 {
                guard case .paused(let job) = try AsyncJob.start({ () -> Int in
                    _ = AsyncJob.pause()
                    _ = AsyncJob.pause()
                    return index
                }) else {
                    Issue.record("job \(index) did not pause")
                    return
                }
                boxes.append(PausedBox(job))
            }
            #expect(JobPool.statistics?.paused == 1000)
            var pending = Array(boxes.indices)
            while !pending.isEmpty {
                pending.shuffle(using: &generator)
                var next: [Int] = []
                for index in pending {
                    if let outcome = boxes[index].resume() {
                        if case .finished(let value) = consume outcome { finished.append(value) }
                    } else {
                        next.append(index)
                    }
                }
                pending = next
            }
            #expect(finished.count == 1000)
            #expect(Set(finished) == Set(0..<1000))
        }
    }

    @Test func jobsRunFoundationCode() throws {
        try withFreshPool {
            let ending = drive(try AsyncJob.start { () throws -> String in
                let formatter = DateFormatter()
                formatter.dateFormat = "yyyy-MM-dd"
                formatter.timeZone = TimeZone(identifier: "UTC")
                let date = formatter.string(from: Date(timeIntervalSince1970: 0))
                _ = AsyncJob.pause()
                let json = try JSONSerialization.data(withJSONObject: ["date": date])
                _ = AsyncJob.pause()
                let decoded = try JSONSerialization.jsonObject(with: json) as? [String: String]
                return decoded?["date"] ?? "?"
            })
            #expect(ending.value == "1970-01-01")
            #expect(ending.pauses == 2)
        }
    }

    @Test func blockedPauseDoesNotSuspend() throws {
        try withFreshPool {
            let ending = drive(try AsyncJob.start { () -> [Bool] in
                var results: [Bool] = []
                AsyncJob.blockPause()
                AsyncJob.blockPause()
                results.append(AsyncJob.pause())
                AsyncJob.unblockPause()
                results.append(AsyncJob.pause())
                AsyncJob.unblockPause()
                results.append(AsyncJob.pause())
                results.append(AsyncJob.withPauseBlocked { AsyncJob.pause() })
                return results
            })
            #expect(ending.value == [false, false, true, false])
            #expect(ending.pauses == 1)
        }
    }

    @Test func blockEndsWithTheJobThatMadeIt() throws {
        try withFreshPool(maxSize: 1) {
            // A job that finishes while blocked does not stop the next job (on the same record)
            // from pausing: the count is per job (docs/contract.md, deliberate differences).
            let ending231 = drive(try AsyncJob.start { () -> Bool in AsyncJob.blockPause(); return AsyncJob.pause() })
            #expect(ending231.value == false)
            let ending = drive(try AsyncJob.start { AsyncJob.pause() })
            #expect(ending.value == true)
            #expect(ending.pauses == 1)
        }
    }

    @Test func blockAndUnblockOutsideAJobDoNothing() {
        AsyncJob.blockPause()
        AsyncJob.unblockPause()
        #expect(AsyncJob.pause() == false)
    }

    @Test func platformIsCapable() {
        #expect(AsyncJob.isCapable)
    }

    @Test func twoThreadsRunJobsOnTheirOwnPoolsAtTheSameTime() async throws {
        let results = try await withThrowingTaskGroup(of: [Int].self) { group in
            for base in [1000, 2000] {
                group.addTask {
                    try runOnNewThread {
                        try withFreshPool(maxSize: 4) {
                            var values: [Int] = []
                            var boxes: [PausedBox<Int, Never>] = []
                            for index in 0..<4 {
                                guard case .paused(let job) = try AsyncJob.start({ () -> Int in
                                    for _ in 0..<100 { _ = AsyncJob.pause() }
                                    return base + index
                                }) else { return [] }
                                boxes.append(PausedBox(job))
                            }
                            while values.count < 4 {
                                for box in boxes {
                                    if let outcome = box.resume(), case .finished(let value) = consume outcome {
                                        values.append(value)
                                    }
                                }
                            }
                            return values.sorted()
                        }
                    }
                }
            }
            var all: [[Int]] = []
            for try await values in group { all.append(values) }
            return all.sorted { $0[0] < $1[0] }
        }
        #expect(results == [[1000, 1001, 1002, 1003], [2000, 2001, 2002, 2003]])
    }

    @Test func resumeOnAnotherThreadTraps() async {
        await #expect(processExitsWith: .failure) {
            try runSynchronously {
                let box = try runOnNewThreadReturning {
                    guard case .paused(let job) = try AsyncJob.start({ AsyncJob.pause() }) else { fatalError() }
                    return PausedBox(job)
                }
                _ = box.resume()
            }
        }
    }

    @Test func startFromInsideAJobTraps() async {
        await #expect(processExitsWith: .failure) {
            try runSynchronously {
                _ = drive(try AsyncJob.start { () -> Bool in
                    _ = drive(try! AsyncJob.start { 1 })
                    return true
                })
            }
        }
    }

    @Test func unbalancedUnblockTraps() async {
        await #expect(processExitsWith: .failure) {
            try runSynchronously {
                _ = drive(try AsyncJob.start { AsyncJob.unblockPause() })
            }
        }
    }
}

/// Runs `body` on a new thread and waits for it (for per-thread pool tests).
func runOnNewThread<R: Sendable>(_ body: @escaping @Sendable () throws -> R) throws -> R {
    try runOnNewThreadReturning(body)
}

/// Runs `body` on a new thread that then exits, and returns its result even if not Sendable
/// (the value is handed over once, after the thread finished).
func runOnNewThreadReturning<R>(_ body: @escaping () throws -> R) throws -> R {
    let box = ThreadResultBox(body)
    let done = DispatchSemaphore(value: 0)
    let thread = Thread {
        box.result = Result { try box.body() }
        done.signal()
    }
    thread.stackSize = 1 << 20
    thread.start()
    done.wait()
    return try box.result!.get()
}

/// A small seeded generator, so shuffled orders are the same on every run.
struct SplitMix64: RandomNumberGenerator {
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

/// Runs `body` on a new POSIX thread and joins it: returns only after the thread has fully
/// exited, thread-specific-data destructors (the pool's thread-exit cleanup) included.
func runOnJoinedThread<R>(_ body: @escaping () throws -> R) throws -> R {
    let box = ThreadResultBox(body)
    let context = Unmanaged.passRetained(box).toOpaque()
    var thread = pthread_t()
    let created = pthread_create(&thread, nil, { context in
        let box = Unmanaged<ThreadResultRunner>.fromOpaque(context!).takeRetainedValue()
        box.run()
        return nil
    }, context)
    precondition(created == 0, "pthread_create failed: \(created)")
    pthread_join(thread, nil)
    return try box.result!.get()
}

/// Carries a body to a new thread and its result back.
class ThreadResultRunner: @unchecked Sendable {
    func run() {}
}

final class ThreadResultBox<R>: ThreadResultRunner, @unchecked Sendable {
    var result: Result<R, any Error>?
    let body: () throws -> R
    init(_ body: @escaping () throws -> R) { self.body = body }
    override func run() { result = Result { try body() } }
}
