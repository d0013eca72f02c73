// SPDX-License-Identifier: Apache-2.0
// Job records outlive their pools: a pool that goes away gives its records (stacks detached) to a
// process-wide list that any thread's pool takes from. Records live in slabs that are never
// unmapped (JobRecord.swift); the memory of whole pages of free records goes back to the system.

/// Process-wide store of job records: where they are made (in page-aligned slabs that are never
/// unmapped) and where records whose pool let them go wait for reuse by any thread's pool.
///
/// Records are type-stable: their memory stays mapped for the life of the process, so a stale
/// handle always reads a record. Past `keptRecords` free records, a page whose records are all
/// free is given back to the system (`MADV_DONTNEED`): it then reads as zeros (generation 0,
/// state idle, no pool), which every check treats as a stale handle, and its records are made
/// anew, with a generation above any they had, when one of them is next taken.
enum RecordRecycler {
    private struct Page {
        /// Records of the page on the free list.
        var free = 0
        /// The generation its records start at when made anew (after a discard).
        var floor: UInt64 = 0
    }
    /// Free records form a doubly linked list through their `previousInPool`/`nextInPool`
    /// fields (unused while a record has no pool); a discarded page's records are on no list,
    /// only the page is (`discarded`), so the bookkeeping of a large burst stays small.
    private struct Store: @unchecked Sendable {
        var head: JobSlot?
        var count = 0
        var discarded: [UInt] = []
        var pages: [UInt: Page] = [:]
        /// Next uncarved record of the current slab, and the slab's end (0: none yet).
        var cursor: UInt = 0
        var end: UInt = 0

        mutating func link(_ slot: JobSlot) {
            slot.previousInPool = nil
            slot.nextInPool = head
            head?.previousInPool = slot
            head = slot
            count += 1
        }

        mutating func unlink(_ slot: JobSlot) {
            if let previous = slot.previousInPool { previous.nextInPool = slot.nextInPool } else { head = slot.nextInPool }
            slot.nextInPool?.previousInPool = slot.previousInPool
            slot.previousInPool = nil
            slot.nextInPool = nil
            count -= 1
        }
    }
    private static let store = PosixMutex(Store())
    /// Free records kept whatever their pages (a pool that comes back finds them warm).
    static let keptRecords = 1024
    /// Distance between records (no record straddles a page).
    static let stride = (JobSlot.allocationSize + 15) & ~15
    static let slabBytes = 1 << 20

    /// The records of the page at `page`.
    private static func records(of page: UInt) -> [JobSlot] {
        var result: [JobSlot] = []
        var address = page
        while address + UInt(stride) <= page + UInt(VirtualMemory.pageSize) {
            result.append(unsafe JobSlot.from(address: UnsafeRawPointer(bitPattern: address)!))
            address += UInt(stride)
        }
        return result
    }

    /// A recycled record, or a new one.
    static func take() -> JobSlot {
        let page = UInt(VirtualMemory.pageSize)
        return store.withLock { store -> JobSlot in
            while true {
                if let slot = store.head {
                    store.unlink(slot)
                    let pageAddress = UInt(bitPattern: unsafe slot.address) & ~(page - 1)
                    store.pages[pageAddress]?.free -= 1
                    return slot
                }
                guard let pageAddress = store.discarded.popLast() else { break }
                // Make the page's records anew, above every generation they had; keep one.
                let floor = store.pages[pageAddress]?.floor ?? 0
                let all = records(of: pageAddress)
                for slot in all {
                    unsafe JobSlot.initialize(at: UnsafeMutableRawPointer(slot.address), generation: floor)
                }
                for slot in all.dropFirst() { store.link(slot) }
                store.pages[pageAddress]?.free = all.count - 1
                return all[0]
            }
            if store.cursor == 0 || store.cursor + UInt(stride) > store.end {
                guard case .success(let slab) = unsafe VirtualMemory.mapRecords(byteCount: slabBytes) else {
                    // No memory for a slab: from the allocator (such a record is never given
                    // back to the system).
                    let raw = UnsafeMutableRawPointer.allocate(byteCount: JobSlot.allocationSize, alignment: 16)
                    return unsafe JobSlot.initialize(at: raw, generation: 0)
                }
                store.cursor = UInt(bitPattern: slab)
                store.end = store.cursor + UInt(slabBytes)
            }
            let address = store.cursor
            if store.pages[address & ~(page - 1)] == nil { store.pages[address & ~(page - 1)] = Page() }
            store.cursor += UInt(stride)
            // The next record on the next page if it would straddle this one's end.
            let pageEnd = (address & ~(page - 1)) + page
            if store.cursor + UInt(stride) > pageEnd { store.cursor = pageEnd }
            return unsafe JobSlot.initialize(at: UnsafeMutableRawPointer(bitPattern: address)!, generation: 0)
        }
    }

    /// Gives back a record whose stack is detached; its generation moves on so old handles fail.
    /// Past `keptRecords` free records, its page goes back to the system once all the page's
    /// records are free.
    static func give(_ slot: JobSlot) {
        slot.generation &+= 1
        slot.state = .idle
        slot.pool = nil
        slot.nextFree = nil
        let page = UInt(VirtualMemory.pageSize)
        let pageAddress = UInt(bitPattern: unsafe slot.address) & ~(page - 1)
        store.withLock { store in
            store.link(slot)
            guard var state = store.pages[pageAddress] else { return }  // from the allocator
            state.free += 1
            let all = records(of: pageAddress)
            if state.free == all.count && store.count > keptRecords {
                var highest: UInt64 = 0
                for record in all {
                    highest = max(highest, record.generation)
                    store.unlink(record)
                }
                state.floor = highest &+ 1
                state.free = 0
                unsafe VirtualMemory.discard(UnsafeMutableRawPointer(bitPattern: pageAddress)!, byteCount: Int(page))
                store.discarded.append(pageAddress)
            }
            store.pages[pageAddress] = state
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
