// SPDX-License-Identifier: Apache-2.0
// Helpers shared by the behaviour tests: a fresh pool per test with the check that nothing is
// left outstanding, and drivers that resume a job until it finishes.
import AsyncJobs
import Foundation
import Synchronization
import Testing

/// Runs `body` on a fresh pool of the calling thread and checks afterwards that no job is in use
/// and that cleanup frees every job and stack.
///
/// Inside `body` (or any closure), do not write a closure literal inside `#expect(...)`: bind the
/// result first. With the Swift 6.3.1 toolchain, `#expect(try f { 5 } == 5)` followed by
/// `try f { 6 }` in the same enclosing closure can compile both literals to one function (the
/// second call runs the first closure). Seen with a generic function whose closure parameter has
/// typed throws, as `AsyncJob.start`; the job library had no part in it.
func withFreshPool<R>(
    maxSize: Int = 0, initialSize: Int = 0, stackSize: Int? = nil,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () throws -> R
) rethrows -> R {
    JobPool.cleanUp()
    try! JobPool.configure(maxSize: maxSize, initialSize: initialSize, stackSize: stackSize)
    let result = try body()
    let statistics = JobPool.statistics
    #expect(statistics?.inUse == 0, "jobs still in use at the end of the test", sourceLocation: sourceLocation)
    #expect(JobPool.cleanUp() == 0, "paused jobs left at the end of the test", sourceLocation: sourceLocation)
    #expect(JobPool.statistics == nil, sourceLocation: sourceLocation)
    return result
}

/// What a driven job ended with.
enum Ending<Value, Failure: Error> {
    case finished(Value, pauses: Int)
    case failed(Failure, pauses: Int)
    case noJobsAvailable
}

/// Resumes the job until it finishes, calling `betweenPauses` after each pause.
func drive<Value, Failure: Error>(
    _ outcome: consuming JobOutcome<Value, Failure>, betweenPauses: (Int) -> Void = { _ in }
) -> Ending<Value, Failure> {
    var pauses = 0
    var outcome = outcome
    while true {
        switch consume outcome {
        case .finished(let value): return .finished(value, pauses: pauses)
        case .failed(let error): return .failed(error, pauses: pauses)
        case .noJobsAvailable: return .noJobsAvailable
        case .paused(let job):
            pauses += 1
            betweenPauses(pauses)
            outcome = job.resume()
        }
    }
}

extension Ending {
    var value: Value? {
        if case .finished(let value, _) = self { return value }
        return nil
    }
    var pauses: Int? {
        switch self {
        case .finished(_, let pauses), .failed(_, let pauses): return pauses
        case .noJobsAvailable: return nil
        }
    }
}

/// A paused job kept in a collection (PausedJob itself is noncopyable and so cannot live in an
/// Array).
final class PausedBox<Value, Failure: Error> {
    var job: PausedJob<Value, Failure>?
    init(_ job: consuming PausedJob<Value, Failure>) { self.job = consume job }

    /// Resumes the job; returns nil if it paused again (the box then holds it again).
    func resume() -> JobOutcome<Value, Failure>? {
        guard let job = job.take() else { return nil }
        switch job.resume() {
        case .paused(let again):
            self.job = consume again
            return nil
        case let other:
            return other
        }
    }
}

/// Counts the live objects made from it, to prove that frames of cancelled jobs are released.
final class LiveCounter: @unchecked Sendable {
    var count = 0
    func make() -> Tracked { Tracked(self) }
}

/// An object that `LiveCounter` counts while it lives.
final class Tracked {
    let counter: LiveCounter
    init(_ counter: LiveCounter) {
        self.counter = counter
        counter.count += 1
    }
    deinit { counter.count -= 1 }
}

struct TestFailure: Error, Equatable {
    let code: Int
}

/// Runs `body` synchronously: exit-test bodies are async closures, and jobs are started and
/// resumed from synchronous code only.
func runSynchronously(_ body: () throws -> Void) rethrows {
    try body()
}

/// The process's resident memory in bytes (`/proc/self/statm`).
func residentBytes() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let fields = text.split(separator: " ")
    return fields.count > 1 ? (Int(fields[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE))) : 0
}

extension Thread {
    /// Runs `body` on a new thread (one without a current task) and returns its result.
    static func runAndJoin<T: Sendable>(_ body: @escaping @Sendable () -> T) -> T {
        let result = Mutex<T?>(nil)
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            result.withLock { $0 = body() }
            done.signal()
        }
        thread.start()
        done.wait()
        return result.withLock { $0 }!
    }
}
