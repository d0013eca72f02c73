// SPDX-License-Identifier: Apache-2.0
// The C library's view of a job: the `ASYNC_JOB *` is the record's address with the record's
// generation in the pointer's top 16 bits (user-space addresses have them zero on x86_64 and
// AArch64 Linux; `RecordRecycler` checks each slab it maps). A handle names one job, not a record:
// once that job finishes, the record's generation moves on and never comes back, so the handle no
// longer matches, even after the record runs a newer job, and every C entry point refuses it
// without touching the record's job.
//
// Invariants that make the single comparison `generation == tag` enough:
// - Generations only grow: every recycle, release, prefill and retirement adds one, and a page of
//   records given back to the system is made anew above every generation it held. A page given
//   back reads as zeros until then (generation 0), and no record ever runs a job at generation 0
//   (records are made at generation 1), so no handle's tag is 0.
// - A tag is 16 bits: the C library never runs a job at a generation of `JobSlot.lastHandleTag`
//   or above (`JobRuntime.start` with `retiringSpentRecords` retires an idle record that reached
//   it; `RecordRecycler` never hands one out). So a C job's tag is its whole generation, and a tag
//   that matches means the handle's job exists (running or paused): a record at the generation of
//   a job that finished or never ran has no handle with that tag.
// - A job of the Swift API at generation `lastHandleTag` or above gets the tag `lastHandleTag`
//   from `SAJ_get_current_job`: only that job itself, while it runs, is recognized by it (a C
//   engine called from Swift code finds its wait context); it is not resumable through the C API,
//   as no handle of a Swift job is.
import Synchronization
import _CJobContext

extension JobSlot {
    /// The largest tag of a C handle (tags are 16 bits). C jobs run below this generation.
    @inlinable static var lastHandleTag: UInt64 { 0xFFFF }
    /// The bits of a C handle that hold the record's address.
    @inlinable static var handleAddressMask: UInt { (1 << 48) - 1 }

    /// The record a C handle points at (its tag removed), whatever the handle's job.
    @inlinable @inline(__always)
    static func from(opaqueHandle: UnsafeRawPointer) -> JobSlot {
        let address = UInt(bitPattern: opaqueHandle) & JobSlot.handleAddressMask
        return unsafe JobSlot.from(address: UnsafeRawPointer(bitPattern: address).unsafelyUnwrapped)
    }

    /// The tag of a C handle.
    @inlinable @inline(__always)
    static func tag(ofOpaqueHandle handle: UnsafeRawPointer) -> UInt64 {
        UInt64(UInt(bitPattern: handle) >> 48)
    }

    /// The C handle of the job at `generation` on this record.
    @inlinable @inline(__always)
    func opaqueHandle(generation: UInt64) -> UnsafeMutableRawPointer {
        let tag = UInt(truncatingIfNeeded: min(generation, JobSlot.lastHandleTag))
        return unsafe UnsafeMutableRawPointer(bitPattern: UInt(bitPattern: machine) | tag << 48).unsafelyUnwrapped
    }
}

extension JobReference {
    /// The record's address, for messages naming the job.
    package var debugAddress: String { unsafe String(describing: slot.address) }

    /// The value the C library uses as this job's `ASYNC_JOB *`: the record's address with the
    /// job's generation on top (see the top of this file).
    package var opaqueHandle: UnsafeMutableRawPointer { unsafe slot.opaqueHandle(generation: generation) }

    /// The job behind a C handle: at the record's current generation if the handle names the job
    /// the record holds now, else a reference that is not alive (its generation is not the
    /// record's), which every operation refuses.
    /// - Important: `opaqueHandle` must be a value that `opaqueHandle` or `currentOpaqueHandle`
    ///   returned (records are never freed, so any such value stays dereferenceable).
    @inlinable
    package init(opaqueHandle: UnsafeRawPointer) {
        let slot = unsafe JobSlot.from(opaqueHandle: opaqueHandle)
        let generation = slot.generation
        let names = unsafe JobReference.handle(opaqueHandle, names: slot, at: generation)
        self.init(slot: slot, generation: names ? generation : ~generation)
    }

    /// Whether a C handle names the job that `slot` holds at `generation` (its current one): the
    /// tag is that generation, or the handle is the saturated one of the running job of the
    /// Swift API (see the top of this file).
    @inlinable @inline(__always)
    static func handle(_ handle: UnsafeRawPointer, names slot: JobSlot, at generation: UInt64) -> Bool {
        let tag = unsafe JobSlot.tag(ofOpaqueHandle: handle)
        if generation == tag { return true }
        return unsafe tag == JobSlot.lastHandleTag && generation > tag && _ajctx_current() == slot.machine
    }
}

extension JobReference {
    /// The C handle of the job running on this thread, or nil (`SAJ_get_current_job`): inlined
    /// into the C entry point, one thread-local load and the record's generation. Equal to the
    /// handle `SAJ_start_job` returned for the job.
    @inlinable @inline(__always)
    package static var currentOpaqueHandle: UnsafeMutableRawPointer? {
        guard let machine = unsafe _ajctx_current() else { return nil }
        let slot = unsafe JobSlot(machine: machine)
        return unsafe slot.opaqueHandle(generation: slot.generation)
    }

    /// The address of the wait context of the job behind a C handle, unretained (the job holds
    /// it), while the job exists; nil for a job without one or a handle whose job finished
    /// (`SAJ_get_wait_ctx`). The same answer as `waitContext`, without the retain and release
    /// of the object (two atomic operations). A handle that does not name the record's job gets
    /// nil (a matching tag means the job exists: see the top of this file).
    /// - Important: `opaqueHandle` must be a value that `opaqueHandle` returned.
    @inlinable @inline(__always)
    package static func waitContextAddress(opaqueHandle: UnsafeRawPointer) -> UnsafeMutableRawPointer? {
        let slot = unsafe JobSlot.from(opaqueHandle: opaqueHandle)
        guard unsafe handle(opaqueHandle, names: slot, at: slot.generation) else { return nil }
        assert(slot.state == .running || slot.state == .paused, "a C handle's tag matched a job that does not exist")
        return unsafe slot.record.pointee.waitContextAddress
    }
}

extension JobReference {
    /// Brings the job's record into the cache ahead of a resume (a driver resuming many jobs in
    /// turn calls it two jobs ahead, then `prefetchStack` one ahead). Only a hint: a stale
    /// reference reads a record that exists anyway.
    @inlinable @inline(__always)
    package func prefetchRecord() {
        unsafe _ajctx_prefetch_job(slot.machine)
    }

    /// Brings the top of the paused job's stack, and its wait context, into the cache ahead of a
    /// resume (after `prefetchRecord`: this reads the record).
    @inlinable @inline(__always)
    package func prefetchStack() {
        unsafe _ajctx_prefetch_stack(slot.machine)
        if let context = unsafe slot.record.pointee.waitContextAddress { unsafe _ajctx_prefetch_object(context) }
    }
}

/// What a resume through the C library did.
@usableFromInline package enum ForeignResume: Equatable {
    /// The job's function returned (its value is at the resume's `ret`); the job went back to
    /// the pool.
    case finished
    /// The job paused again (its handle is unchanged).
    case paused
    /// The handle may not be resumed now; nothing changed.
    case refused(ResumeRefusal)
}

extension JobRuntime {
    /// The C library's resume of a paused `ASYNC_JOB *`: the usual case inlined into the C entry
    /// point (see `JobSlot.resumeInline`), the others out of line. If the job's function returns,
    /// its value is stored at `ret` (unless nil), by the job itself; nothing is stored there
    /// otherwise.
    /// - Important: `handle` must be a value that `opaqueHandle` returned.
    @inlinable @inline(__always)
    package static func resumeForeign(_ handle: UnsafeRawPointer, ret: UnsafeMutablePointer<Int32>?) -> ForeignResume {
        let slot = unsafe JobSlot.from(opaqueHandle: handle)
        let generation = slot.generation
        // A tag that is the record's generation names the record's job, which exists (see the
        // top of this file); any other handle is stale (a record reused, retired, or on a page
        // given back to the system).
        guard unsafe generation == JobSlot.tag(ofOpaqueHandle: handle) else {
            return unsafe resumeForeignChecked(JobReference(slot: slot, generation: ~generation), ret: ret)
        }
        let job = JobReference(slot: slot, generation: generation)
        // Jobs of the C library never throw: no error storage. The value goes straight to `ret`.
        switch unsafe JobSlot.resumeInline(job, value: UnsafeMutableRawPointer(ret), error: nil) {
        case .finished?: return .finished
        case .paused?: return .paused
        case nil, .noJobsAvailable?, .insideJob?: return unsafe resumeForeignChecked(job, ret: ret)
        }
    }

    /// `resumeForeign` when the inlined resume declined: says why, or resumes.
    @usableFromInline @inline(never)
    static func resumeForeignChecked(_ job: JobReference, ret: UnsafeMutablePointer<Int32>?) -> ForeignResume {
        if let refusal = refusal(toResume: job) { return .refused(refusal) }
        switch unsafe resumeAccepted(job, value: UnsafeMutableRawPointer(ret), error: nil) {
        case .finished: return .finished
        case .paused: return .paused
        case .noJobsAvailable, .insideJob: return .refused(.insideJob)
        }
    }
}

extension JobRuntime {
    /// The first half of the C library's pause on x86_64, where the switch itself is made by
    /// the assembly entry point (`SAJ_pause_job`, so that no `ret` follows the switch): in the
    /// usual case (see `JobSlot.pauseInline`) it marks the job paused, saves its access set and
    /// returns the job's address; the caller must then switch with
    /// `_ajctx_swap(&job->job_sp, job->caller_sp, job)`, running no Swift code in between, and
    /// call `pauseForeignResumed` once resumed. nil: declined, nothing done (call `pause()`).
    @inlinable @inline(__always)
    package static func pauseForeignPrepare() -> UnsafeMutableRawPointer? {
        guard let machine = unsafe _ajctx_current() else { return nil }
        let record = unsafe JobSlot(machine: machine).record
        guard unsafe record.pointee.pauseGate == 0, unsafe _ajctx_suspend_prepare(machine) != 0 else { return nil }
        unsafe record.pointee.state = .paused
        return UnsafeMutableRawPointer(machine)
    }

    /// The second half (see `pauseForeignPrepare`), inside the resumed job: whether it was
    /// resumed normally (false: by its cancellation).
    @inlinable @inline(__always)
    package static func pauseForeignResumed(_ job: UnsafeMutableRawPointer) -> Bool {
        let slot = unsafe JobSlot.from(address: job)
        // The changes the application saw are now old news (docs/contract.md).
        if let address = unsafe slot.record.pointee.waitContextAddress,
            unsafe Unmanaged<WaitContext>.fromOpaque(address)._withUnsafeGuaranteedRef({
                $0.hasChanges.load(ordering: .acquiring)
            })
        {
            slot.resetWaitContextChanges()
        }
        return !slot.cancelRequested
    }

    /// The first half of the C library's resume of a paused handle on x86_64 (see
    /// `pauseForeignPrepare`): in the usual case (see `resumeForeign`) it prepares the job to run,
    /// with `ret` as the place for its function's result (nil: nowhere), and returns the record's
    /// address; the caller must then switch with `_ajctx_swap(&job->caller_sp, job->job_sp, job)`
    /// and call `resumeForeignSwitchedBack` with the job the switch hands back. nil: declined,
    /// nothing done (call `resumeForeign`, which says why or resumes).
    /// - Important: `handle` must be a value that `opaqueHandle` returned.
    @inlinable @inline(__always)
    package static func resumeForeignPrepare(
        _ handle: UnsafeRawPointer, ret: UnsafeMutablePointer<Int32>?
    ) -> UnsafeMutableRawPointer? {
        let slot = unsafe JobSlot.from(opaqueHandle: handle)
        let record = unsafe slot.record
        // The handle's tag is the record's generation: the handle names the record's job, which
        // exists (see the top of this file), so it is paused unless it runs; a running job is
        // this thread's current one (declined here) or another thread's (another pool). A job
        // that exists belongs to a pool; this thread's pool, and no job running, make it
        // resumable here.
        guard unsafe _ajctx_generation_load(&record.pointee.generation) == JobSlot.tag(ofOpaqueHandle: handle),
            unsafe _ajctx_current() == nil
        else { return nil }
        let pool = unsafe record.pointee.pool.unsafelyUnwrapped
        guard unsafe UInt(bitPattern: pool.core) == unsafeBitCast(_ajctx_pool(), to: UInt.self),
            unsafe _ajctx_resume_prepare(slot.machine) != 0
        else { return nil }
        unsafe assert(record.pointee.state == .paused, "a resumable C handle of a job that is not paused")
        unsafe record.pointee.delivery.value = UnsafeMutableRawPointer(ret)
        unsafe record.pointee.delivery.error = nil
        unsafe record.pointee.state = .running
        unsafe _ajctx_set_current(slot.machine)
        return unsafe UnsafeMutableRawPointer(slot.machine)
    }

    /// The first half of the C library's start of a new job on x86_64 (see `pauseForeignPrepare`),
    /// for its usual case: outside a job, on a thread whose pool has an idle job whose generation
    /// a handle can name. It gives that job `waitContext` (the address of a live `WaitContext`,
    /// or nil), the C function and its argument (as `start`), and `ret` as the place for the
    /// function's result, then:
    /// - `.enter(record)`: the caller must switch with `_ajctx_swap(&job->caller_sp, job->job_sp,
    ///   job)` and call `startForeignSwitchedBack` with the job the switch hands back;
    /// - `.started(step)`: the job needed the general switch (switch hooks, task-local values to
    ///   carry in), which ran it here;
    /// - `.declined`: nothing done (the caller takes `start`).
    @inlinable @inline(__always)
    package static func startForeignPrepare(
        waitContext: UnsafeMutableRawPointer?, function: ForeignJobFunction, argument: UnsafeMutableRawPointer?,
        copyingArgument: Bool, ret: UnsafeMutablePointer<Int32>?
    ) -> ForeignStartEntry {
        guard let slot = JobSlot.takeIdleForStart(retiringSpentRecords: true) else { return unsafe .declined }
        if let waitContext = unsafe waitContext {
            unsafe Unmanaged<WaitContext>.fromOpaque(waitContext)._withUnsafeGuaranteedRef { slot.attachWaitContext($0) }
        }
        var body: (UnsafeRawPointer?, UnsafeRawPointer?) = unsafe (unsafeBitCast(function, to: UnsafeRawPointer.self), UnsafeRawPointer(argument))
        let runner = unsafe foreignRunner(copyingArgument: copyingArgument)
        unsafe _withUnprotectedUnsafeMutablePointer(to: &body) { unsafe slot.prepare(runner: runner, body: UnsafeMutableRawPointer($0)) }
        // After `prepare`, which may build the first frame (and with it the job's access-set word).
        guard unsafe _ajctx_resume_prepare(slot.machine) != 0 else {
            let back = unsafe slot.enter(value: UnsafeMutableRawPointer(ret), error: nil)
            guard back.state == .finished else { return unsafe .started(.paused(JobReference(slot: back, generation: back.generation))) }
            _ = JobSlot.recycleInline(back, pool: unsafe back.record.pointee.pool.unsafelyUnwrapped)
            return unsafe .started(.finished)
        }
        unsafe slot.record.pointee.delivery.value = UnsafeMutableRawPointer(ret)
        unsafe slot.record.pointee.delivery.error = nil
        unsafe slot.record.pointee.state = .running
        unsafe _ajctx_set_current(slot.machine)
        return unsafe .enter(UnsafeMutableRawPointer(slot.machine))
    }

    /// The second half of `startForeignPrepare`'s `.enter`, back from the switch: the handle of
    /// the job if it paused, nil if it finished (its value is at `ret`, and the job went back to
    /// its pool).
    @inlinable @inline(__always)
    package static func startForeignSwitchedBack(_ job: UnsafeMutableRawPointer) -> UnsafeMutableRawPointer? {
        guard unsafe !resumeForeignSwitchedBack(job) else { return nil }
        let slot = unsafe JobSlot.from(address: job)
        return unsafe slot.opaqueHandle(generation: slot.generation)
    }

    /// The second half (see `resumeForeignPrepare`), back from the switch: true if the job
    /// finished (its value is at the `ret` of the first half, and the job went back to its
    /// pool), false if it paused again.
    @inlinable @inline(__always)
    package static func resumeForeignSwitchedBack(_ job: UnsafeMutableRawPointer) -> Bool {
        _ajctx_set_current(nil)
        let back = unsafe JobSlot.from(address: job)
        guard back.state == .finished else { return false }
        _ = JobSlot.recycleInline(back, pool: unsafe back.record.pointee.pool.unsafelyUnwrapped)
        return true
    }
}
