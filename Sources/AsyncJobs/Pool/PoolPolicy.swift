// SPDX-License-Identifier: Apache-2.0
// How a thread's pool grows, shrinks, reuses and lets go of jobs. PoolCore.swift holds the
// data; this file holds the decisions.
import SystemPackage

extension PoolHandle {
    /// An idle job, or a new one if the pool may grow; nil when the pool is at its limit.
    /// - Throws: ``AsyncJobError`` when a new job's stack cannot be allocated.
    @inline(__always)
    func acquire() throws(AsyncJobError) -> JobSlot? {
        if let slot = popFree() { return slot }
        guard canGrow else { return nil }
        return try makeRecord()
    }

    /// Makes a new job with a stack; it is in use (not on the free list).
    func makeRecord() throws(AsyncJobError) -> JobSlot {
        let allocator = allocatorBox
        guard let stack = allocator.allocator.allocateStack(minimumByteCount: stackByteCount) else {
            throw AsyncJobError(.stackAllocationFailed, underlying: Errno(rawValue: errnoValue()))
        }
        let slot = RecordRecycler.take()
        slot.attach(stack: stack, allocator: allocator)
        // (A record that left a recording pool lost its bit when its stack was detached.)
        if recordsPauses { slot.recordsPauses = true }
        adopt(slot)
        return slot
    }

    /// Returns a finished job to the pool, or lets it go if the pool is above its limit or its
    /// stack no longer has the pool's size. Inlinable: in the usual case (nothing to let go, the
    /// pool within its limit) a few stores, inlined into the start and resume fast paths.
    @inlinable @inline(__always)
    func recycle(_ slot: JobSlot) {
        slot.generation &+= 1
        slot.state = .idle
        let kept = slot.clearPauseBlocks()
        if slot.needsOnlyTheFreeList(stackByteCount: stackByteCount, canary: kept) && total <= limit {
            pushFree(slot)
        } else {
            recycleSlowly(slot)
        }
    }

    /// `recycle` for a job that holds a wait context, a wake descriptor or job-local storage, or
    /// may not stay.
    @usableFromInline @inline(never)
    func recycleSlowly(_ slot: JobSlot) {
        // The usual case here, every job the C library starts with a wait context: the context is
        // all there is to let go. Released last, once the record is back in its pool (as the
        // job-local storage below: a deinit may run any code).
        if slot.holdsAtMostAWaitContext(stackByteCount: stackByteCount) && total <= limit {
            let context = slot.takeWaitContext()
            pushFree(slot)
            _ = consume context
            return
        }
        recycleWhole(slot)
    }

    /// `recycleSlowly`'s other cases (out of line, so that its usual case saves no register).
    @inline(never)
    func recycleWhole(_ slot: JobSlot) {
        // Out of the record before `pushFree` reuses its word; released last (see `takeLocals`).
        let locals = slot.takeLocals()
        withExtendedLifetime(locals) {
            if slot.hasWaitContext { slot.waitContext = nil }
            if let fd = slot.existingWakeFD { EventCounter.drain(fd) }
            if total > limit || slot.stack?.byteCount != stackByteCount {
                release(slot)
            } else {
                pushFree(slot)
            }
        }
    }

    /// Frees a job that is not on the free list: its stack goes back to its allocator, its record
    /// to the recycler.
    func release(_ slot: JobSlot) {
        disown(slot)
        slot.detachStack()
        RecordRecycler.give(slot)
    }

    /// Takes the idle records whose generation has used up the tags of C handles off the pool
    /// for good (the C library's starts, JobReference+OpaqueHandle.swift): their stacks go back
    /// to their allocator and the records to `RecordRecycler.retire`, which keeps their memory
    /// (a stale handle still reads it) and never hands them out again. One record per 65,535
    /// jobs run on it.
    func retireSpentFreeRecords() {
        for slot in removeFree(where: { $0.generation >= JobSlot.lastHandleTag }) {
            disown(slot)
            slot.detachStack()
            RecordRecycler.retire(slot)
        }
    }

    /// Makes idle jobs until `count` jobs exist (or the limit is reached).
    func prefill(to count: Int) throws(AsyncJobError) {
        while total < count && canGrow {
            let slot = try makeRecord()
            slot.generation &+= 1
            pushFree(slot)
        }
    }

    /// Frees idle jobs until the pool is within its limit, and idle jobs whose stack size is
    /// no longer the pool's.
    func trim() {
        // One pass over the free list each (taking records out of it one by one from a list of
        // all of them was quadratic: a second of teardown at 10,000 jobs).
        for slot in removeFree(where: { $0.stack?.byteCount != stackByteCount }) { release(slot) }
        // Above the limit: the least recently used go (the free list's tail); the ones kept are
        // the likeliest to be warm in the cache.
        guard total > limit else { return }
        var keep = max(0, idle - (total - limit))
        let excess = removeFree { _ in
            if keep > 0 {
                keep -= 1
                return false
            }
            return true
        }
        for slot in excess { release(slot) }
    }

    /// Cancels every paused job and frees every job. Jobs paused in it are run to completion with
    /// failing pauses, so their frames release what they hold.
    /// - Returns: how many paused jobs were cancelled.
    @discardableResult
    func cancelAndFreeAll() -> Int {
        var cancelled = 0
        // One snapshot serves: cancelling runs job code, which cannot start or resume a job
        // (no nesting), so no job of the snapshot becomes paused meanwhile and none is added.
        // Each is checked again when its turn comes (an earlier one's code cannot finish it
        // either, but the check costs nothing).
        for slot in allSlots where slot.state == .paused {
            JobRuntime.cancel(JobReference(slot: slot, generation: slot.generation))
            cancelled += 1
        }
        // Every job is idle now, so on the free list.
        while let slot = popFree() { release(slot) }
        return cancelled
    }

    /// Paused jobs of the pool.
    var pausedCount: Int { allSlots.count(where: { $0.state == .paused }) }
}
