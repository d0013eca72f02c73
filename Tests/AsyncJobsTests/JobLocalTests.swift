// SPDX-License-Identifier: Apache-2.0
// Job-local storage: each job sees its own value whichever thread state it finds, a new job
// starts without values, and a job's values are released when it finishes or is cancelled.
import AsyncJobs
import Foundation
import Synchronization
import Testing

private let name = JobLocal<String>()
private let tracked = JobLocal<Tracked>()
private let marker = JobLocal<Marker>()

/// Set, from any thread, when a `Marker` made with it is released.
final class ReleaseFlag: Sendable {
    private let flag = Mutex(false)
    var isSet: Bool { flag.withLock { $0 } }
    func set() { flag.withLock { $0 = true } }
}

/// Sets its flag when released.
final class Marker {
    let flag: ReleaseFlag
    init(_ flag: ReleaseFlag) { self.flag = flag }
    deinit { flag.set() }
}

@Suite("Job-local storage")
struct JobLocalTests {
    @Test func interleavedJobsEachKeepTheirOwnValue() throws {
        try withFreshPool {
            func job(_ value: String) throws -> JobOutcome<[String?], Never> {
                try AsyncJob.start { () -> [String?] in
                    var seen = [name.value]
                    name.value = value
                    _ = AsyncJob.pause()
                    seen.append(name.value)
                    _ = AsyncJob.pause()
                    seen.append(name.value)
                    return seen
                }
            }
            guard case .paused(let c) = try job("C") else { Issue.record("C did not pause"); return }
            #expect(name.value == nil, "a job's value is visible outside it")
            guard case .paused(let d) = try job("D") else { Issue.record("D did not pause"); return }
            guard case .paused(let c2) = c.resume(), case .paused(let d2) = d.resume() else {
                Issue.record("the jobs did not pause again")
                return
            }
            guard case .finished(let dSeen) = d2.resume(), case .finished(let cSeen) = c2.resume() else {
                Issue.record("the jobs did not finish")
                return
            }
            #expect(cSeen == [nil, "C", "C"])
            #expect(dSeen == [nil, "D", "D"])
        }
    }

    @Test func aNewJobOnARecycledRecordStartsWithoutValues() throws {
        try withFreshPool(maxSize: 1) {
            let first = drive(try AsyncJob.start { () -> Int in
                name.value = "first"
                return 1
            })
            #expect(first.value == 1)
            // The pool has one record: the second job runs on the first one's record.
            let second = drive(try AsyncJob.start { () -> String? in name.value })
            #expect(second.value == .some(nil))
        }
    }

    @Test func settingNilRemovesTheValue() throws {
        try withFreshPool {
            let ending = drive(try AsyncJob.start { () -> [String?] in
                name.value = "x"
                let before = name.value
                name.value = nil
                return [before, name.value]
            })
            #expect(ending.value == ["x", nil])
        }
    }

    @Test func valuesAreReleasedWhenTheJobFinishes() throws {
        let counter = LiveCounter()
        try withFreshPool {
            let outcome = try AsyncJob.start { () -> Int in
                tracked.value = counter.make()
                _ = AsyncJob.pause()
                return counter.count
            }
            #expect(counter.count == 1, "the value died while its job was paused")
            #expect(drive(outcome).value == 1)
            #expect(counter.count == 0, "the value outlived its job")
        }
    }

    @Test func valuesAreReleasedWhenAPausedJobIsCancelled() throws {
        let counter = LiveCounter()
        try withFreshPool {
            do {
                guard case .paused = try AsyncJob.start({ () -> Int in
                    tracked.value = counter.make()
                    _ = AsyncJob.pause()
                    return 0
                }) else {
                    Issue.record("the job did not pause")
                    return
                }
                // Dropped here: cancelled.
            }
            #expect(counter.count == 0)
        }
        // By cleanup.
        JobPool.cleanUp()
        try JobPool.configure()
        let outcome = try AsyncJob.start { () -> Int in
            tracked.value = counter.make()
            _ = AsyncJob.pause()
            return 0
        }
        guard case .paused(let job) = consume outcome else {
            Issue.record("the job did not pause")
            return
        }
        #expect(counter.count == 1)
        #expect(JobPool.cleanUp() == 1)
        #expect(counter.count == 0)
        _ = consume job
    }

    @Test func valuesAreReleasedWhenTheThreadOfAPausedJobExits() {
        let released = ReleaseFlag()
        let thread = Thread {
            if case .paused(let job) = try! AsyncJob.start({ () -> Int in
                marker.value = Marker(released)
                _ = AsyncJob.pause()
                return 0
            }) {
                ThreadExitShelf.keep(PausedBox(job))  // left paused: the thread's exit cancels it
            }
        }
        thread.start()
        var waited = 0
        while !released.isSet && waited < 10_000 {
            usleep(1000)
            waited += 1
        }
        #expect(released.isSet, "the value of a job cancelled by its thread's exit was not released")
    }

    @Test func pauseBlockingStillCountsInAJobWithValues() throws {
        try withFreshPool {
            let ending = drive(try AsyncJob.start { () -> [Bool] in
                name.value = "blocked"
                AsyncJob.blockPause()
                let whileBlocked = AsyncJob.pause()  // does not pause: false
                AsyncJob.unblockPause()
                let afterwards = AsyncJob.pause()  // pauses
                return [whileBlocked, afterwards, name.value == "blocked"]
            })
            #expect(ending.value == [false, true, true])
            #expect(ending.pauses == 1)
        }
    }

    @Test func valueIsNilOutsideAJob() {
        #expect(name.value == nil)
    }

    @Test func settingAValueOutsideAJobTraps() async {
        await #expect(processExitsWith: .failure) {
            runSynchronously { name.value = "nowhere" }
        }
    }
}
