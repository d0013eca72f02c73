// SPDX-License-Identifier: Apache-2.0
// The per-thread pool's state, in raw memory reached through the C thread-local
// `_ajctx_tls.pool`. Raw memory rather than a class: the pool is touched on every start and
// finish, and a class's stored properties would pay for dynamic exclusivity checks and ARC there.
//
// Invariants: a pool is used only by the thread whose `_ajctx_tls.pool` points at it;
// `total == idle + (records in use)`; every record with `pool == self` is on the `all` list, and
// exactly the idle ones are on the `free` list.
import _CJobContext

/// State of one thread's job pool.
///
/// Safe: its one pointer, `debugEntry`, belongs to the debuggers' registry and is only handed
/// back to it (`PoolHandle.destroy`).
@usableFromInline @safe struct PoolCore {
    /// Idle records, most recently used first (their stacks are warm).
    @usableFromInline var free: JobSlot?
    /// Every record of the pool, for cleanup.
    var all: JobSlot?
    /// Records owned: idle plus in use.
    @usableFromInline var total = 0
    /// Records on the free list.
    @usableFromInline var idle = 0
    /// Upper bound on `total`: `Int.max` when there is none (`maxSize` 0), so that the finish
    /// path compares once.
    @usableFromInline var limit = Int.max
    /// Usable stack size of new records (including the canary).
    @usableFromInline var stackByteCount: Int
    /// Where stacks come from (shared with the records whose stacks came from it).
    var allocator: StackAllocatorBox
    /// The pool's switch hooks (nil: none); each record of the pool has a block of them.
    var switchHooks: SwitchHookTable? = nil
    /// Whether the pool's jobs record when and how often they pause (`PauseGate.recorded`).
    var recordsPauses = false
    /// What the recording jobs recorded, while they are started (`PauseRecording.swift`).
    var pauseLog: [JobSlot: PauseLogEntry] = [:]
    /// Told of pauses, resumes, ends and refused starts while the pool records pauses.
    var observer: (any JobPoolObserver)?
    /// The pool's entry in the list debuggers read (`_ajctx_debug`), nil if it could not be made.
    var debugEntry: UnsafeMutablePointer<_ajctx_debug_pool>?
}

/// A reference to one thread's pool.
///
/// Invariant: `core` points at an initialized `PoolCore` until `destroy()`; only the owning
/// thread dereferences it.
@usableFromInline @safe struct PoolHandle: Hashable, @unchecked Sendable {
    @usableFromInline let core: UnsafeMutablePointer<PoolCore>

    /// The calling thread's pool, if it has one.
    @inline(__always)
    static var current: PoolHandle? {
        guard let raw = unsafe _ajctx_pool() else { return nil }
        return unsafe PoolHandle(core: raw.assumingMemoryBound(to: PoolCore.self))
    }

    /// Creates a pool and makes it the calling thread's.
    static func install(stackByteCount: Int, allocator: any StackAllocator) -> PoolHandle {
        let core = UnsafeMutablePointer<PoolCore>.allocate(capacity: 1)
        unsafe core.initialize(
            to: PoolCore(
                stackByteCount: stackByteCount, allocator: StackAllocatorBox(allocator),
                switchHooks: SwitchHookTable.processWide()))
        unsafe _ajctx_set_pool(UnsafeMutableRawPointer(core))
        unsafe ThreadExitHook.register(UnsafeMutableRawPointer(core))
        unsafe core.pointee.debugEntry = PoolHandle.registerForDebuggers(core)
        if JobPool.newPoolsRecordPauses.load(ordering: .relaxed) { unsafe PoolHandle(core: core).recordsPauses = true }
        // A guard-page hit is reported by a SIGSEGV handler, which needs a stack of its own.
        _ = _ajctx_install_overflow_handler()
        _ = _ajctx_thread_altstack_acquire()
        return unsafe PoolHandle(core: core)
    }

    @usableFromInline init(core: UnsafeMutablePointer<PoolCore>) {
        unsafe self.core = core
    }

    @usableFromInline static func == (lhs: PoolHandle, rhs: PoolHandle) -> Bool { unsafe lhs.core == rhs.core }
    @usableFromInline func hash(into hasher: inout Hasher) { unsafe hasher.combine(core) }

    /// The pool behind a thread-exit callback's pointer.
    static func from(_ raw: UnsafeMutableRawPointer) -> PoolHandle {
        unsafe PoolHandle(core: raw.assumingMemoryBound(to: PoolCore.self))
    }

    /// Frees the pool's own memory and detaches it from the calling thread. Its records must
    /// already be gone.
    func destroy() {
        if unsafe _ajctx_pool() == UnsafeMutableRawPointer(core) {
            _ajctx_set_pool(nil)
            ThreadExitHook.unregister()
            _ajctx_thread_altstack_release()
        }
        if let entry = unsafe core.pointee.debugEntry { unsafe _ajctx_debug_remove_pool(entry) }
        unsafe core.deinitialize(count: 1)
        unsafe core.deallocate()
    }

    @inlinable var total: Int { unsafe core.pointee.total }
    var idle: Int { unsafe core.pointee.idle }
    /// Most records the pool may own; 0 means no limit.
    var maxSize: Int {
        get { unsafe core.pointee.limit == .max ? 0 : core.pointee.limit }
        nonmutating set { unsafe core.pointee.limit = newValue == 0 ? .max : newValue }
    }
    /// Most records the pool may own (`Int.max`: no limit).
    @inlinable var limit: Int { unsafe core.pointee.limit }
    @inlinable var stackByteCount: Int {
        get { unsafe core.pointee.stackByteCount }
        nonmutating set { unsafe core.pointee.stackByteCount = newValue }
    }
    var allocator: any StackAllocator {
        get { unsafe core.pointee.allocator.allocator }
        nonmutating set { unsafe core.pointee.allocator = StackAllocatorBox(newValue) }
    }
    /// The allocator as records keep it.
    var allocatorBox: StackAllocatorBox {
        unsafe core.pointee.allocator
    }

    /// Whether another record may be made without passing `maxSize`.
    var canGrow: Bool {
        unsafe core.pointee.total < core.pointee.limit
    }

    /// Takes the most recently used idle record.
    @inlinable @inline(__always)
    func popFree() -> JobSlot? {
        guard let slot = unsafe core.pointee.free else { return nil }
        unsafe core.pointee.free = slot.nextFree
        unsafe core.pointee.idle &-= 1  // never below 0: the list held `slot`
        return slot
    }

    /// Puts an idle record back on the free list.
    @inlinable @inline(__always)
    func pushFree(_ slot: JobSlot) {
        slot.nextFree = unsafe core.pointee.free
        unsafe core.pointee.free = slot
        unsafe core.pointee.idle &+= 1  // at most the number of records
    }

    /// Takes the idle records that `shouldGo` picks off the free list, in one pass (when
    /// shrinking the pool), keeping the others in their order.
    func removeFree(where shouldGo: (JobSlot) -> Bool) -> [JobSlot] {
        var removed: [JobSlot] = []
        var previous: JobSlot? = nil
        var cursor = unsafe core.pointee.free
        while let current = cursor {
            cursor = current.nextFree
            if shouldGo(current) {
                if let previous { previous.nextFree = cursor } else { unsafe core.pointee.free = cursor }
                current.nextFree = nil
                unsafe core.pointee.idle -= 1
                removed.append(current)
            } else {
                previous = current
            }
        }
        return removed
    }

    /// Adds a new record (in use, not free) to the pool's list.
    func adopt(_ slot: JobSlot) {
        if let hooks = unsafe core.pointee.switchHooks { slot.setSwitchHooks(hooks) }
        slot.pool = self
        slot.previousInPool = nil
        slot.nextInPool = unsafe core.pointee.all
        unsafe core.pointee.all?.previousInPool = slot
        unsafe core.pointee.all = slot
        unsafe core.pointee.total += 1
    }

    /// Removes a record from the pool's list (it must not be on the free list).
    func disown(_ slot: JobSlot) {
        if unsafe core.pointee.switchHooks != nil { slot.setSwitchHooks(nil) }
        if let previous = slot.previousInPool { previous.nextInPool = slot.nextInPool } else { unsafe core.pointee.all = slot.nextInPool }
        slot.nextInPool?.previousInPool = slot.previousInPool
        slot.previousInPool = nil
        slot.nextInPool = nil
        unsafe core.pointee.total -= 1
    }

    /// Every record of the pool, idle or not.
    var allSlots: [JobSlot] {
        var result: [JobSlot] = []
        var cursor = unsafe core.pointee.all
        while let slot = cursor {
            result.append(slot)
            cursor = slot.nextInPool
        }
        return result
    }
}
