// SPDX-License-Identifier: Apache-2.0
// The C library's job handles (`ASYNC_JOB *`) name one job, not its record: a stale one is
// refused and touches nothing, even after its record runs a newer job, is retired, or sits on a
// page given back to the system.
@testable import AsyncJobs
import Testing

/// A C job function that pauses once (its pause's result is deliberately unused: the job returns
/// either way) and returns 7.
private let pauseOnce: ForeignJobFunction = { _ in
    _ = JobRuntime.pause()
    return 7
}

/// A C job function that pauses once and returns 8.
private let pauseOnceMore: ForeignJobFunction = { _ in
    _ = JobRuntime.pause()
    return 8
}

/// The handle `SAJ_get_current_job` returned inside the last job that ran `recordCurrentHandle`.
nonisolated(unsafe) private var currentHandleSeen: UnsafeMutableRawPointer?

/// A C job function that records its own handle, pauses once and returns 9.
private let recordCurrentHandle: ForeignJobFunction = { _ in
    currentHandleSeen = JobReference.currentOpaqueHandle
    _ = JobRuntime.pause()
    return 9
}

/// Whether the last job that ran `lookUpOwnWaitContext` found its wait context through its own
/// C handle.
nonisolated(unsafe) private var ownWaitContextFound = false

/// Inside a job: looks its wait context up through its own C handle (as a C engine does), and
/// returns 1.
private func lookUpOwnWaitContext() -> Int {
    currentHandleSeen = JobReference.currentOpaqueHandle
    ownWaitContextFound = currentHandleSeen.map { JobReference.waitContextAddress(opaqueHandle: $0) != nil } ?? false
    return 1
}

/// A task-local value, to see what a C job started where it is bound finds.
private enum ForeignLocals {
    @TaskLocal static var mark: Int32 = 0
}

/// A C job function that returns the task-local `ForeignLocals.mark` it sees.
private let returnMark: ForeignJobFunction = { _ in ForeignLocals.mark }

/// Starts `function` as a C job that must pause; returns its handle.
private func startPaused(
    _ function: ForeignJobFunction, waitContext: WaitContext? = nil, ret: UnsafeMutablePointer<Int32>
) throws -> UnsafeMutableRawPointer? {
    let step = try JobRuntime.start(waitContext: waitContext, function: function, argument: nil, ret: ret)
    guard case .paused(let job) = step else { return nil }
    return job.opaqueHandle
}

/// The record a handle points at.
private func record(of handle: UnsafeRawPointer) -> UInt {
    UInt(bitPattern: handle) & JobSlot.handleAddressMask
}

@Suite("C job handles", .serialized)
struct ForeignHandleTests {
    /// The first half of the C library's assembly start (x86_64): where the starter has
    /// task-local values for the job (a test body runs in a task that has some), it runs the job
    /// on the general switch itself, which carries them in, and reports how it ended; with no
    /// idle job it declines and does nothing.
    @Test func aPreparedStartRunsWholeWhereValuesMustBeCarriedInAndDeclinesWithoutAnIdleJob() {
        withFreshPool(initialSize: 1) {
            let (finished, value) = withUnsafeTemporaryAllocation(of: Int32.self, capacity: 1) { ret in
                ret[0] = 0
                let finished = ForeignLocals.$mark.withValue(5) {
                    switch unsafe JobRuntime.startForeignPrepare(
                        waitContext: nil, function: returnMark, argument: nil, copyingArgument: false, ret: ret.baseAddress)
                    {
                    case .started(.finished): true
                    default: false
                    }
                }
                return (finished, ret[0])
            }
            #expect(finished)
            #expect(value == 5)
        }
        withFreshPool(maxSize: 1) {
            let declined = withUnsafeTemporaryAllocation(of: Int32.self, capacity: 1) { ret in
                if case .declined = unsafe JobRuntime.startForeignPrepare(
                    waitContext: nil, function: returnMark, argument: nil, copyingArgument: false, ret: ret.baseAddress)
                {
                    return true
                }
                return false
            }
            #expect(declined)
            #expect(JobPool.statistics?.jobs == 0)
        }
    }

    @Test func staleHandleIsRefusedAfterItsRecordRunsANewerJob() throws {
        try withFreshPool {
            var ret: Int32 = -1
            let first = try #require(try startPaused(pauseOnce, ret: &ret))
            #expect(JobRuntime.resumeForeign(first, ret: &ret) == .finished)
            #expect(ret == 7)
            // The pool hands the same record to the next job.
            let second = try #require(try startPaused(pauseOnceMore, ret: &ret))
            #expect(record(of: first) == record(of: second))
            #expect(first != second)
            ret = 1234
            #expect(JobRuntime.resumeForeign(first, ret: &ret) == .refused(.stale))
            #expect(ret == 1234)
            // The newer job is untouched: still paused, and finishes with its own value.
            #expect(JobReference(opaqueHandle: second).isAlive)
            #expect(!JobReference(opaqueHandle: first).isAlive)
            #expect(JobRuntime.resumeForeign(second, ret: &ret) == .finished)
            #expect(ret == 8)
        }
    }

    // The first half of the x86_64 assembly entry point's resume declines a stale handle without
    // touching the record (the whole resume then refuses it, as above).
    @Test func theInlinedResumeDeclinesAStaleHandleOfAReusedRecord() throws {
        try withFreshPool {
            var ret: Int32 = -1
            let first = try #require(try startPaused(pauseOnce, ret: &ret))
            #expect(JobRuntime.resumeForeign(first, ret: &ret) == .finished)
            let second = try #require(try startPaused(pauseOnceMore, ret: &ret))
            let newer = JobReference(opaqueHandle: second)
            ret = 1234
            #expect(JobRuntime.resumeForeignPrepare(first, ret: &ret) == nil)
            #expect(newer.isAlive && newer.slot.state == .paused)
            #expect(ret == 1234)
            #expect(JobRuntime.resumeForeign(second, ret: &ret) == .finished)
            #expect(ret == 8)
        }
    }

    @Test func aStaleHandleFindsNoWaitContextAndWakesNothing() throws {
        try withFreshPool {
            var ret: Int32 = -1
            let olderContext = WaitContext()
            let newerContext = WaitContext()
            let first = try #require(try startPaused(pauseOnce, waitContext: olderContext, ret: &ret))
            #expect(JobReference.waitContextAddress(opaqueHandle: first) != nil)
            #expect(JobRuntime.resumeForeign(first, ret: &ret) == .finished)
            let second = try #require(try startPaused(pauseOnceMore, waitContext: newerContext, ret: &ret))
            #expect(record(of: first) == record(of: second))
            // The newer job's context is its handle's, never the stale one's.
            #expect(JobReference.waitContextAddress(opaqueHandle: first) == nil)
            #expect(JobReference(opaqueHandle: first).waitContext == nil)
            #expect(JobReference(opaqueHandle: second).waitContext === newerContext)
            // The first design's wake descriptor: a stale handle neither makes nor signals one.
            JobReference(opaqueHandle: first).wake()
            #expect(JobReference(opaqueHandle: second).slot.existingWakeFD == nil)
            #expect(throws: AsyncJobError.self) { try JobReference(opaqueHandle: first).waitFD() }
            #expect(JobRuntime.resumeForeign(second, ret: &ret) == .finished)
            #expect(ret == 8)
        }
    }

    @Test func theRunningJobsOwnHandleIsTheOneItsStartReturned() throws {
        try withFreshPool {
            var ret: Int32 = -1
            // Twice on one record: each job sees its own handle, at its own generation.
            for _ in 0..<2 {
                let handle = try #require(try startPaused(recordCurrentHandle, ret: &ret))
                #expect(currentHandleSeen == handle)
                #expect(JobRuntime.resumeForeign(handle, ret: &ret) == .finished)
                #expect(ret == 9)
            }
        }
    }

    @Test func aRecordWhoseHandleTagsRanOutIsRetiredBeforeACJobRunsOnIt() throws {
        try withFreshPool {
            var ret: Int32 = -1
            let first = try #require(try startPaused(pauseOnce, ret: &ret))
            #expect(JobRuntime.resumeForeign(first, ret: &ret) == .finished)
            // Fast-forward the idle record to the last generation a C handle's tag can name.
            let slot = JobReference(opaqueHandle: first).slot
            slot.generation = JobSlot.lastHandleTag
            let jobs = JobPool.statistics?.jobs
            let second = try #require(try startPaused(pauseOnceMore, ret: &ret))
            // Another record: the spent one left the pool (its generation moved on), and the
            // pool made a new job in its place.
            #expect(record(of: first) != record(of: second))
            #expect(slot.generation == JobSlot.lastHandleTag + 1)
            #expect(slot.pool == nil)
            #expect(JobPool.statistics?.jobs == jobs)
            #expect(JobRuntime.resumeForeign(first, ret: &ret) == .refused(.stale))
            #expect(JobRuntime.resumeForeign(second, ret: &ret) == .finished)
            #expect(ret == 8)
        }
    }

    // A job of the Swift API may run past the tags of C handles; its own handle, from inside it,
    // still finds its wait context (a C engine called from Swift code), and is stale once it ends.
    @Test func aSwiftJobPastTheTagsFindsItsWaitContextThroughItsOwnHandle() throws {
        try withFreshPool {
            // (Outside `#expect`: a job started inside the macro's expansion did not run its body.)
            let warmUp = drive(try AsyncJob.start { 0 }).value
            #expect(warmUp == 0)
            let slot = try #require(PoolHandle.current?.allSlots.first)
            slot.generation = JobSlot.lastHandleTag + 5
            let value = drive(try AsyncJob.start(waitContext: WaitContext()) { lookUpOwnWaitContext() }).value
            #expect(value == 1)
            #expect(slot.generation == JobSlot.lastHandleTag + 6)
            #expect(ownWaitContextFound)
            let handle = try #require(currentHandleSeen)
            #expect(JobSlot.tag(ofOpaqueHandle: handle) == JobSlot.lastHandleTag)
            #expect(JobReference.waitContextAddress(opaqueHandle: handle) == nil)
            #expect(!JobReference(opaqueHandle: handle).isAlive)
        }
    }

    // Past 1,024 free records, pages of free records go back to the system and read as zeros:
    // handles of their old jobs stay refused, before and after the pages are made anew for new
    // jobs.
    @Test func handlesOfRecordsWhosePagesWentBackToTheSystemStayStale() throws {
        var handles: [UnsafeMutableRawPointer] = []
        try withFreshPool {
            var ret: Int32 = -1
            for _ in 0..<3000 { handles.append(try #require(try startPaused(pauseOnce, ret: &ret))) }
            for handle in handles { #expect(JobRuntime.resumeForeign(handle, ret: &ret) == .finished) }
        }
        // The cleanup gave the records back (and the system most of their pages).
        func expectAllStale() {
            var ret: Int32 = 1234
            var refused = 0
            for handle in handles {
                let reference = JobReference(opaqueHandle: handle)
                if !reference.isAlive && reference.waitContext == nil
                    && JobReference.waitContextAddress(opaqueHandle: handle) == nil
                    && JobRuntime.resumeForeign(handle, ret: &ret) == .refused(.stale)
                {
                    refused += 1
                }
                reference.wake()
            }
            #expect(refused == handles.count)
            #expect(ret == 1234)
        }
        expectAllStale()
        try withFreshPool {
            // New jobs on the same records (their pages made anew): the old handles stay stale.
            var ret: Int32 = -1
            var fresh: [UnsafeMutableRawPointer] = []
            for _ in 0..<3000 { fresh.append(try #require(try startPaused(pauseOnceMore, ret: &ret))) }
            expectAllStale()
            var finished = 0
            for handle in fresh {
                ret = -1
                if JobRuntime.resumeForeign(handle, ret: &ret) == .finished && ret == 8 { finished += 1 }
            }
            #expect(finished == fresh.count)
        }
    }
}

