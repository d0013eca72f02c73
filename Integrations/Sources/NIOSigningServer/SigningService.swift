// SPDX-License-Identifier: Apache-2.0
// Runs each request's signature the way the server's execution says, and counts requests.
//
// Invariants: `inFlight` counts requests between `sign` and the completion of their future;
// whatever the execution, the call the work makes is the same synchronous `Signer.sign`; a
// request's future completes on its connection's event loop, and in job execution its job runs
// on that loop's thread only (each loop has its own runner: jobs never move between loops).
import AsyncJobs
import AsyncJobsLoop
import AsyncJobsNIO
import NIOCore
import NIOPosix
import Synchronization

/// What every connection's handler shares: the work and the machinery of the execution.
final class SigningService: Sendable {
    /// One event loop's share of the service: its connections' requests go through it.
    final class Lane: Sendable {
        /// The loop whose connections use this lane.
        let eventLoop: any EventLoop
        /// The loop's job runner (job execution only).
        let runner: EventLoopJobRunner?
        /// Signatures answered on this loop's connections.
        let served = Atomic<Int>(0)

        init(eventLoop: any EventLoop, runner: EventLoopJobRunner?) {
            self.eventLoop = eventLoop
            self.runner = runner
        }
    }

    /// What the execution shares between the loops.
    private enum Machinery: Sendable {
        /// Jobs on the event loops (one runner per loop, in the lanes); with an engine shared by
        /// the loops when the work is CPU (run on its workers while the job is paused), without
        /// one when the work's own call pauses the job (the device).
        case jobs(OffloadEngine?)
        /// One pool for every loop; each request's future completes on its connection's loop.
        case threadPool(NIOThreadPool)
        case async
        case inline
    }

    let signer: Signer
    /// One per event loop, in the group's order.
    let lanes: [Lane]
    private let machinery: Machinery
    private let beforeSigning: (@Sendable () -> Void)?
    let inFlight = Atomic<Int>(0)
    let served = Atomic<Int>(0)

    /// Sets up what `configuration.execution` needs for `eventLoops` (a job runner on each in job
    /// execution).
    /// - Throws: if the engine, a runner's descriptor watcher or the thread pool cannot be made.
    init(configuration: SigningServer.Configuration, eventLoops: [any EventLoop], signer: Signer) throws {
        precondition(!eventLoops.isEmpty, "a signing service needs at least one event loop")
        self.signer = signer
        self.beforeSigning = configuration.beforeSigning
        let workers = max(1, configuration.workers)
        switch configuration.execution {
        case .job(let notification):
            let engine = signer.pausesByItself ? nil : try OffloadEngine(workers: workers)
            var lanes: [Lane] = []
            do {
                for loop in eventLoops {
                    let runner = try EventLoopJobRunner(eventLoop: loop, notification: notification)
                    lanes.append(Lane(eventLoop: loop, runner: runner))
                }
            } catch {
                for lane in lanes { _ = lane.runner?.shutdown() }
                engine?.shutdown()
                throw error
            }
            self.lanes = lanes
            machinery = .jobs(engine)
        case .threadPool:
            let pool = NIOThreadPool(numberOfThreads: workers)
            pool.start()
            lanes = eventLoops.map { Lane(eventLoop: $0, runner: nil) }
            machinery = .threadPool(pool)
        case .async:
            lanes = eventLoops.map { Lane(eventLoop: $0, runner: nil) }
            machinery = .async
        case .inline:
            lanes = eventLoops.map { Lane(eventLoop: $0, runner: nil) }
            machinery = .inline
        }
    }

    /// The lane of `eventLoop`, which must be one of the service's loops.
    func lane(for eventLoop: any EventLoop) -> Lane {
        guard let lane = lanes.first(where: { $0.eventLoop === eventLoop }) else {
            preconditionFailure("a channel on an event loop the signing service was not set up for")
        }
        return lane
    }

    /// Signs `message` the server's way, for a connection of `lane`'s loop.
    /// - Returns: a future on `lane`'s event loop with the signature's bytes.
    /// - Important: `lane`'s event loop thread.
    func sign(_ message: [UInt8], lane: Lane) -> EventLoopFuture<[UInt8]> {
        inFlight.wrappingAdd(1, ordering: .relaxed)
        let work: @Sendable () throws -> [UInt8] = { [signer, beforeSigning] in
            beforeSigning?()
            return try signer.sign(message)
        }
        let eventLoop = lane.eventLoop
        let future: EventLoopFuture<[UInt8]>
        switch machinery {
        case .jobs(let engine):
            guard let runner = lane.runner else { preconditionFailure("job execution without a runner for the loop") }
            if let engine {
                future = runner.submit { try engine.perform(work) }
            } else {
                future = runner.submit(work)
            }
        case .threadPool(let pool):
            future = pool.runIfActive(eventLoop: eventLoop, work)
        case .async:
            let promise = eventLoop.makePromise(of: [UInt8].self)
            promise.completeWithTask { try await Self.handle(work) }
            future = promise.futureResult
        case .inline:
            future = eventLoop.makeCompletedFuture(withResultOf: work)
        }
        future.whenComplete { [self] result in
            inFlight.wrappingSubtract(1, ordering: .relaxed)
            if case .success = result {
                served.wrappingAdd(1, ordering: .relaxed)
                lane.served.wrappingAdd(1, ordering: .relaxed)
            }
        }
        return future
    }

    /// The async handler: what a server written with Swift concurrency calls for the request,
    /// on the global executor. The work is a synchronous call; it runs on the task's thread.
    private static func handle(_ work: @Sendable () throws -> [UInt8]) async throws -> [UInt8] {
        try work()
    }

    /// Waits (up to `limit`) for the requests in flight to be answered, then shuts the
    /// machinery and the device down. Jobs still paused are cancelled by their runners; work
    /// still queued in the thread pool is failed by it.
    func shutdown(waitingAtMost limit: Duration = .seconds(5)) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: limit)
        while inFlight.load(ordering: .relaxed) > 0 && clock.now < deadline {
            try await Task.sleep(for: .milliseconds(1))
        }
        switch machinery {
        case .jobs(let engine):
            for lane in lanes {
                try await lane.runner?.shutdown().get()
            }
            engine?.shutdown()
        case .threadPool(let pool):
            try await pool.shutdownGracefully()
        case .async, .inline:
            break
        }
        signer.shutdown()
    }
}
