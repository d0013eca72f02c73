// SPDX-License-Identifier: Apache-2.0
// A job's wait context: the file descriptors (or the callback) through which engines tell the
// application that a paused job can continue, with OpenSSL 3's exact bookkeeping rules
// (docs/contract.md, "Wait contexts").
//
// Invariants: `entries` is in insertion order (APIs report newest first); an entry is never both
// `added` and `deleted` (clearing an added entry removes it); `hasChanges` is true whenever some
// entry is added or deleted; every change to `entries` or to `foreignCallback` is published to
// `mirror` before the lock is released (Runtime/WaitContextMirror.swift), which is what lets the
// readers of one-word keys and of the C callback skip the lock.
import Synchronization
import SystemPackage

/// The file descriptors and callback through which engines signal that a paused job can go on.
///
/// Create one per session (for example per connection), pass it to ``AsyncJob/start(waitContext:_:)``,
/// and watch the descriptors it reports, or set a ``callback``. Engines find it from inside the job
/// with ``AsyncJob/currentWaitContext``.
///
/// - Important: every method may be called from any thread; the descriptors are normally
///   managed by the job's own thread, while engine threads read the callback and set the status.
/// OpenSSL equivalent: `ASYNC_WAIT_CTX`.
public final class WaitContext: Sendable {
    /// Identifies the engine that owns a wait descriptor; unique to that engine.
    ///
    /// Keys made of an `ObjectIdentifier` (what engines use) or a `UInt` (what the C library
    /// makes of a C key's address) are one word, compared as words: a lookup needs no dynamic
    /// cast, and the context can answer it without its lock.
    public struct Key: Hashable, Sendable {
        /// What `bits` holds.
        @usableFromInline enum Kind: UInt8, Sendable {
            /// An `ObjectIdentifier`'s bits.
            case object
            /// A `UInt` (a C key's address).
            case word
            /// Nothing: the key is `base`, compared with `==`.
            case value
        }

        @usableFromInline let kind: Kind
        @usableFromInline let bits: UInt
        /// The key itself when it is not one word (`kind == .value`), else nil.
        @usableFromInline let base: (any Hashable & Sendable)?

        /// A key made of any hashable value, for example an engine object's `ObjectIdentifier`.
        /// (Inlinable: specialized for the key's type, the casts below cost nothing.)
        @inlinable
        public init(_ base: some Hashable & Sendable) {
            if let identifier = base as? ObjectIdentifier {
                self.init(kind: .object, bits: UInt(bitPattern: identifier), base: nil)
            } else if let word = base as? UInt {
                self.init(word: word)
            } else {
                self.init(kind: .value, bits: 0, base: base)
            }
        }

        @usableFromInline
        init(kind: Kind, bits: UInt, base: (any Hashable & Sendable)?) {
            self.kind = kind
            self.bits = bits
            self.base = base
        }

        /// The key of a C caller: its address (equal to `Key(UInt(address))`).
        @inlinable
        package init(word: UInt) {
            self.init(kind: .word, bits: word, base: nil)
        }

        /// The bits of an `ObjectIdentifier` key, else nil.
        var objectBits: UInt? { kind == .object ? bits : nil }

        public static func == (lhs: Key, rhs: Key) -> Bool {
            guard lhs.kind == rhs.kind else { return false }
            guard lhs.kind == .value, let left = lhs.base, let right = rhs.base else { return lhs.bits == rhs.bits }
            return left.isEqual(to: right)
        }

        public func hash(into hasher: inout Hasher) {
            hasher.combine(kind.rawValue)
            if let base { base.hash(into: &hasher) } else { hasher.combine(bits) }
        }
    }

    /// Called when the context is freed for each descriptor still set, so its engine can close it.
    public typealias Cleanup = @Sendable (_ key: Key, _ fd: FileDescriptor, _ customData: (any Sendable)?) -> Void

    /// A descriptor set under a key, with the data its engine attached.
    public struct WaitDescriptor: Sendable {
        /// The descriptor to wait on for readability.
        public let fd: FileDescriptor
        /// What the engine passed as custom data.
        public let customData: (any Sendable)?
    }

    /// Descriptors added and removed since the context's change state was last reset (when a
    /// paused job using it was resumed).
    public struct Changes: Sendable, Equatable {
        /// Added and not removed since, newest first.
        public var added: [FileDescriptor]
        /// Removed (and not added in the same period), newest first.
        public var removed: [FileDescriptor]

        /// Creates a change report.
        public init(added: [FileDescriptor], removed: [FileDescriptor]) {
            self.added = added
            self.removed = removed
        }
    }

    /// An engine's report about its callback path.
    /// OpenSSL equivalent: `ASYNC_STATUS_*`.
    public struct Status: RawRepresentable, Hashable, Sendable {
        public var rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }
        /// The engine does not use the callback path (the initial value).
        public static var unsupported: Status { Status(rawValue: 0) }
        /// The request failed for good: clean up the session.
        public static var error: Status { Status(rawValue: 1) }
        /// The request was submitted: the callback will be called.
        public static var ok: Status { Status(rawValue: 2) }
        /// A transient problem (for example a full queue): resume the job to retry.
        public static var eagain: Status { Status(rawValue: 3) }
    }

    /// A C callback and its argument, kept verbatim for the C library's `get_callback`.
    @usableFromInline package struct ForeignCallback: Sendable, Equatable {
        @usableFromInline package let function: UInt
        @usableFromInline package let argument: UInt
        @inlinable package init(function: UInt, argument: UInt) {
            self.function = function
            self.argument = argument
        }
    }

    /// Calls a C cleanup routine (the C library's `SAJ_cleanup_fn`, at `function`) with the
    /// context's address, the key's address, the fd and the custom data. The C library installs
    /// it before it sets its first descriptor (`installForeignCleanupCaller(_:)`); entries keep
    /// only the routine's address, so that they stay plain words.
    package typealias ForeignCleanupCaller = @Sendable (
        _ function: UInt, _ context: UInt, _ key: UInt, _ fd: Int32, _ customData: UInt
    ) -> Void

    private static let foreignCleanupCaller = Mutex<ForeignCleanupCaller?>(nil)

    /// Installs the caller of C cleanup routines (see `ForeignCleanupCaller`).
    package static func installForeignCleanupCaller(_ caller: @escaping ForeignCleanupCaller) {
        foreignCleanupCaller.withLock { $0 = caller }
    }

    /// One descriptor. Plain words except `extras` (nil for the C library's entries), so that
    /// copying one is cheap: the lookups, `publish` and the changes scan copy entries.
    struct Entry {
        let keyKind: Key.Kind
        let keyBits: UInt
        let fd: FileDescriptor
        /// The custom data as the C library sees it: a C caller's pointer, or a Swift `UInt`
        /// (anything else reads as 0, as it always has).
        let word: UInt
        /// What the custom data is; `.other`: `extras.customData`.
        let data: DataKind
        /// The address of a C cleanup routine, 0 for none.
        let foreignCleanup: UInt
        /// What only Swift entries have.
        let extras: EntryExtras?
        var added: Bool
        var deleted: Bool

        /// The key as it was set.
        var key: Key {
            keyKind == .value ? Key(extras!.keyBase!) : Key(kind: keyKind, bits: keyBits, base: nil)
        }

        func matches(_ key: Key) -> Bool {
            guard keyKind == key.kind else { return false }
            guard keyKind == .value, let left = extras?.keyBase, let right = key.base else { return keyBits == key.bits }
            return left.isEqual(to: right)
        }

        /// The custom data as Swift sees it.
        var customData: (any Sendable)? {
            switch data {
            case .none: nil
            case .word: word
            case .other: extras?.customData
            }
        }
    }

    /// The parts of a Swift entry that are not words.
    final class EntryExtras: Sendable {
        /// The key when it is not one word.
        let keyBase: (any Hashable & Sendable)?
        /// The custom data when it is neither a word nor nothing.
        let customData: (any Sendable)?
        let cleanup: Cleanup?

        init(keyBase: (any Hashable & Sendable)?, customData: (any Sendable)?, cleanup: Cleanup?) {
            self.keyBase = keyBase
            self.customData = customData
            self.cleanup = cleanup
        }
    }

    struct State {
        /// Inline while they are plain words and few (Runtime/WaitContextEntries.swift).
        /// Changed only through `changeEntries`, which forgets `engineLookup`. (Not a `didSet`:
        /// an observed property is copied out and back around every change, two copies of the
        /// inline entries per `set_wait_fd`. Settable here only so that `Mirror.publish` can
        /// read the inline entries in place, through `EntryList.withInlineSlots`.)
        var entries = EntryList()

        /// Runs `change` on the entries: any change may change what a lookup finds.
        @inline(__always)
        mutating func changeEntries<Result>(_ change: (inout EntryList) -> Result) -> Result {
            let result = change(&entries)
            // (Tested first: assigning nil to nil still calls release.)
            if engineLookup != nil { engineLookup = nil }
            return result
        }
        /// The last engine object found by `engineTarget(forKey:matching:)` for an
        /// `ObjectIdentifier` key (its bits): an engine looks its fd up at every operation, and
        /// a scan of the entries (a copy and a dynamic cast each) cost about 760 of an fd loop's
        /// 3,130 instructions per operation.
        var engineLookup: (key: UInt, object: AnyObject)?
        var callback: (@Sendable () -> Void)?
        /// The same callback in a form an engine can announce in batches (set by a job loop
        /// through `restoreCallback(_:batchForm:)`); nil whenever `callback` was set any other way.
        var batchForm: BatchCallback?
        var foreignCallback: ForeignCallback?
    }

    /// A copy of the descriptors and of the C callback that readers take without the lock.
    /// The first stored property: the C library's readers find it at a fixed offset from the
    /// object's address (`mirrorLayout`, checked when the C library is loaded).
    @usableFromInline let mirror = Mirror()
    /// Writers take it; readers of what `mirror` holds do not.
    let state = FutexMutex(State())
    /// The engine's status (a plain word: no lock).
    private let statusValue = Atomic<Int32>(Status.unsupported.rawValue)
    /// Whether some entry is added or deleted: lets a resume skip the lock when nothing changed.
    @usableFromInline package let hasChanges = Atomic(false)

    /// Creates a context with no descriptors, no callback and status ``Status/unsupported``.
    /// OpenSSL equivalent: `ASYNC_WAIT_CTX_new()`.
    public init() {}

    deinit {
        runCleanups()
    }

    // MARK: Descriptors

    /// Associates `fd` with `key`. A key already present keeps its older entries; lookups and
    /// ``clearWaitFD(forKey:)`` act on the newest.
    ///
    /// - Parameters:
    ///   - fd: a descriptor that becomes readable when the job can continue.
    ///   - key: the engine's own key.
    ///   - customData: returned by ``waitDescriptor(forKey:)``.
    ///   - cleanup: called when the context is freed (not when the entry is cleared).
    /// OpenSSL equivalent: `ASYNC_WAIT_CTX_set_wait_fd()`.
    public func setWaitFD(
        _ fd: FileDescriptor, forKey key: Key, customData: (any Sendable)? = nil, cleanup: Cleanup? = nil
    ) {
        let word = customData as? UInt
        let other = word == nil ? customData : nil
        let extras =
            key.base != nil || other != nil || cleanup != nil
            ? EntryExtras(keyBase: key.base, customData: other, cleanup: cleanup) : nil
        append(
            Entry(
                keyKind: key.kind, keyBits: key.bits, fd: fd, word: word ?? 0,
                data: customData == nil ? .none : word != nil ? .word : .other, foreignCleanup: 0, extras: extras,
                added: true, deleted: false))
    }

    /// `setWaitFD` for the C library: a C key and custom data, both addresses, and a C cleanup
    /// routine. Swift reads the custom data as a `UInt`.
    package func setWaitFD(_ fd: Int32, forForeignKey key: UInt, customData: UInt, cleanup: UInt) {
        let slot = Slot(
            keyKind: .word, keyBits: key, fd: fd, word: customData, data: .word, foreignCleanup: cleanup, added: true,
            deleted: false)
        state.withLock { state in
            state.changeEntries { $0.append(slot) }
            mirror.publishAppended(slot, &state)
        }
        hasChanges.store(true, ordering: .releasing)
    }

    private func append(_ entry: Entry) {
        state.withLock { state in
            state.changeEntries { $0.append(entry) }
            mirror.publishAppended(Slot(entry), &state)
        }
        hasChanges.store(true, ordering: .releasing)
    }

    /// The newest descriptor set under `key` and not cleared, or nil.
    /// OpenSSL equivalent: `ASYNC_WAIT_CTX_get_fd()`.
    public func waitDescriptor(forKey key: Key) -> WaitDescriptor? {
        if key.kind != .value,
            let found = mirror.read({ mirror, header in mirror.newest(kind: key.kind, bits: key.bits, header: header) })
        {
            // Without the lock when the entry's custom data is a word or nothing.
            switch found {
            case .none: return nil
            case .some(let entry) where entry.data != .other:
                return WaitDescriptor(fd: FileDescriptor(rawValue: entry.fd), customData: entry.data == .word ? entry.word : nil)
            case .some: break
            }
        }
        return state.withLock { state in
            guard let entry = state.entries.last(where: { !$0.deleted && $0.matches(key) }) else { return nil }
            return WaitDescriptor(fd: entry.fd, customData: entry.customData)
        }
    }

    /// The newest descriptor set under `key`, or nil.
    public func waitFD(forKey key: Key) -> FileDescriptor? {
        waitDescriptor(forKey: key)?.fd
    }

    /// Every descriptor currently set, newest first.
    /// OpenSSL equivalent: `ASYNC_WAIT_CTX_get_all_fds()`.
    public var allWaitFDs: [FileDescriptor] {
        var all: [FileDescriptor] = []
        all.reserveCapacity(Mirror.capacity)
        forEachWaitFD { index, fd in
            // A retried read starts again at index 0.
            if index < all.count { all[index] = FileDescriptor(rawValue: fd) } else { all.append(FileDescriptor(rawValue: fd)) }
        } count: { all.removeSubrange($0...) }
        return all
    }

    /// Calls `body` with the position (from 0) and number of every descriptor currently set,
    /// newest first, then `count` with how many there were. `body` may see the first positions
    /// again if a writer got in the way of a lock-free read: it writes an array at those
    /// positions.
    func forEachWaitFD(_ body: (Int, Int32) -> Void, count: (Int) -> Void) {
        if let total = mirror.read({ mirror, header in mirror.forEachFD(header: header, body) }) {
            count(total)
            return
        }
        let total = state.withLock { state -> Int in
            var index = 0
            for entry in state.entries.reversed() where !entry.deleted {
                body(index, entry.fd.rawValue)
                index += 1
            }
            return index
        }
        count(total)
    }

    /// How many descriptors are currently set.
    public var waitFDCount: Int {
        var total = 0
        forEachWaitFD({ _, _ in }, count: { total = $0 })
        return total
    }

    /// Descriptors added and removed since the last reset. Reading resets nothing; the reset
    /// happens when a paused job using this context is resumed.
    /// OpenSSL equivalent: `ASYNC_WAIT_CTX_get_changed_fds()`.
    public var changedWaitFDs: Changes {
        var changes = Changes(added: [], removed: [])
        forEachChangedWaitFD(
            added: { index, fd in
                if index < changes.added.count {
                    changes.added[index] = FileDescriptor(rawValue: fd)
                } else {
                    changes.added.append(FileDescriptor(rawValue: fd))
                }
            },
            removed: { index, fd in
                if index < changes.removed.count {
                    changes.removed[index] = FileDescriptor(rawValue: fd)
                } else {
                    changes.removed.append(FileDescriptor(rawValue: fd))
                }
            },
            counts: { added, removed in
                changes.added.removeSubrange(added...)
                changes.removed.removeSubrange(removed...)
            })
        return changes
    }

    /// `changedWaitFDs` as calls (see `forEachWaitFD(_:count:)`): `added` and `removed` with
    /// positions and descriptors, newest first, then `counts` with how many of each there were.
    func forEachChangedWaitFD(
        added: (Int, Int32) -> Void, removed: (Int, Int32) -> Void, counts: (Int, Int) -> Void
    ) {
        if let found = mirror.read({ mirror, header in mirror.forEachChange(header: header, added: added, removed: removed) }) {
            counts(found.added, found.removed)
            return
        }
        let found = state.withLock { state -> (Int, Int) in
            var addedCount = 0
            var removedCount = 0
            for entry in state.entries.reversed() {
                if entry.added && !entry.deleted {
                    added(addedCount, entry.fd.rawValue)
                    addedCount += 1
                }
                if entry.deleted && !entry.added {
                    removed(removedCount, entry.fd.rawValue)
                    removedCount += 1
                }
            }
            return (addedCount, removedCount)
        }
        counts(found.0, found.1)
    }

    /// Removes the newest entry under `key` without calling its cleanup.
    /// - Returns: false if no entry has that key.
    /// OpenSSL equivalent: `ASYNC_WAIT_CTX_clear_fd()`.
    @discardableResult
    public func clearWaitFD(forKey key: Key) -> Bool {
        let cleared = state.withLock { state -> Bool in
            guard let index = state.entries.lastIndex(where: { !$0.deleted && $0.matches(key) }) else { return false }
            clearEntry(at: index, in: &state)
            return true
        }
        if cleared { hasChanges.store(true, ordering: .releasing) }
        return cleared
    }

    /// `clearWaitFD(forKey:)` for the C library's keys (their addresses).
    package func clearWaitFD(forForeignKey key: UInt) -> Bool {
        let cleared = state.withLock { state -> Bool in
            guard let index = state.entries.lastLiveIndex(wordKey: key) else { return false }
            clearEntry(at: index, in: &state)
            return true
        }
        if cleared { hasChanges.store(true, ordering: .releasing) }
        return cleared
    }

    /// Clears the live entry at `index` and publishes the change; the caller holds the lock.
    private func clearEntry(at index: Int, in state: inout State) {
        let slot = state.entries.slot(at: index)
        if !slot.added {
            state.changeEntries { $0.markDeleted(at: index) }
        } else if index == state.entries.count - 1 {
            // Added and cleared within one period: it never existed as far as changes go.
            state.changeEntries { $0.remove(at: index) }
            return mirror.publishRemovedNewest(slot, &state)
        } else {
            state.changeEntries { $0.remove(at: index) }
        }
        mirror.publish(&state)
    }

    /// Forgets the added and removed marks: called inside a resumed job before `pause` returns.
    @inline(__always)
    func resetChangesIfNeeded() {
        if hasChanges.load(ordering: .acquiring) { resetChanges() }
    }

    @inline(never)
    private func resetChanges() {
        state.withLock { state in
            state.changeEntries { $0.resetChanges() }
            mirror.publish(&state)
        }
        hasChanges.store(false, ordering: .releasing)
    }

    /// Calls the cleanup of every live entry, newest first, and empties the context.
    /// Freeing the context does the same.
    /// OpenSSL equivalent: the cleanup calls of `ASYNC_WAIT_CTX_free()`.
    public func runCleanups() {
        let entries = state.withLock { state -> EntryList in
            let entries = state.entries
            state.changeEntries { $0.removeAll() }
            mirror.publish(&state)
            return entries
        }
        let address = UInt(bitPattern: ObjectIdentifier(self))
        let foreignCaller =
            entries.contains { $0.foreignCleanup != 0 } ? WaitContext.foreignCleanupCaller.withLock { $0 } : nil
        for entry in entries.reversed() where !entry.deleted {
            if entry.foreignCleanup != 0 {
                foreignCaller?(entry.foreignCleanup, address, entry.keyBits, entry.fd.rawValue, entry.word)
            } else if let cleanup = entry.extras?.cleanup {
                cleanup(entry.key, entry.fd, entry.customData)
            }
        }
    }

    // MARK: Callback and status

    /// The engine's completion callback, or nil. Engines call it (from any thread, possibly an
    /// interrupt or polling context) instead of signalling a descriptor; it must be short and
    /// must not block.
    /// OpenSSL equivalent: `ASYNC_WAIT_CTX_set_callback()` / `ASYNC_WAIT_CTX_get_callback()`.
    public var callback: (@Sendable () -> Void)? {
        get { state.withLock { $0.callback } }
        set {
            state.withLock { state in
                let hadForeign = state.foreignCallback != nil
                state.callback = newValue
                state.batchForm = nil
                state.foreignCallback = nil
                if hadForeign { mirror.publish(&state) }
            }
        }
    }

    /// Sets a callback that the C library also reports verbatim.
    package func setCallback(_ callback: (@Sendable () -> Void)?, foreign: ForeignCallback?) {
        state.withLock { state in
            state.callback = callback
            state.batchForm = nil
            state.foreignCallback = foreign
            mirror.publish(&state)
        }
    }

    /// Puts back the callback (and its batch form) that a driver such as a job loop runs its
    /// jobs with, if a job replaced or cleared it (nil and nil: none), so that the driver's next
    /// job is woken the driver's way. One lock.
    package func restoreCallback(_ callback: (@Sendable () -> Void)?, batchForm: BatchCallback?) {
        state.withLock { state in
            // `batchForm` is cleared whenever the callback is set any other way.
            let intact =
                state.foreignCallback == nil
                && (batchForm.map { state.batchForm?.isSame(as: $0) ?? false }
                    ?? (state.callback == nil && state.batchForm == nil))
            if intact { return }
            let hadForeign = state.foreignCallback != nil
            state.callback = callback
            state.batchForm = batchForm
            state.foreignCallback = nil
            if hadForeign { mirror.publish(&state) }
        }
    }

    /// How an engine should announce a request made from a job using this context.
    package enum EngineTarget {
        /// The callback's batch form (see ``restoreCallback(_:batchForm:)``).
        case batchForm(BatchCallback)
        /// The callback.
        case callback(@Sendable () -> Void)
        /// The engine's own object, found as the custom data of its newest descriptor.
        case engineObject(AnyObject)
    }

    /// For an engine's job side, under one lock: the callback (in its batch form if it has one;
    /// the status is set to ``Status/ok`` first, as OpenSSL's engines do), or else the custom
    /// data of the newest live descriptor under `key` that `matching` accepts; nil if there is
    /// neither. With an `ObjectIdentifier` key the object found is remembered until the
    /// descriptors change, so `matching` (a dynamic cast, usually) runs once per context.
    package func engineTarget(forKey key: Key, matching: (any Sendable) -> AnyObject?) -> EngineTarget? {
        state.withLock { state -> EngineTarget? in
            // The batch form first: it is set only together with `callback`, and reading it
            // does not copy (retain and release) the callback closure.
            if let batch = state.batchForm {
                statusValue.store(Status.ok.rawValue, ordering: .releasing)
                return .batchForm(batch)
            }
            if let callback = state.callback {
                statusValue.store(Status.ok.rawValue, ordering: .releasing)
                return .callback(callback)
            }
            if let found = state.engineLookup, found.key == key.objectBits { return .engineObject(found.object) }
            var position = state.entries.endIndex
            while position > state.entries.startIndex {
                position -= 1
                let entry = state.entries[position]
                if !entry.deleted, entry.matches(key), let data = entry.customData, let object = matching(data) {
                    // Valid until the entries change (State clears it then).
                    if let bits = key.objectBits { state.engineLookup = (bits, object) }
                    return .engineObject(object)
                }
            }
            return nil
        }
    }

    /// Calls the callback if one is set.
    /// - Returns: whether a callback was called.
    @discardableResult
    public func invokeCallback() -> Bool {
        guard let callback = self.callback else { return false }
        callback()
        return true
    }

    /// The engine's status; the library never changes it.
    /// OpenSSL equivalent: `ASYNC_WAIT_CTX_set_status()` / `ASYNC_WAIT_CTX_get_status()`.
    public var status: Status {
        get { Status(rawValue: statusValue.load(ordering: .acquiring)) }
        set { statusValue.store(newValue.rawValue, ordering: .releasing) }
    }
}

/// Something that takes many completions in one call: a `JobLoop` queues the entries for
/// resumption under one lock and wakes its thread at most once. An engine that completes
/// several requests together (the simulated accelerator's timer thread) hands them over in one
/// batch instead of calling each job's wait-context callback in turn: per-request callbacks made
/// the loop thread and the completer contend for the loop's lock, and each contended lock
/// sleeps in the kernel (tens of microseconds on a loaded VM).
package protocol CompletionBatchSink: AnyObject, Sendable {
    /// The job on entry `index` can go on. Any thread.
    func entryReady(_ index: Int32)
    /// The jobs on these entries can go on. Any thread.
    /// - Returns: whether the sink had taken every earlier announcement (it keeps up, so
    ///   completions reaching it sooner would be handled sooner). An engine that holds
    ///   completions back to save wake-ups (the accelerator's moderation) holds them less.
    @discardableResult
    func entriesReady(_ indices: [Int32]) -> Bool
}

/// A wait-context callback that is also reachable as a batch: entry `index` of `sink`. Set by
/// a job loop together with the plain callback (``WaitContext/restoreCallback(_:batchForm:)``),
/// and cleared whenever the callback is set any other way, so it always means the same thing as
/// the callback.
///
/// A value, copied into each request: an engine's thread reads the sink and the index from the
/// request it completes, which it touches anyway, and takes no reference count for it. The one
/// count a request takes is the sink's (the loop's), taken and dropped on the loop's thread
/// (the request is made there and freed there once its job has read the result), so it stays
/// in that core's cache. (An object per loop entry, retained by each request, cost the loop's
/// thread a cache miss per request at thousands of entries, and the engine's thread, which
/// retained it too, a transfer of the line from the other core.)
package struct BatchCallback: Sendable {
    package let sink: any CompletionBatchSink
    package let index: Int32

    package init(sink: any CompletionBatchSink, index: Int32) {
        self.sink = sink
        self.index = index
    }

    /// Whether both name the same entry of the same sink.
    package func isSame(as other: borrowing BatchCallback) -> Bool {
        sink === other.sink && index == other.index
    }
}

extension Hashable {
    fileprivate func isEqual(to other: any Hashable) -> Bool {
        guard let other = other as? Self else { return false }
        return self == other
    }
}
