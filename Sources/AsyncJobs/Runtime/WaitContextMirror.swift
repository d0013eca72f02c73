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
    /// What it holds, when the entries are mirrored (at most `capacity`, every key one word), all
    /// oldest first, so that the usual changes (a new entry, the newest one cleared) touch only
    /// the end of each array: the live (not deleted) entries under a one-word C key
    /// (`Key.Kind.word`) in `keys`, `words` and `metas` from slot 0 up; the other live entries
    /// from slot `capacity - 1` down; the fds of the live entries, of the added ones and of the
    /// deleted (and not added) ones in `liveFDs`, `addedFDs` and `deletedFDs`; and how many of
    /// each in `header` (see `Header`). Every reader is then a short loop over one array,
    /// backwards (the APIs report newest first), as OpenSSL's is over its list.
    ///
    /// Invariant: `header` moves on with every publish (its generation). A publish first stores
    /// a header with the `busy` bit and every count 0, then the arrays, then the final header
    /// (release); a reader loads the header (acquire), reads only the parts its counts name, and
    /// uses what it read only if the header is unchanged after an acquire fence. The arrays are
    /// written only by the publishes, under the context's lock; the C-key and other slots
    /// together are at most `capacity`, so they never overlap, and every index read is below
    /// `capacity`, so the arrays are read with unchecked subscripts.
    @usableFromInline struct Mirror: ~Copyable, Sendable {
        /// Entries mirrored: the common case is one engine, or a few.
        @inlinable static var capacity: Int { 4 }

        /// The bits of `header`: four three-bit counts, two flags and a generation.
        @usableFromInline enum Header {
            /// Live entries (`liveFDs`), bits 0-2.
            @inlinable static var liveShift: UInt { 0 }
            /// Live entries under a one-word C key (slots from 0 up), bits 3-5; the other live
            /// ones (slots from `capacity - 1` down) are the difference.
            @inlinable static var wordKeyShift: UInt { 3 }
            /// `addedFDs`, bits 6-8.
            @inlinable static var addedShift: UInt { 6 }
            /// `deletedFDs`, bits 9-11.
            @inlinable static var deletedShift: UInt { 9 }
            /// A publish is under way: every count is 0 and nothing may be used.
            @inlinable static var busy: UInt { 1 << 12 }
            /// The entries are not mirrored (more than `capacity`, or a key that is not one
            /// word): readers of entries take the lock (the callback is still mirrored).
            @inlinable static var unmirrored: UInt { 1 << 13 }
            /// The generation, from bit 16 up.
            @inlinable static var generationShift: UInt { 16 }
            /// The count at `shift`.
            @inlinable static func count(_ header: UInt, _ shift: UInt) -> Int { Int((header >> shift) & 7) }
        }

        @usableFromInline let header = Atomic<UInt>(0)
        @usableFromInline let keys: InlineArray<4, Atomic<UInt>> = InlineArray { _ in Atomic<UInt>(0) }
        @usableFromInline let words: InlineArray<4, Atomic<UInt>> = InlineArray { _ in Atomic<UInt>(0) }
        /// fd (bits 0-31) | key kind (32-39) | data kind (40-41).
        @usableFromInline let metas: InlineArray<4, Atomic<UInt>> = InlineArray { _ in Atomic<UInt>(0) }
        @usableFromInline let liveFDs: InlineArray<4, Atomic<UInt32>> = InlineArray { _ in Atomic<UInt32>(0) }
        @usableFromInline let addedFDs: InlineArray<4, Atomic<UInt32>> = InlineArray { _ in Atomic<UInt32>(0) }
        @usableFromInline let deletedFDs: InlineArray<4, Atomic<UInt32>> = InlineArray { _ in Atomic<UInt32>(0) }
        /// The C callback (0: none set through the C library) and its argument.
        @usableFromInline let callbackFunction = Atomic<UInt>(0)
        @usableFromInline let callbackArgument = Atomic<UInt>(0)

        /// Where a meta word keeps its entry's key kind and its data kind.
        @inlinable static var kindShift: UInt { 32 }
        @inlinable static var dataShift: UInt { 40 }

        @usableFromInline init() {}

        /// Copies `state`; the caller holds the context's lock. (`inout` although it only reads:
        /// a `borrowing` state, which the callers hold `inout`, was copied, 217 bytes, at every
        /// call.)
        func publish(_ state: inout State) {
            let final = beginPublish(after: header.load(ordering: .relaxed))
            let counts =
                unsafe state.entries.withInlineSlots { slots, count in unsafe mirror(slots, count: count) }
                ?? (state.entries.count <= Mirror.capacity ? mirror(state.entries) : Header.unmirrored)
            callbackFunction.store(state.foreignCallback?.function ?? 0, ordering: .relaxed)
            callbackArgument.store(state.foreignCallback?.argument ?? 0, ordering: .relaxed)
            header.store(final | counts, ordering: .releasing)
        }

        /// `publish` after the one change "`slot` was appended to the inline entries" (as every
        /// new entry, live and added): one slot and two fds at the ends of their arrays, where a
        /// whole copy cost about 110 instructions of a `set_wait_fd`. Else the whole copy. The
        /// caller holds the context's lock.
        func publishAppended(_ slot: Slot, _ state: inout State) {
            let before = header.load(ordering: .relaxed)
            guard before & Header.unmirrored == 0, state.entries.isInline, slot.keyKind != .value, slot.added,
                !slot.deleted
            else { return publish(&state) }
            // At most 3 live before: the inline entries, at most 4, include the new one.
            let live = Header.count(before, Header.liveShift)
            let words = Header.count(before, Header.wordKeyShift)
            let added = Header.count(before, Header.addedShift)
            let final = beginPublish(after: before)
            let isWord = slot.keyKind == .word
            store(slot, at: isWord ? words : Mirror.capacity &- 1 &- (live &- words))
            unsafe liveFDs[unchecked: live].store(UInt32(bitPattern: slot.fd), ordering: .relaxed)
            unsafe addedFDs[unchecked: added].store(UInt32(bitPattern: slot.fd), ordering: .relaxed)
            let counts =
                before & (7 << Header.deletedShift) | UInt(live &+ 1) << Header.liveShift
                | UInt(isWord ? words &+ 1 : words) << Header.wordKeyShift | UInt(added &+ 1) << Header.addedShift
            header.store(final | counts, ordering: .releasing)
        }

        /// `publish` after the one change "the newest entry, `slot` (live and added), was removed
        /// from the inline entries": it is the last of its key group, of the live and of the added
        /// fds, so only the counts change. Else the whole copy. The caller holds the lock.
        func publishRemovedNewest(_ slot: Slot, _ state: inout State) {
            let before = header.load(ordering: .relaxed)
            let live = Header.count(before, Header.liveShift)
            let words = Header.count(before, Header.wordKeyShift)
            let added = Header.count(before, Header.addedShift)
            let isWord = slot.keyKind == .word
            guard before & Header.unmirrored == 0, state.entries.isInline, slot.added, !slot.deleted, added > 0,
                isWord ? words > 0 : live > words
            else { return publish(&state) }
            let final = beginPublish(after: before)
            let counts =
                before & (7 << Header.deletedShift) | UInt(live &- 1) << Header.liveShift
                | UInt(isWord ? words &- 1 : words) << Header.wordKeyShift | UInt(added &- 1) << Header.addedShift
            header.store(final | counts, ordering: .releasing)
        }

        /// Stores the busy header of the publish that follows `before` and returns the
        /// generation bits of its final header. Inside a publish.
        @inline(__always)
        private func beginPublish(after before: UInt) -> UInt {
            let generation = (before >> Header.generationShift) &+ 1
            header.store(generation << Header.generationShift | Header.busy, ordering: .relaxed)
            // The arrays' stores that follow may not become visible before the busy header.
            atomicMemoryFence(ordering: .releasing)
            return (generation &+ 1) << Header.generationShift
        }

        /// `mirror(_:)` for inline slots (no key of theirs is a value).
        @inline(__always)
        private func mirror(_ slots: UnsafePointer<Slot>, count: Int) -> UInt {
            var words = 0
            var others = 0
            var added = 0
            var deleted = 0
            for index in 0..<count {
                let entry = unsafe slots[index]
                let fd = UInt32(bitPattern: entry.fd)
                if !entry.deleted {
                    if entry.keyKind == .word {
                        store(entry, at: words)
                        words &+= 1
                    } else {
                        store(entry, at: Mirror.capacity &- 1 &- others)
                        others &+= 1
                    }
                    unsafe liveFDs[unchecked: words &+ others &- 1].store(fd, ordering: .relaxed)
                    if entry.added {
                        unsafe addedFDs[unchecked: added].store(fd, ordering: .relaxed)
                        added &+= 1
                    }
                } else if !entry.added {
                    unsafe deletedFDs[unchecked: deleted].store(fd, ordering: .relaxed)
                    deleted &+= 1
                }
            }
            return UInt(words &+ others) << Header.liveShift | UInt(words) << Header.wordKeyShift
                | UInt(added) << Header.addedShift | UInt(deleted) << Header.deletedShift
        }

        /// Writes `entries` (at most `capacity`) into the arrays, inside a publish, and returns
        /// the header's counts, or `Header.unmirrored` if a key is not one word.
        private func mirror(_ entries: borrowing EntryList) -> UInt {
            for index in entries.indices where entries.slot(at: index).keyKind == .value { return Header.unmirrored }
            var words = 0
            var others = 0
            var added = 0
            var deleted = 0
            for index in entries.indices {
                let entry = entries.slot(at: index)
                let fd = UInt32(bitPattern: entry.fd)
                if !entry.deleted {
                    if entry.keyKind == .word {
                        store(entry, at: words)
                        words += 1
                    } else {
                        store(entry, at: Mirror.capacity - 1 - others)
                        others += 1
                    }
                    unsafe liveFDs[unchecked: words + others - 1].store(fd, ordering: .relaxed)
                    if entry.added {
                        unsafe addedFDs[unchecked: added].store(fd, ordering: .relaxed)
                        added += 1
                    }
                } else if !entry.added {
                    unsafe deletedFDs[unchecked: deleted].store(fd, ordering: .relaxed)
                    deleted += 1
                }
            }
            return UInt(words + others) << Header.liveShift | UInt(words) << Header.wordKeyShift
                | UInt(added) << Header.addedShift | UInt(deleted) << Header.deletedShift
        }

        /// Writes one live entry (whose key is a word) into slot `index`, inside a publish. Every
        /// caller passes an index below `capacity`.
        @inline(__always)
        private func store(_ entry: Slot, at index: Int) {
            unsafe keys[unchecked: index].store(entry.keyBits, ordering: .relaxed)
            unsafe words[unchecked: index].store(entry.word, ordering: .relaxed)
            let meta =
                UInt(UInt32(bitPattern: entry.fd)) | UInt(entry.keyKind.rawValue) << Mirror.kindShift
                | UInt(entry.data.rawValue) << Mirror.dataShift
            unsafe metas[unchecked: index].store(meta, ordering: .relaxed)
        }

        /// Runs `body` on the arrays and the header as of one moment: nil if the entries are not
        /// mirrored or a publish got in the way (take the lock then). `body` may see a torn copy
        /// before that is known: it must only read the parts the header's counts name, and
        /// report.
        @inlinable @inline(__always)
        func read<Result>(_ body: (borrowing Mirror, UInt) -> Result) -> Result? {
            let before = header.load(ordering: .acquiring)
            guard before & (Header.busy | Header.unmirrored) == 0 else { return nil }
            let result = body(self, before)
            // The arrays' loads above may not be satisfied after the header's second load.
            atomicMemoryFence(ordering: .acquiring)
            guard header.load(ordering: .relaxed) == before else { return nil }
            return result
        }

        /// The C callback, read as one moment: .some(nil) when none is set through the C library,
        /// nil when a publish got in the way.
        @inlinable @inline(__always)
        func readCallback() -> ForeignCallback?? {
            let before = header.load(ordering: .acquiring)
            guard before & Header.busy == 0 else { return nil }
            let function = callbackFunction.load(ordering: .relaxed)
            let argument = callbackArgument.load(ordering: .relaxed)
            atomicMemoryFence(ordering: .acquiring)
            guard header.load(ordering: .relaxed) == before else { return nil }
            return .some(function == 0 ? nil : ForeignCallback(function: function, argument: argument))
        }

        /// The newest live entry with this key (inside `read`, with its header).
        @inlinable @inline(__always)
        func newest(kind: Key.Kind, bits: UInt, header: UInt) -> MirroredEntry? {
            let live = Header.count(header, Header.liveShift)
            let words = Header.count(header, Header.wordKeyShift)
            // C keys from slot 0 up, the other kinds from slot `capacity - 1` down; oldest first.
            var index = kind == .word ? words : Mirror.capacity - (live - words)
            let end = kind == .word ? 0 : Mirror.capacity
            let step = kind == .word ? -1 : 1
            while index != end {
                let slot = kind == .word ? index - 1 : index
                index += step
                let meta = unsafe metas[unchecked: slot].load(ordering: .relaxed)
                guard UInt8(truncatingIfNeeded: meta >> Mirror.kindShift) == kind.rawValue,
                    unsafe keys[unchecked: slot].load(ordering: .relaxed) == bits
                else { continue }
                return MirroredEntry(
                    fd: Int32(bitPattern: UInt32(truncatingIfNeeded: meta)),
                    word: unsafe self.words[unchecked: slot].load(ordering: .relaxed),
                    data: DataKind(rawValue: UInt8(truncatingIfNeeded: meta >> Mirror.dataShift) & 3) ?? .other)
            }
            return nil
        }

        /// Calls `body` with the position (newest first) and fd of the first `count` fds of
        /// `fds`, last first.
        @inlinable @inline(__always)
        func forEachNewestFirst(
            _ fds: borrowing InlineArray<4, Atomic<UInt32>>, count: Int, _ body: (Int, Int32) -> Void
        ) {
            for position in 0..<count {
                body(position, Int32(bitPattern: unsafe fds[unchecked: count - 1 - position].load(ordering: .relaxed)))
            }
        }

        /// Calls `body` with the position and fd of every live entry, newest first; returns how
        /// many (inside `read`, with its header).
        @inlinable @inline(__always)
        func forEachFD(header: UInt, _ body: (Int, Int32) -> Void) -> Int {
            let count = Header.count(header, Header.liveShift)
            forEachNewestFirst(liveFDs, count: count, body)
            return count
        }

        /// `forEachFD` for the entries added (and not deleted) and deleted (and not added).
        @inlinable @inline(__always)
        func forEachChange(
            header: UInt, added: (Int, Int32) -> Void, removed: (Int, Int32) -> Void
        ) -> (added: Int, removed: Int) {
            let addedCount = Header.count(header, Header.addedShift)
            let removedCount = Header.count(header, Header.deletedShift)
            forEachNewestFirst(addedFDs, count: addedCount, added)
            forEachNewestFirst(deletedFDs, count: removedCount, removed)
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
        if let total = mirror.read({ mirror, header in
            mirror.forEachFD(header: header) { index, fd in if let fds = unsafe fds { unsafe fds[index] = fd } }
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
        if let found = mirror.read({ mirror, header in
            mirror.forEachChange(
                header: header, added: { index, fd in if let added = unsafe added { unsafe added[index] = fd } },
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
        let found: Bool? = mirror.read { mirror, header in
            guard let entry = mirror.newest(kind: .word, bits: key, header: header) else { return false }
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
    /// `get_all_fds`, `get_changed_fds` and `get_callback`, which read it as a C struct at a fixed
    /// offset): the byte offset of the header word from the object's address; then, from the
    /// header word, the offsets of the first key, data word and meta word, of the first live,
    /// added and deleted fd, and of the C callback's function and argument; then the capacity,
    /// the shifts of the header's live, C-key, added and deleted counts, its busy and unmirrored
    /// bits, and the kind of a one-word (C) key. Measured once on a probe object; the C library
    /// compares it with its own struct when it is loaded and stops the process, naming the
    /// difference, if they differ.
    package static let mirrorLayout: [Int] = WaitContext().measureMirrorLayout()

    private func measureMirrorLayout() -> [Int] {
        let object = UInt(bitPattern: unsafe Unmanaged.passUnretained(self).toOpaque())
        // `Atomic` is noncopyable: a borrow of a stored one is the stored one, in place.
        func address(_ word: borrowing Atomic<UInt>) -> UInt {
            unsafe withUnsafePointer(to: word) { UInt(bitPattern: $0) }
        }
        let header = address(mirror.header)
        func address(_ word: borrowing Atomic<UInt32>) -> UInt {
            unsafe withUnsafePointer(to: word) { UInt(bitPattern: $0) }
        }
        let fields = [
            address(mirror.keys[0]), address(mirror.words[0]), address(mirror.metas[0]),
            address(mirror.liveFDs[0]), address(mirror.addedFDs[0]), address(mirror.deletedFDs[0]),
            address(mirror.callbackFunction), address(mirror.callbackArgument),
        ]
        return [Int(bitPattern: header &- object)] + fields.map { Int(bitPattern: $0 &- header) } + [
            Mirror.capacity, Int(Mirror.Header.liveShift), Int(Mirror.Header.wordKeyShift),
            Int(Mirror.Header.addedShift), Int(Mirror.Header.deletedShift), Int(bitPattern: Mirror.Header.busy),
            Int(bitPattern: Mirror.Header.unmirrored), Int(Key.Kind.word.rawValue),
        ]
    }
}
