// SPDX-License-Identifier: Apache-2.0
// The part of a wait context that readers take without its lock: a copy of its first few
// descriptors and of its C callback, published by every writer under the lock and read with a
// sequence lock. The C library's calls (`get_fd`, `get_all_fds`, `get_changed_fds`,
// `get_callback`) and Swift lookups by a one-word key are then a handful of plain loads, where a
// lock and unlock cost more than OpenSSL's whole call (which takes no lock at all).
import Synchronization

extension WaitContext {
    /// What an entry's custom data is, as Swift sees it.
    @usableFromInline enum DataKind: UInt8, Sendable {
        /// No custom data.
        case none
        /// A word: a C caller's pointer, or a Swift `UInt` (`Entry.word`).
        case word
        /// Anything else (`Entry.swiftData`): read under the lock.
        case other
    }

    /// A descriptor found in the mirror.
    @usableFromInline struct MirroredEntry {
        @usableFromInline let fd: Int32
        @usableFromInline let word: UInt
        @usableFromInline let data: DataKind

        @inlinable init(fd: Int32, word: UInt, data: DataKind) {
            self.fd = fd
            self.word = word
            self.data = data
        }
    }

    /// The lock-free copy (see the top of this file).
    ///
    /// Invariant: `sequence` is odd while a publish is under way and moves on with every publish;
    /// `count` is how many entries the slots hold (oldest first, as `State.entries`), or -1 when
    /// the entries are not mirrored (more than `capacity`, or a key that is not one word), and
    /// then readers take the lock. The slots are written only by `publish`, under the context's
    /// lock; a reader uses what it read only if `sequence` did not change meanwhile. The slots
    /// are read with unchecked subscripts: every index read is below a `count` that `publish`
    /// wrote, and it writes only counts up to `capacity`.
    @usableFromInline struct Mirror: ~Copyable, Sendable {
        /// Entries mirrored: the common case is one engine, or a few.
        @inlinable static var capacity: Int { 4 }

        @usableFromInline let sequence = Atomic<UInt>(0)
        @usableFromInline let count = Atomic<Int>(0)
        @usableFromInline let keys: InlineArray<4, Atomic<UInt>> = InlineArray { _ in Atomic<UInt>(0) }
        @usableFromInline let words: InlineArray<4, Atomic<UInt>> = InlineArray { _ in Atomic<UInt>(0) }
        /// fd (bits 0-31) | key kind (32-39) | added (40) | deleted (41) | data kind (42-43).
        @usableFromInline let metas: InlineArray<4, Atomic<UInt>> = InlineArray { _ in Atomic<UInt>(0) }
        /// The C callback (0: none set through the C library) and its argument.
        @usableFromInline let callbackFunction = Atomic<UInt>(0)
        @usableFromInline let callbackArgument = Atomic<UInt>(0)

        /// Where a meta word keeps its entry's key kind.
        @inlinable static var kindShift: UInt { 32 }
        @inlinable static var addedBit: UInt { 1 << 40 }
        @inlinable static var deletedBit: UInt { 1 << 41 }

        @usableFromInline init() {}

        /// Copies `state`; the caller holds the context's lock.
        func publish(_ state: borrowing State) {
            let before = sequence.load(ordering: .relaxed)
            sequence.store(before &+ 1, ordering: .relaxed)
            // The slots' stores below may not become visible before the odd sequence.
            atomicMemoryFence(ordering: .releasing)
            var mirrored = state.entries.count <= Mirror.capacity
            if mirrored {
                for index in state.entries.indices {
                    if state.entries[index].keyKind == .value {
                        mirrored = false
                        break
                    }
                    store(state.entries[index], at: index)
                }
            }
            count.store(mirrored ? state.entries.count : -1, ordering: .relaxed)
            callbackFunction.store(state.foreignCallback?.function ?? 0, ordering: .relaxed)
            callbackArgument.store(state.foreignCallback?.argument ?? 0, ordering: .relaxed)
            sequence.store(before &+ 2, ordering: .releasing)
        }

        /// `publish` after the one change `State.entries.append`: only the new slot and the count
        /// when the entries were mirrored and still fit (an engine's first `set_wait_fd`), else
        /// the whole copy. The caller holds the context's lock.
        func publishAppended(_ state: borrowing State) {
            let entries = state.entries.count
            guard count.load(ordering: .relaxed) == entries - 1, entries <= Mirror.capacity,
                state.entries[entries - 1].keyKind != .value
            else { return publish(state) }
            let before = sequence.load(ordering: .relaxed)
            sequence.store(before &+ 1, ordering: .relaxed)
            atomicMemoryFence(ordering: .releasing)
            store(state.entries[entries - 1], at: entries - 1)
            count.store(entries, ordering: .relaxed)
            sequence.store(before &+ 2, ordering: .releasing)
        }

        /// `publish` after the one change "the entry at `index` changed" (its marks) or "the newest
        /// entry was removed" (`index` is then the old count - 1 and `state` has one entry less):
        /// one slot or the count when the entries were mirrored, else the whole copy. The caller
        /// holds the context's lock.
        func publishChange(at index: Int, _ state: borrowing State) {
            let entries = state.entries.count
            let mirrored = count.load(ordering: .relaxed)
            let removedNewest = index == entries && mirrored == entries + 1
            guard removedNewest || (mirrored == entries && index < entries) else { return publish(state) }
            let before = sequence.load(ordering: .relaxed)
            sequence.store(before &+ 1, ordering: .relaxed)
            atomicMemoryFence(ordering: .releasing)
            if removedNewest {
                count.store(entries, ordering: .relaxed)
            } else {
                store(state.entries[index], at: index)
            }
            sequence.store(before &+ 2, ordering: .releasing)
        }

        /// Writes one entry (whose key is a word) into slot `index`, inside a publish. Every
        /// caller passes an index below a count of mirrored entries, at most `capacity`.
        @inline(__always)
        private func store(_ entry: borrowing Entry, at index: Int) {
            unsafe keys[unchecked: index].store(entry.keyBits, ordering: .relaxed)
            unsafe words[unchecked: index].store(entry.word, ordering: .relaxed)
            var meta = UInt(UInt32(bitPattern: entry.fd.rawValue)) | UInt(entry.keyKind.rawValue) << Mirror.kindShift
            if entry.added { meta |= Mirror.addedBit }
            if entry.deleted { meta |= Mirror.deletedBit }
            meta |= UInt(entry.data.rawValue) << 42
            unsafe metas[unchecked: index].store(meta, ordering: .relaxed)
        }

        /// Runs `body` on the slots and their count as of one moment: nil if the entries are not
        /// mirrored or a publish got in the way (take the lock then). `body` may see a torn copy
        /// before that is known: it must only read the slots and report.
        @inlinable @inline(__always)
        func read<Result>(_ body: (borrowing Mirror, Int) -> Result) -> Result? {
            let before = sequence.load(ordering: .acquiring)
            guard before & 1 == 0 else { return nil }
            let entries = count.load(ordering: .relaxed)
            guard entries >= 0 else { return nil }
            let result = body(self, entries)
            // The slots' loads above may not be satisfied after the sequence's second load.
            atomicMemoryFence(ordering: .acquiring)
            guard sequence.load(ordering: .relaxed) == before else { return nil }
            return result
        }

        /// The C callback, read as one moment: .some(nil) when none is set through the C library,
        /// nil when a publish got in the way.
        @inlinable @inline(__always)
        func readCallback() -> ForeignCallback?? {
            let before = sequence.load(ordering: .acquiring)
            guard before & 1 == 0 else { return nil }
            let function = callbackFunction.load(ordering: .relaxed)
            let argument = callbackArgument.load(ordering: .relaxed)
            atomicMemoryFence(ordering: .acquiring)
            guard sequence.load(ordering: .relaxed) == before else { return nil }
            return .some(function == 0 ? nil : ForeignCallback(function: function, argument: argument))
        }

        /// The newest live entry with this key among the first `count` slots (inside `read`).
        @inlinable @inline(__always)
        func newest(kind: Key.Kind, bits: UInt, count: Int) -> MirroredEntry? {
            var index = count
            while index > 0 {
                index -= 1
                let meta = unsafe metas[unchecked: index].load(ordering: .relaxed)
                guard meta & Mirror.deletedBit == 0, UInt8(truncatingIfNeeded: meta >> Mirror.kindShift) == kind.rawValue,
                    unsafe keys[unchecked: index].load(ordering: .relaxed) == bits
                else { continue }
                return MirroredEntry(
                    fd: Int32(bitPattern: UInt32(truncatingIfNeeded: meta)), word: unsafe words[unchecked: index].load(ordering: .relaxed),
                    data: DataKind(rawValue: UInt8(truncatingIfNeeded: meta >> 42) & 3) ?? .other)
            }
            return nil
        }

        /// Calls `body` with the position and fd of every live entry, newest first; returns how
        /// many (inside `read`).
        @inlinable @inline(__always)
        func forEachFD(count: Int, _ body: (Int, Int32) -> Void) -> Int {
            var found = 0
            var index = count
            while index > 0 {
                index -= 1
                let meta = unsafe metas[unchecked: index].load(ordering: .relaxed)
                if meta & Mirror.deletedBit != 0 { continue }
                body(found, Int32(bitPattern: UInt32(truncatingIfNeeded: meta)))
                found += 1
            }
            return found
        }

        /// `forEachFD` for the entries added (and not deleted) and deleted (and not added).
        @inlinable @inline(__always)
        func forEachChange(
            count: Int, added: (Int, Int32) -> Void, removed: (Int, Int32) -> Void
        ) -> (added: Int, removed: Int) {
            var addedCount = 0
            var removedCount = 0
            var index = count
            while index > 0 {
                index -= 1
                let meta = unsafe metas[unchecked: index].load(ordering: .relaxed)
                let fd = Int32(bitPattern: UInt32(truncatingIfNeeded: meta))
                // An entry is never both added and deleted (clearing an added entry removes it).
                if meta & Mirror.addedBit != 0 {
                    added(addedCount, fd)
                    addedCount += 1
                } else if meta & Mirror.deletedBit != 0 {
                    removed(removedCount, fd)
                    removedCount += 1
                }
            }
            return (addedCount, removedCount)
        }
    }
}

extension WaitContext {
    /// The C library's `get_all_fds`: writes every descriptor currently set, newest first, to
    /// `fds` (when not nil; sized by the caller from an earlier count, as OpenSSL's callers do)
    /// and returns how many there are. Allocates nothing; usually takes no lock.
    @inlinable @inline(__always)
    package func copyWaitFDs(to fds: UnsafeMutablePointer<Int32>?) -> Int {
        if let total = mirror.read({ mirror, count in
            mirror.forEachFD(count: count) { index, fd in if let fds = unsafe fds { unsafe fds[index] = fd } }
        }) {
            return total
        }
        return unsafe copyWaitFDsLocked(to: fds)
    }

    @usableFromInline
    func copyWaitFDsLocked(to fds: UnsafeMutablePointer<Int32>?) -> Int {
        state.withLock { state -> Int in
            var index = 0
            for entry in state.entries.reversed() where !entry.deleted {
                if let fds = unsafe fds { unsafe fds[index] = entry.fd.rawValue }
                index += 1
            }
            return index
        }
    }

    /// The C library's `get_changed_fds` (see `copyWaitFDs(to:)`): the descriptors added and
    /// removed since the last reset, newest first, and how many of each.
    @inlinable @inline(__always)
    package func copyChangedWaitFDs(
        added: UnsafeMutablePointer<Int32>?, removed: UnsafeMutablePointer<Int32>?
    ) -> (added: Int, removed: Int) {
        if let found = mirror.read({ mirror, count in
            mirror.forEachChange(
                count: count, added: { index, fd in if let added = unsafe added { unsafe added[index] = fd } },
                removed: { index, fd in if let removed = unsafe removed { unsafe removed[index] = fd } })
        }) {
            return found
        }
        return unsafe copyChangedWaitFDsLocked(added: added, removed: removed)
    }

    @usableFromInline
    func copyChangedWaitFDsLocked(
        added: UnsafeMutablePointer<Int32>?, removed: UnsafeMutablePointer<Int32>?
    ) -> (added: Int, removed: Int) {
        state.withLock { state -> (Int, Int) in
            var addedCount = 0
            var removedCount = 0
            for entry in state.entries.reversed() {
                if entry.added && !entry.deleted {
                    if let added = unsafe added { unsafe added[addedCount] = entry.fd.rawValue }
                    addedCount += 1
                }
                if entry.deleted && !entry.added {
                    if let removed = unsafe removed { unsafe removed[removedCount] = entry.fd.rawValue }
                    removedCount += 1
                }
            }
            return (addedCount, removedCount)
        }
    }

    /// `copyWaitFD` under the lock.
    @usableFromInline
    func waitFDLocked(forForeignKey key: UInt) -> (fd: Int32, customData: UInt)? {
        state.withLock { state in
            let key = Key(word: key)
            guard let entry = state.entries.last(where: { !$0.deleted && $0.matches(key) }) else { return nil }
            return (entry.fd.rawValue, entry.word)
        }
    }

    /// The C callback set through the C library, if that is how the callback was set. Usually
    /// answered without the lock.
    @inlinable @inline(__always)
    package var foreignCallback: ForeignCallback? {
        if let found = mirror.readCallback() { return found }
        return foreignCallbackLocked
    }

    @usableFromInline
    var foreignCallbackLocked: ForeignCallback? {
        state.withLock { $0.foreignCallback }
    }
}

extension WaitContext {
    /// The C library's `get_fd`: writes the fd and the custom data set under a C key to `fd` and
    /// `customData` (each when not nil; `customData` is a pointer-sized slot, written as a word)
    /// and returns true, or returns false and writes nothing. Usually answered without the lock,
    /// with the results written straight to the caller's.
    @inlinable @inline(__always)
    package func copyWaitFD(
        forForeignKey key: UInt, fd: UnsafeMutablePointer<Int32>?, customData: UnsafeMutableRawPointer?
    ) -> Bool {
        let found: Bool? = mirror.read { mirror, count in
            guard let entry = mirror.newest(kind: .word, bits: key, count: count) else { return false }
            if let fd = unsafe fd { unsafe fd.pointee = entry.fd }
            if let customData = unsafe customData { unsafe customData.storeBytes(of: entry.word, as: UInt.self) }
            return true
        }
        if let found { return found }
        guard let entry = waitFDLocked(forForeignKey: key) else { return false }
        if let fd = unsafe fd { unsafe fd.pointee = entry.fd }
        if let customData = unsafe customData { unsafe customData.storeBytes(of: entry.customData, as: UInt.self) }
        return true
    }

    /// The C library's `get_callback`: writes the C callback and its argument (each when not nil;
    /// pointer-sized slots, written as words) and returns true, or returns false (none set through
    /// the C library) and writes nothing.
    @inlinable @inline(__always)
    package func copyForeignCallback(function: UnsafeMutableRawPointer?, argument: UnsafeMutableRawPointer?) -> Bool {
        guard let callback = foreignCallback else { return false }
        if let function = unsafe function { unsafe function.storeBytes(of: callback.function, as: UInt.self) }
        if let argument = unsafe argument { unsafe argument.storeBytes(of: callback.argument, as: UInt.self) }
        return true
    }
}

extension WaitContext {
    /// Where the mirror's words lie, for readers that are not Swift (the C library's `get_fd`,
    /// `get_all_fds`, `get_changed_fds` and `get_callback`, which read it as a C struct): the
    /// byte offset of the sequence word from the object's address; then, from the sequence
    /// word, the offsets of the count, the first key, the first data word, the first meta word,
    /// the C callback's function and its argument; then the slots' capacity, the shift of a meta
    /// word's key kind, the kind of a one-word (C) key, and the added and deleted bits. Measured
    /// once on a probe object, so that a reader that compares it with its own struct never reads
    /// a layout it does not know.
    package static let mirrorLayout: [Int] = WaitContext().measureMirrorLayout()

    private func measureMirrorLayout() -> [Int] {
        let object = UInt(bitPattern: unsafe Unmanaged.passUnretained(self).toOpaque())
        // `Atomic` is noncopyable: a borrow of a stored one is the stored one, in place.
        func address(_ word: borrowing Atomic<UInt>) -> UInt {
            unsafe withUnsafePointer(to: word) { UInt(bitPattern: $0) }
        }
        let sequence = address(mirror.sequence)
        let count = unsafe withUnsafePointer(to: mirror.count) { UInt(bitPattern: $0) }
        let fields = [
            count, address(mirror.keys[0]), address(mirror.words[0]), address(mirror.metas[0]),
            address(mirror.callbackFunction), address(mirror.callbackArgument),
        ]
        return [Int(bitPattern: sequence &- object)] + fields.map { Int(bitPattern: $0 &- sequence) } + [
            Mirror.capacity, Int(Mirror.kindShift), Int(Key.Kind.word.rawValue), Int(bitPattern: Mirror.addedBit),
            Int(bitPattern: Mirror.deletedBit),
        ]
    }
}
