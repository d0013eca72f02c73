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
/// state idle, no pool), which every check treats as a stale handle (no job runs at generation
/// 0: records are made at generation 1), and its records are made anew, with a generation above
/// any they had, when one of them is next taken.
///
/// A record whose generation has reached `JobSlot.lastHandleTag` is never handed out: the C
/// library's handles could not name its jobs (JobReference+OpaqueHandle.swift). It is retired
/// instead (kept, off every list, so that stale handles still read it, and its page is never
/// given back), and a page given back whose records would be made anew at or above that
/// generation stays given back for good.
///
/// Taking a record off the list costs a few stores: whether a record is on the list is a byte of
/// the record itself (`JobRecord.recycling`), read and written only under the store's lock, and
/// only a record given back looks at its page's other records (16 bytes) to see whether the whole
/// page is free.
enum RecordRecycler {
    /// The bits of `JobRecord.recycling`.
    enum Recycling {
        /// On the recycler's free list.
        static let listed: UInt8 = 1
        /// From the memory allocator, not a slab (no slab could be mapped): never given back.
        static let allocated: UInt8 = 2
    }
    /// A page of records given back to the system, and the generation its records start at when
    /// made anew.
    private struct DiscardedPage {
        let address: UInt
        let floor: UInt64
    }
    /// Free records form a doubly linked list through their `previousInPool`/`nextInPool`
    /// fields (unused while a record has no pool); a discarded page's records are on no list,
    /// only the page is (`discarded`), so the bookkeeping of a large burst stays small.
    private struct Store: @unchecked Sendable {
        var head: JobSlot?
        var count = 0
        var discarded: [DiscardedPage] = []
        /// Next uncarved record of the current slab, and the slab's end (0: none yet).
        var cursor: UInt = 0
        var end: UInt = 0

        mutating func link(_ slot: JobSlot) {
            slot.previousInPool = nil
            slot.nextInPool = head
            head?.previousInPool = slot
            head = slot
            slot.recycling |= Recycling.listed
            count += 1
        }

        mutating func unlink(_ slot: JobSlot) {
            if let previous = slot.previousInPool { previous.nextInPool = slot.nextInPool } else { head = slot.nextInPool }
            slot.nextInPool?.previousInPool = slot.previousInPool
            slot.previousInPool = nil
            slot.nextInPool = nil
            slot.recycling &= ~Recycling.listed
            count -= 1
        }
    }
    private static let store = FutexMutex(Store())
    /// Free records kept whatever their pages (a pool that comes back finds them warm).
    static let keptRecords = 1024
    /// Distance between records (no record straddles a page).
    static let stride = (JobSlot.allocationSize + 15) & ~15
    static let slabBytes = 1 << 20
    /// Records per page (the last `pageSize % stride` bytes of a page hold none).
    static let recordsPerPage = VirtualMemory.pageSize / stride

    /// The `index`th record of the page at `page`.
    private static func record(_ index: Int, of page: UInt) -> JobSlot {
        unsafe JobSlot.from(address: UnsafeRawPointer(bitPattern: page + UInt(index * stride))!)
    }

    /// A recycled record, or a new one.
    static func take() -> JobSlot {
        let page = UInt(VirtualMemory.pageSize)
        return store.withLock { store -> JobSlot in
            while let slot = store.head {
                store.unlink(slot)
                // Spent: retired where it is (off the list, so its page is never all free again).
                if slot.generation >= JobSlot.lastHandleTag { continue }
                return slot
            }
            while let discarded = store.discarded.popLast() {
                // Spent: the page stays given back (zeros: stale to every handle).
                if discarded.floor >= JobSlot.lastHandleTag { continue }
                // Make the page's records anew, above every generation they had; keep the first.
                for index in 0..<recordsPerPage {
                    unsafe JobSlot.initialize(
                        at: UnsafeMutableRawPointer(bitPattern: discarded.address + UInt(index * stride))!,
                        generation: discarded.floor)
                }
                for index in 1..<recordsPerPage { store.link(record(index, of: discarded.address)) }
                return record(0, of: discarded.address)
            }
            if store.cursor == 0 || store.cursor + UInt(stride) > store.end {
                guard case .success(let slab) = unsafe VirtualMemory.mapRecords(byteCount: slabBytes) else {
                    // No memory for a slab: from the allocator (such a record is never given
                    // back to the system).
                    let raw = UnsafeMutableRawPointer.allocate(byteCount: JobSlot.allocationSize, alignment: 16)
                    precondition(
                        UInt(bitPattern: raw) & ~JobSlot.handleAddressMask == 0,
                        "a job record above the 48-bit address space (C handles keep a tag there)")
                    let slot = unsafe JobSlot.initialize(at: raw, generation: 1)
                    slot.recycling = Recycling.allocated
                    return slot
                }
                store.cursor = UInt(bitPattern: slab)
                store.end = store.cursor + UInt(slabBytes)
                precondition(
                    store.end & ~JobSlot.handleAddressMask == 0,
                    "job records above the 48-bit address space (C handles keep a tag there)")
            }
            let address = store.cursor
            store.cursor += UInt(stride)
            // The next record on the next page if it would straddle this one's end.
            let pageEnd = (address & ~(page - 1)) + page
            if store.cursor + UInt(stride) > pageEnd { store.cursor = pageEnd }
            return unsafe JobSlot.initialize(at: UnsafeMutableRawPointer(bitPattern: address)!, generation: 1)
        }
    }

    /// Retires a record whose stack is detached and whose generation has used up the tags of C
    /// handles: its generation moves on so that old handles fail, and it is never handed out
    /// again (its memory stays: stale handles read it; off the list, its page is never given back).
    static func retire(_ slot: JobSlot) {
        slot.generation &+= 1
        slot.state = .idle
        slot.pool = nil
        slot.nextFree = nil
        slot.previousInPool = nil
        slot.nextInPool = nil
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
            guard store.count > keptRecords, slot.recycling & Recycling.allocated == 0 else { return }
            for index in 0..<recordsPerPage where record(index, of: pageAddress).recycling & Recycling.listed == 0 {
                return
            }
            var highest: UInt64 = 0
            for index in 0..<recordsPerPage {
                let record = record(index, of: pageAddress)
                highest = max(highest, record.generation)
                store.unlink(record)
            }
            unsafe VirtualMemory.discard(UnsafeMutableRawPointer(bitPattern: pageAddress)!, byteCount: Int(page))
            store.discarded.append(DiscardedPage(address: pageAddress, floor: highest &+ 1))
        }
    }
}

extension JobSlot {
    /// `JobRecord.recycling`; read and written only under the recycler's lock.
    fileprivate var recycling: UInt8 {
        get { unsafe record.pointee.recycling }
        nonmutating set { unsafe record.pointee.recycling = newValue }
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
