// SPDX-License-Identifier: Apache-2.0
// Job records outlive their pools: a pool that goes away gives its records (stacks detached) to a
// process-wide list that any thread's pool takes from, so records are never freed (JobRecord.swift).

/// Process-wide store of job records whose pool is gone, for reuse by any thread's pool.
enum RecordRecycler {
    private struct List: @unchecked Sendable {
        var head: JobSlot?
    }
    private static let list = PosixMutex(List())

    /// A recycled record, or a new one.
    static func take() -> JobSlot {
        if let slot = list.withLock({ list -> JobSlot? in
            guard let head = list.head else { return nil }
            list.head = head.nextFree
            return head
        }) {
            slot.nextFree = nil
            return slot
        }
        return JobSlot.allocate()
    }

    /// Gives back a record whose stack is detached; its generation moves on so old handles fail.
    static func give(_ slot: JobSlot) {
        slot.generation &+= 1
        slot.state = .idle
        slot.pool = nil
        slot.previousInPool = nil
        slot.nextInPool = nil
        list.withLock { list in
            slot.nextFree = list.head
            list.head = slot
        }
    }
}

/// A pool's stack allocator, shared by reference by the pool and its records (an existential in
/// every record would cost 40 bytes of each paused job).
final class StackAllocatorBox: Sendable {
    let allocator: any StackAllocator

    init(_ allocator: any StackAllocator) {
        self.allocator = allocator
    }
}
