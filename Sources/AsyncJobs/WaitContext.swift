// SPDX-License-Identifier: Apache-2.0
// A job's wait context: the file descriptors (or the callback) through which engines tell the
// application that a paused job can continue, with OpenSSL 3's exact bookkeeping rules
// (docs/contract.md, "Wait contexts").
//
// Invariants: `entries` is in insertion order (APIs report newest first); an entry is never both
// `added` and `deleted` (clearing an added entry removes it); `hasChanges` is true whenever some
// entry is added or deleted.
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
    public struct Key: Hashable, Sendable {
        let base: any Hashable & Sendable
        /// `base` when it is an `ObjectIdentifier` (what engines use), compared without a
        /// dynamic cast: an engine looks its key up at every operation.
        let identifier: ObjectIdentifier?

        /// A key made of any hashable value, for example an engine object's `ObjectIdentifier`.
        public init(_ base: some Hashable & Sendable) {
            self.base = base
            self.identifier = base as? ObjectIdentifier
        }

        public static func == (lhs: Key, rhs: Key) -> Bool {
            if let left = lhs.identifier, let right = rhs.identifier { return left == right }
            return lhs.base.isEqual(to: rhs.base)
        }

        public func hash(into hasher: inout Hasher) {
            base.hash(into: &hasher)
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
    package struct ForeignCallback: Sendable, Equatable {
        package let function: UInt
        package let argument: UInt
        package init(function: UInt, argument: UInt) {
            self.function = function
            self.argument = argument
        }
    }

    struct Entry {
        let key: Key
        let fd: FileDescriptor
        let customData: (any Sendable)?
        let cleanup: Cleanup?
        var added: Bool
        var deleted: Bool
    }

    struct State {
        var entries: [Entry] = [] {
            // Any change to the entries may change what a lookup finds.
            didSet { engineLookup = nil }
        }
        /// The last engine object found by `engineTarget(forKey:matching:)` for an
        /// `ObjectIdentifier` key: an engine looks its fd up at every operation, and a scan of the
        /// entries (a copy and a dynamic cast each) cost about 760 of an fd loop's 3,130
        /// instructions per operation.
        var engineLookup: (key: ObjectIdentifier, object: AnyObject)?
        var callback: (@Sendable () -> Void)?
        /// The same callback in a form an engine can announce in batches (set by a job loop
        /// through `restoreCallback(_:batchForm:)`); nil whenever `callback` was set any other way.
        var batchForm: (any AnyObject & Sendable)?
        var foreignCallback: ForeignCallback?
        var status: Status = .unsupported
    }

    let state = PosixMutex(State())
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
        state.withLock { state in
            state.entries.append(
                Entry(key: key, fd: fd, customData: customData, cleanup: cleanup, added: true, deleted: false))
        }
        hasChanges.store(true, ordering: .releasing)
    }

    /// The newest descriptor set under `key` and not cleared, or nil.
    /// OpenSSL equivalent: `ASYNC_WAIT_CTX_get_fd()`.
    public func waitDescriptor(forKey key: Key) -> WaitDescriptor? {
        state.withLock { state in
            guard let entry = state.entries.last(where: { !$0.deleted && $0.key == key }) else { return nil }
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
        state.withLock { state in state.entries.reversed().filter { !$0.deleted }.map(\.fd) }
    }

    /// How many descriptors are currently set.
    public var waitFDCount: Int {
        state.withLock { state in state.entries.count(where: { !$0.deleted }) }
    }

    /// Descriptors added and removed since the last reset. Reading resets nothing; the reset
    /// happens when a paused job using this context is resumed.
    /// OpenSSL equivalent: `ASYNC_WAIT_CTX_get_changed_fds()`.
    public var changedWaitFDs: Changes {
        state.withLock { state in
            var changes = Changes(added: [], removed: [])
            for entry in state.entries.reversed() {
                if entry.added && !entry.deleted { changes.added.append(entry.fd) }
                if entry.deleted && !entry.added { changes.removed.append(entry.fd) }
            }
            return changes
        }
    }

    /// Removes the newest entry under `key` without calling its cleanup.
    /// - Returns: false if no entry has that key.
    /// OpenSSL equivalent: `ASYNC_WAIT_CTX_clear_fd()`.
    @discardableResult
    public func clearWaitFD(forKey key: Key) -> Bool {
        let cleared = state.withLock { state -> Bool in
            guard let index = state.entries.lastIndex(where: { !$0.deleted && $0.key == key }) else { return false }
            if state.entries[index].added {
                // Added and cleared within one period: it never existed as far as changes go.
                state.entries.remove(at: index)
            } else {
                state.entries[index].deleted = true
            }
            return true
        }
        if cleared { hasChanges.store(true, ordering: .releasing) }
        return cleared
    }

    /// Forgets the added and removed marks: called inside a resumed job before `pause` returns.
    @inline(__always)
    func resetChangesIfNeeded() {
        if hasChanges.load(ordering: .acquiring) { resetChanges() }
    }

    @inline(never)
    private func resetChanges() {
        state.withLock { state in
            state.entries.removeAll(where: \.deleted)
            for index in state.entries.indices { state.entries[index].added = false }
        }
        hasChanges.store(false, ordering: .releasing)
    }

    /// Calls the cleanup of every live entry, newest first, and empties the context.
    /// Freeing the context does the same.
    /// OpenSSL equivalent: the cleanup calls of `ASYNC_WAIT_CTX_free()`.
    public func runCleanups() {
        let entries = state.withLock { state -> [Entry] in
            let entries = state.entries
            state.entries.removeAll()
            return entries
        }
        for entry in entries.reversed() where !entry.deleted {
            entry.cleanup?(entry.key, entry.fd, entry.customData)
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
                state.callback = newValue
                state.batchForm = nil
                state.foreignCallback = nil
            }
        }
    }

    /// Sets a callback that the C library also reports verbatim.
    package func setCallback(_ callback: (@Sendable () -> Void)?, foreign: ForeignCallback?) {
        state.withLock { state in
            state.callback = callback
            state.batchForm = nil
            state.foreignCallback = foreign
        }
    }

    /// Puts back the callback (and its batch form) that a driver such as a job loop runs its
    /// jobs with, if a job replaced or cleared it (nil and nil: none), so that the driver's next
    /// job is woken the driver's way. One lock.
    package func restoreCallback(_ callback: (@Sendable () -> Void)?, batchForm: (any AnyObject & Sendable)?) {
        state.withLock { state in
            // `batchForm` is cleared whenever the callback is set any other way.
            let intact =
                state.foreignCallback == nil
                && (batchForm.map { state.batchForm === $0 } ?? (state.callback == nil && state.batchForm == nil))
            if intact { return }
            state.callback = callback
            state.batchForm = batchForm
            state.foreignCallback = nil
        }
    }

    /// How an engine should announce a request made from a job using this context.
    package enum EngineTarget {
        /// The callback's batch form (see ``restoreCallback(_:batchForm:)``).
        case batchForm(any AnyObject & Sendable)
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
                state.status = .ok
                return .batchForm(batch)
            }
            if let callback = state.callback {
                state.status = .ok
                return .callback(callback)
            }
            if let found = state.engineLookup, found.key == key.identifier { return .engineObject(found.object) }
            var position = state.entries.endIndex
            while position > state.entries.startIndex {
                position -= 1
                let entry = state.entries[position]
                if !entry.deleted, entry.key == key, let data = entry.customData, let object = matching(data) {
                    // Valid until the entries change (State clears it then).
                    if let identifier = key.identifier { state.engineLookup = (identifier, object) }
                    return .engineObject(object)
                }
            }
            return nil
        }
    }

    /// The C callback set through the C library, if that is how the callback was set.
    package var foreignCallback: ForeignCallback? {
        state.withLock { $0.foreignCallback }
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
        get { state.withLock { $0.status } }
        set { state.withLock { $0.status = newValue } }
    }
}

extension Hashable {
    fileprivate func isEqual(to other: any Hashable) -> Bool {
        guard let other = other as? Self else { return false }
        return self == other
    }
}
