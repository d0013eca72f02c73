// SPDX-License-Identifier: Apache-2.0
// Engines on worker threads complete work by signalling wait descriptors, calling callbacks and
// setting status while the owner thread resumes, pauses, clears descriptors and frees contexts:
// thousands of jobs, seeded random timing. Every job finishes exactly once with the right result
// and no descriptor leaks. Run under ThreadSanitizer by the sanitizer tier.
import AsyncJobs
import Foundation
import Synchronization
import SystemPackage
import Testing
import _CSystemShims

/// Worker threads that run submitted closures after a delay.
final class DelayingWorkers: Sendable {
    private let queues: [DispatchQueue]
    init(count: Int) {
        queues = (0..<count).map { DispatchQueue(label: "worker \($0)") }
    }
    func submit(worker: Int, delayMicroseconds: Int, _ work: @escaping @Sendable () -> Void) {
        queues[worker % queues.count].async {
            if delayMicroseconds > 0 { usleep(UInt32(delayMicroseconds)) }
            work()
        }
    }
    func drain() { for queue in queues { queue.sync {} } }
}

/// Completions announced by callbacks: job numbers, and one eventfd that wakes the owner.
final class CallbackInbox: Sendable {
    let ready = FutexMutex<[Int]>([])
    let wakeup = FileDescriptor(rawValue: eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC)))
    func post(_ job: Int) {
        ready.withLock { $0.append(job) }
        var one: UInt64 = 1
        _ = write(wakeup.rawValue, &one, 8)
    }
    func take() -> [Int] {
        var count: UInt64 = 0
        _ = read(wakeup.rawValue, &count, 8)
        return ready.withLock { ready in defer { ready.removeAll() }; return ready }
    }
}

/// Descriptors a stress run's engine opened and its cleanups closed.
final class DescriptorLedger: Sendable {
    let opened = Atomic(0)
    let closed = Atomic(0)
}

/// An engine call from inside a job: submit to a worker, pause until done, then drain.
func offload(
    _ input: Int, worker: Int, delay: Int, workers: DelayingWorkers, key: WaitContext.Key, ledger: DescriptorLedger
) -> Int {
    guard let context = AsyncJob.currentWaitContext else { return input * 2 }
    let done = Atomic(false)
    let result = Atomic(0)
    if context.callback != nil {
        context.status = .ok
        workers.submit(worker: worker, delayMicroseconds: delay) {
            result.store(input * 2, ordering: .relaxed)
            done.store(true, ordering: .releasing)
            _ = context.status
            context.invokeCallback()
        }
    } else {
        let fd: FileDescriptor
        if let existing = context.waitFD(forKey: key) {
            fd = existing
        } else {
            fd = FileDescriptor(rawValue: eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC)))
            ledger.opened.add(1, ordering: .relaxed)
            context.setWaitFD(fd, forKey: key) { _, fd, _ in
                _ = close(fd.rawValue)
                ledger.closed.add(1, ordering: .relaxed)
            }
        }
        workers.submit(worker: worker, delayMicroseconds: delay) {
            result.store(input * 2, ordering: .relaxed)
            done.store(true, ordering: .releasing)
            _ = context.waitFD(forKey: key)
            var one: UInt64 = 1
            _ = write(fd.rawValue, &one, 8)
        }
    }
    repeat {
        if !AsyncJob.pause() { break }
    } while !done.load(ordering: .acquiring)
    if let fd = context.waitFD(forKey: key) {
        var value: UInt64 = 0
        _ = read(fd.rawValue, &value, 8)
    }
    return result.load(ordering: .relaxed)
}

final class StressJob {
    var job: PausedJob<Int, Never>?
    let context = WaitContext()
}

@Suite("Cross-thread engines")
struct CrossThreadEngineTests {
    @Test(arguments: [UInt64(11), 12])
    func thousandsOfJobsWithRandomTimingEachFinishOnceWithTheRightResult(seed: UInt64) throws {
        let ledger = DescriptorLedger()
        try withFreshPool {
            var generator = SplitMix64(seed: seed)
            let workers = DelayingWorkers(count: 4)
            let inbox = CallbackInbox()
            let key = WaitContext.Key("stress engine")
            let jobCount = 2000
            let operationsPerJob = 3
            var jobs: [StressJob] = []
            var results: [Int: Int] = [:]
            var finishedTwice = 0

            func handle(_ outcome: consuming JobOutcome<Int, Never>, _ index: Int) {
                switch consume outcome {
                case .paused(let job): jobs[index].job = consume job
                case .finished(let value):
                    if results[index] != nil { finishedTwice += 1 }
                    results[index] = value
                    // The owner frees the context at once: its cleanup closes the descriptor.
                    jobs[index].context.runCleanups()
                default: break
                }
            }

            for index in 0..<jobCount {
                let stress = StressJob()
                let useCallback = Bool.random(using: &generator)
                if useCallback { stress.context.callback = { inbox.post(index) } }
                jobs.append(stress)
                let plan = (0..<operationsPerJob).map { _ in
                    (worker: Int.random(in: 0..<4, using: &generator), delay: Int.random(in: 0..<200, using: &generator))
                }
                let outcome = try AsyncJob.start(waitContext: stress.context) { () -> Int in
                    var total = 0
                    for (step, operation) in plan.enumerated() {
                        total += offload(index + step, worker: operation.worker, delay: operation.delay, workers: workers, key: key, ledger: ledger)
                    }
                    return total
                }
                handle(outcome, index)
            }

            while jobs.contains(where: { $0.job != nil }) {
                // Descriptor jobs: poll their contexts' descriptors (a zero timeout, then the
                // callback inbox's descriptor too, so neither path starves).
                var descriptors: [pollfd] = [pollfd(fd: inbox.wakeup.rawValue, events: Int16(POLLIN), revents: 0)]
                var owners: [Int] = [-1]
                for (index, stress) in jobs.enumerated() where stress.job != nil && stress.context.callback == nil {
                    for fd in stress.context.allWaitFDs {
                        descriptors.append(pollfd(fd: fd.rawValue, events: Int16(POLLIN), revents: 0))
                        owners.append(index)
                    }
                }
                _ = poll(&descriptors, nfds_t(descriptors.count), 100)
                var ready = Set<Int>()
                for (position, descriptor) in descriptors.enumerated() where descriptor.revents & Int16(POLLIN) != 0 {
                    if owners[position] >= 0 { ready.insert(owners[position]) }
                }
                if descriptors[0].revents & Int16(POLLIN) != 0 { ready.formUnion(inbox.take()) }
                // Spurious resumes are harmless: also resume one random paused job now and then.
                if Int.random(in: 0..<10, using: &generator) == 0, let any = jobs.indices.randomElement(using: &generator) {
                    ready.insert(any)
                }
                for index in ready.sorted() {
                    guard let job = jobs[index].job.take() else { continue }
                    handle(job.resume(), index)
                }
            }
            workers.drain()
            #expect(finishedTwice == 0)
            #expect(results.count == jobCount)
            let wrong = (0..<jobCount).filter { index in
                results[index] != (0..<operationsPerJob).reduce(0) { $0 + (index + $1) * 2 }
            }
            #expect(wrong.isEmpty)
            jobs.removeAll()
            _ = close(inbox.wakeup.rawValue)
        }
        // Every descriptor an engine opened was closed by its context's cleanup.
        #expect(ledger.opened.load(ordering: .relaxed) > 0)
        #expect(ledger.opened.load(ordering: .relaxed) == ledger.closed.load(ordering: .relaxed))
    }

}
