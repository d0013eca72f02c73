// SPDX-License-Identifier: Apache-2.0
// Where job stacks come from. The default allocator carves stacks, each with a PROT_NONE guard
// page below it, out of larger mappings and keeps the stacks it gets back for reuse; a custom
// allocator (OpenSSL 3.2's ASYNC_set_mem_functions) returns plain memory, and such stacks are
// protected by the canary that every pause and finish checks.
import Glibc
import Synchronization

/// A block of memory used as one job's stack.
///
/// Invariant: `[base, base + byteCount)` is readable and writable and stays valid until it is
/// given back to the allocator that returned it.
@safe public struct StackMemory: @unchecked Sendable, Hashable {
    /// Lowest usable address.
    public let base: UnsafeMutableRawPointer
    /// Usable size in bytes.
    public let byteCount: Int
    /// Whether an inaccessible guard region sits directly below `base`.
    public let hasGuardPage: Bool

    public static func == (lhs: StackMemory, rhs: StackMemory) -> Bool {
        unsafe lhs.base == rhs.base && lhs.byteCount == rhs.byteCount && lhs.hasGuardPage == rhs.hasGuardPage
    }

    public func hash(into hasher: inout Hasher) {
        unsafe hasher.combine(base)
        hasher.combine(byteCount)
    }

    /// Describes memory that a custom allocator hands out.
    public init(base: UnsafeMutableRawPointer, byteCount: Int, hasGuardPage: Bool = false) {
        unsafe self.base = base
        self.byteCount = byteCount
        self.hasGuardPage = hasGuardPage
    }
}

/// A source of job stacks.
///
/// Stacks are requested when a pool makes a job (never on every start: jobs and their stacks are
/// pooled) and given back when the pool frees the job.
/// - Important: both methods are called on the thread that owns the pool.
/// OpenSSL equivalent: `ASYNC_set_mem_functions()` (3.2).
public protocol StackAllocator: Sendable {
    /// Returns at least `minimumByteCount` bytes, 16-byte aligned, or `nil` when none is available.
    func allocateStack(minimumByteCount: Int) -> StackMemory?
    /// Gives back a stack that `allocateStack` returned.
    func deallocateStack(_ stack: StackMemory)
}

/// The default allocator: stacks with a `PROT_NONE` guard page below each, so that an overflow
/// faults instead of corrupting memory.
///
/// Stacks are carved from chunks of up to 64 stacks mapped at once (`MAP_NORESERVE`: untouched
/// pages cost nothing), with the guard pages of the whole chunk installed in one system call where
/// the kernel takes them so (lightweight guards through `process_madvise`, Linux 6.14), else one
/// `madvise` or `mprotect` per stack when it is first carved; a
/// stack given back goes to a process-wide free list of its size and is handed out again without
/// a system call: warm up to a mark per size, and past that mark with its memory given back to
/// the system first (`MADV_DONTNEED`: a burst of paused jobs, once cleaned up, leaves little
/// resident). The mark starts at ``warmStackLimit`` and grows by one for every stack that is
/// needed again after its memory went back (up to 64 MiB of stacks per size: 1,024 of the default
/// 64 KiB), so that bursts that come back find their stacks warm instead of faulting every one
/// in again. Chunks are never unmapped (like malloc's arenas): the address space stays reserved,
/// so a stale reference into a stack never faults.
///
/// Where the kernel has lightweight guard regions (`madvise(MADV_GUARD_INSTALL)`, Linux 6.13),
/// the guard page is one of those: it splits no mapping, so every stack can have one (the budget
/// below is then 4 million stacks). Elsewhere it is an `mprotect(PROT_NONE)`: each such guarded
/// stack costs two kernel mappings and `vm.max_map_count` (65530 by default) bounds them, so past
/// the budget (about 28,600 stacks) stacks are carved without a guard page
/// (`hasGuardPage == false`) and rely on the canary that every pause and finish checks, as custom
/// allocators' stacks do. Such a stack's canary lies in the 64 bytes below its base, reserved by
/// this allocator at the top of the stack carved before it (so it costs no page of its own).
/// OpenSSL equivalent: none (OpenSSL mallocs unguarded 32 KiB stacks).
public struct GuardedStackAllocator: StackAllocator {
    /// Creates the default allocator (all instances share one store of stacks).
    public init() {}

    public func allocateStack(minimumByteCount: Int) -> StackMemory? {
        let page = VirtualMemory.pageSize
        let usable = (max(minimumByteCount, 1) + page - 1) / page * page
        return StackChunks.store.withLock { $0.take(usable: usable, page: page) }
    }

    public func deallocateStack(_ stack: StackMemory) {
        StackChunks.store.withLock { $0.give(stack) }
    }

    /// How many stacks, process-wide, get a guard page; later ones are protected by the canary
    /// only. Defaults to what `vm.max_map_count` allows with room left for the rest of the
    /// process (about 28,600 with the default 65,530).
    public static var guardPageBudget: Int {
        get { StackChunks.store.withLock { $0.guardPageBudget } }
        set { StackChunks.store.withLock { $0.guardPageBudget = newValue } }
    }

    /// Stacks carved with a guard page so far, process-wide.
    public static var guardedStackCount: Int {
        StackChunks.store.withLock { $0.guardedStacks }
    }

    /// How many stacks given back, per stack size, stay warm at least (their memory kept, for
    /// the next jobs to reuse without a page fault); the memory of every stack given back beyond
    /// the warm mark goes back to the system (`madvise(MADV_DONTNEED)`: the stack stays reserved
    /// and reads as zeros until reused). The mark starts here and grows by one for every stack
    /// taken again after its memory went back, up to 64 MiB of stacks per size (1,024 stacks of
    /// the default 64 KiB): a process whose bursts of jobs repeat keeps what they reuse, one
    /// burst leaves little resident. Setting this resets every size's mark to the new value and
    /// at once gives back the memory of the warm stacks beyond it. Process-wide; initially 64.
    /// Pools give their stacks back when they are cleaned up (`JobPool.cleanUp()`,
    /// `ASYNC_cleanup_thread()`, thread exit) or trimmed.
    public static var warmStackLimit: Int {
        get { StackChunks.store.withLock { $0.warmStackLimit } }
        set { StackChunks.store.withLock { $0.setWarmStackLimit(newValue) } }
    }
}

/// The process-wide store behind ``GuardedStackAllocator``: per stack size, the stacks given
/// back and the chunk stacks are being carved from (addresses kept as integers).
///
/// Invariant: every stack in a free list lies in a chunk mapping (never unmapped),
/// `[base - page, base)` is its guard page when `hasGuardPage`, else `[base - 64, base)` is
/// reserved for its canary; and it is in no other list and not in use.
struct StackChunks: Sendable {
    static let store = FutexMutex(StackChunks())
    /// Upper bound of one chunk's size; a chunk holds at least one stack.
    static let chunkBytes = 4 << 20
    static let maximumStacksPerChunk = 64

    /// `count` stacks of one size, `step` bytes apart from `lowest` up, with or without guard
    /// pages.
    struct ColdRun: Sendable {
        var lowest: Int
        var count: Int
        let step: Int
        let guarded: Bool
    }

    /// The stacks of one usable size.
    struct SizeClass: Sendable {
        let usable: Int
        /// Stacks given back with their memory kept (at most `warmMark`), most recent last.
        var free: [StackMemory] = []
        /// Stacks given back whose memory went back to the system, as runs of adjacent stacks
        /// (a burst cleaned up gives back whole chunks: a few runs, not one entry per stack).
        var cold: [ColdRun] = []
        /// Next uncarved slot of the current chunk, and the chunk's end (0: no chunk yet).
        var cursor = 0
        var end = 0
        /// Whether every slot of the current chunk already has its guard page (installed for the
        /// whole chunk in one system call when it was mapped); its slots are then all carved
        /// guarded.
        var chunkGuarded = false
        /// How many stacks given back stay warm: `warmStackLimit`, plus one for every stack
        /// taken from `cold` since (up to `warmCeiling`): a burst that comes back finds its
        /// stacks warm the next time.
        var warmMark: Int
    }
    /// One entry per stack size in use (usually one or two): searched in order, and mutated in
    /// place (a dictionary's accessors cost hundreds of instructions per stack).
    var classes: [SizeClass] = []
    /// Stacks carved with a guard page so far (chunks are never unmapped).
    var guardedStacks = 0
    /// Most stacks to carve with a guard page: half of `vm.max_map_count` after keeping an eighth
    /// of it (at least 4096) for the rest of the process's mappings (malloc arenas, threads,
    /// libraries).
    var guardPageBudget = StackChunks.defaultGuardPageBudget()
    /// See `GuardedStackAllocator.warmStackLimit`.
    var warmStackLimit = 64
    /// The most stack bytes per size that a warm mark grows to (1,024 stacks of 64 KiB).
    static let warmCeilingBytes = 64 << 20

    /// The most stacks of `usable` bytes that stay warm however often they come back.
    func warmCeiling(usable: Int) -> Int {
        max(warmStackLimit, StackChunks.warmCeilingBytes / usable)
    }

    /// The index of the size class of `usable` bytes, made if there is none yet.
    mutating func classIndex(usable: Int) -> Int {
        for index in classes.indices where classes[index].usable == usable { return index }
        classes.append(SizeClass(usable: usable, warmMark: warmStackLimit))
        return classes.count - 1
    }

    /// Sets the warm reserve of every size to `limit` and gives back at once the memory of the
    /// warm stacks beyond it.
    mutating func setWarmStackLimit(_ limit: Int) {
        warmStackLimit = max(0, limit)
        for index in classes.indices {
            classes[index].warmMark = warmStackLimit
            while classes[index].free.count > warmStackLimit, let stack = classes[index].free.popLast() {
                makeCold(stack, classIndex: index)
            }
        }
    }

    static func defaultGuardPageBudget() -> Int {
        if lightweightGuards { return 4_000_000 }
        return mappingGuardBudget()
    }

    /// How many `mprotect` guard pages the mapping limit allows.
    static func mappingGuardBudget() -> Int {
        let limit = ProcFile.integer(at: "/proc/sys/vm/max_map_count") ?? 65530
        return max(0, (limit - max(limit / 8, 4096)) / 2)
    }

    /// `MADV_GUARD_INSTALL` (Linux 6.13+; not in Debian 12's headers).
    static let madviseGuardInstall: Int32 = 102

    /// Whether this kernel installs lightweight guard regions (tried once on a scratch mapping).
    static let lightweightGuards: Bool = {
        let page = VirtualMemory.pageSize
        guard case .success(let scratch) = unsafe VirtualMemory.mapStack(byteCount: 2 * page) else { return false }
        defer { unsafe VirtualMemory.unmap(scratch, byteCount: 2 * page) }
        return unsafe madvise(scratch, page, madviseGuardInstall) == 0
    }()

    static let mappingGuardLimit = mappingGuardBudget()

    /// `mprotect` guard pages made so far (each costs two mappings).
    var mappingGuards = 0

    /// Makes `[address, address + page)` a guard page: a lightweight guard region where the
    /// kernel has them, else `mprotect(PROT_NONE)` while the mapping limit allows.
    mutating func installGuard(at address: UnsafeMutableRawPointer, page: Int) -> Bool {
        if StackChunks.lightweightGuards, unsafe madvise(address, page, StackChunks.madviseGuardInstall) == 0 {
            return true
        }
        guard mappingGuards < StackChunks.mappingGuardLimit,
            case .success = unsafe VirtualMemory.protectNone(address, byteCount: page)
        else { return false }
        mappingGuards += 1
        return true
    }

    mutating func take(usable: Int, page: Int) -> StackMemory? {
        let index = classIndex(usable: usable)
        if let stack = classes[index].free.popLast() { return stack }
        if let last = classes[index].cold.indices.last {
            // A stack whose memory was given back is needed again: the next time, one more stays warm.
            if classes[index].warmMark < warmCeiling(usable: usable) { classes[index].warmMark += 1 }
            classes[index].cold[last].count -= 1
            let run = classes[index].cold[last]
            if run.count == 0 { classes[index].cold.removeLast() }
            let base = run.lowest + run.count * run.step
            return unsafe StackMemory(base: UnsafeMutableRawPointer(bitPattern: base)!, byteCount: usable, hasGuardPage: run.guarded)
        }
        return carve(classIndex: index, usable: usable, page: page)
    }

    /// A stack never handed out before, from the current chunk of its size or a new one (out of
    /// line: the reuse paths above stay short).
    @inline(never)
    private mutating func carve(classIndex index: Int, usable: Int, page: Int) -> StackMemory? {
        // Guard pages while the budget lasts (each `mprotect` one splits the chunk's mapping,
        // costing two of the process's vm.max_map_count mappings): a slot is a guard page and the
        // stack. Past the budget a slot is the canary's bytes and the stack, so that the canary
        // lies at the top of the stack carved before it, in a page that stack's job touches
        // anyway (its first frame): writing the canary makes no page resident of its own (one
        // slot in 64 starts a page). The record writes the canary there (`JobSlot.attach`).
        var wantsGuard = classes[index].chunkGuarded || guardedStacks < guardPageBudget
        var slot = usable + (wantsGuard ? page : JobSlot.canaryBytes)
        if classes[index].cursor == 0 || classes[index].cursor + slot > classes[index].end {
            let step = usable + page
            let count = max(1, min(StackChunks.maximumStacksPerChunk, StackChunks.chunkBytes / step))
            guard case .success(let chunk) = unsafe VirtualMemory.mapStack(byteCount: count * step) else {
                return nil
            }
            classes[index].cursor = Int(bitPattern: chunk)
            classes[index].end = classes[index].cursor + count * step
            wantsGuard = guardedStacks < guardPageBudget
            slot = usable + (wantsGuard ? page : JobSlot.canaryBytes)
            // Lightweight guards for every slot of the chunk at once, when the budget covers them
            // all: one system call per chunk instead of one per new job.
            var chunkGuarded = false
            if wantsGuard && StackChunks.lightweightGuards && guardedStacks + count <= guardPageBudget {
                chunkGuarded = unsafe VirtualMemory.adviseRanges(
                    first: chunk, count: count, stride: step, byteCount: page, advice: StackChunks.madviseGuardInstall)
            }
            classes[index].chunkGuarded = chunkGuarded
        }
        let start = unsafe UnsafeMutableRawPointer(bitPattern: classes[index].cursor)!
        classes[index].cursor += slot
        guard wantsGuard else {
            return unsafe StackMemory(base: start + JobSlot.canaryBytes, byteCount: usable, hasGuardPage: false)
        }
        if classes[index].chunkGuarded {
            guardedStacks += 1
            return unsafe StackMemory(base: start + page, byteCount: usable, hasGuardPage: true)
        }
        // If the guard cannot be installed, the stack relies on the canary, in the unused page.
        var guarded = false
        if unsafe installGuard(at: start, page: page) {
            guarded = true
            guardedStacks += 1
        }
        return unsafe StackMemory(base: start + page, byteCount: usable, hasGuardPage: guarded)
    }

    /// Takes a stack back: warm while fewer than its size's `warmMark` are, otherwise its pages
    /// go back to the system first.
    mutating func give(_ stack: StackMemory) {
        let index = classIndex(usable: stack.byteCount)
        if classes[index].free.count < classes[index].warmMark {
            classes[index].free.append(stack)
            return
        }
        makeCold(stack, classIndex: index)
    }

    /// Gives the memory of `stack` back to the system and adds it to its class's cold runs.
    private mutating func makeCold(_ stack: StackMemory, classIndex index: Int) {
        StackChunks.discardPages(of: stack)
        let base = Int(bitPattern: unsafe stack.base)
        let step = stack.byteCount + (stack.hasGuardPage ? VirtualMemory.pageSize : JobSlot.canaryBytes)
        if let last = classes[index].cold.indices.last {
            let run = classes[index].cold[last]
            if run.guarded == stack.hasGuardPage, run.step == step,
                base == run.lowest - step || base == run.lowest + run.count * step
            {
                if base < run.lowest { classes[index].cold[last].lowest = base }
                classes[index].cold[last].count += 1
                return
            }
        }
        classes[index].cold.append(ColdRun(lowest: base, count: 1, step: step, guarded: stack.hasGuardPage))
    }

    /// Gives back to the system the whole pages inside `stack`. A stack without a guard page
    /// starts 64 bytes into a page, below which lies its canary (at the top of the stack before
    /// it), and its top page holds the next stack's canary: such partial pages stay.
    static func discardPages(of stack: StackMemory) {
        let page = VirtualMemory.pageSize
        let low = (Int(bitPattern: unsafe stack.base) + page - 1) / page * page
        let high = (Int(bitPattern: unsafe stack.base) + stack.byteCount) / page * page
        guard high > low else { return }
        unsafe VirtualMemory.discard(UnsafeMutableRawPointer(bitPattern: low)!, byteCount: high - low)
    }
}

#if ASYNCJOBS_TEST_HOOKS
/// Test-only view of ``GuardedStackAllocator``'s store.
package enum StackStoreTestHooks {
    /// For the stacks of `byteCount` usable bytes (a multiple of the page size): how many given
    /// back are warm, how many are cold (their memory given back), and the size's warm mark.
    package static func stacks(ofSize byteCount: Int) -> (warm: Int, cold: Int, warmMark: Int) {
        StackChunks.store.withLock { store in
            for sizeClass in store.classes where sizeClass.usable == byteCount {
                return (sizeClass.free.count, sizeClass.cold.reduce(0) { $0 + $1.count }, sizeClass.warmMark)
            }
            return (0, 0, store.warmStackLimit)
        }
    }
}
#endif
