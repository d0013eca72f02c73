// SPDX-License-Identifier: Apache-2.0
// The released design (ASYNC_WAIT_CTX_new.pod), end to end: an engine that offloads work to a
// worker and announces completion through its wait context, and an application loop that learns
// the descriptors to watch from the context's changed-fd tracking (or is told by the callback)
// and resumes the jobs that can continue.
//
// The transcript is deterministic: the worker is one FIFO queue, so work completes in submission
// order, and the application resumes ready jobs in job order.
import AsyncJobs
import Dispatch
import Glibc
import Synchronization
import SystemPackage
import _CToolShims

/// A toy offloading engine, written the way OpenSSL engines are: it keeps one eventfd per wait
/// context under its own key (closed by a cleanup when the context is freed), or uses the
/// context's callback when the application set one.
final class SummingEngine: Sendable {
    let key = WaitContext.Key("summing-engine")
    private let worker = DispatchQueue(label: "summing-engine.worker")

    /// 1 + 2 + ... + n, computed on the worker while the calling job is paused.
    func sum(upTo n: Int) -> Int {
        guard let context = AsyncJob.currentWaitContext else { return (1...n).reduce(0, +) }
        let done = Atomic(false)
        let result = Atomic(0)
        if context.callback != nil {
            // Callback path: announce that a callback will come, then call it on completion.
            context.status = .ok
            worker.async {
                result.store((1...n).reduce(0, +), ordering: .relaxed)
                done.store(true, ordering: .releasing)
                context.invokeCallback()
            }
        } else {
            let fd = descriptor(in: context)
            worker.async {
                result.store((1...n).reduce(0, +), ordering: .relaxed)
                done.store(true, ordering: .releasing)
                var one: UInt64 = 1
                _ = write(fd.rawValue, &one, 8)
            }
        }
        // Pause at least once, as engines do after submitting; a resume before the work is done
        // is harmless: check and pause again.
        repeat {
            if !AsyncJob.pause() { break }
        } while !done.load(ordering: .acquiring)
        if context.callback == nil, let fd = context.waitFD(forKey: key) {
            // The engine drains its own descriptor.
            var value: UInt64 = 0
            _ = read(fd.rawValue, &value, 8)
        }
        return result.load(ordering: .relaxed)
    }

    /// The context's descriptor of this engine, made on first use.
    private func descriptor(in context: WaitContext) -> FileDescriptor {
        if let fd = context.waitFD(forKey: key) { return fd }
        let fd = FileDescriptor(rawValue: eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC)))
        context.setWaitFD(fd, forKey: key) { _, fd, _ in
            _ = close(fd.rawValue)
            SummingEngine.closedDescriptors.add(1, ordering: .relaxed)
        }
        return fd
    }

    /// How many descriptors the engine's cleanup closed (for the example's last line).
    static let closedDescriptors = Atomic(0)
}

/// The released design's example: `asyncjobs example --wait-ctx`.
public enum WaitContextExample {
    /// Runs the example, sending each line of output to `output`.
    /// - Returns: the process exit status (0 on success).
    @discardableResult
    public static func run(output: @escaping @Sendable (String) -> Void) -> Int32 {
        let engine = SummingEngine()
        let inputs = [100, 1000, 10_000]
        do {
            output("Released design, notification through file descriptors")
            SummingEngine.closedDescriptors.store(0, ordering: .relaxed)
            do {
                let contexts = inputs.map { _ in WaitContext() }
                // The application's watch list, per job slot, kept up to date from the changes.
                var watched: [Int: [FileDescriptor]] = [:]
                for batch in 1...2 {
                    try runDescriptorBatch(
                        batch, engine: engine, contexts: contexts, inputs: inputs, watched: &watched, output: output)
                }
            }
            output("freed 3 wait contexts; the engine's cleanup closed \(SummingEngine.closedDescriptors.load(ordering: .relaxed)) descriptors")
            output("Released design, notification through a callback")
            try runCallbackBatch(engine: engine, inputs: inputs, output: output)
        } catch {
            output("An error occurred: \(error)")
            JobPool.cleanUp()
            return 1
        }
        output("Finishing")
        JobPool.cleanUp()
        return 0
    }

    /// Starts one job per context; watches the descriptors the contexts report; resumes the
    /// jobs whose descriptor is readable.
    private static func runDescriptorBatch(
        _ batch: Int, engine: SummingEngine, contexts: [WaitContext], inputs: [Int],
        watched: inout [Int: [FileDescriptor]], output: @escaping @Sendable (String) -> Void
    ) throws {
        let jobs: [PausedJobSlot] = contexts.map { _ in PausedJobSlot() }
        for (index, context) in contexts.enumerated() {
            let n = inputs[index]
            let outcome = try AsyncJob.start(waitContext: context) { engine.sum(upTo: n) }
            handle(outcome, job: index, batch: batch, into: jobs, output: output)
            // Learn what to watch from the changes; a reused descriptor is not reported again.
            let changes = context.changedWaitFDs
            let total = context.allWaitFDs.count
            output("batch \(batch): job \(index + 1) paused; its context added \(changes.added.count) and removed \(changes.removed.count) descriptors (\(total) in all)")
            watched[index, default: []].append(contentsOf: changes.added)
            watched[index, default: []].removeAll { changes.removed.contains($0) }
        }
        while jobs.contains(where: { $0.job != nil }) {
            let ready = waitForReadable(watched.filter { jobs[$0.key].job != nil })
            for index in ready.sorted() {
                guard let job = jobs[index].job.take() else { continue }
                handle(job.resume(), job: index, batch: batch, into: jobs, output: output)
            }
        }
    }

    /// Callback mode: the callback (called on the engine's worker) queues the job's number and
    /// wakes the application through one eventfd.
    private static func runCallbackBatch(
        engine: SummingEngine, inputs: [Int], output: @escaping @Sendable (String) -> Void
    ) throws {
        let wakeup = FileDescriptor(rawValue: eventfd(0, Int32(EFD_CLOEXEC)))
        defer { _ = close(wakeup.rawValue) }
        let readyQueue = Mutex<[Int]>([])
        let jobs: [PausedJobSlot] = inputs.map { _ in PausedJobSlot() }
        var contexts: [WaitContext] = []
        for (index, n) in inputs.enumerated() {
            let context = WaitContext()
            context.callback = {
                readyQueue.withLock { $0.append(index) }
                var one: UInt64 = 1
                _ = write(wakeup.rawValue, &one, 8)
            }
            contexts.append(context)
            let outcome = try AsyncJob.start(waitContext: context) { engine.sum(upTo: n) }
            handle(outcome, job: index, batch: 1, into: jobs, output: output)
            output("callback: job \(index + 1) paused; engine status \(context.status == .ok ? "ok" : "not ok"), \(context.allWaitFDs.count) descriptors")
        }
        while jobs.contains(where: { $0.job != nil }) {
            var count: UInt64 = 0
            _ = read(wakeup.rawValue, &count, 8)
            for index in readyQueue.withLock({ queue in defer { queue.removeAll() }; return queue }) {
                guard let job = jobs[index].job.take() else { continue }
                output("callback: fired for job \(index + 1)")
                handle(job.resume(), job: index, batch: 1, into: jobs, output: output)
            }
        }
    }

    private static func handle(
        _ outcome: consuming JobOutcome<Int, Never>, job index: Int, batch: Int, into jobs: [PausedJobSlot],
        output: @Sendable (String) -> Void
    ) {
        switch consume outcome {
        case .paused(let job):
            jobs[index].job = consume job
        case .finished(let value):
            output("batch \(batch): job \(index + 1) finished with \(value)")
        case .noJobsAvailable:
            output("batch \(batch): job \(index + 1) found no job available")
        }
    }

    /// Blocks until at least one watched descriptor is readable; returns the jobs that are.
    private static func waitForReadable(_ watched: [Int: [FileDescriptor]]) -> Set<Int> {
        var descriptors: [pollfd] = []
        var owners: [Int] = []
        for (job, fds) in watched {
            for fd in fds {
                descriptors.append(pollfd(fd: fd.rawValue, events: Int16(POLLIN), revents: 0))
                owners.append(job)
            }
        }
        while poll(&descriptors, nfds_t(descriptors.count), -1) < 0 && errno == EINTR {}
        return Set(descriptors.indices.filter { descriptors[$0].revents & Int16(POLLIN) != 0 }.map { owners[$0] })
    }

    /// The expected output.
    public static let transcript = [
        "Released design, notification through file descriptors",
        "batch 1: job 1 paused; its context added 1 and removed 0 descriptors (1 in all)",
        "batch 1: job 2 paused; its context added 1 and removed 0 descriptors (1 in all)",
        "batch 1: job 3 paused; its context added 1 and removed 0 descriptors (1 in all)",
        "batch 1: job 1 finished with 5050",
        "batch 1: job 2 finished with 500500",
        "batch 1: job 3 finished with 50005000",
        "batch 2: job 1 paused; its context added 0 and removed 0 descriptors (1 in all)",
        "batch 2: job 2 paused; its context added 0 and removed 0 descriptors (1 in all)",
        "batch 2: job 3 paused; its context added 0 and removed 0 descriptors (1 in all)",
        "batch 2: job 1 finished with 5050",
        "batch 2: job 2 finished with 500500",
        "batch 2: job 3 finished with 50005000",
        "freed 3 wait contexts; the engine's cleanup closed 3 descriptors",
        "Released design, notification through a callback",
        "callback: job 1 paused; engine status ok, 0 descriptors",
        "callback: job 2 paused; engine status ok, 0 descriptors",
        "callback: job 3 paused; engine status ok, 0 descriptors",
        "callback: fired for job 1",
        "batch 1: job 1 finished with 5050",
        "callback: fired for job 2",
        "batch 1: job 2 finished with 500500",
        "callback: fired for job 3",
        "batch 1: job 3 finished with 50005000",
        "Finishing",
    ]
}

/// Holds one paused job (an Array cannot hold the noncopyable handle directly).
final class PausedJobSlot {
    var job: PausedJob<Int, Never>?
}
