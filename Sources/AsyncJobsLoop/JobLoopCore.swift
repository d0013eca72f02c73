// SPDX-License-Identifier: Apache-2.0
// The loop thread's side of a JobLoop: its entries (one job + one reused wait context each), the
// queue of work waiting for an entry, the epoll registrations learnt from changed-fd tracking,
// and the timeouts. Created by `JobLoop.run()` on the loop thread and never shared.
//
// Invariants: an entry is either idle (in `idle`, no work) or holds one work whose job is paused
// (`isPaused`, `job` set) or running (only during `start`/`resume` on this thread);
// `entry.watched` is exactly the set of fds registered in epoll with that entry's index;
// `running` counts entries holding work; every work taken off `pending` is counted once in
// `takenOffQueue`.
import AsyncJobs
import SystemPackage

/// One job slot of the loop, reused job after job. Its wait context lives as long as the loop,
/// so an engine's eventfd in it (and its epoll registration) serves every job run on it.
final class LoopEntry {
    let index: Int
    let waitContext = WaitContext()
    var job: PausedJob<LoopCompletion, Never>?
    /// The reference of `job` while it is paused, for prefetching (a copyable value: reading it
    /// does not touch the noncopyable handle). May be stale; prefetching a stale one is harmless.
    var pausedReference: JobReference?
    var isPaused = false
    var work: (any LoopWork)?
    var watched: [FileDescriptor] = []
    var generation: UInt64 = 0
    var isReady = false
    /// Whether this job's timeout (if any) was armed: set at its first pause.
    var timeoutArmed = false
    /// Why this job was cancelled (it then runs on, resumed once per turn, until it returns):
    /// its work fails with this when it ends. Nil while not cancelled.
    var cancelledWith: JobLoopError?
    /// Pauses of this job since it was cancelled (see `JobRuntime.cancelledPauseLimit`).
    var pausesAfterCancellation = 0
    /// The callback the loop gives the wait context (callback mode; nil in fd mode), put back
    /// when a job that replaced it ends.
    var loopCallback: (@Sendable () -> Void)?
    var loopBatch: BatchCallback?

    init(index: Int) {
        self.index = index
    }
}

/// A min-heap of job deadlines; entries of jobs that ended are dropped lazily.
struct DeadlineHeap {
    struct Item {
        let deadline: UInt64
        let index: Int
        let generation: UInt64
    }
    private(set) var items: [Item] = []

    var top: Item? { items.first }
    var count: Int { items.count }

    mutating func push(_ item: Item) {
        items.append(item)
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard items[child].deadline < items[parent].deadline else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() {
        guard !items.isEmpty else { return }
        items.swapAt(0, items.count - 1)
        items.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < items.count && items[left].deadline < items[smallest].deadline { smallest = left }
            if right < items.count && items[right].deadline < items[smallest].deadline { smallest = right }
            if smallest == parent { return }
            items.swapAt(parent, smallest)
            parent = smallest
        }
    }

    /// Keeps only the items `isLive` accepts.
    mutating func compact(_ isLive: (Item) -> Bool) {
        let live = items.filter(isLive)
        items = []
        for item in live { push(item) }
    }
}

/// The loop thread's state and its turn: exchange with other threads, cancel, start, resume,
/// time out, wait.
final class JobLoopCore {
    private let loop: JobLoop
    private let configuration: JobLoop.Configuration
    private var entries: [LoopEntry] = []
    private var idle: [LoopEntry] = []
    private var pending = RingBuffer<any LoopWork>()
    private var ready: [LoopEntry] = []
    private var resuming: [LoopEntry] = []
    /// Cancelled jobs that paused again: resumed once per turn, after the ready ones, until they
    /// return or are abandoned (so that one job cannot keep the loop from the others).
    private var draining: [LoopEntry] = []
    private var drainingNow: [LoopEntry] = []
    private var timers = DeadlineHeap()
    private var running = 0
    private var takenOffQueue = 0
    private var completed = 0
    private var resumes = 0
    private var watchedCount = 0
    private var inbox: [any LoopWork] = []
    private var starting: [any LoopWork] = []
    private var callbacks: [Int32] = []
    private var cancellations: [any LoopWork] = []
    private var inspections: [JobLoop.Inspection] = []
    private var shutdownMode: JobLoop.ShutdownMode?
    private let events: EpollEventBuffer
    private let edgeWatcher: Bool

    init(loop: JobLoop) {
        self.loop = loop
        self.configuration = loop.configuration
        self.events = EpollEventBuffer(capacity: loop.configuration.eventBatchSize)
        self.edgeWatcher = loop.configuration.notification == .waitFD
    }

    // MARK: The turn

    /// Runs turns until shutdown is requested and every accepted work has completed.
    func run() {
        do {
            try JobPool.configure(maxSize: configuration.maxConcurrentJobs, stackSize: configuration.stackSize)
        } catch {
            // JobLoop.init validated both sizes and no job is made up front: cannot happen.
            preconditionFailure("JobLoop could not configure its pool: \(error)")
        }
        if configuration.recordsPauses { JobPool.recordsPauses = true }
        if let observer = configuration.poolObserver { JobPool.observer = observer }
        while true {
            exchange()
            handleCancellations()
            handleCallbacks()
            if shutdownMode == .cancel { cancelEverything() }
            startPending()
            resumeReady()
            resumeDraining()
            expireTimers()
            publishStatistics()
            if shutdownMode != nil && pending.isEmpty && running == 0 { return }
            waitForEvents()
        }
    }

    /// Takes what other threads handed over, publishes the queue slots freed, grants freed slots
    /// to tasks awaiting room.
    private func exchange() {
        let granted = loop.shared.withLock { shared -> [JobLoop.RoomWaiter] in
            swap(&inbox, &shared.inbox)
            swap(&callbacks, &shared.callbacks)
            swap(&cancellations, &shared.cancellations)
            swap(&inspections, &shared.inspections)
            shutdownMode = shared.shutdown
            return releaseTakenOffQueue(&shared)
        }
        for waiter in granted { waiter.continuation.resume() }
        for work in inbox { pending.append(work) }
        inbox.removeAll(keepingCapacity: true)
        if !inspections.isEmpty { answerInspections() }
    }

    /// Answers the questions about the loop's pool (on the loop's thread, whose pool it is).
    private func answerInspections() {
        for inspection in inspections { inspection.answer() }
        inspections.removeAll()
    }

    /// Under the lock: the work taken off the queue no longer counts in `queued`; the room it
    /// left goes to tasks awaiting room first (FIFO). Returns the waiters to resume (after
    /// unlocking).
    private func releaseTakenOffQueue(_ shared: inout JobLoop.Shared) -> [JobLoop.RoomWaiter] {
        shared.queued -= takenOffQueue
        takenOffQueue = 0
        let maxQueued = configuration.maxQueuedWork
        guard !shared.roomWaiters.isEmpty, shared.queued < maxQueued, shared.shutdown == nil else { return [] }
        let count = min(maxQueued - shared.queued, shared.roomWaiters.count)
        shared.queued += count
        defer { shared.roomWaiters.removeFirst(count) }
        return Array(shared.roomWaiters.prefix(count))
    }

    /// Publishes the queue slots freed since the last exchange now (not at the next turn).
    private func publishTakenOffQueue() {
        guard takenOffQueue > 0 else { return }
        let granted = loop.shared.withLock { releaseTakenOffQueue(&$0) }
        for waiter in granted { waiter.continuation.resume() }
    }

    private func handleCancellations() {
        guard !cancellations.isEmpty else { return }
        for work in cancellations {
            if let index = work.runningEntry {
                let entry = entries[index]
                if entry.work === work { cancel(entry, with: JobLoopError(.cancelled)) }
            } else if work.markDone() {
                // Still queued: it stays in `pending` and is skipped there, so that the queue
                // count stays exact.
                completed += 1
                work.fail(JobLoopError(.cancelled))
            }
        }
        cancellations.removeAll(keepingCapacity: true)
    }

    private func handleCallbacks() {
        guard !callbacks.isEmpty else { return }
        var ready: [LoopEntry] = []
        swap(&ready, &self.ready)
        let entries = self.entries
        for index in callbacks where Int(index) < entries.count { Self.markReady(entries[Int(index)], in: &ready) }
        swap(&ready, &self.ready)
        callbacks.removeAll(keepingCapacity: true)
    }

    private func markReady(_ entry: LoopEntry) {
        Self.markReady(entry, in: &ready)
    }

    /// Queues a paused entry for resumption once. Batches pass the ready list moved into a
    /// local: appending to the property checks exclusive access at each call, a local is
    /// checked at compile time.
    private static func markReady(_ entry: LoopEntry, in ready: inout [LoopEntry]) {
        guard entry.isPaused, !entry.isReady else { return }
        entry.isReady = true
        ready.append(entry)
    }

    /// Fails queued work and cancels every job (shutdown `.cancel`).
    private func cancelEverything() {
        while let work = pending.popFirst() {
            takenOffQueue += 1
            if work.markDone() {
                completed += 1
                work.fail(JobLoopError(.shutDown))
            }
        }
        for entry in entries where entry.isPaused { cancel(entry, with: JobLoopError(.shutDown)) }
    }

    /// Starts queued work while fewer than `maxConcurrentJobs` jobs run. The work that can start
    /// is taken off the queue and the slots it frees are published (one lock) *before* any of it
    /// starts: once a job runs, its work no longer counts against `maxQueuedWork`, for its own
    /// body and for anyone it signals (a submission into the room it left is accepted).
    private func startPending() {
        var capacity = configuration.maxConcurrentJobs - running
        while let work = pending.first {
            if work.isDone {
                // Cancelled while queued: its completion has been called already.
                _ = pending.popFirst()
                takenOffQueue += 1
                continue
            }
            guard capacity > 0 else { break }
            _ = pending.popFirst()
            takenOffQueue += 1
            starting.append(work)
            capacity -= 1
        }
        guard !starting.isEmpty else { return }
        publishTakenOffQueue()
        var position = 0
        while position < starting.count {
            let work = starting[position]
            position += 1
            if work.isCancelRequested {
                // Cancelled (for example by an earlier job's completion) before it started.
                if work.markDone() {
                    completed += 1
                    work.fail(JobLoopError(.cancelled))
                }
                continue
            }
            // An idle entry exists: fewer than maxConcurrentJobs entries hold work.
            let entry = takeIdleEntry()
            if let entry, !work.markRunning(on: entry.index) {
                idle.append(entry)
                continue
            }
            let started = entry.map { start(work, on: $0) } ?? false
            if !started {
                // The pool had no job for it (or, against the invariant, no entry was idle): it
                // and the rest of the batch go back to the front of the queue, in order, counted
                // as queued again, until a job ends.
                work.markQueued()
                let back = starting[(position - 1)...]
                for requeued in back.reversed() { pending.prepend(requeued) }
                loop.shared.withLock { $0.queued += back.count }
                break
            }
        }
        starting.removeAll(keepingCapacity: true)
    }

    private func takeIdleEntry() -> LoopEntry? {
        if let entry = idle.popLast() { return entry }
        guard entries.count < configuration.maxConcurrentJobs else { return nil }
        let entry = LoopEntry(index: entries.count)
        if configuration.notification == .callback {
            let loop = self.loop
            let index = Int32(entry.index)
            entry.loopCallback = { loop.callbackFired(index) }
            entry.loopBatch = BatchCallback(sink: loop, index: index)
            entry.waitContext.restoreCallback(entry.loopCallback, batchForm: entry.loopBatch)
        }
        entries.append(entry)
        return entry
    }

    /// Starts `work` as a job on `entry`. Returns false if the pool had no job.
    private func start(_ work: any LoopWork, on entry: LoopEntry) -> Bool {
        entry.work = work
        entry.generation &+= 1
        running += 1
        do {
            setEdgeWatcher(true)
            // The job starts with the submitter's task-local values, if it had any.
            let outcome = try work.taskLocals.withInstalled { () throws(AsyncJobError) in
                try AsyncJob.start(waitContext: entry.waitContext, work.makeJobBody())
            }
            setEdgeWatcher(false)
            return handle(outcome, on: entry)
        } catch {
            setEdgeWatcher(false)
            syncDescriptors(of: entry)
            retire(entry)
            work.fail(JobLoopError(.jobUnavailable, jobError: error))
        }
        return true
    }

    private func resumeReady() {
        while !ready.isEmpty {
            swap(&ready, &resuming)
            // Thousands of paused jobs do not fit in the cache: ask for the record of the job two
            // ahead and the stack top of the next one while this one runs.
            let count = resuming.count
            for index in 0..<count {
                if index + 2 < count { resuming[index + 2].pausedReference?.prefetchRecord() }
                if index + 1 < count { resuming[index + 1].pausedReference?.prefetchStack() }
                let entry = resuming[index]
                entry.isReady = false
                resume(entry)
            }
            resuming.removeAll(keepingCapacity: true)
        }
    }

    /// Gives each cancelled job that paused again one more segment.
    private func resumeDraining() {
        guard !draining.isEmpty else { return }
        swap(&draining, &drainingNow)
        for entry in drainingNow {
            entry.isReady = false
            resume(entry)
        }
        drainingNow.removeAll(keepingCapacity: true)
    }

    private func resume(_ entry: LoopEntry) {
        guard entry.isPaused else { return }
        switch entry.job.take() {
        case .some(let job):
            entry.isPaused = false
            resumes += 1
            setEdgeWatcher(true)
            let outcome = job.resume()
            setEdgeWatcher(false)
            _ = handle(outcome, on: entry)
        case .none:
            return
        }
    }

    /// In fd mode, marks the thread as running a segment of one of this loop's jobs, whose wait
    /// contexts it watches edge-triggered: an engine that gives such a context an eventfd need
    /// not drain it (`EngineWaitFD.drainsAfterResume`). Only around the segment: a job that
    /// other code starts on this thread (from a completion, with its own wait context) is not
    /// the loop's.
    @inline(__always)
    private func setEdgeWatcher(_ value: Bool) {
        if edgeWatcher { EdgeWatcherFlag.set(value) }
    }

    /// After a segment of `entry`'s job: watch its new descriptors, then keep or retire it.
    /// - Returns: false if the outcome was "no jobs available" (the entry is idle again).
    private func handle(_ outcome: consuming JobOutcome<LoopCompletion, Never>, on entry: LoopEntry) -> Bool {
        syncDescriptors(of: entry)
        var completion: LoopCompletion? = nil
        switch consume outcome {
        case .finished(let call):
            if let error = entry.cancelledWith {
                // Cancelled: its result is dropped, its work fails.
                let work = entry.work
                retire(entry)
                work?.fail(error)
                return true
            }
            retire(entry)
            completion = call
        case .failed:
            preconditionFailure("unreachable: a loop job's body cannot throw")
        case .paused(let job) where entry.cancelledWith != nil:
            // A cancelled job paused again: it gets one segment per turn, and is given up on
            // past the limit.
            entry.pausesAfterCancellation += 1
            guard entry.pausesAfterCancellation <= JobRuntime.cancelledPauseLimit else {
                abandon(job, on: entry)
                return true
            }
            entry.pausedReference = job.reference
            entry.job = consume job
            entry.isPaused = true
            entry.isReady = true
            draining.append(entry)
        case .paused(let job):
            entry.pausedReference = job.reference
            entry.job = consume job
            entry.isPaused = true
            if !entry.timeoutArmed {
                // First pause of this job: arm its timeout, if it has one (asked once per job,
                // not at every pause: the work is an existential).
                entry.timeoutArmed = true
                if let timeout = entry.work?.timeoutNanoseconds, timeout > 0 {
                    let now = MonotonicClock.nanoseconds()
                    let deadline = timeout > UInt64.max - now ? UInt64.max : now + timeout
                    timers.push(.init(deadline: deadline, index: entry.index, generation: entry.generation))
                }
            }
        case .noJobsAvailable:
            entry.work = nil
            running -= 1
            idle.append(entry)
            return false
        }
        completion?.call()
        return true
    }

    /// Cancels `entry`'s paused job: it is resumed (this turn or the next) with its pauses
    /// failing, once per turn while it keeps pausing, until its code returns; its work then
    /// fails with `error`. A job that keeps pausing past `JobRuntime.cancelledPauseLimit` is
    /// abandoned. Never runs the job here: one job cannot hold the loop.
    private func cancel(_ entry: LoopEntry, with error: JobLoopError) {
        guard entry.isPaused, entry.cancelledWith == nil else { return }
        entry.cancelledWith = error
        entry.job?.requestCancellation()
        markReady(entry)
    }

    /// Gives up on a cancelled job that keeps pausing: it is left paused for good (its stack and
    /// record stay allocated), reported on standard error, and its work fails.
    private func abandon(_ job: consuming PausedJob<LoopCompletion, Never>, on entry: LoopEntry) {
        let address = job.reference.debugAddress
        job.abandon()
        let error = entry.cancelledWith ?? JobLoopError(.cancelled)
        StandardError.write(
            "swift-async-jobs: JobLoop abandoned job \(address): cancelled (\(error.code)), it paused "
                + "\(JobRuntime.cancelledPauseLimit) more times. Once AsyncJob.pause() returns false a job must "
                + "return; this one's stack and record stay allocated, and the loop goes on with its other jobs.\n")
        let work = entry.work
        retire(entry)
        work?.fail(error)
    }

    /// The entry's work is over: back to the idle list (its wait context and watched fds stay).
    private func retire(_ entry: LoopEntry) {
        // The wait context serves the entry's next job: undo a callback its job set.
        entry.waitContext.restoreCallback(entry.loopCallback, batchForm: entry.loopBatch)
        _ = entry.work?.markDone()
        entry.work = nil
        entry.isPaused = false
        entry.timeoutArmed = false
        entry.cancelledWith = nil
        entry.pausesAfterCancellation = 0
        entry.generation &+= 1
        running -= 1
        completed += 1
        idle.append(entry)
    }

    /// Applies the wait context's changed fds to epoll. Idempotent: the changes of a finished
    /// job stay visible until the next resume (docs/contract.md), so `watched` decides. Removals
    /// first, so that an fd number closed and reused within one segment ends up watched.
    private func syncDescriptors(of entry: LoopEntry) {
        let context = entry.waitContext
        guard context.hasChanges.load(ordering: .acquiring) else { return }
        let changes = context.changedWaitFDs
        for fd in changes.removed {
            guard let position = entry.watched.firstIndex(of: fd) else { continue }
            entry.watched.remove(at: position)
            watchedCount -= 1
            // ENOENT/EBADF: the engine closed it, which already took it out of the epoll set.
            _ = Epoll.remove(loop.epollFD, fd)
        }
        for fd in changes.added where !entry.watched.contains(fd) {
            switch Epoll.add(loop.epollFD, fd, events: Epoll.readableEdge, data: UInt64(entry.index)) {
            case nil:
                entry.watched.append(fd)
                watchedCount += 1
            case .some:
                // Not watchable (closed already, or a file epoll refuses): resume the job so its
                // engine can look again. Spurious resumes are harmless.
                markReady(entry)
            }
        }
    }

    private func expireTimers() {
        guard let first = timers.top else { return }
        let now = MonotonicClock.nanoseconds()
        guard first.deadline <= now || timers.count > 2 * running + 64 else { return }
        while let top = timers.top, top.deadline <= now {
            timers.pop()
            let entry = entries[top.index]
            if entry.generation == top.generation && entry.isPaused {
                cancel(entry, with: JobLoopError(.timedOut))
            }
        }
        if timers.count > 2 * running + 64 {
            let entries = self.entries
            timers.compact { entries[$0.index].generation == $0.generation }
        }
    }

    private func publishStatistics() {
        loop.statisticsRunning.store(running, ordering: .relaxed)
        loop.statisticsCompleted.store(completed, ordering: .relaxed)
        loop.statisticsResumes.store(resumes, ordering: .relaxed)
        loop.statisticsWatched.store(watchedCount, ordering: .relaxed)
    }

    /// Waits for readiness, a callback, new work, a cancellation or the next deadline.
    private func waitForEvents() {
        var timeout: Int32 = -1
        let canStart = !pending.isEmpty && running < configuration.maxConcurrentJobs
        if !ready.isEmpty || !draining.isEmpty || canStart || takenOffQueue > 0 {
            timeout = 0
        } else if let top = timers.top {
            let now = MonotonicClock.nanoseconds()
            let milliseconds = top.deadline > now ? (top.deadline - now + 999_999) / 1_000_000 : 0
            timeout = Int32(min(milliseconds, UInt64(Int32.max)))
        }
        var slept = false
        if timeout != 0 {
            let mode = shutdownMode
            slept = loop.shared.withLock { shared in
                if !shared.inbox.isEmpty || !shared.callbacks.isEmpty || !shared.cancellations.isEmpty
                    || !shared.inspections.isEmpty || shared.shutdown != mode
                {
                    return false
                }
                shared.sleeping = true
                return true
            }
            if !slept { timeout = 0 }
        }
        // With nothing watched and something to do, epoll has nothing to say: skip the syscall.
        if timeout == 0 && watchedCount == 0 { return }
        let count = events.wait(on: loop.epollFD, timeoutMilliseconds: timeout)
        if slept { loop.shared.withLock { $0.sleeping = false } }
        var ready: [LoopEntry] = []
        swap(&ready, &self.ready)
        let entries = self.entries
        for position in 0..<count {
            let data = events.data(at: position)
            if data == JobLoop.wakeToken {
                EventCounter.drain(loop.wakeFD)
            } else if data < UInt64(entries.count) {
                Self.markReady(entries[Int(data)], in: &ready)
            }
        }
        swap(&ready, &self.ready)
    }

    // MARK: Ending

    /// After the last turn: lets go of every wait context (engines' cleanups close their fds)
    /// and of the thread's pool.
    func tearDown() {
        for entry in entries {
            entry.waitContext.callback = nil
            entry.loopCallback = nil
            entry.loopBatch = nil
            entry.waitContext.runCleanups()
            watchedCount -= entry.watched.count
            entry.watched = []
        }
        entries = []
        idle = []
        publishStatistics()
        JobPool.cleanUp()
    }
}
