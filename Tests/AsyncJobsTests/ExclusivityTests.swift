// SPDX-License-Identifier: Apache-2.0
// Swift's exclusivity access sets follow the job, not the thread (docs/fibers.md): a job that pauses
// inside an open access must not make the resumer, another job, another Task or a Dispatch
// callback on the same thread trip the runtime's "simultaneous accesses" check.
@testable import AsyncJobs
import Dispatch
import Foundation
import Testing

/// A class whose stored property is checked dynamically by the exclusivity runtime.
final class SharedCounter: @unchecked Sendable {
    var value = 0
}

/// Adds one, pauses while the `inout` access is still open, adds one more.
func bumpAcrossPause(_ value: inout Int) {
    value += 1
    _ = AsyncJob.pause()
    value += 1
}

/// Holds paused jobs between Tasks.
final class JobShelf: @unchecked Sendable {
    var boxes: [PausedBox<Int, Never>] = []
    var threads: [pthread_t] = []
}

/// A task executor that runs everything on one thread of its own.
final class SingleThreadExecutor: TaskExecutor, @unchecked Sendable {
    private let condition = NSCondition()
    private var queue: [UnownedJob] = []
    private var stopped = false
    private var thread: Thread?

    init() {
        let thread = Thread { [unowned self] in self.loop() }
        self.thread = thread
        thread.start()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        queue.append(job)
        condition.signal()
        condition.unlock()
    }

    func stop() {
        condition.lock()
        stopped = true
        condition.signal()
        condition.unlock()
    }

    private func loop() {
        while true {
            condition.lock()
            while queue.isEmpty && !stopped { condition.wait() }
            if queue.isEmpty && stopped {
                condition.unlock()
                JobPool.cleanUp()
                return
            }
            let job = queue.removeFirst()
            condition.unlock()
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}

/// Starts a job that pauses inside an access to `counter.value` (synchronous: jobs are started
/// from synchronous code).
func startJobPausingInsideAccess(_ counter: SharedCounter, shelf: JobShelf) {
    shelf.threads.append(pthread_self())
    guard case .paused(let job) = try! AsyncJob.start({ () -> Int in
        bumpAcrossPause(&counter.value)
        return counter.value
    }) else { return }
    shelf.boxes.append(PausedBox(job))
}

/// Resumes every shelved job to its end; returns their values.
func finishShelvedJobs(_ shelf: JobShelf) -> [Int] {
    shelf.threads.append(pthread_self())
    var values: [Int] = []
    for box in shelf.boxes {
        if let outcome = box.resume(), case .finished(let value) = consume outcome { values.append(value) }
    }
    shelf.boxes.removeAll()
    return values
}

@Suite("Exclusivity access sets")
struct ExclusivityTests {
    @Test func resumerAndAnotherJobTouchAnObjectWhileAJobIsPausedInsideAnAccessToIt() throws {
        try withFreshPool {
            let counter = SharedCounter()
            let shelf = JobShelf()
            startJobPausingInsideAccess(counter, shelf: shelf)
            #expect(counter.value == 1)
            counter.value += 10
            let ending102 = drive(try AsyncJob.start { () -> Int in counter.value += 100; return counter.value })
            #expect(ending102.value == 111)
            #expect(finishShelvedJobs(shelf) == [112])
        }
    }

    @Test func jobStartedInOneTaskIsResumedFromAnotherTaskOnTheSameThread() async {
        let executor = SingleThreadExecutor()
        let counter = SharedCounter()
        let shelf = JobShelf()
        await Task(executorPreference: executor) { startJobPausingInsideAccess(counter, shelf: shelf) }.value
        let values = await Task(executorPreference: executor) { () -> [Int] in
            counter.value += 10
            return finishShelvedJobs(shelf)
        }.value
        executor.stop()
        #expect(values == [12])
        #expect(shelf.threads.count == 2 && pthread_equal(shelf.threads[0], shelf.threads[1]) != 0)
    }

    @Test func jobIsResumedFromADispatchCallbackOnTheSameThread() {
        withFreshPool {
            let counter = SharedCounter()
            let shelf = JobShelf()
            startJobPausingInsideAccess(counter, shelf: shelf)
            let queue = DispatchQueue(label: "resumer")
            // `sync` runs the block on the calling thread.
            let values = queue.sync { () -> [Int] in
                counter.value += 10
                return finishShelvedJobs(shelf)
            }
            #expect(values == [12])
            #expect(pthread_equal(shelf.threads[0], shelf.threads[1]) != 0)
        }
    }

    #if ASYNCJOBS_TEST_HOOKS
    @Test func withoutTheAccessSetSwapTheResumerCrashes() async {
        // Proves that the tests above would catch a missing swap.
        await #expect(processExitsWith: .failure) {
            runSynchronously {
                ContextTestHooks.setAccessSetSwapping(false)
                let counter = SharedCounter()
                let shelf = JobShelf()
                startJobPausingInsideAccess(counter, shelf: shelf)
                counter.value += 10
                _ = finishShelvedJobs(shelf)
            }
        }
    }
    #endif
}
