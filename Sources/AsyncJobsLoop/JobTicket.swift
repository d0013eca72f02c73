// SPDX-License-Identifier: Apache-2.0
// One piece of submitted work and the handle its submitter keeps.
//
// Invariants: `phase` goes queued -> running(entry) -> done, or queued -> done, and only the loop
// thread moves it; the completion is called exactly once, by the loop thread (or by `submit`'s
// caller when the loop finished before it could accept the work).
import AsyncJobs
import Synchronization

/// What the loop needs of a piece of work, whatever its value type.
protocol LoopWork: AnyObject, Sendable {
    /// Nanoseconds the work may run once started; 0 for no limit.
    var timeoutNanoseconds: UInt64 { get }
    /// Whether someone asked to cancel it.
    var isCancelRequested: Bool { get }
    /// Marks it cancelled; returns false if it already was.
    func requestCancel() -> Bool
    /// The entry running it, or nil (queued or done). Loop thread.
    var runningEntry: Int? { get }
    /// queued -> running on `entry`; false if it is already done. Loop thread.
    func markRunning(on entry: Int) -> Bool
    /// running -> queued again (the pool had no job for it). Loop thread.
    func markQueued()
    /// Whether it is done (completed, failed or cancelled).
    var isDone: Bool { get }
    /// -> done; false if it already was. Loop thread.
    func markDone() -> Bool
    /// The task-local values of the code that submitted it, which its job starts with.
    var taskLocals: TaskLocalSnapshot? { get }
    /// The body to run as a job: runs the work and returns the call of its completion.
    func makeJobBody() -> () -> LoopCompletion
    /// Calls the completion with `error`.
    func fail(_ error: JobLoopError)
}

/// What a loop job returns: the call of its work's completion, made by the loop once the job
/// has ended (on the loop's own stack, not the job's).
struct LoopCompletion {
    let call: () -> Void
}

/// Work returning `Value`.
final class TypedLoopWork<Value: Sendable>: LoopWork {
    private static var queued: Int { -2 }
    private static var done: Int { -1 }

    let body: @Sendable () throws -> Value
    let completion: @Sendable (Result<Value, any Error>) -> Void
    let timeoutNanoseconds: UInt64
    /// Captured where it is made, on the submitter's side (submit and execute make it there).
    let taskLocals: TaskLocalSnapshot?
    private let phase = Atomic<Int>(-2)
    private let cancelRequested = Atomic<Bool>(false)

    init(
        timeout: Duration?, body: @escaping @Sendable () throws -> Value,
        completion: @escaping @Sendable (Result<Value, any Error>) -> Void
    ) {
        self.body = body
        self.completion = completion
        taskLocals = TaskLocalSnapshot.capture()
        if let timeout {
            // Saturating: a timeout of centuries (`.seconds(Int64.max)` for "never") must not trap.
            let (seconds, attoseconds) = timeout.components
            let (whole, overflow) = max(0, seconds).multipliedReportingOverflow(by: 1_000_000_000)
            let (total, carry) = whole.addingReportingOverflow(max(0, attoseconds) / 1_000_000_000)
            timeoutNanoseconds = overflow || carry ? UInt64(Int64.max) : UInt64(max(1, total))
        } else {
            timeoutNanoseconds = 0
        }
    }

    var isCancelRequested: Bool { cancelRequested.load(ordering: .acquiring) }

    func requestCancel() -> Bool {
        !cancelRequested.exchange(true, ordering: .acquiringAndReleasing)
    }

    var runningEntry: Int? {
        let value = phase.load(ordering: .relaxed)
        return value >= 0 ? value : nil
    }

    func markRunning(on entry: Int) -> Bool {
        phase.compareExchange(expected: Self.queued, desired: entry, ordering: .relaxed).exchanged
    }

    func markQueued() {
        phase.store(Self.queued, ordering: .relaxed)
    }

    var isDone: Bool { phase.load(ordering: .relaxed) == Self.done }

    func markDone() -> Bool {
        phase.exchange(Self.done, ordering: .relaxed) != Self.done
    }

    func makeJobBody() -> () -> LoopCompletion {
        { [body, completion] in
            let result: Result<Value, any Error>
            do { result = .success(try body()) } catch { result = .failure(error) }
            return LoopCompletion { completion(result) }
        }
    }

    func fail(_ error: JobLoopError) {
        completion(.failure(error))
    }
}

/// The submitter's handle to a piece of work accepted by a ``JobLoop``.
///
/// - Important: any thread may use it.
public struct JobTicket: Sendable, Hashable {
    let work: any LoopWork
    let loop: JobLoop

    /// Cancels the work: if it is still queued it never starts; if its job is running (paused),
    /// the job is cancelled (its pauses fail, engines throw `CancellationError`, its frames
    /// release what they hold). Either way its completion gets ``JobLoopError/Code/cancelled``,
    /// unless it finished first. Harmless after it finished, and when called again.
    /// OpenSSL equivalent: none (OpenSSL cannot cancel a paused job; it leaks it).
    public func cancel() {
        guard work.requestCancel() else { return }
        loop.requestCancellation(of: work)
    }

    public static func == (lhs: JobTicket, rhs: JobTicket) -> Bool {
        lhs.work === rhs.work
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(ObjectIdentifier(work))
    }
}
