// SPDX-License-Identifier: Apache-2.0
// A software "engine" in OpenSSL's sense: inside a job, `perform` reads as a synchronous call,
// but the work runs on the engine's worker threads while the job is paused.
//
// Invariants: a request is executed by exactly one worker; the worker queue is FIFO; after
// `shutdown()` returns, no worker thread is left and every queued request was executed.
import AsyncJobs
import Synchronization
import SystemPackage
import _CSystemShims

/// Runs closures on its own worker threads for code inside jobs, pausing the job meanwhile.
///
/// Inside a job, ``perform(_:)`` submits the closure to a worker, arranges for its completion
/// to be announced the way the job's wait context asks for (the context's callback if one is
/// set, otherwise one eventfd per wait context under this engine's key, with a cleanup), pauses
/// the job until the work is done, and returns its value or rethrows its error. A spurious
/// resume simply pauses again. Outside a job (or with pausing blocked) the closure runs on the
/// calling thread.
///
/// ```swift
/// let engine = OffloadEngine(workers: 2)
/// loop.submit({ try engine.perform { expensiveHash(data) } }) { result in print(result) }
/// ```
/// - Important: `perform` may be called from any thread; the engine is shared by any number of
///   jobs and loops. Call ``shutdown()`` when done with it; letting go of the engine shuts it
///   down too, once every job and task using it has let go of it.
/// OpenSSL equivalent: an asynchronous engine (for example afalg or dasync) whose operations call
/// `ASYNC_pause_job()` after submitting to hardware.
public final class OffloadEngine: Sendable {
    /// Identifies this engine's descriptors in wait contexts.
    public let key: WaitContext.Key
    let workers: WorkerThreads

    /// How the engine's worker threads are scheduled against the other threads of the process.
    ///
    /// The default is ``batch``: an engine's workers are compute threads, which is what
    /// SCHED_BATCH is for, and a job loop that waits behind its own workers holds every job whose
    /// result is ready. Measured on a 2-vCPU AMD EPYC guest (load 1.3-1.9, the default
    /// `asyncjobs speed` run, seven alternating pairs): sha256's jobs met throughput, p99 and
    /// p99.9 no worse than Swift concurrency's in 7 of 7 runs with ``batch`` workers and 1 of 7
    /// with ``normal`` ones (their p99.9 0.07-0.44x the tasks' against 0.85-3.33x); docs/speed.md
    /// has the figures. Choose ``normal`` for workers that must compete with the process's other
    /// threads as equals (for example latency-sensitive work of their own).
    public enum WorkerScheduling: Sendable, Hashable {
        /// The system's default (SCHED_OTHER), like any other thread.
        case normal
        /// SCHED_BATCH (the default): the scheduler treats the workers as CPU-bound and favours
        /// the wake-ups of other threads, such as a job loop's, over them; each worker still
        /// gets its fair share of the CPU. For CPU-bound work on a machine with fewer cores than
        /// loop and worker threads together, it shortens the tail latency of the loop's jobs.
        /// Needs no privilege; where the system refuses it, the workers run as ``normal``.
        case batch
    }

    /// Creates an engine with `workers` threads (at least 1), scheduled as `scheduling` says
    /// (SCHED_BATCH unless told otherwise: see ``WorkerScheduling``).
    /// - Throws: ``JobLoopError/Code/threadUnavailable`` if a thread cannot be created.
    public init(workers: Int = 2, scheduling: WorkerScheduling = .batch) throws(JobLoopError) {
        self.workers = try WorkerThreads(count: max(1, workers), scheduling: scheduling)
        self.key = WaitContext.Key(ObjectIdentifier(self.workers))
    }

    /// Runs `work` on a worker thread while the calling job is paused, and returns its value.
    ///
    /// - Parameter work: the code to offload; it runs on one of the engine's threads.
    /// - Returns: what `work` returned.
    /// - Throws: what `work` threw; `CancellationError` if the job is cancelled before the work
    ///   is done (the work may still run, its result is dropped); `AsyncJobError` if the
    ///   engine's eventfd cannot be created.
    /// - Important: inside a job: call on the job's thread (as all job code does). Outside a
    ///   job, or with pausing blocked, `work` runs inline on the calling thread.
    /// OpenSSL equivalent: an engine operation that submits, `ASYNC_pause_job()`s until its fd or
    /// callback is signalled, then drains its fd.
    @available(*, noasync, message: "pauses the calling job; use performAsync(_:) from Swift concurrency")
    public func perform<Value: Sendable>(_ work: @escaping @Sendable () throws -> Value) throws -> Value {
        guard let target = try EngineWaiting.target(forKey: key) else { return try work() }
        let request = EngineRequest(target: target, work: work)
        workers.submit(request)
        try EngineWaiting.pause(until: request)
        return try request.takeResult(as: Value.self)
    }

    /// Runs `work` on a worker thread and awaits its value, from Swift concurrency. This is the
    /// task-per-operation path that the job loop is measured against.
    ///
    /// - Returns: what `work` returned.
    /// - Throws: what `work` threw.
    public func performAsync<Value: Sendable>(_ work: @escaping @Sendable () throws -> Value) async throws -> Value {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Value, any Error>) in
            let box = ContinuationSlot<Value>()
            let request = EngineRequest(target: .closure({ box.resume() }), work: work)
            box.set(continuation, request)
            workers.submit(request)
        }
    }

    /// Stops the worker threads after they have run every queued request. Later `perform` calls
    /// run their work inline. Idempotent.
    /// - Important: do not call it from one of the engine's own workers.
    public func shutdown() {
        workers.shutdown()
    }

    deinit {
        workers.shutdown()
    }
}

/// Holds a continuation until its request completes (the request cannot capture the
/// continuation directly: it is made before the request).
final class ContinuationSlot<Value: Sendable>: Sendable {
    private struct Parts: Sendable {
        var continuation: CheckedContinuation<Value, any Error>?
        var request: EngineRequest?
    }
    private let parts = FutexMutex(Parts())

    func set(_ continuation: CheckedContinuation<Value, any Error>, _ request: EngineRequest) {
        parts.withLock { $0 = Parts(continuation: continuation, request: request) }
    }

    func resume() {
        let (continuation, request) = parts.withLock { parts in
            defer { parts = Parts() }
            return (parts.continuation, parts.request)
        }
        guard let continuation, let request else { return }
        continuation.resume(with: Result { try request.takeResult(as: Value.self) })
    }
}

/// A fixed set of threads taking requests from one FIFO queue.
final class WorkerThreads: Sendable {
    private struct Queue {
        var requests = RingBuffer<any WorkerRequest>()
        var idle: [ThreadParker] = []
        var stopping = false
        var threads: [PlatformThread] = []
    }
    private let queue = FutexMutex(Queue())

    init(count: Int, scheduling: OffloadEngine.WorkerScheduling) throws(JobLoopError) {
        for _ in 0..<count {
            let parker = ThreadParker()
            switch PlatformThread.spawn(name: "aj-offload", { [self] in
                // A refusal leaves the worker as it is: the engine works the same, only
                // scheduled as any other thread.
                if scheduling == .batch { _ = aj_thread_set_batch_scheduling() }
                self.work(parker)
            }) {
            case .success(let thread): queue.withLock { $0.threads.append(thread) }
            case .failure(let errno):
                shutdown()
                throw JobLoopError(.threadUnavailable, underlying: errno)
            }
        }
    }

    /// Queues `request` for the next free worker. After shutdown it runs inline.
    func submit(_ request: some WorkerRequest) {
        let (accepted, wake) = queue.withLock { queue -> (Bool, ThreadParker?) in
            if queue.stopping { return (false, nil) }
            queue.requests.append(request)
            return (true, queue.idle.popLast())
        }
        if !accepted { return request.execute() }
        wake?.unpark()
    }

    private func work(_ parker: ThreadParker) {
        while true {
            let next = queue.withLock { queue -> (any WorkerRequest)?? in
                if let request = queue.requests.popFirst() { return .some(request) }
                if queue.stopping { return .none }
                queue.idle.append(parker)
                return .some(nil)
            }
            switch next {
            case .none: return
            case .some(.some(let request)): request.execute()
            case .some(.none): parker.park()
            }
        }
    }

    /// Lets the workers finish the queue, then joins them.
    func shutdown() {
        let (threads, idle) = queue.withLock { queue in
            queue.stopping = true
            defer { queue.threads = []; queue.idle = [] }
            return (queue.threads, queue.idle)
        }
        for parker in idle { parker.unpark() }
        let me = PlatformThread.currentID
        for thread in threads where thread.id != me { thread.join() }
    }
}

/// Something a worker thread executes.
protocol WorkerRequest: AnyObject, Sendable {
    func execute()
}

extension EngineRequest: WorkerRequest {}
