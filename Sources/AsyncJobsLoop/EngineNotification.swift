// SPDX-License-Identifier: Apache-2.0
// The job side of an engine, shared by OffloadEngine and SimulatedAccelerator: choose how the
// completion of a request is announced (the job's wait fd under the engine's key, or the wait
// context's callback), pause until it is done, and tolerate spurious resumes, cancellation and
// late completions (docs/contract.md, "How engines and applications drive it").
//
// Invariants: an operation moves pending -> done (by its completer) or pending -> abandoned (by
// its cancelled job) exactly once; only the completer of `done` announces; an engine's eventfd is
// closed only when its wait context has let it go *and* no operation still holds it, so a late
// completer never writes to a closed (or reused) descriptor.
import AsyncJobs
import Synchronization
import SystemPackage

/// An engine's eventfd registered in a wait context, closed when both the context's cleanup has
/// run and no in-flight operation still uses it.
package final class EngineWaitFD: Sendable {
    package let fd: FileDescriptor
    /// Whether the job reads the fd's counter back to 0 after each resume. A level-triggered
    /// watcher (an application polling the wait context's fds, as OpenSSL's do) needs it, or the
    /// fd would stay readable and wake it forever. A `JobLoop` in fd mode watches with
    /// `EPOLLET`: every eventfd write queues a new event whatever the counter holds, so the
    /// read (a system call on the loop's thread per operation) is skipped for the fds made for
    /// its wait contexts. The counter only grows (by 1 per operation; it holds 2^64 - 2).
    package let drainsAfterResume: Bool

    package init(fd: FileDescriptor, drainsAfterResume: Bool = true) {
        self.fd = fd
        self.drainsAfterResume = drainsAfterResume
    }
    /// 2 per in-flight operation, +1 once the wait context's cleanup ran. Whoever brings it to
    /// exactly 1 closes the fd.
    private let holds = Atomic<Int>(0)

    /// An operation starts using the fd (called on the job's thread, while the context holds it).
    package func retainForOperation() {
        holds.wrappingAdd(2, ordering: .relaxed)
    }

    /// An operation is done with the fd (after signalling it, or after being abandoned).
    package func releaseForOperation() {
        if holds.wrappingSubtract(2, ordering: .acquiringAndReleasing).newValue == 1 { EventCounter.close(fd) }
    }

    /// The wait context's cleanup: it no longer holds the fd.
    package func releaseForContext() {
        if holds.wrappingAdd(1, ordering: .acquiringAndReleasing).newValue == 1 { EventCounter.close(fd) }
    }
}

/// Completions gathered by an engine thread and announced together: one call per sink per
/// batch, however the sinks' requests interleave. An engine shared by a group of loops completes
/// their requests in the order they were submitted, alternating between loops; announcing a run
/// whenever the sink changed made that one call (one lock, possibly one wake-up) per request.
package struct CompletionBatch: ~Copyable {
    /// The sinks with completions in this batch (each retained once per batch, not once per
    /// request), and the entries gathered for each, at the same positions.
    private var sinks: [any CompletionBatchSink] = []
    private var indices: [[Int32]] = []
    /// The position of the last request's sink: a run of one loop's requests costs one
    /// comparison each.
    private var last = 0
    private let capacity: Int

    package init(capacity: Int) {
        self.capacity = capacity
    }

    /// Adds one completion. Reads the callback's sink only to compare it (no reference count is
    /// taken per completion; the batch keeps each sink once, until `flush`).
    package mutating func add(_ callback: borrowing BatchCallback) {
        if last < sinks.count && sinks[last] === callback.sink {
            indices[last].append(callback.index)
            return
        }
        if let position = sinks.firstIndex(where: { $0 === callback.sink }) {
            last = position
        } else {
            last = sinks.count
            sinks.append(callback.sink)
            if indices.count < sinks.count {
                var list: [Int32] = []
                list.reserveCapacity(capacity)
                indices.append(list)
            }
        }
        indices[last].append(callback.index)
    }

    /// Announces what was gathered, one call per sink. Call it before the engine thread sleeps.
    /// - Returns: nil if nothing was announced; else whether every sink kept up (see
    ///   ``CompletionBatchSink/entriesReady(_:)``).
    @discardableResult
    package mutating func flush() -> Bool? {
        guard !sinks.isEmpty else { return nil }
        var caughtUp = true
        for position in sinks.indices {
            if !sinks[position].entriesReady(indices[position]) { caughtUp = false }
            indices[position].removeAll(keepingCapacity: true)
        }
        sinks.removeAll(keepingCapacity: true)
        last = 0
        return caughtUp
    }
}

/// How the completion of one request is announced.
package enum NotificationTarget: Sendable {
    /// Signal the engine's eventfd in the job's wait context (the loop watches it).
    case waitFD(EngineWaitFD)
    /// Call the wait context's callback (read when the request was submitted).
    case callback(@Sendable () -> Void)
    /// The wait context's callback, in a form that can be announced in batches.
    case batchCallback(BatchCallback)
    /// Call a closure (Swift concurrency: resume a continuation).
    case closure(@Sendable () -> Void)
    /// Nobody waits asynchronously: the caller blocks on this parker.
    case parker(ThreadParker)
}

/// One request to an engine: its work, its result once done, and how its completion is
/// announced. Shared by the job that waits and the thread that completes it.
///
/// Deliberately not generic: engine calls are generic over the result type and not inlinable,
/// so a generic request class would cost a runtime metadata lookup at every allocation and
/// access (measured: about 10 % of the loop thread's time per operation). The value travels as
/// `any Sendable` instead (inline, without allocation, for values up to three words).
package final class EngineRequest: Sendable {
    private enum Outcome: Sendable {
        case pending
        case value(any Sendable)
        case error(any Error)
    }
    package static var pending: UInt8 { 0 }
    package static var done: UInt8 { 1 }
    package static var abandoned: UInt8 { 2 }

    package let state = Atomic<UInt8>(0)
    package let target: NotificationTarget
    /// What a worker runs (nil for an accelerator request, which only waits).
    private let work: (@Sendable () throws -> any Sendable)?
    /// Where a worker leaves the result of `work` (nil with no work: an accelerator request
    /// makes no lock).
    private let outcome: FutexMutex<Outcome>?

    package init(target: NotificationTarget, work: (@Sendable () throws -> any Sendable)?) {
        self.target = target
        self.work = work
        self.outcome = work == nil ? nil : FutexMutex(.pending)
        if case .waitFD(let box) = target { box.retainForOperation() }
    }

    package var isDone: Bool { state.load(ordering: .acquiring) == Self.done }

    /// On a worker: runs the work unless the job gave up on it, stores its result, announces.
    package func execute() {
        guard state.load(ordering: .relaxed) == Self.pending, let work, let outcome else { return complete() }
        let result: Outcome
        do { result = .value(try work()) } catch { result = .error(error) }
        outcome.withLock { $0 = result }
        complete()
    }

    /// Any thread: the request is over (its result, if any, stored first). Marks it done and
    /// announces it, unless its job gave up on it; then lets go of the engine's fd.
    package func complete() {
        announce(markedDone: markDone())
    }

    /// As ``complete()``, but a batch-callback announcement is added to `batch` (the caller
    /// flushes it); every other kind is announced at once.
    package func complete(into batch: inout CompletionBatch) {
        let exchanged = markDone()
        // A `switch` borrows the payload from `target`; `if case` copies it (Swift 6.3), which
        // would retain the sink here, on the completer's thread, for every request.
        switch target {
        case .batchCallback(let callback):
            if exchanged { batch.add(callback) }
        default:
            announce(markedDone: exchanged)
        }
    }

    private func markDone() -> Bool {
        state.compareExchange(expected: Self.pending, desired: Self.done, ordering: .acquiringAndReleasing).exchanged
    }

    private func announce(markedDone: Bool) {
        switch target {
        case .waitFD(let box):
            if markedDone { EventCounter.signal(box.fd) }
            box.releaseForOperation()
        case .callback(let callback), .closure(let callback):
            if markedDone { callback() }
        case .batchCallback(let callback):
            if markedDone { callback.sink.entryReady(callback.index) }
        case .parker(let parker):
            if markedDone { parker.unpark() }
        }
    }

    /// The job gives up waiting (it was cancelled). Returns false if the request is already done.
    package func abandon() -> Bool {
        state.compareExchange(expected: Self.pending, desired: Self.abandoned, ordering: .acquiringAndReleasing)
            .exchanged
    }

    /// The value or error of a done request that ran work returning `Value`.
    package func takeResult<Value>(as: Value.Type) throws -> Value {
        guard let outcome else { preconditionFailure("EngineRequest result taken from a request without work") }
        let result = outcome.withLock { outcome in
            defer { outcome = .pending }
            return outcome
        }
        switch result {
        case .value(let value): return value as! Value
        case .error(let error): throw error
        case .pending: preconditionFailure("EngineRequest result taken before the request was done")
        }
    }
}

/// The job-side protocol every engine of this module follows.
package enum EngineWaiting {
    /// How a request submitted now, from the calling code, should be announced; nil when it
    /// should run inline (not in a job, or pausing is blocked, so nothing could resume us).
    /// - Throws: `CancellationError` if the running job is already cancelled.
    /// - Throws: `AsyncJobError` if the engine's eventfd cannot be created.
    package static func target(forKey key: WaitContext.Key) throws -> NotificationTarget? {
        guard let job = RunningJob.current else { return nil }
        if job.isCancelRequested { throw CancellationError() }
        if job.isPauseBlocked { return nil }
        // OpenSSL's rule: with a callback set, use it (and report the submission in the status).
        // One lock for the callback, the status and the fd lookup: this runs once per operation.
        // (The context is borrowed from the running job's record, which holds it: no retain.)
        guard let found = job.withWaitContext({ context in context.engineTarget(forKey: key) }) else {
            // A job without a wait context can still pause; someone must wake it some other way
            // (first design); we cannot know who, so wait on the thread instead.
            return nil
        }
        if let found { return found }
        // This engine's first operation in this context: give it an eventfd.
        guard let context = job.waitContext else { return nil }
        switch EventCounter.make() {
        case .failure(let errno):
            throw AsyncJobError(.waitDescriptorUnavailable, underlying: errno)
        case .success(let fd):
            // Made in the job: the flag says whether it is a segment of a job of an fd-mode
            // loop, whose wait context (one per loop entry) that loop alone watches.
            let box = EngineWaitFD(fd: fd, drainsAfterResume: !EdgeWatcherFlag.isSet)
            context.setWaitFD(fd, forKey: key, customData: box) { _, _, customData in
                (customData as? EngineWaitFD)?.releaseForContext()
            }
            return .waitFD(box)
        }
    }

    /// Blocks the calling thread until `request` (targeting `.parker`) is done.
    package static func block(until request: EngineRequest, on parker: ThreadParker) {
        while !request.isDone { parker.park() }
    }

    /// Pauses the running job until `completion` is done. Spurious resumes pause again.
    /// - Throws: `CancellationError` if the job is cancelled first (the request is abandoned:
    ///   its late completion announces nothing).
    package static func pause(until completion: EngineRequest) throws(CancellationError) {
        while !completion.isDone {
            if !AsyncJob.pause() {
                // Cancelled (pausing cannot be blocked here: `target` checked it).
                if completion.abandon() { throw CancellationError() }
            }
        }
        // Done: consume our signal. The engine drains its own fd (unless an edge-triggered loop
        // watches it); the loop never reads it.
        if case .waitFD(let box) = completion.target, box.drainsAfterResume { _ = EventCounter.drain(box.fd) }
    }
}

extension WaitContext {
    /// The callback (after setting the status to ``Status/ok``; in its batch form if it has
    /// one) or this engine's existing eventfd, under one lock; nil if the engine has no fd here
    /// yet.
    func engineTarget(forKey key: Key) -> NotificationTarget? {
        switch engineTarget(forKey: key, matching: { $0 as? EngineWaitFD }) {
        case .batchForm(let batch): .batchCallback(batch)
        case .callback(let callback): .callback(callback)
        case .engineObject(let box): .waitFD(box as! EngineWaitFD)
        case nil: nil
        }
    }
}
