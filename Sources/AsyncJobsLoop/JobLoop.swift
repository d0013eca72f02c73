// SPDX-License-Identifier: Apache-2.0
// The job loop's public face and its cross-thread state. Everything other threads touch is in
// `shared` (one Mutex) or in atomics; everything the loop thread alone touches lives in
// `JobLoopCore`, which exists only inside `run()`. See docs/job-loop.md for the design.
//
// Invariants: the wake eventfd is open from `init` until `run()` has ended and set `finished`
// (under the lock, so no other thread writes to it after it is closed); the loop is written to
// only while `sleeping` is true, so a busy loop costs its producers no syscall; every accepted
// work is counted in `queued` until the loop takes it off its queue.
import AsyncJobs
import Synchronization
import SystemPackage

/// Runs many jobs on one thread, resuming each when the engine it waits on is done.
///
/// Work submitted from any thread runs as a job on the loop's thread. When a job pauses, the loop
/// learns which descriptors its engines added or removed (the wait context's changed-fd
/// tracking) and watches them with epoll, without ever reading them; it resumes a job when one
/// of its descriptors becomes readable or its wait context's callback is called (from any
/// thread). Work beyond ``Configuration/maxConcurrentJobs`` waits in a queue; beyond
/// ``Configuration/maxQueuedWork`` it is rejected (or, from Swift concurrency, awaits room).
///
/// ```swift
/// let engine = try OffloadEngine(workers: 2)
/// let loop = try JobLoop.spawn()
/// let digest = try await loop.execute { try engine.perform { sha256(data) } }
/// loop.shutdownAndWait(.drain)
/// ```
/// - Important: jobs run only on the loop's thread: the thread that calls ``run()``, or the one
///   ``spawn(configuration:)`` creates. Every other member may be called from any thread.
///   The loop takes over its thread's `JobPool` (it sets the pool's limits, and cleans the
///   pool up when it ends).
/// OpenSSL equivalent: what an application such as `openssl speed -async_jobs` or an async TLS
/// server writes itself around `ASYNC_start_job()` and `ASYNC_WAIT_CTX_get_changed_fds()`.
public final class JobLoop: Sendable {
    /// How the loop sizes itself and how its jobs are notified.
    public struct Configuration: Sendable {
        /// How engines in the loop's jobs announce completion.
        public enum Notification: Sendable, Hashable {
            /// Each job's wait context has no callback: engines signal their eventfd, which the
            /// loop watches with epoll.
            case waitFD
            /// Each job's wait context has a callback that queues the job for resumption and
            /// wakes the loop (through one eventfd, only when the loop sleeps).
            case callback
        }

        /// Most jobs at once (each holds a stack); more work waits in the queue. Default 1024.
        /// Guarded stacks cost 2 memory mappings each: keep it well below 32,000.
        public var maxConcurrentJobs: Int
        /// Most accepted work waiting for a job; more is rejected. Default 65,536.
        public var maxQueuedWork: Int
        /// Usable stack bytes per job (at least `JobPool/minimumStackSize`).
        public var stackSize: Int
        /// How engines announce completion. Default ``Notification/waitFD``.
        public var notification: Notification
        /// Most epoll events taken per wait. Default 1024.
        public var eventBatchSize: Int
        /// Whether the loop's pool records when and how often each job pauses, for
        /// ``JobLoop/pausedJobs(symbolicated:)`` (`JobPool/recordsPauses`). Default false.
        public var recordsPauses = false
        /// Told of each pause, resume, end and refused start of the loop's jobs, on the loop's
        /// thread (for metrics); setting one makes the pool record pauses. Default nil.
        public var poolObserver: (any JobPoolObserver)?

        /// A configuration; every argument has the default described on its property.
        public init(
            maxConcurrentJobs: Int = 1024, maxQueuedWork: Int = 65_536, stackSize: Int = JobPool.defaultStackSize,
            notification: Notification = .waitFD, eventBatchSize: Int = 1024
        ) {
            self.maxConcurrentJobs = maxConcurrentJobs
            self.maxQueuedWork = maxQueuedWork
            self.stackSize = stackSize
            self.notification = notification
            self.eventBatchSize = eventBatchSize
        }
    }

    /// Whether a submission was accepted.
    public enum Submission: Sendable {
        /// Accepted: its completion will be called exactly once.
        case accepted(JobTicket)
        /// Not accepted (``JobLoopError/Code/queueFull`` or ``JobLoopError/Code/shutDown``):
        /// its completion will never be called.
        case rejected(JobLoopError)
    }

    /// What shutting down does with work that is not finished.
    public enum ShutdownMode: Sendable, Hashable {
        /// Reject new work; run everything accepted to its end.
        case drain
        /// Reject new work; queued work completes with ``JobLoopError/Code/shutDown`` without
        /// starting; running jobs are cancelled and complete with the same error.
        case cancel
    }

    /// Counters, read from any thread (updated by the loop once per turn).
    public struct Statistics: Sendable, Hashable {
        /// Jobs started and not finished.
        public var runningJobs: Int
        /// Accepted work not yet started.
        public var queuedWork: Int
        /// Work that completed (with its own result or an error).
        public var completed: Int
        /// Times the loop resumed a paused job (including spurious resumes).
        public var resumes: Int
        /// Descriptors the loop currently watches for its jobs.
        public var watchedDescriptors: Int
    }

    struct RoomWaiter {
        let id: UInt64
        let continuation: CheckedContinuation<Void, any Error>
    }

    struct Shared {
        var inbox: [any LoopWork] = []
        var callbacks: [Int32] = []
        var cancellations: [any LoopWork] = []
        /// Accepted (or reserved) and not yet taken off the loop's queue.
        var queued = 0
        var sleeping = false
        var shutdown: ShutdownMode?
        var running = false
        var finished = false
        var thread: PlatformThread?
        var roomWaiters: [RoomWaiter] = []
        var nextWaiterID: UInt64 = 0
        /// Questions for the loop's thread (its paused jobs, its pool's census), answered at its
        /// next turn.
        var inspections: [Inspection] = []
    }

    /// The loop's configuration.
    public let configuration: Configuration
    let shared = FutexMutex(Shared())
    let wakeFD: FileDescriptor
    let epollFD: FileDescriptor
    let loopThreadID = Atomic<UInt>(0)
    /// The submitter number its thread takes (see ``SubmitterNumber``), if its group reserved
    /// one; -1 otherwise.
    let reservedSubmitterNumber = Atomic<Int>(-1)
    let statisticsRunning = Atomic<Int>(0)
    let statisticsCompleted = Atomic<Int>(0)
    let statisticsResumes = Atomic<Int>(0)
    let statisticsWatched = Atomic<Int>(0)
    /// Work accepted so far (by `enqueue`); with `statisticsCompleted`, a group's measure of load.
    let accepted = Atomic<Int>(0)

    /// The epoll data value of the loop's own wake descriptor.
    static var wakeToken: UInt64 { UInt64.max }

    /// Creates a loop; call ``run()`` on the thread that is to run its jobs.
    /// - Parameter configuration: sizes and notification mode.
    /// - Throws: ``JobLoopError/Code/setupFailed`` if the epoll or wake descriptor cannot be
    ///   made or a size is invalid.
    public init(configuration: Configuration = Configuration()) throws(JobLoopError) {
        guard configuration.maxConcurrentJobs >= 1, configuration.maxQueuedWork >= 0,
            configuration.stackSize >= JobPool.minimumStackSize, configuration.eventBatchSize >= 1
        else { throw JobLoopError(.setupFailed) }
        self.configuration = configuration
        let epoll: FileDescriptor
        switch Epoll.create() {
        case .success(let fd): epoll = fd
        case .failure(let errno): throw JobLoopError(.setupFailed, underlying: errno)
        }
        switch EventCounter.make() {
        case .success(let fd): wakeFD = fd
        case .failure(let errno):
            EventCounter.close(epoll)
            throw JobLoopError(.setupFailed, underlying: errno)
        }
        epollFD = epoll
        if let errno = Epoll.add(epoll, wakeFD, events: Epoll.readableLevel, data: Self.wakeToken) {
            EventCounter.close(epoll)
            EventCounter.close(wakeFD)
            throw JobLoopError(.setupFailed, underlying: errno)
        }
    }

    deinit {
        // A loop made with `init` and let go without `run()`: close its descriptors and fail
        // what it accepted (a loop that ran has done both; nothing can be running now).
        let unrun = shared.withLock { shared -> [any LoopWork]? in
            guard !shared.finished else { return nil }
            shared.finished = true
            defer { shared.inbox = [] }
            return shared.inbox
        }
        guard let accepted = unrun else { return }
        EventCounter.close(epollFD)
        EventCounter.close(wakeFD)
        for work in accepted where work.markDone() { work.fail(JobLoopError(.shutDown)) }
    }

    /// Creates a loop running on a new thread of its own.
    /// - Throws: as ``init(configuration:)``; ``JobLoopError/Code/threadUnavailable``.
    public static func spawn(configuration: Configuration = Configuration()) throws(JobLoopError) -> JobLoop {
        try spawn(configuration: configuration, submitterNumber: nil)
    }

    /// As ``spawn(configuration:)``, its thread taking `submitterNumber` (reserved by a group)
    /// rather than the next free one.
    package static func spawn(configuration: Configuration, submitterNumber: Int?) throws(JobLoopError) -> JobLoop {
        let loop = try JobLoop(configuration: configuration)
        if let submitterNumber { loop.reservedSubmitterNumber.store(submitterNumber, ordering: .relaxed) }
        switch PlatformThread.spawn(name: "aj-job-loop", { loop.run() }) {
        case .success(let thread):
            loop.shared.withLock { $0.thread = thread }
            return loop
        case .failure(let errno):
            // Nothing was accepted yet (nobody else has the loop): just let go of its fds.
            EventCounter.close(loop.epollFD)
            loop.shared.withLock { shared in
                shared.finished = true
                EventCounter.close(loop.wakeFD)
            }
            throw JobLoopError(.threadUnavailable, underlying: errno)
        }
    }

    /// Runs the loop on the calling thread until it has shut down: every accepted work
    /// completed, every job finished or cancelled, every descriptor it watched let go, its
    /// thread's job pool cleaned up, and its own descriptors closed.
    /// - Important: call it once, from a thread that is not inside a job; the calling thread
    ///   becomes the loop's thread for its duration.
    @available(*, noasync, message: "blocks its thread and runs jobs on it; use JobLoop.spawn() from async code")
    public func run() {
        shared.withLock { shared in
            precondition(!shared.running && !shared.finished, "JobLoop.run() called twice")
            shared.running = true
        }
        precondition(!AsyncJob.isInJob, "JobLoop.run() called from inside a job")
        loopThreadID.store(PlatformThread.currentID, ordering: .relaxed)
        // Its own shard in engines that shard by submitting thread (SimulatedAccelerator): a
        // group's loops get consecutive numbers it reserved, a loop of its own the next one.
        let reserved = reservedSubmitterNumber.load(ordering: .relaxed)
        if reserved >= 0 { SubmitterNumber.adopt(reserved) } else { SubmitterNumber.claim() }
        let core = JobLoopCore(loop: self)
        core.run()
        core.tearDown()
        EventCounter.close(epollFD)
        let (waiters, inspections) = shared.withLock { shared -> ([RoomWaiter], [Inspection]) in
            shared.finished = true
            shared.running = false
            EventCounter.close(wakeFD)
            defer {
                shared.roomWaiters = []
                shared.inspections = []
            }
            return (shared.roomWaiters, shared.inspections)
        }
        for waiter in waiters { waiter.continuation.resume(throwing: JobLoopError(.shutDown)) }
        // The loop has ended: it has no jobs left, paused or not.
        for inspection in inspections { inspection.unanswered() }
    }

    /// Submits `body` to run as a job on the loop's thread.
    ///
    /// - Parameters:
    ///   - timeout: how long the job may take, counted from its first pause (until then it runs
    ///     without giving the loop's thread back, so nothing could stop it anyway); when it
    ///     expires the job is cancelled and completes with ``JobLoopError/Code/timedOut``. Nil:
    ///     no limit; durations past about 292 years count as no limit too.
    ///   - body: the job's code: synchronous, and free to call engines that pause it.
    ///   - completion: called exactly once on the loop's thread (after the job has ended) with
    ///     the body's result, or with a ``JobLoopError`` (cancelled, timed out, shut down); keep it
    ///     short, it delays every other job of the loop.
    /// - Returns: ``Submission/accepted(_:)`` with a ticket that can cancel the work, or
    ///   ``Submission/rejected(_:)`` if the queue is full or the loop is shutting down.
    /// - Important: any thread, including the loop's own (from a job or a completion).
    /// - Note: the job starts with copies of the task-local values the caller sees (as a task
    ///   started here would), not with those of the loop's thread.
    @discardableResult
    public func submit<Value: Sendable>(
        timeout: Duration? = nil, _ body: @escaping @Sendable () throws -> Value,
        completion: @escaping @Sendable (Result<Value, any Error>) -> Void
    ) -> Submission {
        let work = TypedLoopWork(timeout: timeout, body: body, completion: completion)
        if let error = enqueue(work, reserved: false) { return .rejected(error) }
        return .accepted(JobTicket(work: work, loop: self))
    }

    /// Stops accepting work and ends the loop as `mode` says; ``run()`` returns once everything
    /// is finished and cleaned up. Returns at once; a second call can escalate `.drain` to
    /// `.cancel`.
    /// - Important: any thread.
    public func shutdown(_ mode: ShutdownMode = .drain) {
        shared.withLock { shared in
            if shared.shutdown != .cancel { shared.shutdown = mode }
            wakeIfSleeping(&shared)
        }
    }

    /// ``shutdown(_:)``, then waits until a loop made by ``spawn(configuration:)`` has ended
    /// (for a loop run with ``run()``, only the shutdown).
    /// - Important: not from the loop's own thread (it would wait for itself).
    public func shutdownAndWait(_ mode: ShutdownMode = .drain) {
        precondition(!isLoopThread, "JobLoop.shutdownAndWait() called on the loop's own thread")
        shutdown(mode)
        let thread = shared.withLock { shared in
            defer { shared.thread = nil }
            return shared.thread
        }
        thread?.join()
    }

    /// The loop's counters.
    public var statistics: Statistics {
        Statistics(
            runningJobs: statisticsRunning.load(ordering: .relaxed),
            queuedWork: shared.withLock { $0.queued },
            completed: statisticsCompleted.load(ordering: .relaxed),
            resumes: statisticsResumes.load(ordering: .relaxed),
            watchedDescriptors: statisticsWatched.load(ordering: .relaxed))
    }

    /// Accepted work not yet completed (queued or running), as of the loop's last turn: what a
    /// ``JobLoopGroup`` placing by load compares. Any thread, without a lock.
    var load: Int {
        max(0, accepted.load(ordering: .relaxed) - statisticsCompleted.load(ordering: .relaxed))
    }

    /// Whether the calling thread is the loop's thread (while ``run()`` runs).
    public var isLoopThread: Bool {
        loopThreadID.load(ordering: .relaxed) == PlatformThread.currentID
    }

    // MARK: Cross-thread plumbing

    /// Adds accepted work to the inbox. `reserved`: a queue slot was reserved for it already.
    /// - Returns: nil if accepted, else why not.
    func enqueue(_ work: any LoopWork, reserved: Bool) -> JobLoopError? {
        shared.withLock { shared -> JobLoopError? in
            if shared.finished || shared.shutdown != nil {
                if reserved { shared.queued -= 1 }
                return JobLoopError(.shutDown)
            }
            if !reserved {
                if shared.queued >= configuration.maxQueuedWork { return JobLoopError(.queueFull) }
                shared.queued += 1
            }
            shared.inbox.append(work)
            accepted.wrappingAdd(1, ordering: .relaxed)
            wakeIfSleeping(&shared)
            return nil
        }
    }

    /// A wait context's callback fired for entry `index`: queue it for resumption. Any thread.
    func callbackFired(_ index: Int32) {
        shared.withLock { shared in
            if shared.finished { return }
            shared.callbacks.append(index)
            wakeIfSleeping(&shared)
        }
    }

    /// Wait-context callbacks fired for these entries (an engine's batch): one lock, at most
    /// one wake. Any thread.
    /// - Returns: whether the loop had taken every callback queued before these.
    @discardableResult
    func callbacksFired(_ indices: [Int32]) -> Bool {
        shared.withLock { shared in
            if shared.finished { return false }
            let caughtUp = shared.callbacks.isEmpty
            shared.callbacks.append(contentsOf: indices)
            wakeIfSleeping(&shared)
            return caughtUp
        }
    }

    /// A ticket asked to cancel `work`. Any thread.
    func requestCancellation(of work: any LoopWork) {
        shared.withLock { shared in
            if shared.finished { return }
            shared.cancellations.append(work)
            wakeIfSleeping(&shared)
        }
    }

    /// Writes the wake eventfd if the loop is (about to be) blocked in epoll_wait. Under the
    /// lock, so the fd cannot be closed meanwhile; only the first producer after the loop went
    /// to sleep pays for the syscall.
    func wakeIfSleeping(_ shared: inout Shared) {
        guard shared.sleeping else { return }
        shared.sleeping = false
        EventCounter.signal(wakeFD)
    }
}

extension JobLoop: CompletionBatchSink {
    package func entryReady(_ index: Int32) { callbackFired(index) }
    package func entriesReady(_ indices: [Int32]) -> Bool { callbacksFired(indices) }
}
