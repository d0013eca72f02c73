// SPDX-License-Identifier: Apache-2.0
// An HTTP/1.1 server on one SwiftNIO event loop that signs messages with P-256. Each signature
// is computed inside a job started on the event loop, which offloads the signing to an
// OffloadEngine's worker threads and pauses meanwhile: the loop goes on serving every other
// request (including the cheap `/ping`) while signatures are in flight.
//
// Routes: `POST /sign` (body: the message) -> hex of the raw 64-byte ECDSA signature;
// `GET /public-key` -> hex of the raw 64-byte public key; `GET /ping` -> `pong`.
import AsyncJobs
import AsyncJobsLoop
import AsyncJobsNIO
import Crypto
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// The example signing server.
///
/// - Important: ``start(_:)`` and ``stop()`` may be called from any task.
public final class SigningServer: Sendable {
    /// How the server is set up.
    public struct Configuration: Sendable {
        /// Address to listen on (loopback by default).
        public var host: String
        /// Port to listen on; 0 picks a free one (see ``SigningServer/port``).
        public var port: Int
        /// Worker threads that compute the signatures.
        public var workers: Int
        /// How the engine wakes the paused jobs.
        public var notification: EventLoopJobRunner.Notification
        /// Called on a worker thread before each signature (tests hold signatures in flight with it).
        public var beforeSigning: (@Sendable () -> Void)?

        /// A configuration; every argument has a default.
        public init(
            host: String = "127.0.0.1", port: Int = 0, workers: Int = 1,
            notification: EventLoopJobRunner.Notification = .callback, beforeSigning: (@Sendable () -> Void)? = nil
        ) {
            self.host = host
            self.port = port
            self.workers = workers
            self.notification = notification
            self.beforeSigning = beforeSigning
        }
    }

    /// The public half of the signing key, as `GET /public-key` returns it.
    public var publicKey: P256.Signing.PublicKey { service.key.key.publicKey }
    /// The port the server listens on.
    public let port: Int
    let service: SigningService
    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel

    private init(
        port: Int, service: SigningService, group: MultiThreadedEventLoopGroup,
        channel: any Channel
    ) {
        self.port = port
        self.service = service
        self.group = group
        self.channel = channel
    }

    /// Jobs started for signatures and not finished yet.
    public var signaturesInFlight: Int { service.inFlight.load(ordering: .relaxed) }

    /// Signatures answered so far.
    public var signaturesServed: Int { service.served.load(ordering: .relaxed) }

    /// Starts a server with a fresh key, one event loop and its job runner.
    /// - Throws: if the engine, the runner or the listening socket cannot be set up.
    public static func start(_ configuration: Configuration = Configuration()) async throws -> SigningServer {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let key = SigningKey(P256.Signing.PrivateKey())
        do {
            let service = SigningService(
                runner: try EventLoopJobRunner(eventLoop: loop, notification: configuration.notification),
                engine: try OffloadEngine(workers: configuration.workers), key: key,
                beforeSigning: configuration.beforeSigning)
            let channel = try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 512)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                        try channel.pipeline.syncOperations.addHandler(SigningHandler(service: service))
                    }
                }
                .bind(host: configuration.host, port: configuration.port).get()
            return SigningServer(
                port: channel.localAddress?.port ?? configuration.port, service: service,
                group: group, channel: channel)
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
    }

    /// Stops listening, shuts the job runner and the engine down, and stops the event loop.
    public func stop() async throws {
        try? await channel.close()
        try await service.runner.shutdown().get()
        service.engine.shutdown()
        try await group.shutdownGracefully()
    }
}

/// What every connection's handler shares.
final class SigningService: Sendable {
    let runner: EventLoopJobRunner
    let engine: OffloadEngine
    let key: SigningKey
    let beforeSigning: (@Sendable () -> Void)?
    let inFlight = Atomic<Int>(0)
    let served = Atomic<Int>(0)

    init(runner: EventLoopJobRunner, engine: OffloadEngine, key: SigningKey, beforeSigning: (@Sendable () -> Void)?) {
        self.runner = runner
        self.engine = engine
        self.key = key
        self.beforeSigning = beforeSigning
    }

    /// Signs `message` in a job on the event loop; the signing itself runs on a worker.
    func sign(_ message: [UInt8]) -> EventLoopFuture<[UInt8]> {
        runner.submit { [self] in
            inFlight.wrappingAdd(1, ordering: .relaxed)
            defer { inFlight.wrappingSubtract(1, ordering: .relaxed) }
            let signature = try engine.perform { [self] in
                beforeSigning?()
                return Array(try key.key.signature(for: message).rawRepresentation)
            }
            served.wrappingAdd(1, ordering: .relaxed)
            return signature
        }
    }
}

/// A P-256 key shared by the workers that sign with it.
///
/// `@unchecked Sendable`: swift-crypto 3 does not mark the key `Sendable`, but it is an immutable
/// value over a BoringSSL `EC_KEY` that signing only reads, which BoringSSL allows from several
/// threads at once.
final class SigningKey: @unchecked Sendable {
    let key: P256.Signing.PrivateKey
    init(_ key: P256.Signing.PrivateKey) { self.key = key }
}

/// One connection: collects a request, answers it (at once, or when its signature is ready).
final class SigningHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let service: SigningService
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []

    init(service: SigningService) {
        self.service = service
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body = []
        case .body(let buffer):
            body.append(contentsOf: buffer.readableBytesView)
        case .end:
            guard let head else { return }
            self.head = nil
            route(head, context: context)
        }
    }

    private func route(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        switch (head.method, head.uri) {
        case (.GET, "/ping"):
            respond(.ok, "pong", to: head, context: context)
        case (.GET, "/public-key"):
            respond(.ok, Hex.encode(Array(service.key.key.publicKey.rawRepresentation)), to: head, context: context)
        case (.POST, "/sign"):
            service.sign(body).assumeIsolated().whenComplete { result in
                switch result {
                case .success(let signature): self.respond(.ok, Hex.encode(signature), to: head, context: context)
                case .failure(let error): self.respond(.internalServerError, "\(error)", to: head, context: context)
                }
            }
        default:
            respond(.notFound, "not found", to: head, context: context)
        }
    }

    private func respond(_ status: HTTPResponseStatus, _ text: String, to request: HTTPRequestHead, context: ChannelHandlerContext) {
        let keepAlive = request.isKeepAlive
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "text/plain")
        headers.add(name: "content-length", value: "\(text.utf8.count)")
        headers.add(name: "connection", value: keepAlive ? "keep-alive" : "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: text)))), promise: nil)
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        }
    }
}

/// Lower-case hexadecimal, as the server's responses use it.
public enum Hex {
    /// The hex digits of `bytes`.
    public static func encode(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// The bytes of a hex string, or nil if it is not one.
    public static func decode(_ text: String) -> [UInt8]? {
        let characters = Array(text.utf8)
        guard characters.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(characters.count / 2)
        var index = 0
        while index < characters.count {
            guard let high = value(characters[index]), let low = value(characters[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    private static func value(_ character: UInt8) -> UInt8? {
        switch character {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): character - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): character - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): character - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
