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
