// SPDX-License-Identifier: Apache-2.0
// An HTTP/1.1 server on SwiftNIO event loops (one by default; a NIO server usually runs one per
// core) that answers `POST /sign` with a signature of the request's body. What it does per
// request (the work) and how the handler runs that call (the execution) are chosen at start, so
// that the same server, wire protocol and work can be measured with each way a NIO user would
// run a slow synchronous call:
// - jobs: inside a job started on the connection's event loop (one job runner per loop: a job
//   starts, pauses and resumes on its connection's loop only); the call pauses the job (an
//   OffloadEngine shared by the loops for the P-256 signature, the device itself for the device
//   work) and the loop serves every other request meanwhile; the engine wakes the job by
//   callback or through an eventfd;
// - threadPool: on one NIOThreadPool shared by the loops, the handler waiting for its future;
// - async: in an `async` function run as a Swift concurrency task (`completeWithTask`, as web
//   frameworks run async routes);
// - inline: on the event loop itself, blocking it for the call's duration.
//
// Routes: `POST /sign` (body: the message) -> hex of the signature (work `.p256`: the raw 64-byte
// ECDSA P-256 signature; work `.device`: the device's 32-byte HMAC-SHA256 tag);
// `GET /public-key` -> hex of the raw 64-byte P-256 public key (work `.p256`); `GET /mode` ->
// the execution and work names (`jobs-callback p256`); `GET /served` -> the signatures answered
// on each event loop's connections so far, in decimal, separated by spaces; `GET /ping` -> `pong`.
import AsyncJobs
import AsyncJobsLoop
import AsyncJobsNIO
import AsyncJobsTesting
import Crypto
import NIOCore
import NIOHTTP1
import NIOPosix

/// The example signing server.
///
/// - Important: ``start(_:)`` and ``stop()`` may be called from any task.
public final class SigningServer: Sendable {
    /// How the handler runs the slow call.
    public enum Execution: Sendable, Hashable, CustomStringConvertible {
        /// Inside a job on the event loop; the call pauses the job, and its engine wakes it this way.
        case job(EventLoopJobRunner.Notification)
        /// On a `NIOThreadPool` of ``Configuration/workers`` threads, through its future.
        case threadPool
        /// In an `async` function run as a task on Swift concurrency's global executor.
        case async
        /// On the event loop, blocking it for the call's duration.
        case inline

        /// Every execution, in the order reports list them.
        public static var all: [Execution] { [.job(.callback), .job(.waitFD), .threadPool, .async, .inline] }

        /// The name the command line and `GET /mode` use: `jobs-callback`, `jobs-fd`,
        /// `threadpool`, `async`, `inline`.
        public var description: String {
            switch self {
            case .job(.callback): "jobs-callback"
            case .job(.waitFD): "jobs-fd"
            case .threadPool: "threadpool"
            case .async: "async"
            case .inline: "inline"
            }
        }

        /// The execution called `name` (see ``description``), or nil.
        public init?(name: String) {
            guard let match = Self.all.first(where: { $0.description == name }) else { return nil }
            self = match
        }
    }

    /// What the server does for each `POST /sign`.
    public enum Work: Sendable, Hashable, CustomStringConvertible {
        /// An ECDSA P-256 signature (swift-crypto): CPU-bound, tens of microseconds.
        case p256
        /// A round trip through a simulated signing device behind a synchronous call
        /// (``DeviceSigner``): `latency` of waiting and almost no CPU, then the device's
        /// HMAC-SHA256 tag. `slots` requests are processed at once; more wait for a slot.
        case device(latency: Duration, slots: Int)

        /// `p256` or `device`.
        public var description: String {
            switch self {
            case .p256: "p256"
            case .device: "device"
            }
        }
    }

    /// How the server is set up.
    public struct Configuration: Sendable {
        /// Address to listen on (loopback by default).
        public var host: String
        /// Port to listen on; 0 picks a free one (see ``SigningServer/port``).
        public var port: Int
        /// Event loops (threads) serving the connections, at least 1; the listening socket hands
        /// accepted connections to them in turn. Every execution runs on each of them the way
        /// ``Execution`` says: a job runner per loop, or one thread pool (or Swift concurrency's
        /// pool) shared by the loops.
        public var eventLoops: Int
        /// Threads that run the call off the event loop: the OffloadEngine's workers in job
        /// execution with work `.p256`, the NIOThreadPool's threads in thread-pool execution.
        /// Unused otherwise (a job waiting for the device needs no thread; async execution runs
        /// on Swift concurrency's own pool).
        public var workers: Int
        /// How the handler runs the call.
        public var execution: Execution
        /// What each signature costs.
        public var work: Work
        /// The device's HMAC key (work `.device`); nil makes a random one.
        public var deviceKey: [UInt8]?
        /// Called before each signature, on whatever thread runs it (tests hold signatures in
        /// flight with it).
        public var beforeSigning: (@Sendable () -> Void)?

        /// A configuration; every argument has a default.
        public init(
            host: String = "127.0.0.1", port: Int = 0, eventLoops: Int = 1, workers: Int = 1,
            execution: Execution = .job(.callback), work: Work = .p256, deviceKey: [UInt8]? = nil,
            beforeSigning: (@Sendable () -> Void)? = nil
        ) {
            self.host = host
            self.port = port
            self.eventLoops = eventLoops
            self.workers = workers
            self.execution = execution
            self.work = work
            self.deviceKey = deviceKey
            self.beforeSigning = beforeSigning
        }
    }

    /// The public half of the P-256 signing key, as `GET /public-key` returns it.
    public var publicKey: P256.Signing.PublicKey { service.signer.publicKey }
    /// The device's HMAC key (work `.device`), for clients that check its tags.
    public var deviceKey: [UInt8]? { service.signer.deviceKey }
    /// The port the server listens on.
    public let port: Int
    /// How the handler runs the call.
    public let execution: Execution
    let service: SigningService
    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel

    private init(
        port: Int, execution: Execution, service: SigningService, group: MultiThreadedEventLoopGroup,
        channel: any Channel
    ) {
        self.port = port
        self.execution = execution
        self.service = service
        self.group = group
        self.channel = channel
    }

    /// Connections the listening channel accepts per readiness of its socket (each accept is a
    /// "read" of that channel; SwiftNIO's default is 4). Clients that connect together (a load
    /// generator, a fleet reconnecting after a restart) would otherwise be accepted 4 per
    /// event-loop tick, between ticks that serve the connections already accepted, so that the
    /// last of 256 waits in the accept queue, its first request with it, for hundreds of
    /// milliseconds (docs/performance.md).
    public static var acceptsPerRead: UInt { 256 }

    /// How many connections the listening channel accepts per readiness of its socket (see
    /// ``acceptsPerRead``), as the channel reports it.
    public func listeningChannelAcceptsPerRead() async throws -> UInt {
        try await channel.getOption(.maxMessagesPerRead).get()
    }

    /// Requests whose signature has been asked for and not answered yet.
    public var signaturesInFlight: Int { service.inFlight.load(ordering: .relaxed) }

    /// Signatures answered so far.
    public var signaturesServed: Int { service.served.load(ordering: .relaxed) }

    /// Signatures answered so far on each event loop's connections, one entry per loop (in the
    /// group's order); they add up to ``signaturesServed``.
    public var signaturesServedPerEventLoop: [Int] { service.lanes.map { $0.served.load(ordering: .relaxed) } }

    /// Starts a server with a fresh P-256 key, ``Configuration/eventLoops`` event loops and what
    /// its execution needs (a job runner per loop and an engine, a thread pool, or nothing).
    /// - Throws: if the engine, a runner, the device or the listening socket cannot be set up.
    /// - Precondition: `configuration.eventLoops` is at least 1.
    public static func start(_ configuration: Configuration = Configuration()) async throws -> SigningServer {
        precondition(configuration.eventLoops >= 1, "a signing server needs at least one event loop (eventLoops >= 1)")
        let group = MultiThreadedEventLoopGroup(numberOfThreads: configuration.eventLoops)
        let service: SigningService
        do {
            let signer = try Signer(work: configuration.work, deviceKey: configuration.deviceKey)
            service = try SigningService(
                configuration: configuration, eventLoops: Array(group.makeIterator()), signer: signer)
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        let mode = "\(configuration.execution) \(configuration.work)"
        do {
            let channel = try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 4096)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .serverChannelOption(.maxMessagesPerRead, value: Self.acceptsPerRead)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let lane = service.lane(for: channel.eventLoop)
                        // No outbound header validation: the handler writes only headers it builds
                        // itself, and the validator would scan them on the event loop per answer.
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                            withErrorHandling: true, withOutboundHeaderValidation: false)
                        try channel.pipeline.syncOperations.addHandler(
                            SigningHandler(service: service, lane: lane, mode: mode))
                    }
                }
                .bind(host: configuration.host, port: configuration.port).get()
            return SigningServer(
                port: channel.localAddress?.port ?? configuration.port, execution: configuration.execution,
                service: service, group: group, channel: channel)
        } catch {
            try? await service.shutdown()
            try? await group.shutdownGracefully()
            throw error
        }
    }

    /// Stops listening, shuts down what the execution uses (the job runners and engine, or the
    /// thread pool) and the device, and stops the event loops.
    public func stop() async throws {
        try? await channel.close()
        try await service.shutdown()
        try await group.shutdownGracefully()
    }
}
