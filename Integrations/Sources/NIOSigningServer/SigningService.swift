// SPDX-License-Identifier: Apache-2.0
// Runs each request's signature the way the server's execution says, and counts requests.
//
// Invariants: `inFlight` counts requests between `sign` and the completion of their future;
// whatever the execution, the call the work makes is the same synchronous `Signer.sign`.
import AsyncJobs
import AsyncJobsLoop
import AsyncJobsNIO
import NIOCore
import NIOPosix
import Synchronization

/// What every connection's handler shares: the work and the machinery of the execution.
final class SigningService: Sendable {
    private enum Machinery: Sendable {
        /// Jobs on the event loop; with an engine when the work is CPU (run on its workers while
        /// the job is paused), without one when the work's own call pauses the job (the device).
        case jobs(EventLoopJobRunner, OffloadEngine?)
        case threadPool(NIOThreadPool)
        case async
        case inline
    }

    let signer: Signer
    let eventLoop: any EventLoop
    private let machinery: Machinery
    private let beforeSigning: (@Sendable () -> Void)?
    let inFlight = Atomic<Int>(0)
    let served = Atomic<Int>(0)

    /// Sets up what `configuration.execution` needs on `eventLoop`.
    /// - Throws: if the engine, the runner's descriptor watcher or the thread pool cannot be made.
    init(configuration: SigningServer.Configuration, eventLoop: any EventLoop, signer: Signer) throws {
        self.signer = signer
        self.eventLoop = eventLoop
        self.beforeSigning = configuration.beforeSigning
        let workers = max(1, configuration.workers)
        switch configuration.execution {
        case .job(let notification):
            let engine = signer.pausesByItself ? nil : try OffloadEngine(workers: workers)
            do {
                machinery = .jobs(try EventLoopJobRunner(eventLoop: eventLoop, notification: notification), engine)
            } catch {
                engine?.shutdown()
                throw error
            }
        case .threadPool:
            let pool = NIOThreadPool(numberOfThreads: workers)
            pool.start()
            machinery = .threadPool(pool)
        case .async:
            machinery = .async
        case .inline:
            machinery = .inline
        }
    }

    /// Signs `message` the server's way.
    /// - Returns: a future on the event loop with the signature's bytes.
    /// - Important: event loop thread.
    func sign(_ message: [UInt8]) -> EventLoopFuture<[UInt8]> {
        inFlight.wrappingAdd(1, ordering: .relaxed)
        let work: @Sendable () throws -> [UInt8] = { [signer, beforeSigning] in
            beforeSigning?()
            return try signer.sign(message)
        }
        let future: EventLoopFuture<[UInt8]>
        switch machinery {
        case .jobs(let runner, .some(let engine)):
            future = runner.submit { try engine.perform(work) }
        case .jobs(let runner, .none):
            future = runner.submit(work)
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
            if case .success = result { served.wrappingAdd(1, ordering: .relaxed) }
        }
        return future
    }

    /// The async handler: what a server written with Swift concurrency calls for the request,
    /// on the global executor. The work is a synchronous call; it runs on the task's thread.
    private static func handle(_ work: @Sendable () throws -> [UInt8]) async throws -> [UInt8] {
        try work()
    }

    /// Waits (up to `limit`) for the requests in flight to be answered, then shuts the
    /// machinery and the device down. Jobs still paused are cancelled by the runner; work still
    /// queued in the thread pool is failed by it.
    func shutdown(waitingAtMost limit: Duration = .seconds(5)) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: limit)
        while inFlight.load(ordering: .relaxed) > 0 && clock.now < deadline {
            try await Task.sleep(for: .milliseconds(1))
        }
        switch machinery {
        case .jobs(let runner, let engine):
            try await runner.shutdown().get()
            engine?.shutdown()
        case .threadPool(let pool):
            try await pool.shutdownGracefully()
        case .async, .inline:
            break
        }
        signer.shutdown()
    }
}
