// SPDX-License-Identifier: Apache-2.0
// Jobs driven by a SwiftNIO EventLoop: each job starts and resumes on the loop's thread, between
// the loop's other tasks, so synchronous code (a signature, a TLS handshake step) can pause in an
// engine while the loop keeps serving every other channel.
//
// How a paused job learns it may go on (docs/fibers.md, "Event loops"):
// - callback: the job's wait context has a callback that does `eventLoop.execute { resume }`
//   (execute wakes the loop), so engines complete from any thread with no descriptor at all;
// - waitFD: engines signal their eventfd in the wait context; after each pause the runner reads
//   the context's changed descriptors and hands them to a `DescriptorWatcher`, which turns
//   readability into the same `eventLoop.execute { resume }` without reading the descriptor.
//
// Invariants: all mutable state is in `state`, which only the loop's thread touches (the box
// checks it); a slot holds work exactly while its job is paused; `slot.watched` is exactly the
// set of descriptors watched under the slot's index.
import AsyncJobs
import NIOCore
import SystemPackage

typealias FileDescriptor = SystemPackage.FileDescriptor

/// Runs synchronous work as jobs on one SwiftNIO `EventLoop`, resuming each when its engine is done.
///
/// ```swift
/// let runner = try EventLoopJobRunner(eventLoop: channel.eventLoop)
/// runner.submit { try engine.perform { try key.signature(for: message) } }
///     .whenSuccess { signature in ... }   // on the event loop
/// ```
/// - Important: jobs run only on the event loop's thread (and use that thread's ``JobPool``);
///   ``submit(_:)`` may be called from any thread. Call ``shutdown()`` when done.
/// OpenSSL equivalent: what an event-driven server (nginx with an async engine) writes around
/// `ASYNC_start_job()` and `ASYNC_WAIT_CTX_get_changed_fds()`.
public final class EventLoopJobRunner: Sendable {
    /// How engines in the runner's jobs announce completion.
    public enum Notification: Sendable, Hashable {
        /// The wait context's callback hops to the event loop (no descriptor involved).
        case callback
        /// Engines signal an eventfd; a watcher thread hops to the event loop when it is readable.
        case waitFD
    }

    /// Why submitted work did not run.
    public struct Failure: Error, Hashable, Sendable, CustomStringConvertible {
        /// What went wrong.
        public let reason: String
        /// The runner was shut down.
        public static var shutDown: Failure { Failure(reason: "the runner was shut down") }
        /// The event loop thread's job pool is at its limit.
        public static var noJobsAvailable: Failure { Failure(reason: "no job available in the event loop's pool") }
        /// The job was cancelled at shutdown while it was paused.
        public static var cancelled: Failure { Failure(reason: "cancelled at shutdown") }
        public var description: String { reason }
    }

    /// The loop whose thread runs the jobs.
    public let eventLoop: any EventLoop
    /// How the jobs are notified.
    public let notification: Notification
    private let watcher: DescriptorWatcher?
    private let state: NIOLoopBoundBox<RunnerState>

    /// Creates a runner for `eventLoop`.
    /// - Parameters:
    ///   - eventLoop: the loop whose thread runs the jobs.
    ///   - notification: ``Notification/callback`` (the default) or ``Notification/waitFD``.
    /// - Throws: `Errno` if the descriptor watcher cannot be set up (`.waitFD` only).
    public init(eventLoop: any EventLoop, notification: Notification = .callback) throws {
        self.eventLoop = eventLoop
        self.notification = notification
        self.watcher = notification == .waitFD ? try DescriptorWatcher() : nil
        self.state = NIOLoopBoundBox.makeBoxSendingValue(RunnerState(), eventLoop: eventLoop)
    }

    /// Runs `body` as a job on the event loop's thread.
    ///
    /// - Parameter body: synchronous code; it may call engines that pause the job (for example
    ///   `OffloadEngine.perform`).
    /// - Returns: a future completed on the event loop with `body`'s value or error, or with
    ///   ``Failure`` if the job could not run.
    /// - Important: any thread.
    /// - Note: the job starts with copies of the task-local values the caller sees (as a task
    ///   started here would), not with those of the event loop's thread.
    public func submit<Value: Sendable>(_ body: @escaping @Sendable () throws -> Value) -> EventLoopFuture<Value> {
        let promise = eventLoop.makePromise(of: Value.self)
        let taskLocals = TaskLocalSnapshot.capture()
        if eventLoop.inEventLoop {
            start(body, taskLocals: taskLocals, promise: promise)
        } else {
            eventLoop.execute { self.start(body, taskLocals: taskLocals, promise: promise) }
        }
        return promise.futureResult
    }

    /// Jobs started and not finished (paused, or running). Event loop thread only.
    public var jobsInFlight: Int {
        state.value.slots.count - state.value.idle.count
    }

    /// Cancels paused jobs (their futures fail with ``Failure/cancelled``), lets go of every
    /// descriptor and stops the watcher. Later submissions fail with ``Failure/shutDown``.
    /// - Returns: a future completed on the event loop once done.
    /// - Important: any thread.
    public func shutdown() -> EventLoopFuture<Void> {
        eventLoop.submit { self.tearDown() }
    }

    // MARK: On the event loop

    private func start<Value: Sendable>(
        _ body: @escaping @Sendable () throws -> Value, taskLocals: TaskLocalSnapshot?, promise: EventLoopPromise<Value>
    ) {
        let state = self.state.value
        guard !state.isShutDown else { return promise.fail(Failure.shutDown) }
        let slot = takeSlot(state)
        let work = TypedPausedWork(promise: promise)
        do {
            let finished = work.settle(
                // (Inside a job the start is refused anyway, and a snapshot is not installed there.)
                try (AsyncJob.isInJob ? nil : taskLocals).withInstalled { () throws(AsyncJobError) in
                    try AsyncJob.start(waitContext: slot.waitContext, body)
                })
            afterSegment(of: slot, work: work, finished: finished, state: state)
        } catch {
            release(slot, state: state)
            promise.fail(error)
        }
    }

    /// The slot's job is over: its wait context serves the next job, so a callback the job set
    /// on it is undone (engines call a callback before they look for their fd: the next job
    /// would otherwise be woken through the stale one, and never resumed).
    private func release(_ slot: RunnerSlot, state: RunnerState) {
        if let wake = slot.wake {
            slot.waitContext.callback = wake
        } else if slot.waitContext.callback != nil {
            slot.waitContext.callback = nil
        }
        state.idle.append(slot)
    }

    private func takeSlot(_ state: RunnerState) -> RunnerSlot {
        if let slot = state.idle.popLast() { return slot }
        let slot = RunnerSlot(index: state.slots.count)
        state.slots.append(slot)
        let token = UInt64(slot.index)
        // Weak: the wait context (held by the runner) keeps this closure.
        let wake: @Sendable () -> Void = { [weak self, eventLoop] in
            let runner = self
            eventLoop.execute { runner?.resume(token) }
        }
        switch notification {
        case .callback:
            slot.wake = wake
            slot.waitContext.callback = wake
        case .waitFD: watcher?.setHandler(token, wake)
        }
        return slot
    }

    private func resume(_ token: UInt64) {
        let state = self.state.value
        guard Int(token) < state.slots.count else { return }
        let slot = state.slots[Int(token)]
        // Nothing paused there (finished, or a late wake-up of an earlier job): nothing to do.
        guard let work = slot.work else { return }
        slot.work = nil
        afterSegment(of: slot, work: work, finished: work.resume(), state: state)
    }

    private func afterSegment(of slot: RunnerSlot, work: any PausedWork, finished: Bool, state: RunnerState) {
        if let watcher { syncDescriptors(of: slot, watcher: watcher) }
        if finished {
            release(slot, state: state)
        } else {
            slot.work = work
        }
    }

    /// Watches the descriptors the slot's engines added, forgets the removed ones.
    private func syncDescriptors(of slot: RunnerSlot, watcher: DescriptorWatcher) {
        let changes = slot.waitContext.changedWaitFDs
        for fd in changes.removed {
            guard let position = slot.watched.firstIndex(of: fd) else { continue }
            slot.watched.remove(at: position)
            watcher.unwatch(fd)
        }
        for fd in changes.added where !slot.watched.contains(fd) {
            if watcher.watch(fd, token: UInt64(slot.index)) {
                slot.watched.append(fd)
            } else {
                // Not watchable: resume the job so that its engine looks again (spurious resumes
                // are harmless).
                let token = UInt64(slot.index)
                eventLoop.execute { self.resume(token) }
            }
        }
    }

    private func tearDown() {
        let state = self.state.value
        guard !state.isShutDown else { return }
        state.isShutDown = true
        for slot in state.slots {
            if let work = slot.work {
                slot.work = nil
                work.cancel()
            }
            for fd in slot.watched { watcher?.unwatch(fd) }
            slot.watched = []
            slot.waitContext.callback = nil
            slot.waitContext.runCleanups()
        }
        state.idle = state.slots
        watcher?.shutdown()
    }
}

/// The runner's loop-confined state.
final class RunnerState {
    var slots: [RunnerSlot] = []
    var idle: [RunnerSlot] = []
    var isShutDown = false
}

/// One reusable wait context and the work paused on it. Engines keep their eventfd in the
/// context from job to job, so a descriptor is watched once, not once per job.
final class RunnerSlot {
    let index: Int
    let waitContext = WaitContext()
    var watched: [FileDescriptor] = []
    var work: (any PausedWork)?
    /// The runner's callback for this slot's wait context (callback mode; nil in fd mode).
    var wake: (@Sendable () -> Void)?

    init(index: Int) {
        self.index = index
    }
}

/// A paused job and the promise its result goes to, whatever its value type.
protocol PausedWork: AnyObject {
    /// Resumes the job; returns true if it finished (its promise is completed).
    func resume() -> Bool
    /// Cancels the paused job and fails its promise.
    func cancel()
}

final class TypedPausedWork<Value: Sendable>: PausedWork {
    let promise: EventLoopPromise<Value>
    var job: PausedJob<Value, any Error>?

    init(promise: EventLoopPromise<Value>) {
        self.promise = promise
    }

    /// Completes the promise, or keeps the paused job. Returns true if the job is over.
    func settle(_ outcome: consuming JobOutcome<Value, any Error>) -> Bool {
        switch consume outcome {
        case .finished(let value):
            promise.succeed(value)
            return true
        case .failed(let error):
            promise.fail(error)
            return true
        case .paused(let paused):
            job = consume paused
            return false
        case .noJobsAvailable:
            promise.fail(EventLoopJobRunner.Failure.noJobsAvailable)
            return true
        }
    }

    func resume() -> Bool {
        switch job.take() {
        case .some(let paused): return settle(paused.resume())
        case .none: return true
        }
    }

    func cancel() {
        switch job.take() {
        case .some(let paused): paused.cancel()
        case .none: break
        }
        promise.fail(EventLoopJobRunner.Failure.cancelled)
    }
}
