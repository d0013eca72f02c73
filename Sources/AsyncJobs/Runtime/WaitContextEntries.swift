// SPDX-License-Identifier: Apache-2.0
// A wait context's descriptors, in insertion order, kept without a Swift array in the common case.
//
// The common case is the C library's: one engine, or a few, each with a C key (an address),
// custom data that is a pointer and a C cleanup routine, all plain words. Up to four such entries
// live inline in the context (`Slot`s); `set_wait_fd` + `clear_fd` then write a slot and shift at
// most three, where appending to and removing from an array of entries (a uniqueness check, a
// capacity check, copies that retain and release) cost about 150 of the pair's 384 instructions
// (AMD EPYC, callgrind). The first entry that does not fit (a fifth, or one with a Swift key that
// is not one word, Swift custom data or a Swift cleanup) moves them all into an array (`spill`),
// where they stay until the context is emptied. Either way the entries read the same, in the same
// order, through `RandomAccessCollection`.
import SystemPackage

extension WaitContext {
    /// One descriptor in plain words: an `Entry` without `extras`.
    struct Slot {
        // Words first, then the small fields: 32 bytes.
        let keyBits: UInt
        let word: UInt
        let foreignCleanup: UInt
        let fd: Int32
        let keyKind: Key.Kind
        let data: DataKind
        var added: Bool
        var deleted: Bool

        /// An unused slot.
        static var empty: Slot {
            Slot(keyKind: .word, keyBits: 0, fd: -1, word: 0, data: .none, foreignCleanup: 0, added: false, deleted: false)
        }

        /// The plain words of an entry (read field by field: no copy of its `extras`).
        init(_ entry: borrowing Entry) {
            self.init(
                keyKind: entry.keyKind, keyBits: entry.keyBits, fd: entry.fd.rawValue, word: entry.word, data: entry.data,
                foreignCleanup: entry.foreignCleanup, added: entry.added, deleted: entry.deleted)
        }

        init(
            keyKind: Key.Kind, keyBits: UInt, fd: Int32, word: UInt, data: DataKind, foreignCleanup: UInt, added: Bool,
            deleted: Bool
        ) {
            self.keyKind = keyKind
            self.keyBits = keyBits
            self.fd = fd
            self.word = word
            self.data = data
            self.foreignCleanup = foreignCleanup
            self.added = added
            self.deleted = deleted
        }

        /// Whether `entry` can be kept as a slot: its key is one word and it has no `extras`.
        static func fits(_ entry: borrowing Entry) -> Bool {
            entry.keyKind != .value && entry.extras == nil
        }

        var entry: Entry {
            Entry(
                keyKind: keyKind, keyBits: keyBits, fd: FileDescriptor(rawValue: fd), word: word, data: data,
                foreignCleanup: foreignCleanup, extras: nil, added: added, deleted: deleted)
        }
    }

    /// The entries of a context, oldest first.
    ///
    /// Invariant: while `spilled` is nil the entries are `slots[0..<slotCount]` (at most
    /// `slotCapacity`, every one `Slot.fits`); once an entry did not fit they are all in `spilled`
    /// (and `slotCount` is 0) until `removeAll()`.
    struct EntryList: RandomAccessCollection {
        /// How many entries live inline.
        static var slotCapacity: Int { 4 }

        // A tuple rather than an `InlineArray`: its subscript copied the whole array (224 bytes)
        // at every access here (Swift 6.2, release); four stored properties behind a `switch`
        // made `publish` load all four at once.
        private var slotStorage: (Slot, Slot, Slot, Slot) = (.empty, .empty, .empty, .empty)
        private var slotCount = 0
        private var spilled: [Entry]? = nil

        init() {}

        /// Inline slot `index` (below `slotCapacity`, checked).
        @inline(__always)
        private func slots(_ index: Int) -> Slot {
            precondition(index >= 0 && index < EntryList.slotCapacity, "a wait-context slot index is below 4")
            return unsafe withUnsafeBytes(of: slotStorage) { unsafe $0.load(fromByteOffset: index * MemoryLayout<Slot>.stride, as: Slot.self) }
        }

        @inline(__always)
        private mutating func setSlots(_ index: Int, _ slot: Slot) {
            precondition(index >= 0 && index < EntryList.slotCapacity, "a wait-context slot index is below 4")
            unsafe withUnsafeMutableBytes(of: &slotStorage) {
                unsafe $0.storeBytes(of: slot, toByteOffset: index * MemoryLayout<Slot>.stride, as: Slot.self)
            }
        }

        /// Runs `body` with the inline slots and their count (nil if the entries are spilled).
        /// The pointer is valid only during `body`; `inout` so that it points at the slots
        /// themselves, not at a copy.
        @inline(__always)
        mutating func withInlineSlots<Result>(_ body: (UnsafePointer<Slot>, Int) -> Result) -> Result? {
            guard spilled == nil else { return nil }
            let count = slotCount
            return unsafe withUnsafeMutablePointer(to: &slotStorage) { tuple in
                unsafe tuple.withMemoryRebound(to: Slot.self, capacity: EntryList.slotCapacity) { unsafe body($0, count) }
            }
        }

        var startIndex: Int { 0 }
        @inline(__always)
        var endIndex: Int { spilled?.count ?? slotCount }

        @inline(__always)
        subscript(position: Int) -> Entry {
            if let spilled { return spilled[position] }
            precondition(position < slotCount, "a wait-context entry index is below the count")
            return slots(position).entry
        }

        /// The plain words of the entry at `position` (no copy of a Swift entry's `extras`).
        @inline(__always)
        func slot(at position: Int) -> Slot {
            if spilled != nil { return Slot(spilled![position]) }
            precondition(position < slotCount, "a wait-context entry index is below the count")
            return slots(position)
        }

        /// The position of the newest live entry under the C key `key`, or nil. `mutating` only
        /// to read the inline slots in place (it changes nothing).
        @inline(__always)
        mutating func lastLiveIndex(wordKey key: UInt) -> Int? {
            if let found = unsafe withInlineSlots({ slots, count -> Int? in
                var index = count
                while index > 0 {
                    index &-= 1
                    let slot = unsafe slots[index]
                    if !slot.deleted, slot.keyKind == .word, slot.keyBits == key { return index }
                }
                return nil
            }) {
                return found
            }
            guard let spilled else { return nil }
            return spilled.lastIndex { !$0.deleted && $0.keyKind == .word && $0.keyBits == key }
        }

        /// Whether the entries are inline (none of them needed the array).
        @inline(__always)
        var isInline: Bool { spilled == nil }

        mutating func append(_ entry: Entry) {
            if spilled == nil {
                if slotCount < EntryList.slotCapacity, Slot.fits(entry) {
                    setSlots(slotCount, Slot(entry))
                    slotCount += 1
                    return
                }
                spill()
            }
            spilled!.append(entry)
        }

        /// `append` of an entry that is plain words (the C library's).
        @inline(__always)
        mutating func append(_ slot: Slot) {
            if spilled == nil, slotCount < EntryList.slotCapacity {
                setSlots(slotCount, slot)
                slotCount += 1
                return
            }
            append(slot.entry)
        }

        /// Moves the inline entries into the array.
        private mutating func spill() {
            var entries: [Entry] = []
            entries.reserveCapacity(slotCount + 1)
            for index in 0..<slotCount { entries.append(slots(index).entry) }
            slotCount = 0
            spilled = entries
        }

        /// Marks the entry at `position` deleted.
        @inline(__always)
        mutating func markDeleted(at position: Int) {
            if spilled != nil {
                spilled![position].deleted = true
            } else {
                precondition(position < slotCount, "a wait-context entry index is below the count")
                var slot = slots(position)
                slot.deleted = true
                setSlots(position, slot)
            }
        }

        /// Removes the entry at `position`; the newer ones move down, in order.
        @inline(__always)
        mutating func remove(at position: Int) {
            if spilled != nil {
                spilled!.remove(at: position)
                return
            }
            precondition(position < slotCount, "a wait-context entry index is below the count")
            var index = position
            while index + 1 < slotCount {
                setSlots(index, slots(index + 1))
                index += 1
            }
            slotCount -= 1
        }

        /// Removes the deleted entries and clears every `added` mark (the end of a change period).
        mutating func resetChanges() {
            if spilled != nil {
                spilled!.removeAll(where: \.deleted)
                for index in spilled!.indices { spilled![index].added = false }
                return
            }
            var kept = 0
            for index in 0..<slotCount where !slots(index).deleted {
                var slot = slots(index)
                slot.added = false
                setSlots(kept, slot)
                kept += 1
            }
            slotCount = kept
        }

        /// Removes every entry; the next ones are inline again.
        mutating func removeAll() {
            spilled = nil
            slotCount = 0
        }
    }
}
