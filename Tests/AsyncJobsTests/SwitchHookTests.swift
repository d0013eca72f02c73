// SPDX-License-Identifier: Apache-2.0
// Switch hooks: per-thread state that follows jobs. A thread-local word stands for a C library's
// errno-like state or current arena: each job must see the word it was started with and its own
// changes after every resume, and never leak its word to whoever resumed it or to other jobs.
import AsyncJobs
import Foundation
import Glibc
import Synchronization
import Testing

/// A per-thread word (a pthread key), like a library's errno or current arena.
enum ThreadWord {
    static let key: pthread_key_t = {
        var key = pthread_key_t()
        precondition(pthread_key_create(&key, nil) == 0)
        return key
    }()

    static var value: UInt {
        get { UInt(bitPattern: pthread_getspecific(key)) }
        set { _ = pthread_setspecific(key, UnsafeRawPointer(bitPattern: newValue)) }
    }
}

/// What the hooks of one test did.
final class HookLog: Sendable {
    let events = Mutex<[String]>([])
    let ended = Mutex<[UInt]>([])

    func record(_ event: String) { events.withLock { $0.append(event) } }

    /// A hook for `ThreadWord` (a job starts with its starter's word), logging to this log.
    func hook(_ name: String = "w") -> JobSwitchHook {
        JobSwitchHook(
            start: { [self] in
                record("\(name).start")
                return ThreadWord.value
            },
            swap: { [self] word in
                record("\(name).swap")
                let thread = ThreadWord.value
                ThreadWord.value = word
                word = thread
            },
            end: { [self] word in
                record("\(name).end")
                ended.withLock { $0.append(word) }
            })
    }
}

@Suite("Switch hooks")
struct SwitchHookTests {
    @Test func jobStartsWithTheStartersWordAndKeepsItsOwnAcrossPauses() throws {
        let log = HookLog()
        try withFreshPool {
            try JobPool.addSwitchHook(log.hook())
            ThreadWord.value = 1
            let seen = Mutex<[UInt]>([])
            let outcome = try AsyncJob.start { () -> UInt in
                seen.withLock { $0.append(ThreadWord.value) }  // the starter's word
                ThreadWord.value = 10
                _ = AsyncJob.pause()
                seen.withLock { $0.append(ThreadWord.value) }  // its own, not the resumer's 2
                ThreadWord.value = 11
                _ = AsyncJob.pause()
                return ThreadWord.value
            }
            #expect(ThreadWord.value == 1, "the job's word leaked to its starter")
            ThreadWord.value = 2
            let ending = drive(outcome) { _ in
                #expect(ThreadWord.value == 2, "the job's word leaked to its resumer")
            }
            #expect(ending.value == 11)
            #expect(ThreadWord.value == 2)
            #expect(seen.withLock { $0 } == [1, 10])
        }
        #expect(log.ended.withLock { $0 } == [11])
        // One start; a swap into and out of the job for each of its three runs; one end.
        #expect(log.events.withLock { $0 } == ["w.start"] + Array(repeating: "w.swap", count: 6) + ["w.end"])
        ThreadWord.value = 0
    }

    @Test func interleavedJobsEachSeeTheirOwnWord() throws {
        let log = HookLog()
        try withFreshPool {
            try JobPool.addSwitchHook(log.hook())
            ThreadWord.value = 7
            func job(_ word: UInt) throws -> JobOutcome<[UInt], Never> {
                try AsyncJob.start { () -> [UInt] in
                    var seen = [ThreadWord.value]
                    ThreadWord.value = word
                    _ = AsyncJob.pause()
                    seen.append(ThreadWord.value)
                    _ = AsyncJob.pause()
                    seen.append(ThreadWord.value)
                    return seen
                }
            }
            guard case .paused(let c) = try job(100) else { Issue.record("C did not pause"); return }
            #expect(ThreadWord.value == 7)
            guard case .paused(let d) = try job(200) else { Issue.record("D did not pause"); return }
            #expect(ThreadWord.value == 7)
            guard case .paused(let c2) = c.resume() else { Issue.record("C did not pause again"); return }
            #expect(ThreadWord.value == 7)
            guard case .paused(let d2) = d.resume() else { Issue.record("D did not pause again"); return }
            #expect(ThreadWord.value == 7)
            guard case .finished(let dSeen) = d2.resume(), case .finished(let cSeen) = c2.resume() else {
                Issue.record("the jobs did not finish")
                return
            }
            #expect(cSeen == [7, 100, 100])
            #expect(dSeen == [7, 200, 200])
            #expect(ThreadWord.value == 7)
        }
        #expect(log.ended.withLock { $0 } == [200, 100])
        ThreadWord.value = 0
    }

    @Test func aCancelledJobRunsWithItsOwnWordAndEndsIt() throws {
        let log = HookLog()
        try withFreshPool {
            try JobPool.addSwitchHook(log.hook())
            ThreadWord.value = 3
            let afterCancel = Mutex<UInt>(0)
            do {
                guard case .paused = try AsyncJob.start({ () -> Int in
                    ThreadWord.value = 30
                    _ = AsyncJob.pause()  // false: cancelled
                    afterCancel.withLock { $0 = ThreadWord.value }
                    ThreadWord.value = 31
                    return 0
                }) else {
                    Issue.record("the job did not pause")
                    return
                }
                // The paused job is dropped here: it is cancelled.
            }
            #expect(afterCancel.withLock { $0 } == 30)
            #expect(ThreadWord.value == 3)
        }
        #expect(log.ended.withLock { $0 } == [31])
        ThreadWord.value = 0
    }

    @Test func aJobPausedWhenItsThreadExitsIsEndedWithItsWord() {
        let log = HookLog()
        let exiting = Thread {
            try! JobPool.addSwitchHook(log.hook())
            ThreadWord.value = 6
            if case .paused(let job) = try! AsyncJob.start({ () -> Int in
                ThreadWord.value = 60
                _ = AsyncJob.pause()
                return 0
            }) {
                ThreadExitShelf.keep(PausedBox(job))  // left paused: the thread's exit cancels it
            }
        }
        exiting.start()
        // The pool's thread-exit destructor runs after the thread's body.
        var waited = 0
        while log.ended.withLock({ $0 }).isEmpty && waited < 10_000 {
            usleep(1000)
            waited += 1
        }
        #expect(log.ended.withLock { $0 } == [60])
        #expect(log.events.withLock { $0 }.last == "w.end")
    }

    @Test func aHookCannotBeAddedWhileAJobOfThePoolIsPaused() throws {
        try withFreshPool {
            guard case .paused(let job) = try AsyncJob.start({ () -> Int in
                _ = AsyncJob.pause()
                return 1
            }) else {
                Issue.record("the job did not pause")
                return
            }
            #expect(throws: AsyncJobError(.jobsInUse)) { try JobPool.addSwitchHook(HookLog().hook()) }
            #expect(drive(job.resume()).value == 1)
        }
    }

    @Test func aHookCannotBeAddedFromInsideAJob() throws {
        try withFreshPool {
            let ending = drive(try AsyncJob.start { () -> Bool in
                do {
                    try JobPool.addSwitchHook(HookLog().hook())
                    return false
                } catch {
                    return (error as? AsyncJobError) == AsyncJobError(.jobsInUse)
                }
            })
            #expect(ending.value == true)
        }
    }

    @Test func hooksRunInOrderIntoTheJobAndInReverseOrderOutOfIt() throws {
        let log = HookLog()
        try withFreshPool {
            try JobPool.addSwitchHook(log.hook("a"))
            try JobPool.addSwitchHook(log.hook("b"))
            let value = drive(try AsyncJob.start { () -> Int in 1 }).value
            #expect(value == 1)
        }
        #expect(log.events.withLock { $0 } == ["a.start", "b.start", "a.swap", "b.swap", "b.swap", "a.swap", "b.end", "a.end"])
        ThreadWord.value = 0
    }

    @Test func jobsOfAPoolWithoutHooksDoNotRunAnotherPoolsHooks() throws {
        let log = HookLog()
        try withFreshPool(initialSize: 4) {
            try JobPool.addSwitchHook(log.hook())
            let value = drive(try AsyncJob.start { () -> Int in 1 }).value
            #expect(value == 1)
        }
        let before = log.events.withLock { $0.count }
        // The records of the hooked pool went back to the process; a new pool reuses them.
        try withFreshPool(initialSize: 4) {
            for _ in 0..<8 {
                let ending = drive(try AsyncJob.start { () -> Int in 2 })
                #expect(ending.value == 2)
            }
        }
        #expect(log.events.withLock { $0.count } == before)
        ThreadWord.value = 0
    }

    @Test func aJobWithHooksPausingInsideAnAccessKeepsTheAccessSetsApart() throws {
        try withFreshPool {
            try JobPool.addSwitchHook(HookLog().hook())
            let counter = SharedCounter()
            let shelf = JobShelf()
            startJobPausingInsideAccess(counter, shelf: shelf)
            startJobPausingInsideAccess(counter, shelf: shelf)
            #expect(counter.value == 2)
            counter.value += 10  // would trap if a job's open access were in this thread's set
            #expect(finishShelvedJobs(shelf) == [13, 14])
        }
        ThreadWord.value = 0
    }
}

/// Paused jobs kept until their thread exits (never resumed or dropped by the test).
enum ThreadExitShelf {
    private static let boxes = Mutex<[UnsafeSendableBox]>([])

    static func keep(_ box: PausedBox<Int, Never>) {
        boxes.withLock { $0.append(UnsafeSendableBox(box)) }
    }
}

/// Holds a paused job's box where only the exit of its thread will end it.
struct UnsafeSendableBox: @unchecked Sendable {
    let box: AnyObject
    init(_ box: AnyObject) { self.box = box }
}
