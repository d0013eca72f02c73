// SPDX-License-Identifier: Apache-2.0
// A stand-in for a hardware accelerator (QAT-like): a fixed number of parallel slots, each
// request occupying one for a fixed latency. It burns no CPU while requests are in flight: one
// timer thread sleeps on a timerfd until the oldest request's deadline, completes every request
// that is due (announcing those bound for a job loop's callbacks as one batch), and sleeps again
// (or parks when nothing is in flight). A request never completes before its deadline; the
// timer is armed a little ahead of it (`WakeLead`) to make up for the wake-up latency, and
// while requests are dense it wakes at most once per moderation interval, so completions may
// come up to that much late. The interval adapts to whoever takes the completions
// (`Moderation`): down to an eighth of the longest (latency / 10, at most 100 us) while a job
// loop keeps up with them, the longest while it falls behind anyway.
//
// Submissions go to per-thread shards (see `AcceleratorDevice`), so that the threads of a group
// of loops never write the same cache line when they submit.
//
// Invariants: at most `slots` requests hold a slot (in a shard's `incoming` or the timer
// thread's ring for that shard); the free slots, the shards' credits and the requests holding
// a slot add up to `slots`. Each shard's requests are in deadline order (equal latencies,
// deadlines assigned under the shard's lock from a monotonic clock: FIFO order is deadline
// order, and every request in a shard's `incoming` is due no earlier than those of that shard
// already in flight). A request waits only while no shard has a credit for it (or, for a
// moment, while one that its submitter did not find holds one), and waiting requests enter
// slots in arrival order within their shard.
import AsyncJobs
import AsyncJobsLoop
import Synchronization
import SystemPackage

/// A simulated offload device with a fixed latency and a number of parallel slots.
///
/// Inside a job, ``perform(_:)`` submits a request and pauses the job until the device has
/// "processed" it, then returns the request's payload; notification goes through the job's wait
/// context exactly as with ``OffloadEngine`` (callback if set, else an eventfd under the device's
/// key). ``submit(completion:)`` is the raw interface for other drivers (Swift concurrency,
/// SwiftNIO).
/// - Important: every method may be called from any thread. Call ``shutdown()`` when done.
/// OpenSSL equivalent: a hardware engine such as Intel QAT's, driven through the wait context.
public final class SimulatedAccelerator: Sendable {
    /// How long each request occupies its slot.
    public let latency: Duration
    /// How many requests can be in flight at once.
    public let slots: Int
    /// Identifies the device's descriptors in wait contexts.
    public let key: WaitContext.Key

    private let device: AcceleratorDevice

    /// Creates a device and its timer thread.
    /// - Parameters:
    ///   - latency: time each request spends in a slot.
    ///   - slots: requests processed in parallel (at least 1); more wait for a free slot.
    /// - Throws: ``JobLoopError/Code/threadUnavailable`` or ``JobLoopError/Code/setupFailed``
    ///   (no timerfd).
    public init(latency: Duration, slots: Int) throws(JobLoopError) {
        let (seconds, attoseconds) = latency.components
        let nanoseconds = UInt64(max(0, seconds)) * 1_000_000_000 + UInt64(max(0, attoseconds) / 1_000_000_000)
        self.latency = latency
        self.slots = max(1, slots)
        self.device = try AcceleratorDevice(latencyNanoseconds: nanoseconds, slots: max(1, slots))
        self.key = WaitContext.Key(ObjectIdentifier(device))
    }

    /// Sends `payload` through the device from inside a job, pausing the job until it is done.
    ///
    /// - Parameter payload: returned unchanged once the request completes (lets callers check
    ///   that each job got its own answer).
    /// - Returns: `payload`.
    /// - Throws: `CancellationError` if the job is cancelled first (the request still occupies
    ///   its slot until its deadline); `AsyncJobError` if the eventfd cannot be created.
    /// - Important: outside a job (or with pausing blocked) it blocks the calling thread for the
    ///   request's duration.
    @available(*, noasync, message: "pauses the calling job; use submit(completion:) from Swift concurrency")
    public func perform<Payload: Sendable>(_ payload: Payload) throws -> Payload {
        guard let target = try EngineWaiting.target(forKey: key) else {
            let parker = ThreadParker()
            let request = EngineRequest(target: .parker(parker), work: nil)
            device.submit(request)
            EngineWaiting.block(until: request, on: parker)
            return payload
        }
        let request = EngineRequest(target: target, work: nil)
        device.submit(request)
        try EngineWaiting.pause(until: request)
        return payload
    }

    /// Submits a request; `completion` is called on the device's timer thread when it is done.
    /// - Parameter completion: must be short and must not block (it delays other completions).
    public func submit(completion: @escaping @Sendable () -> Void) {
        device.submit(EngineRequest(target: .closure(completion), work: nil))
    }

    /// Requests completed so far.
    public var completedCount: Int { device.completedCount }

    /// The most requests that were in flight at once.
    public var peakInFlight: Int { device.peakInFlight }

    /// How many submission shards the device has (one per submitting thread as far as this
    /// allows; see ``AcceleratorDevice``).
    package var shardCount: Int { device.shardCount }

    /// The shard a thread with submitter number `number` submits to.
    package func shard(forSubmitter number: Int) -> Int { device.shard(forSubmitter: number) }

    /// Completes every accepted request at its deadline, then stops the timer thread. Later
    /// submissions complete at once. Idempotent.
    public func shutdown() {
        device.shutdown()
    }

    deinit {
        device.shutdown()
    }
}

/// The device's state and timer thread.
///
/// Submissions go to shards, one per submitting thread as far as the shard count allows (a
/// thread's ``SubmitterNumber`` picks its shard), as a QAT device gives each thread a ring of its
/// own: each shard has its own lock, its own list of requests given a slot and a deadline, its
/// own list of requests waiting for a slot, and its own slot credits, on cache lines of its own.
/// So two loops submitting at once never write the same line (with one lock, list and slot count
/// for the device, every operation of a group of loops moved those lines between processors,
/// and a loop's CPU per operation rose by two thirds beside a second loop). The timer thread
/// drains every shard, keeps each shard's requests in flight in a ring of its own (each in
/// deadline order: deadlines are assigned under the shard's lock from a monotonic clock), and
/// hands out the slots:
///
/// - A submission takes one of its shard's credits (a slot set aside for that shard) and enters
///   its slot at once. With none left it takes half of the credits of another shard that has
///   some (the only time a submitter writes another shard's lines); with none anywhere it waits
///   in its shard, and the first request to wait asks the timer thread for a pass at once
///   (waking it from its park or its timer), so that it never waits for the next deadline.
/// - At each pass the timer thread frees the slots of the requests that fell due, gives slots
///   to the waiting requests, oldest first across the shards (taking back credits other shards
///   are not using, as many as needed), returns each shard the slots its own requests freed
///   (the jobs they resume will submit again), and splits any slots still free among the shards
///   that had to wait.
///
/// So a request waits only while every slot is held by a request (or, for a moment, set aside
/// for a shard it did not find credits in), at the latest until the pass it asked for; waiting
/// requests enter slots in arrival order within their shard. Invariant: the free slots
/// (the timer thread's), the shards' credits and the requests holding a slot (in a shard's
/// `incoming` or the timer thread's rings) add up to `slots`.
final class AcceleratorDevice: Sendable {
    private struct Slot {
        let deadline: UInt64
        let request: any AcceleratorRequest
    }
    private struct Waiter {
        /// When it was submitted: the timer thread gives slots to waiting requests in this order.
        let arrival: UInt64
        let request: any AcceleratorRequest
    }
    /// 64 bytes that nothing touches.
    private typealias CacheLinePad = (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64)
    /// One shard: written by its submitters at every operation, by the timer thread once per pass.
    private struct Shard {
        /// Keeps the fields below off the line of the lock's object header and of whatever the
        /// allocator placed before it (the lock adds padding after its word).
        private let leadingPad: CacheLinePad = (0, 0, 0, 0, 0, 0, 0, 0)
        /// Requests given a slot and a deadline since the timer thread last looked, in deadline
        /// order.
        var incoming = RingBuffer<Slot>()
        /// Requests waiting for a slot, in arrival order.
        var waiting = RingBuffer<Waiter>()
        /// Slots set aside for this shard's next submissions.
        var credits = 0
        /// A request waits here and has asked the timer thread for a pass.
        var starved = false
        /// The device has stopped: submissions complete at once.
        var stopped = false

        /// Gives slots to the waiting requests, oldest first, while `credits` last (each at
        /// `deadline`), and returns the credits left.
        mutating func admitWaiting(credits: Int, deadline: UInt64) -> Int {
            var credits = credits
            while credits > 0, let waiter = waiting.popFirst() {
                incoming.append(Slot(deadline: deadline, request: waiter.request))
                credits -= 1
            }
            return credits
        }
    }
    private enum Admission {
        case inSlot, waiting, firstToWait, refused
    }

    private let shards: [FutexMutex<Shard>]
    private let parker = ThreadParker()
    private let timer: TimerDescriptor
    private let latency: UInt64
    private let slots: Int
    /// The longest moderation interval: a tenth of the latency, at most 100 us.
    private let moderationInterval: UInt64
    /// The timer thread is parked, or about to park (set only by it; cleared by whoever wakes it).
    private let parked = Atomic<Bool>(false)
    /// A waiting request asked for a pass: the timer thread does not sleep until it has made one.
    private let passRequested = Atomic<Bool>(false)
    private let stopping = Atomic<Bool>(false)
    private let completed = Atomic<Int>(0)
    private let peak = Atomic<Int>(0)
    private let thread = FutexMutex<PlatformThread?>(nil)

    init(latencyNanoseconds: UInt64, slots: Int) throws(JobLoopError) {
        self.latency = latencyNanoseconds
        self.slots = slots
        self.moderationInterval = min(100_000, latencyNanoseconds / 10)
        // Twice the processors (a loop per processor, and room for other submitting threads),
        // a power of two for the mask; at most 64, which the timer thread visits at every pass.
        let wanted = min(64, 2 * ProcessorCount.available)
        var count = 2
        while count < wanted { count *= 2 }
        self.shards = (0..<count).map { _ in FutexMutex(Shard(), trailingBytes: 64) }
        switch TimerFD.make() {
        case .success(let fd): timer = TimerDescriptor(fd)
        case .failure(let errno): throw JobLoopError(.setupFailed, underlying: errno)
        }
        switch PlatformThread.spawn(name: "aj-accelerator", { [self] in self.run() }) {
        case .success(let spawned): thread.withLock { $0 = spawned }
        case .failure(let errno): throw JobLoopError(.threadUnavailable, underlying: errno)
        }
    }

    var completedCount: Int { completed.load(ordering: .acquiring) }
    var shardCount: Int { shards.count }
    func shard(forSubmitter number: Int) -> Int { number & (shards.count - 1) }
    var peakInFlight: Int { peak.load(ordering: .relaxed) }

    func submit(_ request: some AcceleratorRequest) {
        let own = shard(forSubmitter: SubmitterNumber.current)
        var admission = shards[own].withLock { state -> Admission in
            if state.stopped { return .refused }
            // Credits only remain while nothing waits here (whoever adds credits serves the
            // waiting requests first), so taking one keeps the shard's arrival order.
            guard state.credits > 0 else { return .waiting }
            state.credits -= 1
            state.incoming.append(Slot(deadline: MonotonicClock.nanoseconds() + latency, request: request))
            return .inSlot
        }
        if admission == .waiting {
            // Out of credits: take half of another shard's before waiting (a thread that
            // submits from several threads in turn, as Swift concurrency's do, leaves credits
            // in the shards of the threads its requests came from). Only this path touches
            // another shard's line; a job loop, whose requests come back to the thread that
            // submitted them, gets its credits back from the timer thread.
            let stolen = stealCredits(for: own)
            admission = shards[own].withLock { state -> Admission in
                if state.stopped { return .refused }
                let deadline = MonotonicClock.nanoseconds() + latency
                state.credits = state.admitWaiting(credits: state.credits + stolen, deadline: deadline)
                if state.credits > 0 {
                    state.credits -= 1
                    state.incoming.append(Slot(deadline: deadline, request: request))
                    return .inSlot
                }
                state.waiting.append(Waiter(arrival: deadline - latency, request: request))
                if state.starved { return .waiting }
                state.starved = true
                return .firstToWait
            }
        }
        switch admission {
        case .refused:
            return request.complete()
        case .firstToWait:
            // Set before the timer is armed: the timer thread reads it after arming its own
            // deadline, so either it sees the request or this arming comes after its own.
            passRequested.store(true, ordering: .sequentiallyConsistent)
            TimerFD.arm(timer.fd, deadline: 1)
        case .inSlot, .waiting:
            break
        }
        // The timer thread sets `parked` before it looks at the shards a last time, under each
        // shard's lock: if it looked before this submission, this read sees the flag.
        if parked.load(ordering: .relaxed) && parked.exchange(false, ordering: .acquiringAndReleasing) {
            parker.unpark()
        }
    }

    /// Takes half (rounded up) of the credits of the first other shard that has any.
    private func stealCredits(for own: Int) -> Int {
        for offset in 1..<shards.count {
            let taken = shards[(own + offset) & (shards.count - 1)].withLock { state -> Int in
                let taken = (state.credits + 1) / 2
                state.credits -= taken
                return taken
            }
            if taken > 0 { return taken }
        }
        return 0
    }

    /// The timer thread.
    private func run() {
        let count = shards.count
        // Each shard's requests in flight, in deadline order; only this thread touches them.
        var inFlight = [RingBuffer<Slot>](repeating: RingBuffer(), count: count)
        // Each shard's waiting requests taken from it, in arrival order.
        var pending = [RingBuffer<Waiter>](repeating: RingBuffer(), count: count)
        // Those given a slot at this pass, and the credits given to each shard.
        var promoted = [RingBuffer<Waiter>](repeating: RingBuffer(), count: count)
        var freed = [Int](repeating: 0, count: count)
        var grants = [Int](repeating: 0, count: count)
        var starved = [Bool](repeating: false, count: count)
        // Moved from, element by element, never copied: every reference count taken here
        // would be a write to a request's line, which the loop's thread wrote last.
        var arrivals = RingBuffer<Slot>()
        var due = RingBuffer<any AcceleratorRequest>()
        var batch = CompletionBatch(capacity: 1024)
        var lead = WakeLead()
        var moderation = Moderation(longest: moderationInterval)
        var ledDeadline: UInt64 = 0
        var lastWake: UInt64 = 0
        // Slots neither held by a request nor set aside for a shard.
        var free = slots
        var inFlightCount = 0
        var pendingCount = 0
        while true {
            passRequested.store(false, ordering: .sequentiallyConsistent)
            let now = MonotonicClock.nanoseconds()
            var held = inFlightCount
            for shard in 0..<count {
                freed[shard] = 0
                while let deadline = inFlight[shard].first?.deadline, deadline <= now,
                    let slot = inFlight[shard].popFirst()
                {
                    due.append(slot.request)
                    freed[shard] += 1
                }
            }
            inFlightCount -= due.count
            free += due.count
            // Take every shard's new requests (whose slots they already hold) and waiting ones.
            for shard in 0..<count {
                starved[shard] = shards[shard].withLock { state -> Bool in
                    swap(&arrivals, &state.incoming)
                    while let waiter = state.waiting.popFirst() { pending[shard].append(waiter) }
                    defer { state.starved = false }
                    return state.starved
                }
                held += arrivals.count
                inFlightCount += arrivals.count
                while let slot = arrivals.popFirst() { inFlight[shard].append(slot) }
                starved[shard] = starved[shard] || !pending[shard].isEmpty
            }
            pendingCount = pending.reduce(0) { $0 + $1.count }
            if held > peak.load(ordering: .relaxed) { peak.store(held, ordering: .relaxed) }
            completed.wrappingAdd(due.count, ordering: .releasing)
            // Slots for the waiting requests: the free ones, then credits other shards hold.
            if pendingCount > free {
                for shard in 0..<count where free < pendingCount {
                    free += shards[shard].withLock { state -> Int in
                        let taken = min(state.credits, pendingCount - free)
                        state.credits -= taken
                        return taken
                    }
                }
            }
            var promotedCount = 0
            while promotedCount < free && promotedCount < pendingCount {
                var oldest = -1
                for shard in 0..<count {
                    guard let arrival = pending[shard].first?.arrival else { continue }
                    if oldest < 0 || arrival < pending[oldest].first!.arrival { oldest = shard }
                }
                promoted[oldest].append(pending[oldest].popFirst()!)
                promotedCount += 1
            }
            free -= promotedCount
            pendingCount -= promotedCount
            // Each shard gets back the slots its requests freed (less those its own waiting
            // requests took); what is left goes to the shards that had to wait.
            var starvedShards = 0
            for shard in 0..<count {
                let back = min(free, max(0, freed[shard] - promoted[shard].count))
                grants[shard] = back
                free -= back
                if starved[shard] { starvedShards += 1 }
            }
            if free > 0 && starvedShards > 0 && pendingCount == 0 {
                var share = free / starvedShards + 1
                for shard in 0..<count where starved[shard] {
                    share = min(share, free)
                    grants[shard] += share
                    free -= share
                }
            }
            for shard in 0..<count where grants[shard] > 0 || !promoted[shard].isEmpty {
                shards[shard].withLock { state in
                    // Deadlines from the clock read under the lock keep `incoming` in order.
                    let deadline = MonotonicClock.nanoseconds() + latency
                    while let waiter = promoted[shard].popFirst() {
                        state.incoming.append(Slot(deadline: deadline, request: waiter.request))
                    }
                    // Requests that began waiting here since the shard was drained come first.
                    let credits = state.admitWaiting(credits: grants[shard], deadline: deadline)
                    if state.waiting.isEmpty { state.starved = false }
                    state.credits += credits
                }
            }
            // Requests that announce through a batch sink (a JobLoop in callback mode) reach it
            // in one call: one lock and at most one wake-up of the loop per expiry, not one each.
            // Each request is let go of as soon as it is completed, before the batch is announced:
            // their jobs then hold the last references, so each request is freed on the thread
            // that allocated it. (Their slots were handed out above: the jobs they resume find
            // credits in their shards.)
            while let request = due.popFirst() { request.complete(into: &batch) }
            if let caughtUp = batch.flush() { moderation.learn(consumerCaughtUp: caughtUp) }
            guard inFlightCount > 0 else {
                if pendingCount > 0 { continue }
                if stopping.load(ordering: .acquiring) {
                    // Stop each shard that holds nothing: its later submissions complete at once.
                    var holding = false
                    for shard in shards {
                        shard.withLock { state in
                            if state.incoming.isEmpty && state.waiting.isEmpty {
                                state.stopped = true
                            } else {
                                holding = true
                            }
                        }
                    }
                    if holding { continue }
                    return
                }
                // Park unless a shard got a request since it was drained (or gets one while this
                // thread looks: its submitter then sees `parked` and wakes it).
                parked.store(true, ordering: .relaxed)
                var holding = false
                for shard in shards {
                    if shard.withLock({ !$0.incoming.isEmpty || !$0.waiting.isEmpty }) { holding = true }
                }
                if !holding { parker.park() }
                parked.store(false, ordering: .relaxed)
                continue
            }
            var deadline = UInt64.max
            for shard in 0..<count {
                if let first = inFlight[shard].first?.deadline { deadline = min(deadline, first) }
            }
            // Completion moderation, as NICs and QAT moderate interrupts: while requests are
            // dense (on average 16 or more fall due per longest interval), wake at most once
            // per interval. Each wake-up costs the timer thread about 15 us of CPU on a VM;
            // without this, at 1,000+ requests in flight it took 0.75 of a core from the
            // threads driving it. Requests are completed up to one interval late, never early.
            let armedAt = MonotonicClock.nanoseconds()
            let moderated = inFlightCount * Int(moderationInterval) >= 16 * Int(latency)
            let earliest = moderated ? lastWake &+ moderation.interval : 0
            var target: UInt64
            if deadline <= armedAt {
                // Completing took time and this deadline passed meanwhile: served at once
                // (without arming an expired timer, two syscalls) unless moderation holds it.
                // Not serving it at once while moderated matters: the second batch of a wake-up
                // would reach a loop still busy with the first.
                if earliest <= armedAt { continue }
                target = earliest
            } else {
                // Ahead of the deadline once; after waking early, at the deadline itself.
                target = deadline == ledDeadline ? deadline : lead.wakeTime(for: deadline, now: armedAt)
                ledDeadline = deadline
                target = max(target, earliest)
            }
            TimerFD.arm(timer.fd, deadline: target)
            // A request that began waiting after the pass started armed the timer to expire at
            // once, before or after this arming; in the second case only this flag tells.
            if passRequested.load(ordering: .sequentiallyConsistent) { continue }
            TimerFD.waitForExpiry(timer.fd)
            lastWake = MonotonicClock.nanoseconds()
            // Woken before the target only by a waiting request: that says nothing of lateness.
            if lastWake >= target { lead.learn(lateness: lastWake - target) }
        }
    }

    func shutdown() {
        stopping.store(true, ordering: .releasing)
        let joining = thread.withLock { thread -> PlatformThread? in
            defer { thread = nil }
            return thread
        }
        parked.store(false, ordering: .relaxed)
        parker.unpark()
        if let joining, joining.id != PlatformThread.currentID { joining.join() }
    }
}

/// The device's timerfd, closed when the device is freed: a submitter may arm it (to wake the
/// timer thread) after that thread has ended, never after the device is gone.
private final class TimerDescriptor: Sendable {
    let fd: FileDescriptor
    init(_ fd: FileDescriptor) { self.fd = fd }
    deinit { EventCounter.close(fd) }
}

/// How far ahead of a deadline the timer thread asks to be woken: three quarters of its recent
/// wake-up lateness. A timerfd expiry reaches a sleeping thread late (measured on a 2-vCPU KVM guest:
/// 30 us at the median, 35-90 us on average under load; timer slack does not apply to
/// timerfd), and without a lead every request would complete that much after its deadline,
/// making a "1 ms" device a 1.04-1.09 ms one. With the lead the thread usually wakes just after
/// the deadline; when it wakes before it, nothing is due yet, and it sleeps again until the
/// deadline itself (the timer thread leads each deadline once, so it cannot spin). Requests
/// still complete only once their deadline has passed. Measured with a C model of this loop on
/// that guest: mean lateness 45 -> 15 us, 1.05-1.07 wake-ups per deadline.
struct WakeLead {
    /// Wake-ups later than this (a descheduled thread) are counted as this.
    static var maximumLateness: UInt64 { 200_000 }
    /// Moving average of the lateness (1/8 weight per wake-up), in nanoseconds.
    private(set) var averageLateness: UInt64 = 0

    /// Records how late a wake-up was relative to the time the timer was armed for.
    mutating func learn(lateness: UInt64) {
        averageLateness = (averageLateness * 7 + min(lateness, Self.maximumLateness)) / 8
    }

    /// When to arm the timer for `deadline` at time `now`: ahead by the lead, or at the
    /// deadline itself if the lead would reach back to now.
    func wakeTime(for deadline: UInt64, now: UInt64) -> UInt64 {
        let lead = averageLateness / 4 * 3
        return deadline > now &+ lead ? deadline - lead : deadline
    }
}

/// The accelerator's moderation interval, adapted to the consumer of its completions, as
/// adaptive interrupt moderation adapts to the load. Holding completions back saves the timer
/// thread's wake-ups but delays every job by half an interval on average. That costs nothing
/// while the job loop falls behind (the completions would wait for it anyway), and throughput
/// while it keeps up: at 1,000 jobs of 1 ms, a fixed 100 us interval held the loop at 86-88 %
/// of the ideal rate; a fixed 25 us one reached 90-92 % there but cost 10,000-job runs 20-30 %,
/// the timer thread's wake-ups taking CPU from a saturated loop.
///
/// The interval halves (down to an eighth of the longest) after each batch that found its
/// consumer caught up (every earlier batch taken), and doubles (up to the longest) after each
/// that found an earlier one still waiting. Measured on 2 vCPUs: 1,000 jobs reach 93 % of the
/// ideal (the interval averages 17 us) and 10,000 keep the longest (98 us on average). A
/// sixteenth did no better. Engines without a batch consumer (eventfds, closures) keep the
/// longest.
struct Moderation {
    let longest: UInt64
    let shortest: UInt64
    private(set) var interval: UInt64

    init(longest: UInt64) {
        self.longest = longest
        self.shortest = longest / 8
        self.interval = longest
    }

    /// Adapts the interval to what the last batch found.
    mutating func learn(consumerCaughtUp caughtUp: Bool) {
        interval = caughtUp ? max(shortest, interval / 2) : min(longest, interval * 2)
    }
}

/// Something the accelerator completes at its deadline.
protocol AcceleratorRequest: AnyObject, Sendable {
    /// Completes the request at once.
    func complete()
    /// Completes the request; announcements that can be batched go into `batch`.
    func complete(into batch: inout CompletionBatch)
}

extension EngineRequest: AcceleratorRequest {}
