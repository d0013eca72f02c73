// SPDX-License-Identifier: Apache-2.0
// Wait contexts: every rule of docs/contract.md's "Wait contexts" section, and the first design's
// per-job wait descriptor.
import AsyncJobs
import Foundation
import Synchronization
import SystemPackage
import Testing

private let keyA = WaitContext.Key("engine A")
private let keyB = WaitContext.Key("engine B")
private func fd(_ number: Int32) -> FileDescriptor { FileDescriptor(rawValue: number) }
private let heldValue = JobLocal<Int>()

/// Whether `fd` is readable right now.
func isReadable(_ fd: FileDescriptor) -> Bool {
    var descriptor = pollfd(fd: fd.rawValue, events: Int16(POLLIN), revents: 0)
    return poll(&descriptor, 1, 0) == 1 && descriptor.revents & Int16(POLLIN) != 0
}

/// Records cleanup calls, in order.
final class CleanupLog: Sendable {
    let calls = FutexMutex<[String]>([])
    func cleanup(_ name: String) -> WaitContext.Cleanup {
        { key, fd, data in
            self.calls.withLock { $0.append("\(name) fd=\(fd.rawValue) data=\(data.map { "\($0)" } ?? "nil") key=\(key == keyA ? "A" : "B")") }
        }
    }
    var entries: [String] { calls.withLock { $0 } }
}

@Suite("Wait contexts")
struct WaitContextTests {
    @Test func newContextIsEmpty() {
        let context = WaitContext()
        #expect(context.allWaitFDs.isEmpty)
        #expect(context.waitFDCount == 0)
        #expect(context.changedWaitFDs == .init(added: [], removed: []))
        #expect(context.callback == nil)
        #expect(context.status == .unsupported)
        #expect(context.waitDescriptor(forKey: keyA) == nil)
    }

    @Test func setWaitFDAlwaysAddsAndLookupsSeeTheNewest() {
        let context = WaitContext()
        context.setWaitFD(fd(10), forKey: keyA, customData: "first")
        context.setWaitFD(fd(11), forKey: keyA, customData: "second")
        context.setWaitFD(fd(20), forKey: keyB)
        #expect(context.waitFD(forKey: keyA) == fd(11))
        #expect(context.waitDescriptor(forKey: keyA)?.customData as? String == "second")
        #expect(context.allWaitFDs == [fd(20), fd(11), fd(10)])
        #expect(context.waitFDCount == 3)
        #expect(context.clearWaitFD(forKey: keyA))
        #expect(context.waitFD(forKey: keyA) == fd(10))
        #expect(context.waitDescriptor(forKey: keyA)?.customData as? String == "first")
        #expect(context.clearWaitFD(forKey: keyA))
        #expect(context.waitFD(forKey: keyA) == nil)
        #expect(!context.clearWaitFD(forKey: keyA))
        #expect(context.allWaitFDs == [fd(20)])
    }

    @Test func freeingCallsCleanupOfLiveEntriesNewestFirstAndNotOfClearedOnes() {
        let log = CleanupLog()
        do {
            let context = WaitContext()
            context.setWaitFD(fd(1), forKey: keyA, customData: 100, cleanup: log.cleanup("one"))
            context.setWaitFD(fd(2), forKey: keyB, customData: nil, cleanup: log.cleanup("two"))
            context.setWaitFD(fd(3), forKey: keyA, customData: 300, cleanup: log.cleanup("three"))
            context.setWaitFD(fd(4), forKey: keyB)
            #expect(context.clearWaitFD(forKey: keyA))
            #expect(log.entries.isEmpty, "clearing never calls the cleanup")
        }
        #expect(log.entries == ["two fd=2 data=nil key=B", "one fd=1 data=100 key=A"])
    }

    @Test func runCleanupsEmptiesTheContextOnce() {
        let log = CleanupLog()
        let context = WaitContext()
        context.setWaitFD(fd(1), forKey: keyA, cleanup: log.cleanup("one"))
        context.runCleanups()
        context.runCleanups()
        #expect(log.entries == ["one fd=1 data=nil key=A"])
        #expect(context.allWaitFDs.isEmpty)
    }

    @Test func changedFDsFollowTheSegmentsOfAJob() throws {
        try withFreshPool {
            let context = WaitContext()
            var inside: [WaitContext.Changes] = []
            var outcome = try AsyncJob.start(waitContext: context) { () -> Int in
                _ = AsyncJob.pause()                                   // segment 1: nothing
                inside.append(context.changedWaitFDs)
                context.setWaitFD(fd(5), forKey: keyA)
                _ = AsyncJob.pause()                                   // segment 2: one added
                inside.append(context.changedWaitFDs)
                context.clearWaitFD(forKey: keyA)
                _ = AsyncJob.pause()                                   // segment 3: cleared
                inside.append(context.changedWaitFDs)
                context.setWaitFD(fd(6), forKey: keyB)
                context.clearWaitFD(forKey: keyB)
                return 0                                           // segment 4: added and cleared
            }
            var seen: [(all: [FileDescriptor], changes: WaitContext.Changes)] = []
            loop: while true {
                seen.append((context.allWaitFDs, context.changedWaitFDs))
                // Reading twice resets nothing.
                #expect(context.changedWaitFDs == seen.last?.changes)
                switch consume outcome {
                case .paused(let job):
                    #expect(job.waitContext === context)
                    outcome = job.resume()
                default:
                    break loop
                }
            }
            #expect(seen.map(\.all) == [[], [fd(5)], [], []])
            #expect(seen.map(\.changes) == [
                .init(added: [], removed: []),
                .init(added: [fd(5)], removed: []),
                .init(added: [], removed: [fd(5)]),
                .init(added: [], removed: []),
            ])
            // Inside the resumed job, the previous segment's changes are already reset.
            #expect(inside == Array(repeating: .init(added: [], removed: []), count: 3))
        }
    }

    @Test func applicationChangesWhilePausedStayVisibleUntilTheNextResume() throws {
        try withFreshPool {
            let context = WaitContext()
            guard case .paused(let job) = try AsyncJob.start(waitContext: context, { AsyncJob.pause() }) else {
                Issue.record("expected a pause")
                return
            }
            context.setWaitFD(fd(7), forKey: keyA)
            #expect(context.changedWaitFDs.added == [fd(7)])
            #expect(context.changedWaitFDs.added == [fd(7)])
            _ = drive(job.resume())
            #expect(context.changedWaitFDs == .init(added: [], removed: []))
        }
    }

    @Test func finishedJobsLastChangesStayUntilAJobOnTheContextIsResumed() throws {
        try withFreshPool {
            let context = WaitContext()
            _ = drive(try AsyncJob.start(waitContext: context) { context.setWaitFD(fd(8), forKey: keyA) })
            #expect(context.changedWaitFDs.added == [fd(8)])
            // A job that starts and finishes without pausing resets nothing.
            _ = drive(try AsyncJob.start(waitContext: context) { 0 })
            #expect(context.changedWaitFDs.added == [fd(8)])
            // A job that pauses and is resumed does.
            _ = drive(try AsyncJob.start(waitContext: context) { AsyncJob.pause() })
            #expect(context.changedWaitFDs == .init(added: [], removed: []))
            #expect(context.allWaitFDs == [fd(8)])
        }
    }

    @Test func clearingAnOlderEntryAfterAResetReportsItDeleted() throws {
        try withFreshPool {
            let context = WaitContext()
            _ = drive(try AsyncJob.start(waitContext: context) { () -> Void in
                context.setWaitFD(fd(1), forKey: keyA)
                _ = AsyncJob.pause()
                context.setWaitFD(fd(2), forKey: keyB)
                context.clearWaitFD(forKey: keyA)
            })
            #expect(context.changedWaitFDs == .init(added: [fd(2)], removed: [fd(1)]))
            #expect(context.allWaitFDs == [fd(2)])
        }
    }

    @Test func callbackAndStatusRoundTrip() {
        let context = WaitContext()
        let calls = Atomic(0)
        context.callback = { calls.add(1, ordering: .relaxed) }
        #expect(context.callback != nil)
        #expect(context.invokeCallback())
        #expect(calls.load(ordering: .relaxed) == 1)
        context.callback = nil
        #expect(context.callback == nil)
        #expect(!context.invokeCallback())
        for status in [WaitContext.Status.ok, .error, .eagain, .unsupported, .init(rawValue: 42)] {
            context.status = status
            #expect(context.status == status)
        }
    }

    @Test func jobsWaitContextIsTheOneItWasStartedWith() throws {
        try withFreshPool {
            let context = WaitContext()
            var insideSame = false
            _ = drive(try AsyncJob.start(waitContext: context) { insideSame = AsyncJob.currentWaitContext === context })
            #expect(insideSame)
            var insideNil = true
            let ending = drive(try AsyncJob.start { () -> Bool in
                insideNil = AsyncJob.currentWaitContext == nil && AsyncJob.current?.waitContext == nil
                return AsyncJob.pause()
            })
            #expect(insideNil)
            #expect(ending.value == true)
        }
    }

    @Test func engineThreadReadsTheContextWhileTheOwnerWorks() throws {
        try withFreshPool {
            let context = WaitContext()
            let stop = Atomic(false)
            let reads = Atomic(0)
            let reader = Thread {
                while !stop.load(ordering: .acquiring) {
                    _ = context.callback
                    _ = context.status
                    _ = context.waitFD(forKey: keyA)
                    _ = context.allWaitFDs
                    context.status = .ok
                    reads.add(1, ordering: .relaxed)
                }
            }
            reader.start()
            let ending = drive(try AsyncJob.start(waitContext: context) { () -> Int in
                for index in 0..<2000 {
                    context.setWaitFD(fd(Int32(index)), forKey: keyA)
                    _ = AsyncJob.pause()
                    context.clearWaitFD(forKey: keyA)
                }
                return 1
            })
            while reads.load(ordering: .relaxed) < 100 { Thread.sleep(forTimeInterval: 0.001) }
            stop.store(true, ordering: .releasing)
            #expect(ending.value == 1)
            #expect(context.allWaitFDs.isEmpty)
        }
    }

    /// A finished job lets its wait context go, whatever else it held (a job that held only the
    /// context takes the short way back to the pool; one with a job-local value or a wake
    /// descriptor the whole one), and its record takes the next job.
    @Test(arguments: ["context only", "job-local value", "wake descriptor"])
    func aFinishedJobLetsItsWaitContextGo(_ alsoHeld: String) throws {
        try withFreshPool(maxSize: 1) {
            weak var released: WaitContext?
            do {
                let context = WaitContext()
                released = context
                let ending = drive(try AsyncJob.start(waitContext: context) { () -> Int in
                    switch alsoHeld {
                    case "job-local value": heldValue.value = 7
                    case "wake descriptor": _ = try? AsyncJob.current!.waitFD()
                    default: break
                    }
                    return 1
                })
                #expect(ending.value == 1)
            }
            #expect(released == nil, "the finished job still holds its wait context")
            #expect(JobPool.statistics?.jobs == 1)
            #expect(JobPool.statistics?.idle == 1)
            let next = WaitContext()
            let again = drive(try AsyncJob.start(waitContext: next) { AsyncJob.currentWaitContext === next && heldValue.value == nil })
            #expect(again.value == true)
            #expect(JobPool.statistics?.jobs == 1)
        }
    }

    @Test func jobsOwnWaitDescriptorWakesAndClears() throws {
        try withFreshPool(maxSize: 1) {
            var readableInside: [Bool] = []
            guard case .paused(let job) = try AsyncJob.start({ () -> Void in
                let me = AsyncJob.current!
                me.wake()
                _ = AsyncJob.pause()
                let fd = try! me.waitFD()
                readableInside.append(isReadable(fd))
                me.clearWake()
                readableInside.append(isReadable(fd))
                _ = AsyncJob.pause()
            }) else {
                Issue.record("expected a pause")
                return
            }
            let fd = try job.waitFD()
            #expect(isReadable(fd))
            guard case .paused(let again) = job.resume() else {
                Issue.record("expected a second pause")
                return
            }
            #expect(readableInside == [true, false])
            #expect(!isReadable(try again.waitFD()))
            #expect(try again.waitFD() == fd)
            _ = drive(again.resume())
            // The descriptor stays with the pooled job, unreadable for the next one.
            var next: FileDescriptor? = nil
            _ = drive(try AsyncJob.start { next = try? AsyncJob.current?.waitFD() })
            #expect(next == fd)
            #expect(!isReadable(fd))
        }
    }
}

// The C library's readers (Sources/CAsyncJobsCompat/saj_wait_ctx_readers.c) read the mirror as a
// C struct of words at a fixed offset (16, after the object header): the header word, 4 keys, 4
// data words, 4 meta words, the callback's function and argument. The library compares this
// layout with its struct when it is loaded and stops the process if they differ; this pins it,
// so that a change to the mirror shows here first.
@Test func theWaitContextMirrorHasTheLayoutTheCReadersRead() {
    #expect(WaitContext.mirrorLayout == [16, 8, 40, 72, 104, 120, 136, 152, 160, 4, 0, 3, 6, 9, 1 << 12, 1 << 13, 1])
}
