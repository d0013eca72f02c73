// SPDX-License-Identifier: Apache-2.0
// Swift concurrency on top of the job loop: a task awaits the result of a job that runs on the
// loop's thread (never on the cooperative pool). Cancelling the task cancels the job; a full
// queue suspends the task until there is room (back-pressure instead of rejection).
import AsyncJobs
import Synchronization

extension JobLoop {
    /// Runs `body` as a job on the loop's thread and returns its value.
    ///
    /// - Parameters:
    ///   - timeout: how long the job may take, counted from its first pause (see
    ///     ``submit(timeout:_:completion:)``).
    ///   - body: the job's code; synchronous, runs on the loop's thread, may call engines that
    ///     pause it.
    /// - Returns: what `body` returned.
    /// - Throws: what `body` threw; `CancellationError` if the task was cancelled (the queued
    ///   work never starts, a running job is cancelled); ``JobLoopError`` for a timeout or a
    ///   shutdown.
    /// - Important: while the loop's queue is full the task waits for room.
    /// - Note: the job starts with copies of the calling task's task-local values (as a child
    ///   task would), so logging metadata and tracing context follow the work.
    public func execute<Value: Sendable>(
        timeout: Duration? = nil, _ body: @escaping @Sendable () throws -> Value
    ) async throws -> Value {
        try await reserveQueueSlot()
        let handle = CancellableSubmission()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Value, any Error>) in
                let work = TypedLoopWork(timeout: timeout, body: body) { result in
                    if case .failure(let error as JobLoopError) = result, error.code == .cancelled {
                        continuation.resume(throwing: CancellationError())
                    } else {
                        continuation.resume(with: result)
                    }
                }
                guard handle.submitting(work, loop: self) else {
                    // Cancelled before it was handed over: give the reserved slot back.
                    releaseReservedSlot()
                    continuation.resume(throwing: CancellationError())
                    return
                }
                if let error = enqueue(work, reserved: true), work.markDone() {
                    // Marked done first: a cancellation of the task that reaches the loop later
                    // must not complete it again.
                    work.fail(error)
                }
            }
        } onCancel: {
            handle.cancel()
        }
    }

    /// Gives back a reserved queue slot that will not be used: to the first task awaiting room if
    /// there is one (the loop grants room only when it takes work off its queue, which may never
    /// happen again if the queue is empty), else to the queue.
    private func releaseReservedSlot() {
        let next = shared.withLock { shared -> RoomWaiter? in
            if !shared.roomWaiters.isEmpty && shared.shutdown == nil && !shared.finished {
                return shared.roomWaiters.removeFirst()
            }
            shared.queued -= 1
            return nil
        }
        next?.continuation.resume()
    }

    /// Waits until the queue has room and reserves one slot.
    /// - Throws: `CancellationError` if the task is cancelled while waiting; ``JobLoopError``
    ///   ``JobLoopError/Code/shutDown`` if the loop is shutting down.
    func reserveQueueSlot() async throws {
        let maxQueued = configuration.maxQueuedWork
        let immediate: Result<Void, any Error>? = shared.withLock { shared in
            if shared.finished || shared.shutdown != nil { return .failure(JobLoopError(.shutDown)) }
            if shared.queued < maxQueued && shared.roomWaiters.isEmpty {
                shared.queued += 1
                return .success(())
            }
            return nil
        }
        if let immediate { return try immediate.get() }
        let id = shared.withLock { shared in
            shared.nextWaiterID += 1
            return shared.nextWaiterID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let now: Result<Void, any Error>? = shared.withLock { shared in
                    if shared.finished || shared.shutdown != nil { return .failure(JobLoopError(.shutDown)) }
                    if Task.isCancelled { return .failure(CancellationError()) }
                    if shared.queued < maxQueued && shared.roomWaiters.isEmpty {
                        shared.queued += 1
                        return .success(())
                    }
                    shared.roomWaiters.append(RoomWaiter(id: id, continuation: continuation))
                    wakeIfSleeping(&shared)
                    return nil
                }
                if let now { continuation.resume(with: now) }
            }
        } onCancel: {
            let waiter = shared.withLock { shared -> RoomWaiter? in
                guard let position = shared.roomWaiters.firstIndex(where: { $0.id == id }) else { return nil }
                return shared.roomWaiters.remove(at: position)
            }
            waiter?.continuation.resume(throwing: CancellationError())
        }
    }
}

/// Connects a task's cancellation handler with the work it submits, whichever comes first.
final class CancellableSubmission: Sendable {
    private enum State: Sendable {
        case notSubmitted
        case submitted(JobTicket)
        case cancelled
    }
    private struct Box: Sendable {
        var state: State = .notSubmitted
    }
    private let box = FutexMutex(Box())

    /// Records the work about to be enqueued. Returns false if the task was cancelled already.
    func submitting(_ work: any LoopWork, loop: JobLoop) -> Bool {
        box.withLock { box in
            if case .cancelled = box.state { return false }
            box.state = .submitted(JobTicket(work: work, loop: loop))
            return true
        }
    }

    /// The task was cancelled.
    func cancel() {
        let ticket = box.withLock { box -> JobTicket? in
            defer { box.state = .cancelled }
            if case .submitted(let ticket) = box.state { return ticket }
            return nil
        }
        ticket?.cancel()
    }
}
