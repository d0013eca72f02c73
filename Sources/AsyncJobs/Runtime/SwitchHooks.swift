// SPDX-License-Identifier: Apache-2.0
// Switch hooks: per-thread state that follows jobs (docs/job-local-state.md). The C switch runs
// them (job_context.c: a job with hooks always takes the out-of-line switch); this file keeps
// the tables. A pool's table is made when the pool is (from the process-wide hooks) and replaced
// when a hook is added to the pool; every record of the pool has a block pointing at the table
// with its own state word per hook. Records gain the block when the pool adopts them and lose it
// when the pool lets them go, so a recycled record never carries another pool's hooks.
//
// Invariant: a pool's table does not change while any of its jobs is in use (`addSwitchHook`
// refuses), so a job's block is only replaced while the job is idle.
import Glibc
import _CJobContext

/// A pool's switch hooks as the C switch reads them, and what keeps their arguments alive.
///
/// Invariant: `entries` holds `count` initialized hooks and lives as long as this object.
@safe final class SwitchHookTable {
    let entries: UnsafeMutablePointer<_ajctx_switch_hook>
    let count: Int
    /// The Swift hooks whose boxes are the arguments of some entries (released with the table).
    private let owned: [SwitchHookBox]

    init(_ hooks: [_ajctx_switch_hook], owned: [SwitchHookBox]) {
        count = unsafe hooks.count
        unsafe entries = UnsafeMutablePointer<_ajctx_switch_hook>.allocate(capacity: max(hooks.count, 1))
        unsafe entries.initialize(from: hooks, count: hooks.count)
        self.owned = owned
    }

    deinit {
        unsafe entries.deinitialize(count: count)
        unsafe entries.deallocate()
    }

    /// The hooks every pool made from now on starts with.
    static func processWide() -> SwitchHookTable? {
        let capacity = Int(AJCTX_PROCESS_HOOKS_MAX)
        let buffer = UnsafeMutablePointer<_ajctx_switch_hook>.allocate(capacity: capacity)
        defer { unsafe buffer.deallocate() }
        let count = min(unsafe _ajctx_process_hooks(buffer, capacity), capacity)
        guard count > 0 else { return nil }
        return unsafe SwitchHookTable(Array(UnsafeBufferPointer(start: buffer, count: count)), owned: [])
    }

    /// This table with `hook` (owning `box`, if any) added last.
    func adding(_ hook: _ajctx_switch_hook, owning box: SwitchHookBox?) -> SwitchHookTable {
        var hooks = unsafe Array(UnsafeBufferPointer(start: entries, count: count))
        unsafe hooks.append(hook)
        return unsafe SwitchHookTable(hooks, owned: owned + (box.map { [$0] } ?? []))
    }
}

/// A Swift ``JobSwitchHook`` as the argument of its C entry: released with the pool's table
/// (pool hooks), or never (process-wide hooks live as long as the process).
final class SwitchHookBox: Sendable {
    let hook: JobSwitchHook

    init(_ hook: JobSwitchHook) {
        self.hook = hook
    }

    /// The C entry that calls this box's closures; `arg` is the box, unretained (the owner of the
    /// entry keeps it alive).
    func entry() -> _ajctx_switch_hook {
        unsafe _ajctx_switch_hook(
            start: hookStart, swap: hookSwap, end: hookEnd, arg: Unmanaged.passUnretained(self).toOpaque())
    }
}

private func box(_ arg: UnsafeMutableRawPointer?) -> SwitchHookBox {
    unsafe Unmanaged<SwitchHookBox>.fromOpaque(arg!).takeUnretainedValue()
}

private let hookStart: @convention(c) (UnsafeMutablePointer<UnsafeMutableRawPointer?>, UnsafeMutableRawPointer?) -> Void = {
    state, arg in
    unsafe state.pointee = UnsafeMutableRawPointer(bitPattern: unsafe box(arg).hook.start())
}

private let hookSwap: @convention(c) (UnsafeMutablePointer<UnsafeMutableRawPointer?>, UnsafeMutableRawPointer?) -> Void = {
    state, arg in
    var word = UInt(bitPattern: unsafe state.pointee)
    unsafe box(arg).hook.swap(&word)
    unsafe state.pointee = UnsafeMutableRawPointer(bitPattern: word)
}

private let hookEnd: @convention(c) (UnsafeMutablePointer<UnsafeMutableRawPointer?>, UnsafeMutableRawPointer?) -> Void = {
    state, arg in
    unsafe box(arg).hook.end(UInt(bitPattern: unsafe state.pointee))
}

extension JobSlot {
    /// Gives an idle record the block of `table` (nil: takes its block away).
    func setSwitchHooks(_ table: SwitchHookTable?) {
        if let old = unsafe machine.pointee.hooks {
            unsafe _ajctx_set_hooks(machine, nil)
            unsafe UnsafeMutableRawPointer(old).deallocate()
        }
        guard let table else { return }
        let header = unsafe (MemoryLayout<_ajctx_job_hooks>.stride + 15) & ~15
        let raw = unsafe UnsafeMutableRawPointer.allocate(
            byteCount: header + table.count * MemoryLayout<UnsafeMutableRawPointer?>.stride, alignment: 16)
        let state = unsafe (raw + header).bindMemory(to: UnsafeMutableRawPointer?.self, capacity: table.count)
        unsafe state.initialize(repeating: nil, count: table.count)
        let block = unsafe raw.bindMemory(to: _ajctx_job_hooks.self, capacity: 1)
        unsafe block.initialize(to: _ajctx_job_hooks(table: table.entries, count: table.count, active: 0, state: state))
        unsafe _ajctx_set_hooks(machine, block)
    }
}

extension PoolHandle {
    /// The pool's switch hooks (nil: none).
    var switchHooks: SwitchHookTable? {
        get { unsafe core.pointee.switchHooks }
        nonmutating set { unsafe core.pointee.switchHooks = newValue }
    }

    /// Adds a hook to this pool (and so to every job of it), after the ones it has.
    /// - Throws: ``AsyncJobError/Code/jobsInUse`` if a job of the pool is paused or running.
    func addSwitchHook(_ hook: _ajctx_switch_hook, owning box: SwitchHookBox?) throws(AsyncJobError) {
        guard total == idle else { throw AsyncJobError(.jobsInUse) }
        let table = unsafe switchHooks?.adding(hook, owning: box) ?? SwitchHookTable([hook], owned: box.map { [$0] } ?? [])
        switchHooks = table
        for slot in allSlots { slot.setSwitchHooks(table) }
    }
}

/// A switch hook's function as C code gives it: the job's state word and the hook's argument.
package typealias SwitchHookFunction = @convention(c) (UnsafeMutablePointer<UnsafeMutableRawPointer?>, UnsafeMutableRawPointer?) -> Void

extension JobPool {
    /// Adds a switch hook made of C functions to the calling thread's pool (created if needed).
    /// - Throws: ``AsyncJobError/Code/jobsInUse`` if a job of the pool is paused or running.
    package static func addSwitchHook(
        start: SwitchHookFunction?, swap: SwitchHookFunction, end: SwitchHookFunction?, argument: UnsafeMutableRawPointer?
    ) throws(AsyncJobError) {
        let pool = PoolHandle.current ?? installDefaultPool()
        try unsafe pool.addSwitchHook(_ajctx_switch_hook(start: start, swap: swap, end: end, arg: argument), owning: nil)
    }

    /// Adds a process-wide switch hook made of C functions, for pools created from now on.
    /// - Throws: ``AsyncJobError/Code/tooManySwitchHooks`` when 16 are registered.
    package static func addSwitchHookForNewPools(
        start: SwitchHookFunction?, swap: SwitchHookFunction, end: SwitchHookFunction?, argument: UnsafeMutableRawPointer?
    ) throws(AsyncJobError) {
        let entry = unsafe _ajctx_switch_hook(start: start, swap: swap, end: end, arg: argument)
        guard unsafe _ajctx_add_process_hook(entry) == 0 else { throw AsyncJobError(.tooManySwitchHooks) }
    }

    /// ``addSwitchHook(_:)``'s work.
    static func addSwiftSwitchHook(_ hook: JobSwitchHook) throws(AsyncJobError) {
        let pool = PoolHandle.current ?? installDefaultPool()
        let box = SwitchHookBox(hook)
        try unsafe pool.addSwitchHook(box.entry(), owning: box)
    }

    /// ``addSwitchHookForNewPools(_:)``'s work: the box is retained for the life of the process
    /// (a process-wide hook is never removed).
    static func addSwiftSwitchHookForNewPools(_ hook: JobSwitchHook) throws(AsyncJobError) {
        let box = SwitchHookBox(hook)
        guard unsafe _ajctx_add_process_hook(box.entry()) == 0 else { throw AsyncJobError(.tooManySwitchHooks) }
        _ = unsafe Unmanaged.passRetained(box)  // never released: see above
    }
}
