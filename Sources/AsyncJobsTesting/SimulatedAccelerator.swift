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
// Invariants: `busy <= slots` counts the requests holding a slot (in `incoming` or the timer
// thread's `inFlight`); both hold them in deadline order (equal latencies, deadlines assigned
// under the lock from a monotonic clock: FIFO order is deadline order, and every request in
// `incoming` is due no earlier than those already in flight); requests wait in `waiting` only
// while every slot is busy, and enter a slot in arrival order.
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
/// Submitters and the timer thread share one lock, held for O(1) work on both sides: a
/// submission appends to `incoming`; the timer thread swaps `incoming` out whole and keeps the
/// requests in flight in a ring of its own. (With one shared ring, the timer thread held the lock
/// while it took every due request out, and a loop submitting a million requests a second slept
/// on it at almost every expiry.)
final class AcceleratorDevice: Sendable {
    private struct Slot {
        let deadline: UInt64
        let request: any AcceleratorRequest
    }
    private struct State {
        /// Requests given a slot and a deadline since the timer thread last looked, in deadline
        /// order (deadlines are assigned under the lock from a monotonic clock).
        var incoming = RingBuffer<Slot>()
        /// Requests waiting for a free slot, in arrival order.
        var waiting = RingBuffer<any AcceleratorRequest>()
        /// Requests holding a slot: in `incoming` or in the timer thread's ring.
        var busy = 0
        var parked = false
        var stopping = false
        var stopped = false
        var thread: PlatformThread?
        var completed = 0
        var peak = 0
    }
    private let state = FutexMutex(State())
    private let parker = ThreadParker()
    private let timer: FileDescriptor
    private let latency: UInt64
    private let slots: Int
    /// The longest moderation interval: a tenth of the latency, at most 100 us.
    private let moderationInterval: UInt64

    init(latencyNanoseconds: UInt64, slots: Int) throws(JobLoopError) {
        self.latency = latencyNanoseconds
        self.slots = slots
        self.moderationInterval = min(100_000, latencyNanoseconds / 10)
        switch TimerFD.make() {
        case .success(let fd): timer = fd
        case .failure(let errno): throw JobLoopError(.setupFailed, underlying: errno)
        }
        switch PlatformThread.spawn(name: "aj-accelerator", { [self] in self.run() }) {
        case .success(let thread): state.withLock { $0.thread = thread }
        case .failure(let errno):
            EventCounter.close(timer)
            throw JobLoopError(.threadUnavailable, underlying: errno)
        }
    }

    var completedCount: Int { state.withLock { $0.completed } }
    var peakInFlight: Int { state.withLock { $0.peak } }

    func submit(_ request: some AcceleratorRequest) {
        let (accepted, wake) = state.withLock { state -> (Bool, Bool) in
            if state.stopped { return (false, false) }
            if state.busy < slots {
                state.busy += 1
                state.peak = max(state.peak, state.busy)
                state.incoming.append(Slot(deadline: MonotonicClock.nanoseconds() + latency, request: request))
            } else {
                state.waiting.append(request)
            }
            let wake = state.parked
            state.parked = false
            return (true, wake)
        }
        if !accepted { return request.complete() }
        if wake { parker.unpark() }
    }

    /// The timer thread.
    private func run() {
        // The requests in flight, in deadline order; only this thread touches them.
        var inFlight = RingBuffer<Slot>()
        // Both moved from, element by element, never copied: every reference count taken here
        // would be a write to a request's line, which the loop's thread wrote last.
        var arrivals = RingBuffer<Slot>()
        var due = RingBuffer<any AcceleratorRequest>()
        var batch = CompletionBatch(capacity: 1024)
        var lead = WakeLead()
        var moderation = Moderation(longest: moderationInterval)
        var ledDeadline: UInt64 = 0
        var lastWake: UInt64 = 0
        while true {
            let now = MonotonicClock.nanoseconds()
            while let deadline = inFlight.first?.deadline, deadline <= now, let slot = inFlight.popFirst() {
                due.append(slot.request)
            }
            let stop = state.withLock { state -> Bool in
                state.completed += due.count
                state.busy -= due.count
                // Freed slots go to waiting requests, which start now.
                while state.busy < slots, let request = state.waiting.popFirst() {
                    state.busy += 1
                    state.incoming.append(Slot(deadline: now + latency, request: request))
                }
                swap(&arrivals, &state.incoming)
                if inFlight.isEmpty && arrivals.isEmpty {
                    if state.stopping {
                        state.stopped = true
                        return true
                    }
                    state.parked = true
                }
                return false
            }
            while let slot = arrivals.popFirst() { inFlight.append(slot) }
            // Requests that announce through a batch sink (a JobLoop in callback mode) reach it
            // in one call: one lock and at most one wake-up of the loop per expiry, not one each.
            // Each request is let go of as soon as it is completed, before the batch is announced:
            // their jobs then hold the last references, so each request is freed on the thread
            // that allocated it.
            while let request = due.popFirst() { request.complete(into: &batch) }
            if let caughtUp = batch.flush() { moderation.learn(consumerCaughtUp: caughtUp) }
            if stop {
                EventCounter.close(timer)
                return
            }
            guard let deadline = inFlight.first?.deadline else {
                // Parked above (a submission after that unparks this thread at once).
                parker.park()
                continue
            }
            // Completion moderation, as NICs and QAT moderate interrupts: while requests are
            // dense (on average 16 or more fall due per longest interval), wake at most once
            // per interval. Each wake-up costs the timer thread about 15 us of CPU on a VM;
            // without this, at 1,000+ requests in flight it took 0.75 of a core from the
            // threads driving it. Requests are completed up to one interval late, never early.
            let armedAt = MonotonicClock.nanoseconds()
            let moderated = inFlight.count * Int(moderationInterval) >= 16 * Int(latency)
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
            TimerFD.arm(timer, deadline: target)
            TimerFD.waitForExpiry(timer)
            lastWake = MonotonicClock.nanoseconds()
            lead.learn(lateness: lastWake &- target)
        }
    }

    func shutdown() {
        let thread = state.withLock { state -> PlatformThread? in
            state.stopping = true
            defer { state.thread = nil }
            return state.thread
        }
        parker.unpark()
        // The timer thread closes the timerfd as it ends; joining makes sure it has.
        if let thread, thread.id != PlatformThread.currentID { thread.join() }
    }
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
