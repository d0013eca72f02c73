// SPDX-License-Identifier: Apache-2.0
// What a pool can tell about its paused jobs: when each paused and how often (recorded only
// while the pool records pauses), how deep its stack has been, and where it is suspended; and
// the pool's entry in the list that debuggers read.
//
// Cost: nothing on the inlined start, pause, resume or finish while a pool does not record. A
// recording pool sets `PauseGate.recorded` on its records, which sends their pauses to the full
// path (`JobRuntime.pause`) and their bodies' ends to `JobSlot.bodyReturnedGated` (the test that
// already asked for a canary), where they are recorded in the pool's `pauseLog`: a dictionary
// touched only by the pool's thread. The hooks are out of
// line, so that the paths that test for them keep their code and registers.
import _CJobContext

/// What a recording pool knows of one started job.
struct PauseLogEntry {
    /// Times the job paused since it started.
    var pauses = 0
    /// When it last paused.
    var pausedAt = ContinuousClock.now
    /// Whether it is being cancelled (its end is then reported as a cancellation).
    var cancelled = false
}

extension PoolHandle {
    /// Whether the pool's jobs record their pauses. Turning it on marks every record (jobs already
    /// paused show their pauses from the next one); turning it off forgets what was recorded.
    var recordsPauses: Bool {
        get { unsafe core.pointee.recordsPauses }
        nonmutating set {
            guard unsafe newValue != core.pointee.recordsPauses else { return }
            unsafe core.pointee.recordsPauses = newValue
            for slot in allSlots { slot.recordsPauses = newValue }
            if !newValue { unsafe core.pointee.pauseLog = [:] }
        }
    }

    /// A finished or cancelled job's record goes: its pauses are forgotten, and the observer
    /// hears of its end (a cancelled one's cancellation was reported before it ran to its end).
    @inline(never)
    func forgetPauses(of slot: JobSlot) {
        let entry = unsafe core.pointee.pauseLog.removeValue(forKey: slot)
        if entry?.cancelled != true { unsafe core.pointee.observer?.jobEnded(cancelled: false) }
    }

    /// A job about to be cancelled (run to its end with failing pauses).
    @inline(never)
    func observeCancellation(of slot: JobSlot) {
        unsafe core.pointee.pauseLog[slot, default: PauseLogEntry()].cancelled = true
        unsafe core.pointee.observer?.jobEnded(cancelled: true)
    }

    /// A start found the pool at its limit.
    @inline(never)
    func observeNoJobs() {
        unsafe core.pointee.observer?.startFoundNoJob()
    }

    /// The observer of the pool; setting one turns recording on.
    var observer: (any JobPoolObserver)? {
        get { unsafe core.pointee.observer }
        nonmutating set {
            unsafe core.pointee.observer = newValue
            if newValue != nil { recordsPauses = true }
        }
    }

    /// What was recorded of `slot` (nil: nothing, or the pool does not record).
    func pauseLog(of slot: JobSlot) -> PauseLogEntry? {
        unsafe core.pointee.pauseLog[slot]
    }

    /// Adds a new pool to the list debuggers read, with the offsets they need to walk it.
    static func registerForDebuggers(_ core: UnsafeMutablePointer<PoolCore>) -> UnsafeMutablePointer<_ajctx_debug_pool>? {
        var layout = _ajctx_debug_layout()
        layout.record_offset = UInt64(JobSlot.recordOffset)
        layout.state_offset = unsafe UInt64(MemoryLayout<JobRecord>.offset(of: \.state)!)
        layout.generation_offset = unsafe UInt64(MemoryLayout<JobRecord>.offset(of: \.generation)!)
        layout.next_in_pool_offset = unsafe UInt64(MemoryLayout<JobRecord>.offset(of: \.nextInPool)!)
        layout.paused_state = UInt64(JobState.paused.rawValue)
        layout.pool_first_offset = UInt64(MemoryLayout<PoolCore>.offset(of: \.all)!)
        return unsafe _ajctx_debug_add_pool(UnsafeMutableRawPointer(core), &layout)
    }
}

extension JobSlot {
    /// Inside the job, about to pause: counts the pause and notes its time.
    @inline(never)
    func recordPause() {
        guard let pool else { return }
        unsafe pool.core.pointee.pauseLog[self, default: PauseLogEntry()].pauses += 1
        unsafe pool.core.pointee.pauseLog[self]!.pausedAt = .now
        unsafe pool.core.pointee.observer?.jobWillPause()
    }

    /// Inside the job, just resumed: tells the observer how long it was paused.
    @inline(never)
    func recordResume() {
        guard let pool, let observer = unsafe pool.core.pointee.observer,
            let entry = unsafe pool.core.pointee.pauseLog[self]
        else { return }
        observer.jobResumed(after: .now - entry.pausedAt)
    }

    /// Return addresses of the suspended job's frames, innermost first (at most `limit`).
    func suspendedReturnAddresses(limit: Int) -> [UInt] {
        guard limit > 0 else { return [] }
        var addresses = [UInt](repeating: 0, count: limit)
        let count = unsafe addresses.withUnsafeMutableBufferPointer { buffer in
            unsafe _ajctx_backtrace(machine, buffer.baseAddress!, limit)
        }
        addresses.removeLast(limit - count)
        return addresses
    }

    /// The record's address as a number (the C library's `ASYNC_JOB *`).
    var addressBits: UInt { unsafe UInt(bitPattern: machine) }

    /// Bytes of the stack that have been used since it was mapped: from its top down to the
    /// lowest page that is resident (pages stay resident once touched). Nil if the kernel cannot
    /// say (memory that is not a mapping of its own, or a stack that was never touched).
    var stackHighWater: Int? {
        guard let low = unsafe machine.pointee.stack_low else { return nil }
        let top = unsafe low + Int(machine.pointee.stack_size)
        guard let lowest = unsafe VirtualMemory.lowestResidentPage(from: low, to: top) else { return nil }
        return unsafe top - lowest
    }
}
