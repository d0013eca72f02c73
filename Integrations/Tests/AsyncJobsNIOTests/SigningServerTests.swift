// SPDX-License-Identifier: Apache-2.0
// The example server driven by a real HTTP/1.1 client over loopback (a NIO client bootstrap):
// every signature verifies with the server's public key, and the event loop keeps answering
// `/ping` while signatures are held in flight.
import AsyncJobs
import AsyncJobsNIO
import Crypto
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSigningServer
import Synchronization
import Testing

@Suite struct SigningServerTests {
    @Test(arguments: [EventLoopJobRunner.Notification.callback, .waitFD])
    func everySignatureOfManyConcurrentRequestsVerifies(notification: EventLoopJobRunner.Notification) async throws {
        let server = try await SigningServer.start(.init(workers: 2, execution: .job(notification)))
        let client = HTTPTestClient(port: server.port)
        let publicKey = try await client.publicKey()
        #expect(publicKey.rawRepresentation == server.publicKey.rawRepresentation)
        let requests = 300
        let concurrency = 30
        var verified = 0
        try await withThrowingTaskGroup(of: (String, String).self) { group in
            for batch in 0..<(requests / concurrency) {
                for index in 0..<concurrency {
                    let message = "message \(batch * concurrency + index)"
                    group.addTask { (message, try await client.body(of: .POST, "/sign", body: message)) }
                }
                for try await (message, signatureHex) in group {
                    let signature = try P256.Signing.ECDSASignature(rawRepresentation: try #require(Hex.decode(signatureHex)))
                    #expect(publicKey.isValidSignature(signature, for: Array(message.utf8)))
                    verified += 1
                }
            }
        }
        #expect(verified == requests)
        #expect(server.signaturesServed == requests)
        try await server.stop()
        try await client.shutdown()
    }

    @Test(arguments: [EventLoopJobRunner.Notification.callback, .waitFD])
    func theLoopAnswersPingsWhileSignaturesAreInFlight(notification: EventLoopJobRunner.Notification) async throws {
        let gate = Gate()
        let server = try await SigningServer.start(
            .init(workers: 2, execution: .job(notification), beforeSigning: { gate.waitUntilOpen() }))
        let client = HTTPTestClient(port: server.port)
        let publicKey = try await client.publicKey()
        let inFlight = 40
        try await withThrowingTaskGroup(of: (String, String).self) { group in
            for index in 0..<inFlight {
                let message = "held \(index)"
                group.addTask { (message, try await client.body(of: .POST, "/sign", body: message)) }
            }
            // Every signing job has started and paused in the engine (the workers wait at the gate).
            while server.signaturesInFlight < inFlight { try await Task.sleep(for: .milliseconds(2)) }
            for _ in 0..<20 {
                #expect(try await client.body(of: .GET, "/ping") == "pong")
            }
            #expect(server.signaturesInFlight == inFlight)
            #expect(server.signaturesServed == 0)
            gate.open()
            var verified = 0
            for try await (message, signatureHex) in group {
                let signature = try P256.Signing.ECDSASignature(rawRepresentation: try #require(Hex.decode(signatureHex)))
                #expect(publicKey.isValidSignature(signature, for: Array(message.utf8)))
                verified += 1
            }
            #expect(verified == inFlight)
        }
        try await server.stop()
        try await client.shutdown()
    }

    @Test func theListeningChannelAcceptsABurstOfConnectionsPerRead() async throws {
        let server = try await SigningServer.start()
        #expect(SigningServer.acceptsPerRead >= 256)
        #expect(try await server.listeningChannelAcceptsPerRead() == SigningServer.acceptsPerRead)
        try await server.stop()
    }

    /// Answers on one keep-alive connection, of different lengths and statuses in turn: each
    /// carries its own content-length and keeps the connection open (the handler reuses a
    /// connection's headers while the length stays the same).
    @Test(arguments: [SigningServer.Execution.job(.callback), .threadPool])
    func answersOnOneKeepAliveConnectionCarryTheirOwnLength(execution: SigningServer.Execution) async throws {
        let server = try await SigningServer.start(.init(workers: 2, execution: execution))
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: server.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
                }
            }
        let exchanges: [(HTTPMethod, String, String?, HTTPResponseStatus)] = [
            (.GET, "/ping", nil, .ok), (.POST, "/sign", "first", .ok), (.GET, "/mode", nil, .ok),
            (.POST, "/sign", "second", .ok), (.GET, "/nothing-here", nil, .notFound), (.POST, "/sign", "third", .ok),
            (.GET, "/public-key", nil, .ok), (.GET, "/ping", nil, .ok),
        ]
        try await channel.executeThenClose { inbound, outbound in
            var responses = inbound.makeAsyncIterator()
            for (method, path, body, expectedStatus) in exchanges {
                var head = HTTPRequestHead(version: .http1_1, method: method, uri: path)
                head.headers.add(name: "host", value: "127.0.0.1:\(server.port)")
                head.headers.add(name: "content-length", value: "\(body?.utf8.count ?? 0)")
                var parts: [HTTPClientRequestPart] = [.head(head)]
                if let body { parts.append(.body(.byteBuffer(ByteBuffer(string: body)))) }
                parts.append(.end(nil))
                try await outbound.write(contentsOf: parts)
                guard case .head(let response) = try await responses.next() else {
                    Issue.record("\(method) \(path): no response head")
                    return
                }
                var text = ""
                while case .body(let buffer) = try await responses.next() { text += String(buffer: buffer) }
                #expect(response.status == expectedStatus, "\(method) \(path)")
                #expect(response.headers["content-length"] == ["\(text.utf8.count)"], "\(method) \(path)")
                #expect(response.headers["connection"] == ["keep-alive"], "\(method) \(path)")
                if let body {
                    #expect(SignatureCheck.isValidP256(text, message: Array(body.utf8), publicKey: server.publicKey))
                }
            }
        }
        #expect(server.signaturesServed == 3)
        try await server.stop()
    }

    @Test func hexIntoABufferMatchesHexAsText() {
        let bytes = (0...255).map { UInt8($0) }
        let buffer = Hex.encode(bytes, allocator: ByteBufferAllocator())
        #expect(String(buffer: buffer) == Hex.encode(bytes))
        #expect(Hex.decode(String(buffer: buffer)) == bytes)
        #expect(Hex.encode([], allocator: ByteBufferAllocator()).readableBytes == 0)
    }

    /// Each tag starts from a copy of the HMAC that absorbed the key: tags of different messages
    /// in turn, and concurrently from several threads, are each the message's own.
    @Test func everyDeviceTagIsItsOwnMessagesHMAC() async throws {
        let key = (0..<32).map { UInt8($0 * 7 & 0xFF) }
        let device = try DeviceSigner(latency: .microseconds(20), slots: 8, key: key)
        func expected(_ message: [UInt8]) -> [UInt8] {
            Array(HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: key)))
        }
        for message in [[UInt8](), Array("a".utf8), Array("b".utf8), Array("a".utf8), [UInt8](repeating: 9, count: 200)] {
            #expect(try device.tag(for: message) == expected(message))
        }
        try await withThrowingTaskGroup(of: Bool.self) { group in
            for index in 0..<16 {
                group.addTask {
                    let message = Array("message \(index)".utf8)
                    return try device.tag(for: message) == expected(message)
                }
            }
            for try await matches in group { #expect(matches) }
        }
        device.shutdown()
    }

    @Test func unknownPathsAreNotFound() async throws {
        let server = try await SigningServer.start()
        let client = HTTPTestClient(port: server.port)
        let (status, _) = try await client.request(.GET, "/nothing-here")
        #expect(status == .notFound)
        try await server.stop()
        try await client.shutdown()
    }
}

/// A door that worker threads wait at until the test opens it.
final class Gate: Sendable {
    private let isOpen = Atomic(false)
    func open() { isOpen.store(true, ordering: .releasing) }
    func waitUntilOpen() {
        while !isOpen.load(ordering: .acquiring) { usleep(200) }
    }
}

/// An HTTP/1.1 client on its own event loop: one connection per request (`connection: close`).
struct HTTPTestClient: Sendable {
    let port: Int
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)

    struct BadResponse: Error {
        let status: HTTPResponseStatus
        let body: String
    }

    func request(_ method: HTTPMethod, _ path: String, body: String? = nil) async throws -> (HTTPResponseStatus, String) {
        let channel = try await ClientBootstrap(group: group).connect(host: "127.0.0.1", port: port) { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHTTPClientHandlers()
                return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
            }
        }
        return try await channel.executeThenClose { inbound, outbound in
            var head = HTTPRequestHead(version: .http1_1, method: method, uri: path)
            head.headers.add(name: "host", value: "127.0.0.1:\(port)")
            head.headers.add(name: "connection", value: "close")
            head.headers.add(name: "content-length", value: "\(body?.utf8.count ?? 0)")
            // All parts in one write: the server may answer and close as soon as it has the
            // request, and a later write of an empty `.end` would then fail.
            var parts: [HTTPClientRequestPart] = [.head(head)]
            if let body { parts.append(.body(.byteBuffer(ByteBuffer(string: body)))) }
            parts.append(.end(nil))
            try await outbound.write(contentsOf: parts)
            var status = HTTPResponseStatus.ok
            var text = ""
            for try await part in inbound {
                switch part {
                case .head(let head): status = head.status
                case .body(let buffer): text += String(buffer: buffer)
                case .end: return (status, text)
                }
            }
            throw BadResponse(status: status, body: "connection closed before the response ended: \(text)")
        }
    }

    func body(of method: HTTPMethod, _ path: String, body: String? = nil) async throws -> String {
        let (status, text) = try await request(method, path, body: body)
        guard status == .ok else { throw BadResponse(status: status, body: text) }
        return text
    }

    func publicKey() async throws -> P256.Signing.PublicKey {
        let hex = try await body(of: .GET, "/public-key")
        return try P256.Signing.PublicKey(rawRepresentation: try #require(Hex.decode(hex)))
    }

    func shutdown() async throws {
        try await group.shutdownGracefully()
    }
}
