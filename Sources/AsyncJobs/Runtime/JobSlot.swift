// SPDX-License-Identifier: Apache-2.0
// `JobSlot`, the handle to one job record, and the switch into and out of it: with PoolCore.swift
// the only code that touches job memory directly. The record's fields: JobRecord.swift.
//
// Hot-path rule: no ARC, locks or syscalls between `start`/`resume` and the switch, or between
// `pause` and the switch. Fields are plain values in raw memory, so no dynamic exclusivity
// checks either.
import Glibc
import Synchronization
import SystemPackage
import _CJobContext

/// A reference to one job record.
///
/// Invariant: `machine` points at a live allocation laid out as described at the top of this file;
/// such allocations are never freed, so every `JobSlot` ever made stays dereferenceable.
@usableFromInline @safe struct JobSlot: Hashable, @unchecked Sendable {
    @usableFromInline let machine: UnsafeMutablePointer<_ajctx_job>

    @inlinable static var recordOffset: Int { unsafe (MemoryLayout<_ajctx_job>.size + 15) & ~15 }
    static let allocationSize = unsafe recordOffset + MemoryLayout<JobRecord>.size
    static let canaryBytes = 64
    /// Size of a body in `JobDelivery.body`: a closure's function and context, or a C function and
    /// its argument.
    @inlinable static var bodyBytes: Int { unsafe 2 * MemoryLayout<UnsafeRawPointer>.size }

    @usableFromInline init(machine: UnsafeMutablePointer<_ajctx_job>) {
        unsafe self.machine = machine
    }

    @usableFromInline static func == (lhs: JobSlot, rhs: JobSlot) -> Bool { unsafe lhs.machine == rhs.machine }
    @usableFromInline func hash(into hasher: inout Hasher) { unsafe hasher.combine(machine) }

    /// Where `JobRecord.runnerStorage` is.
    @inlinable var runnerAddress: UnsafeMutableRawPointer {
        unsafe UnsafeMutableRawPointer(record) + JobSlot.runnerOffset
    }
    /// `runnerStorage` follows `delivery` (checked in `allocate`).
    @inlinable static var runnerOffset: Int { unsafe MemoryLayout<JobDelivery>.stride }

    @inlinable var record: UnsafeMutablePointer<JobRecord> {
        unsafe (UnsafeMutableRawPointer(machine) + JobSlot.recordOffset).assumingMemoryBound(to: JobRecord.self)
    }

    /// The job running on this thread, if any.
    @inlinable @inline(__always)
    static var current: JobSlot? {
        guard let machine = unsafe _ajctx_current() else { return nil }
        return unsafe JobSlot(machine: machine)
    }

    /// Makes a record with no stack, state idle, at `raw` (`allocationSize` bytes, 16-byte
    /// aligned, from `RecordRecycler`), starting at `generation`.
    @discardableResult
    static func initialize(at raw: UnsafeMutableRawPointer, generation: UInt64) -> JobSlot {
        let machine = unsafe raw.bindMemory(to: _ajctx_job.self, capacity: 1)
        unsafe machine.initialize(to: _ajctx_job())
        unsafe machine.pointee.wake_fd = -1
        let slot = unsafe JobSlot(machine: machine)
        unsafe (raw + recordOffset).bindMemory(to: JobRecord.self, capacity: 1).initialize(to: JobRecord())
        precondition(unsafe MemoryLayout<JobRecord>.offset(of: \.delivery) == 0, "JobRecord.delivery must come first")
        precondition(unsafe MemoryLayout<JobRecord>.offset(of: \.runnerStorage) == runnerOffset, "JobRecord layout")
        slot.generation = generation
        return slot
    }

    // MARK: Fields

    @inlinable
    var state: JobState {
        get { unsafe record.pointee.state }
        nonmutating set { unsafe record.pointee.state = newValue }
    }
    @inlinable
    var generation: UInt64 {
        // Relaxed atomics (plain loads and stores): see `_ajctx_generation_load`.
        get { unsafe _ajctx_generation_load(&record.pointee.generation) }
        nonmutating set { unsafe _ajctx_generation_store(&record.pointee.generation, newValue) }
    }
    @inlinable
    var cancelRequested: Bool {
        get { unsafe record.pointee.pauseGate & PauseGate.cancel != 0 }
        nonmutating set { setGate(PauseGate.cancel, newValue) }
    }
    /// Open `blockPause` calls of the job.
    @inlinable
    var blockCount: Int32 {
        get { unsafe Int32(record.pointee.pauseGate & PauseGate.blockMask) }
        nonmutating set {
            precondition(
                newValue >= 0 && UInt32(newValue) <= PauseGate.blockMask,
                "blockPause nested more than \(PauseGate.blockMask) times in one job")
            let others = unsafe record.pointee.pauseGate & ~PauseGate.blockMask
            unsafe record.pointee.pauseGate = others | UInt32(newValue)
        }
    }
    /// Whether every pause checks the stack's canary (a stack without a guard page).
    var checksCanary: Bool {
        get { unsafe record.pointee.pauseGate & PauseGate.canary != 0 }
        nonmutating set { setGate(PauseGate.canary, newValue) }
    }
    /// Forgets open blocks and a cancellation (a recycled job); keeps the canary, job-local
    /// storage and recording bits, and returns them (zero: none).
    @inlinable
    func clearPauseBlocks() -> UInt32 {
        let kept = unsafe record.pointee.pauseGate & PauseGate.kept
        unsafe record.pointee.pauseGate = kept
        return kept
    }
    /// Whether the job's pauses are recorded (its pool records pauses).
    var recordsPauses: Bool {
        get { unsafe record.pointee.pauseGate & PauseGate.recorded != 0 }
        nonmutating set { setGate(PauseGate.recorded, newValue) }
    }
    @usableFromInline func setGate(_ bit: UInt32, _ on: Bool) {
        if on { unsafe record.pointee.pauseGate |= bit } else { unsafe record.pointee.pauseGate &= ~bit }
    }
    var pool: PoolHandle? {
        get { unsafe record.pointee.pool }
        nonmutating set { unsafe record.pointee.pool = newValue }
    }
    @inlinable
    var nextFree: JobSlot? {
        get { unsafe record.pointee.nextFree }
        nonmutating set { unsafe record.pointee.nextFree = newValue }
    }
    var previousInPool: JobSlot? {
        get { unsafe record.pointee.previousInPool }
        nonmutating set { unsafe record.pointee.previousInPool = newValue }
    }
    var nextInPool: JobSlot? {
        get { unsafe record.pointee.nextInPool }
        nonmutating set { unsafe record.pointee.nextInPool = newValue }
    }
    /// The record's stack, from the `_ajctx_job` fields that `attach` set; nil without one.
    var stack: StackMemory? {
        guard let low = unsafe machine.pointee.stack_low else { return nil }
        let size = unsafe machine.pointee.stack_size
        if unsafe machine.pointee.guard_size != 0 { return unsafe StackMemory(base: low, byteCount: size, hasGuardPage: true) }
        return unsafe unguardedStack(low: low, size: size)
    }

    /// `stack` for a stack without a guard page (out of line: the allocator's type is asked).
    @inline(never)
    private func unguardedStack(low: UnsafeMutableRawPointer, size: Int) -> StackMemory {
        if canaryBelowStack { return unsafe StackMemory(base: low, byteCount: size) }
        return unsafe StackMemory(base: low - JobSlot.canaryBytes, byteCount: size + JobSlot.canaryBytes)
    }

    /// Whether the canary lies below the stack the allocator returned (the default allocator
    /// reserves room for it there) rather than in the stack's own lowest bytes.
    var canaryBelowStack: Bool {
        unsafe record.pointee.allocator?.allocator is GuardedStackAllocator
    }

    /// The canary below the frames of a stack without a guard page; nil with a guard page (the
    /// guard catches the overflow, and not writing a canary leaves the lowest page untouched).
    var canary: UnsafeMutableRawPointer? {
        guard unsafe machine.pointee.guard_size == 0, let low = unsafe machine.pointee.stack_low else { return nil }
        return unsafe low - JobSlot.canaryBytes
    }
    @inlinable
    var waitContext: WaitContext? {
        get { unsafe record.pointee.waitContext }
        nonmutating set {
            unsafe record.pointee.waitContextAddress = newValue.map { unsafe Unmanaged.passUnretained($0).toOpaque() }
            unsafe record.pointee.waitContext = newValue
        }
    }
    var hasWaitContext: Bool { unsafe record.pointee.waitContextAddress != nil }

    /// Calls `body` with the job's wait context, borrowed (no retain: the record holds it, and
    /// only the job's own thread replaces it); nil without a wait context.
    @inlinable
    func withWaitContext<Result>(_ body: (WaitContext) -> Result) -> Result? {
        guard let address = unsafe record.pointee.waitContextAddress else { return nil }
        return unsafe Unmanaged<WaitContext>.fromOpaque(address)._withUnsafeGuaranteedRef { body($0) }
    }

    /// Inside a resumed job: forgets the wait context's added and deleted marks (docs/contract.md),
    /// without retaining the context. Out of line: the inlined pause calls it only when the job
    /// has a wait context.
    @usableFromInline @inline(never)
    func resetWaitContextChanges() {
        guard let address = unsafe record.pointee.waitContextAddress else { return }
        unsafe Unmanaged<WaitContext>.fromOpaque(address)._withUnsafeGuaranteedRef { $0.resetChangesIfNeeded() }
    }

    /// Usable stack bytes below the record's first frame (what the job's code can use).
    var usableStackBytes: Int { unsafe Int(machine.pointee.stack_size) }

    /// An opaque address identifying the job while it exists (the C handle).
    var address: UnsafeMutableRawPointer { unsafe UnsafeMutableRawPointer(machine) }

    @inlinable
    static func from(address: UnsafeRawPointer) -> JobSlot {
        unsafe JobSlot(machine: UnsafeMutableRawPointer(mutating: address).assumingMemoryBound(to: _ajctx_job.self))
    }

    // MARK: Stack

    /// Gives the record a stack. Below a stack without a guard page, the lowest `canaryBytes`
    /// hold the canary checked at every pause and finish; the job's frames use the rest.
    func attach(stack: StackMemory, allocator: StackAllocatorBox) {
        unsafe record.pointee.allocator = allocator
        if stack.hasGuardPage {
            let page = VirtualMemory.pageSize
            unsafe machine.pointee.stack_low = UnsafeMutableRawPointer(stack.base)
            unsafe machine.pointee.stack_size = stack.byteCount
            unsafe machine.pointee.guard_low = UnsafeMutableRawPointer(stack.base - page)
            unsafe machine.pointee.guard_size = page
            checksCanary = false
        } else {
            checksCanary = true
            if allocator.allocator is GuardedStackAllocator {
                // The default allocator reserves the canary's bytes below the stack, in the top
                // page of the stack carved before it (see `StackChunks.take`): a page that page's
                // job touches anyway, so writing the canary makes no page resident of its own.
                unsafe machine.pointee.stack_low = UnsafeMutableRawPointer(stack.base)
                unsafe machine.pointee.stack_size = stack.byteCount
            } else {
                unsafe machine.pointee.stack_low = UnsafeMutableRawPointer(stack.base + JobSlot.canaryBytes)
                unsafe machine.pointee.stack_size = stack.byteCount - JobSlot.canaryBytes
            }
            writeCanary()
        }
    }

    /// Takes the stack away and returns it to its allocator; also closes the first-design wake fd.
    func detachStack() {
        unsafe _ajctx_release(machine)
        if let stack, let allocator = unsafe record.pointee.allocator {
            allocator.allocator.deallocateStack(stack)
        }
        unsafe record.pointee.allocator = nil
        unsafe machine.pointee.stack_low = nil
        unsafe machine.pointee.stack_size = 0
        unsafe machine.pointee.guard_low = nil
        unsafe machine.pointee.guard_size = 0
        // Neither a canary nor its pool's recording stays with a record that leaves its pool.
        unsafe record.pointee.pauseGate &= ~(PauseGate.canary | PauseGate.recorded)
        let fd = unsafe _ajctx_load_wake_fd(machine)
        if fd >= 0 {
            EventCounter.close(.init(rawValue: fd))
            unsafe machine.pointee.wake_fd = -1
        }
    }

    /// Makes the canary hold its value: `CanaryPattern.words`, random per process, so that no
    /// ordinary write (a zeroed buffer, a stack probe, a fill pattern) leaves it intact. Frames
    /// that overrun the stack write return addresses, saved registers and locals into it.
    private func writeCanary() {
        guard let base = unsafe canary else { return }
        let pattern = CanaryPattern.words
        for index in pattern.indices {
            unsafe base.storeBytes(of: pattern[index], toByteOffset: index * 8, as: UInt64.self)
        }
    }

    /// Whether the canary below the job's frames is intact (holds `CanaryPattern.words`).
    var canaryIntact: Bool {
        guard let base = unsafe canary else { return true }
        let pattern = CanaryPattern.words
        var difference: UInt64 = 0
        for index in pattern.indices {
            difference |= unsafe base.load(fromByteOffset: index * 8, as: UInt64.self) ^ pattern[index]
        }
        return difference == 0
    }

    /// Stops the process with a clear message if the job overran its stack (a stack with a
    /// guard page has no canary: one test, inlined).
    @inline(__always)
    func checkCanary() {
        if unsafe machine.pointee.guard_size == 0 { checkCanarySlowly() }
    }

    @inline(never)
    private func checkCanarySlowly() {
        if !canaryIntact { StackOverflowReport.canaryOverwritten(self) }
    }

    // MARK: Running

    /// Gives the job its body: `runner` runs the two words at `body` (which this moves into the
    /// record). A stack whose previous body finished through `_ajctx_finish` keeps its frame and
    /// runs the body on it; otherwise a fresh first frame is built.
    @inlinable @inline(__always)
    func prepare(runner: consuming @escaping JobBodyRunner, body: UnsafeMutableRawPointer) {
        // Through a concrete struct: a function type stored as a generic `T` would be reabstracted
        // (a thunk allocated on every start).
        unsafe runnerAddress.initializeMemory(as: RunnerStorage.self, to: RunnerStorage(run: runner))
        unsafe UnsafeMutableRawPointer(record).copyMemory(from: body, byteCount: JobSlot.bodyBytes)
        unsafe record.pointee.failed = false
        if unsafe machine.pointee.reusable == 0 { prepareFirstFrame() }
    }

    /// Builds a fresh first frame that enters `jobEntry`.
    @usableFromInline @inline(never)
    func prepareFirstFrame() {
        unsafe machine.pointee.entry = jobEntry
        unsafe _ajctx_prepare(machine)
    }

    /// Switches into the job until it pauses or finishes; returns true if it finished. A body
    /// that finishes moves its value to `value` or its error to `error` (see `failed`).
    @inlinable @inline(__always)
    func run(value: UnsafeMutableRawPointer?, error: UnsafeMutableRawPointer?) -> Bool {
        unsafe enter(value: value, error: error).state == .finished
    }

    /// `run`, returning the job as the switch back hands it over (the same record: a caller that
    /// goes on with it need not keep its own copy alive across the switch).
    @inlinable @inline(__always)
    func enter(value: UnsafeMutableRawPointer?, error: UnsafeMutableRawPointer?) -> JobSlot {
        unsafe record.pointee.delivery.value = value
        unsafe record.pointee.delivery.error = error
        unsafe record.pointee.state = .running
        unsafe _ajctx_set_current(machine)
        let back = unsafe JobSlot(machine: _ajctx_resume_fast(machine))
        _ajctx_set_current(nil)
        return back
    }

    /// Whether the body of the job that just finished threw.
    @inlinable
    var failed: Bool { unsafe record.pointee.failed }

    /// Switches into a job whose result nobody wants (cancellation without the job's types).
    func runDiscardingResult() {
        _ = unsafe run(value: nil, error: nil)
    }

    // MARK: First-design wake descriptor

    /// The job's wake descriptor if it has been created.
    var existingWakeFD: FileDescriptor? {
        let fd = unsafe _ajctx_load_wake_fd(machine)
        return fd >= 0 ? FileDescriptor(rawValue: fd) : nil
    }

    /// The job's wake descriptor, created on first use (safe against a concurrent first use).
    func wakeFD() throws(AsyncJobError) -> FileDescriptor {
        if let fd = existingWakeFD { return fd }
        switch EventCounter.make() {
        case .failure(let errno):
            throw AsyncJobError(.waitDescriptorUnavailable, underlying: errno)
        case .success(let fd):
            let winner = unsafe _ajctx_publish_wake_fd(machine, fd.rawValue)
            if winner != fd.rawValue { EventCounter.close(fd) }
            return FileDescriptor(rawValue: winner)
        }
    }

    /// From inside the job: switches back to the resumer until resumed.
    @inline(__always)
    func suspend() {
        unsafe _ajctx_suspend_fast(machine)
    }

    /// On the job's stack: runs the body. `jobEntry`'s code: it returns before the switch that
    /// follows, so no Swift reference of the body's frames survives into it.
    @inline(__always)
    func runBody() {
        let runner = unsafe runnerAddress.assumingMemoryBound(to: RunnerStorage.self).move().run
        // `delivery` is the record's first field: the record's address is the delivery's.
        unsafe runner(UnsafeMutableRawPointer(record).assumingMemoryBound(to: JobDelivery.self))
        // One test for both: a canary to check (a stack without a guard page), or the pool's
        // record of the job's pauses to close (PauseRecording.swift).
        if unsafe record.pointee.pauseGate & (PauseGate.canary | PauseGate.recorded) != 0 { bodyReturnedGated() }
        unsafe record.pointee.state = .finished
    }

    /// `runBody`'s end for a stack with a canary or a job whose pauses are recorded.
    @inline(never)
    func bodyReturnedGated() {
        checkCanary()
        if recordsPauses, let pool { pool.forgetPauses(of: self) }
    }
}

extension JobSlot {
    /// The runner of a Swift closure body (see `JobBodyRunner`). Inlined into the generic caller,
    /// so that the closure is specialized for `Value` and `Failure` and captures nothing.
    @inlinable @inline(__always)
    static func runner<Value, Failure: Error>(for: Value.Type, failure: Failure.Type) -> JobBodyRunner {
        { delivery in
            let body = unsafe UnsafeMutableRawPointer(delivery)
                .bindMemory(to: (() throws(Failure) -> Value).self, capacity: 1).move()
            // `Result(catching:)` rather than do/catch: the specialization of a typed `catch` for
            // `Failure == Never` crashes the 6.3 compiler's IR generation.
            switch Result(catching: body) {
            case .success(let value):
                if let pointer = unsafe delivery.pointee.value {
                    unsafe pointer.assumingMemoryBound(to: Value.self).initialize(to: value)
                }
            case .failure(let error):
                if let pointer = unsafe delivery.pointee.error {
                    unsafe pointer.assumingMemoryBound(to: Failure.self).initialize(to: error)
                }
                unsafe JobDelivery.markFailed(delivery)
            }
        }
    }
}

extension JobSlot {
    /// The usual resume, inlined into the caller (no call between its code and the switch, so
    /// the switch does not unbalance the return-address predictor on the way back): a paused job
    /// of this thread's pool, with no job running. Returns nil, having done nothing, for any
    /// other case; the caller then takes the out-of-line path, which says what is wrong.
    @inlinable @inline(__always)
    static func resumeInline(
        _ job: JobReference, value: UnsafeMutableRawPointer?, error: UnsafeMutableRawPointer?
    ) -> RawStep? {
        let slot = job.slot
        let record = unsafe slot.record
        // These three checks imply that the job is paused, so its state is not read here: a Swift
        // handle is made only for a paused job, and every recycle moves the generation on (so the
        // record is not idle or finished for this handle); a running job runs on its pool's
        // thread, where it is the current job. (A C handle takes the record's generation, so the
        // C library checks the state before it calls this.) `refusal(toResume:)` tells the cases
        // apart on the slow path.
        // (A plain read: a Swift handle's job is paused in this thread's pool, so no other thread
        // can be reusing its record; C handles go through `_ajctx_generation_load`.)
        guard unsafe record.pointee.generation == job.generation, unsafe _ajctx_current() == nil else { return nil }
        // A job that is not idle belongs to a pool (records leave their pool only when idle).
        let pool = unsafe record.pointee.pool.unsafelyUnwrapped
        // (As the words they are: comparing with the optional would test it for nil first.)
        guard unsafe UInt(bitPattern: pool.core) == unsafeBitCast(_ajctx_pool(), to: UInt.self) else { return nil }
        unsafe assert(record.pointee.state == .paused, "a resumable handle of a job that is not paused")
        let back = unsafe slot.enter(value: value, error: error)
        if back.state == .finished { return recycleInline(back, pool: pool) }
        return .paused(JobReference(slot: back, generation: back.generation))
    }

    /// An idle job of this thread's pool for the usual start, taken off the free list; nil,
    /// having done nothing, inside a job, without a pool or an idle job, or (the C library's
    /// starts, `retiringSpentRecords`) when the idle job's generation used up the tags of C
    /// handles: it goes back, for `JobRuntime.start` to retire (JobReference+OpaqueHandle.swift).
    @inlinable @inline(__always)
    static func takeIdleForStart(retiringSpentRecords: Bool) -> JobSlot? {
        guard unsafe _ajctx_current() == nil, let poolAddress = unsafe _ajctx_pool() else { return nil }
        let pool = unsafe PoolHandle(core: poolAddress.assumingMemoryBound(to: PoolCore.self))
        guard let slot = pool.popFree() else { return nil }
        if retiringSpentRecords && slot.generation >= JobSlot.lastHandleTag {
            pool.pushFree(slot)
            return nil
        }
        return slot
    }

    /// The usual start, inlined into the caller (see `resumeInline`): outside a job, on a thread
    /// whose pool has an idle job. Returns nil, having done nothing (`runner` and `body` are still
    /// the caller's), for any other case; the caller then takes `JobRuntime.start`. Otherwise
    /// the job took the body, as with `JobRuntime.start`.
    @inlinable @inline(__always)
    static func startInline(
        waitContext: WaitContext?, runner: consuming @escaping JobBodyRunner, body: UnsafeMutableRawPointer,
        value: UnsafeMutableRawPointer?, error: UnsafeMutableRawPointer?, retiringSpentRecords: Bool = false
    ) -> RawStep? {
        guard let slot = takeIdleForStart(retiringSpentRecords: retiringSpentRecords) else { return nil }
        if waitContext != nil { slot.attachWaitContext(waitContext) }
        unsafe slot.prepare(runner: runner, body: body)
        // The same job, as the switch back hands it over (nothing of the caller's lives across it).
        let back = unsafe slot.enter(value: value, error: error)
        guard back.state == .finished else { return .paused(JobReference(slot: back, generation: back.generation)) }
        // The record's pool (the same as `pool`): reading it again costs less than keeping
        // `pool` alive across the switch (205 vs 207 instructions a start -> finish).
        return recycleInline(back, pool: unsafe back.record.pointee.pool.unsafelyUnwrapped)
    }

    /// Gives a job that just finished back to its pool (inlined: `PoolHandle.recycle` is, in the
    /// usual case, a few stores) and reports the finish.
    @inlinable @inline(__always)
    static func recycleInline(_ slot: JobSlot, pool: PoolHandle) -> RawStep {
        let failed = slot.failed
        pool.recycle(slot)
        return .finished(failed: failed)
    }

    /// Whether a finished job can go back on the free list of a pool of `stackByteCount`-byte
    /// stacks with nothing else to let go: no wait context, wake descriptor or job-local storage,
    /// a guarded stack of that size.
    @inlinable
    func needsOnlyTheFreeList(stackByteCount: Int, canary: UInt32) -> Bool {
        // `canary` (the gate's kept bits) is zero for a stack with a guard page, no job-local
        // storage, in a pool that does not record pauses.
        unsafe canary == 0 && record.pointee.waitContextAddress == nil && machine.pointee.wake_fd < 0
            && machine.pointee.stack_size == stackByteCount
    }

    /// `needsOnlyTheFreeList`, but for the wait context, for a job that `clearPauseBlocks` has
    /// recycled: it has no wake descriptor or job-local storage, a guarded stack of
    /// `stackByteCount` bytes, and its pool does not record pauses.
    func holdsAtMostAWaitContext(stackByteCount: Int) -> Bool {
        // The gate holds only its kept bits now (`clearPauseBlocks`).
        unsafe record.pointee.pauseGate == 0 && machine.pointee.wake_fd < 0
            && machine.pointee.stack_size == stackByteCount
    }

    /// Gives a starting job its wait context (out of line: it retains the context). Takes the
    /// optional as it is, so that the inlined caller does not copy it to unwrap it. The job is
    /// idle, so it holds no context: its field is initialized over, with nothing to release.
    @usableFromInline @inline(never)
    func attachWaitContext(_ context: WaitContext?) {
        unsafe assert(record.pointee.waitContextAddress == nil, "a wait context attached to a job that has one")
        unsafe record.pointee.waitContextAddress = context.map { unsafe Unmanaged.passUnretained($0).toOpaque() }
        unsafe record.pointer(to: \.waitContext)!.initialize(to: context)
    }

    /// Takes a finished job's wait context out of its record, for the caller to release.
    func takeWaitContext() -> WaitContext? {
        unsafe record.pointee.waitContextAddress = nil
        let field = unsafe record.pointer(to: \.waitContext)!
        let context = unsafe field.move()
        unsafe field.initialize(to: nil)
        return context
    }

    /// The usual pause, inlined into the caller: inside a job that may pause, is not cancelled
    /// and has a guard page (no canary to check). Returns nil, having done nothing, for any other
    /// case (the caller takes `JobRuntime.pause()`); otherwise whether the job was resumed
    /// normally (false: it was resumed by its cancellation).
    @inlinable @inline(__always)
    static func pauseInline() -> Bool? {
        guard let machine = unsafe _ajctx_current() else { return nil }
        let slot = unsafe JobSlot(machine: machine)
        let record = unsafe slot.record
        guard unsafe record.pointee.pauseGate == 0 else { return nil }
        unsafe record.pointee.state = .paused
        unsafe _ajctx_suspend_fast(machine)
        // Resumed. The changes the application saw are now old news (docs/contract.md).
        if let address = unsafe record.pointee.waitContextAddress,
            unsafe Unmanaged<WaitContext>.fromOpaque(address)._withUnsafeGuaranteedRef({
                $0.hasChanges.load(ordering: .acquiring)
            })
        {
            slot.resetWaitContextChanges()
        }
        return !slot.cancelRequested
    }
}

/// The form in which a `JobBodyRunner` sits in `JobRecord.runnerStorage`.
@usableFromInline @unsafe struct RunnerStorage {
    @usableFromInline var run: JobBodyRunner

    @usableFromInline init(run: @escaping JobBodyRunner) {
        unsafe self.run = run
    }
}

/// The Swift code of every job stack: runs the record's body (the stack's C first frame calls it
/// for each body, and switches back to the resumer after each; see `_ajctx_prepare`).
private let jobEntry: @convention(c) (UnsafeMutablePointer<_ajctx_job>) -> Void = { machine in
    unsafe JobSlot(machine: machine).runBody()
}

extension JobRuntime {
    /// Whether the calling thread's jobs have task-local values of their own
    /// (job_context_task_locals.c; `AsyncJob.isolatesTaskLocalValues`).
    package static var isolatesTaskLocalValues: Bool {
        _ajctx_task_locals_isolated() != 0
    }
}
