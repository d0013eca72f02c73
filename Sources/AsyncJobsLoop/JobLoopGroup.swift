// SPDX-License-Identifier: Apache-2.0
// A fixed set of job loops, one thread each, that work is spread over. A job runs from start to
// end on the loop it was submitted to (its stack belongs to that loop's thread), so the group
// only chooses where work starts; it never moves a job.
//
// Invariants: `loops` is fixed for the group's life; each submission goes to exactly one loop,
// whose rules (completion exactly once, back-pressure, shutdown) then apply unchanged.
import AsyncJobs
import Synchronization

/// Several ``JobLoop``s, each on its own thread, with submissions spread over them.
///
/// A loop is one thread; a group runs as many loops as asked (by default one per processor this
/// process may use) and hands each submission to one of them, in turn. A job stays on the loop
/// that started it until it ends: jobs never migrate. ``submit(timeout:_:completion:)``,
/// ``execute(timeout:_:)``, tickets and shutdown behave as on one loop.
///
/// ```swift
/// let engine = try OffloadEngine(workers: 2)
/// let group = try JobLoopGroup()                  // one loop per core
/// let digest = try await group.execute { try engine.perform { sha256(data) } }
/// group.shutdownAndWait(.drain)
/// ```
/// - Important: every member may be called from any thread, except ``shutdownAndWait(_:)``,
///   which must not be called from one of the group's loop threads. Like a loop, a group runs
///   until it is shut down: letting go of it does not stop its threads.
/// OpenSSL equivalent: none (an application runs one `ASYNC` loop per thread itself).
public final class JobLoopGroup: Sendable {
    /// How the group chooses the loop for a submission.
    public enum Placement: Sendable, Hashable {
        /// Each submission goes to the next loop in turn; a loop whose queue is full is passed
        /// over for the next one.
        case roundRobin
        /// Each submission goes to the loop with the fewest running and queued jobs (as last
        /// published by the loops; ties go to the next loop in turn).
        case leastLoaded
    }

    /// The group's loops, in a fixed order. Use one directly to keep related work on one thread.
    public let loops: [JobLoop]
    /// How submissions are spread.
    public let placement: Placement
    private let turn = Atomic<Int>(0)

    /// The processors this process may run on (its CPU affinity), at least 1: the default
    /// number of loops.
    public static var defaultLoopCount: Int { ProcessorCount.available }

    /// Creates a group of `loopCount` loops, each on a thread of its own, all with
    /// `configuration` (its sizes apply to each loop).
    /// - Parameters:
    ///   - loopCount: how many loops; by default ``defaultLoopCount``.
    ///   - configuration: each loop's configuration.
    ///   - placement: how submissions are spread; by default ``Placement/roundRobin``.
    /// - Throws: ``JobLoopError/Code/setupFailed`` if `loopCount` is less than 1 or a loop cannot
    ///   be made; ``JobLoopError/Code/threadUnavailable`` if a thread cannot be created. The loops
    ///   made before the failure are shut down and joined.
    public init(
        loopCount: Int = JobLoopGroup.defaultLoopCount, configuration: JobLoop.Configuration = JobLoop.Configuration(),
        placement: Placement = .roundRobin
    ) throws(JobLoopError) {
        guard loopCount >= 1 else { throw JobLoopError(.setupFailed) }
        var loops: [JobLoop] = []
        loops.reserveCapacity(loopCount)
        do {
            // Consecutive submitter numbers: the loops submit to different shards of an engine
            // sharded by submitting thread (SimulatedAccelerator).
            let firstNumber = SubmitterNumber.reserve(loopCount)
            for index in 0..<loopCount {
                loops.append(try JobLoop.spawn(configuration: configuration, submitterNumber: firstNumber + index))
            }
        } catch {
            for loop in loops { loop.shutdownAndWait(.cancel) }
            throw error
        }
        self.loops = loops
        self.placement = placement
    }

    /// The loop the next submission would go to (and the turn moves on): for work that must
    /// stay together, or for ``JobLoop``'s own API.
    public func next() -> JobLoop {
        let start = turn.wrappingAdd(1, ordering: .relaxed).oldValue
        let count = loops.count
        switch placement {
        case .roundRobin:
            return loops[Self.position(start, count)]
        case .leastLoaded:
            var best = Self.position(start, count)
            var bestLoad = loops[best].load
            for offset in 1..<max(1, count) {
                let candidate = Self.position(start &+ offset, count)
                let load = loops[candidate].load
                if load < bestLoad {
                    best = candidate
                    bestLoad = load
                }
            }
            return loops[best]
        }
    }

    private static func position(_ turn: Int, _ count: Int) -> Int {
        Int(UInt(bitPattern: turn) % UInt(count))
    }

    /// Submits `body` to run as a job on one of the loops, as ``JobLoop/submit(timeout:_:completion:)``
    /// does on one. If the chosen loop's queue is full, the other loops are tried in turn.
    /// - Returns: ``JobLoop/Submission/accepted(_:)`` with a ticket that cancels the work on the
    ///   loop that took it, or ``JobLoop/Submission/rejected(_:)`` if every loop's queue is
    ///   full (``JobLoopError/Code/queueFull``) or the group is shutting down
    ///   (``JobLoopError/Code/shutDown``); then the completion is never called.
    /// - Important: any thread.
    @discardableResult
    public func submit<Value: Sendable>(
        timeout: Duration? = nil, _ body: @escaping @Sendable () throws -> Value,
        completion: @escaping @Sendable (Result<Value, any Error>) -> Void
    ) -> JobLoop.Submission {
        let first = next()
        let submission = first.submit(timeout: timeout, body, completion: completion)
        guard case .rejected(let error) = submission, error.code == .queueFull, loops.count > 1 else {
            return submission
        }
        let start = loops.firstIndex { $0 === first } ?? 0
        for offset in 1..<loops.count {
            let other = loops[(start + offset) % loops.count].submit(timeout: timeout, body, completion: completion)
            if case .rejected(let error) = other, error.code == .queueFull { continue }
            return other
        }
        return submission
    }

    /// Runs `body` as a job on one of the loops and returns its value, as
    /// ``JobLoop/execute(timeout:_:)`` does on one (a task waits for room in the chosen loop's
    /// queue rather than being rejected).
    /// - Throws: what `body` threw; `CancellationError` if the task was cancelled;
    ///   ``JobLoopError`` for a timeout or a shutdown.
    public func execute<Value: Sendable>(
        timeout: Duration? = nil, _ body: @escaping @Sendable () throws -> Value
    ) async throws -> Value {
        try await next().execute(timeout: timeout, body)
    }

    /// Shuts every loop down as ``JobLoop/shutdown(_:)`` does; returns at once.
    /// - Important: any thread.
    public func shutdown(_ mode: JobLoop.ShutdownMode = .drain) {
        for loop in loops { loop.shutdown(mode) }
    }

    /// Shuts every loop down and waits until each has ended (every accepted work completed,
    /// its thread joined).
    /// - Important: not from one of the group's loop threads (it would wait for itself).
    public func shutdownAndWait(_ mode: JobLoop.ShutdownMode = .drain) {
        precondition(!isLoopThread, "JobLoopGroup.shutdownAndWait() called on one of the group's loop threads")
        shutdown(mode)
        for loop in loops { loop.shutdownAndWait(mode) }
    }

    /// The sum of the loops' counters.
    public var statistics: JobLoop.Statistics {
        var total = JobLoop.Statistics(runningJobs: 0, queuedWork: 0, completed: 0, resumes: 0, watchedDescriptors: 0)
        for loop in loops {
            let one = loop.statistics
            total.runningJobs += one.runningJobs
            total.queuedWork += one.queuedWork
            total.completed += one.completed
            total.resumes += one.resumes
            total.watchedDescriptors += one.watchedDescriptors
        }
        return total
    }

    /// Whether the calling thread is one of the group's loop threads.
    public var isLoopThread: Bool { loops.contains { $0.isLoopThread } }
}
