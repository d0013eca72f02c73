// SPDX-License-Identifier: Apache-2.0
// Helpers for the job-loop tests: latches, gates, frame-release trackers, fd counting.
import AsyncJobs
import AsyncJobsLoop
import AsyncJobsTesting
import Foundation
import Synchronization

/// Counts arrivals; `wait()` returns once `count` have arrived.
final class Latch: Sendable {
    private struct State {
        var remaining: Int
        var waiter: CheckedContinuation<Void, Never>?
    }
    private let state: FutexMutex<State>

    init(count: Int) {
        state = FutexMutex(State(remaining: count))
    }

    func arrive() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.remaining -= 1
            guard state.remaining == 0 else { return nil }
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    func wait() async {
        await withCheckedContinuation { continuation in
            let done = state.withLock { state -> Bool in
                if state.remaining <= 0 { return true }
                state.waiter = continuation
                return false
            }
            if done { continuation.resume() }
        }
    }
}

/// A door that engine work waits at (on a worker thread) until the test opens it.
final class Gate: Sendable {
    private let isOpen = Atomic(false)
    func open() { isOpen.store(true, ordering: .releasing) }
    var opened: Bool { isOpen.load(ordering: .acquiring) }
    func waitUntilOpen() {
        while !isOpen.load(ordering: .acquiring) { usleep(200) }
    }
}

/// Counts live instances, to see that a cancelled job's frames released what they held.
final class FrameObject: Sendable {
    static let live = Atomic(0)
    let tag: Int
    init(_ tag: Int) {
        self.tag = tag
        FrameObject.live.wrappingAdd(1, ordering: .relaxed)
    }
    deinit { FrameObject.live.wrappingSubtract(1, ordering: .relaxed) }
}

/// Records each piece of work's completions by index.
final class CompletionLog<Value: Sendable>: Sendable {
    private let entries: FutexMutex<[[Result<Value, any Error>]]>
    let latch: Latch

    init(count: Int) {
        entries = FutexMutex(Array(repeating: [], count: count))
        latch = Latch(count: count)
    }

    func record(_ index: Int, _ result: Result<Value, any Error>) {
        entries.withLock { $0[index].append(result) }
        latch.arrive()
    }

    var all: [[Result<Value, any Error>]] { entries.withLock { $0 } }
}

struct TestFailure: Error, Equatable {
    let code: Int
}

/// Open descriptors of this process.
func openDescriptorCount() -> Int {
    (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? -1
}

/// The error of a failed result, as a JobLoopError code.
func loopErrorCode<Value>(_ result: Result<Value, any Error>) -> JobLoopError.Code? {
    if case .failure(let error as JobLoopError) = result { return error.code }
    return nil
}

/// How many FrameObjects exist now.
func liveFrameObjects() -> Int { FrameObject.live.load(ordering: .relaxed) }
