// SPDX-License-Identifier: Apache-2.0
// Every way the example server can run its slow call (jobs with callback or fd notification, a
// NIOThreadPool, an async handler, inline on the event loop), with both works (a P-256 signature,
// the simulated device behind a synchronous call): concurrent requests over loopback all get a
// valid signature of their own message, and nothing fails, on one event loop and on two. The same
// check, under wrk, is `scripts/bench-server --smoke`. Behaviour only: nothing here is timed.
import AsyncJobsNIO
import Crypto
import NIOCore
import NIOHTTP1
import NIOSigningServer
import Testing

@Suite struct ServerModesTests {
    static let works: [SigningServer.Work] = [.p256, .device(latency: .milliseconds(2), slots: 64)]

    @Test(.timeLimit(.minutes(1)), arguments: SigningServer.Execution.all, works)
    func concurrentRequestsAllGetValidSignatures(execution: SigningServer.Execution, work: SigningServer.Work) async throws {
        let server = try await SigningServer.start(.init(workers: 4, execution: execution, work: work))
        try await Self.expectValidSignatures(from: server, execution: execution, work: work, requests: 96)
        #expect(server.signaturesServedPerEventLoop == [96])
        try await server.stop()
    }

    /// With two event loops, the listening socket hands connections to both in turn: each mode
    /// serves correct signatures on both (jobs on each loop's own runner, one thread pool for both),
    /// and stops cleanly.
    @Test(.timeLimit(.minutes(1)), arguments: SigningServer.Execution.all, works)
    func twoEventLoopsServeValidSignaturesOnBothLoops(
        execution: SigningServer.Execution, work: SigningServer.Work
    ) async throws {
        let server = try await SigningServer.start(
            .init(eventLoops: 2, workers: 4, execution: execution, work: work))
        try await Self.expectValidSignatures(from: server, execution: execution, work: work, requests: 96)
        let perLoop = server.signaturesServedPerEventLoop
        #expect(perLoop.count == 2)
        #expect(perLoop.allSatisfy { $0 > 0 }, "connections landed on one loop only: \(perLoop)")
        #expect(perLoop.reduce(0, +) == 96)
        let client = HTTPTestClient(port: server.port)
        #expect(try await client.body(of: .GET, "/served") == perLoop.map(String.init).joined(separator: " "))
        try await client.shutdown()
        try await server.stop()
        #expect(server.signaturesInFlight == 0)
    }

    @Test func aServerWithoutEventLoopsTrapsNamingTheRule() async {
        await #expect(processExitsWith: .failure) {
            _ = try await SigningServer.start(.init(eventLoops: 0))
        }
    }

    /// `requests` concurrent requests (32 at a time, one connection each) to `server`: every
    /// answer is a valid signature of its own message, every one is counted, none is left in flight.
    static func expectValidSignatures(
        from server: SigningServer, execution: SigningServer.Execution, work: SigningServer.Work, requests: Int
    ) async throws {
        let client = HTTPTestClient(port: server.port)
        #expect(try await client.body(of: .GET, "/mode") == "\(execution) \(work)")
        let publicKey = try await client.publicKey()
        let concurrency = 32
        var verified = 0
        try await withThrowingTaskGroup(of: (String, String).self) { group in
            for batch in 0..<(requests / concurrency) {
                for index in 0..<concurrency {
                    let message = "\(execution) \(work) message \(batch * concurrency + index)"
                    group.addTask { (message, try await client.body(of: .POST, "/sign", body: message)) }
                }
                for try await (message, answer) in group {
                    switch work {
                    case .p256:
                        #expect(SignatureCheck.isValidP256(answer, message: Array(message.utf8), publicKey: publicKey))
                    case .device:
                        let key = try #require(server.deviceKey)
                        #expect(SignatureCheck.isValidDeviceTag(answer, message: Array(message.utf8), key: key))
                    }
                    verified += 1
                }
            }
        }
        #expect(verified == requests)
        #expect(server.signaturesServed == requests)
        #expect(server.signaturesInFlight == 0)
        try await client.shutdown()
    }

    @Test func aSignatureOfAnotherMessageOrKeyIsRejected() throws {
        let key = P256.Signing.PrivateKey()
        let signature = Hex.encode(Array(try key.signature(for: Array("one".utf8)).rawRepresentation))
        #expect(SignatureCheck.isValidP256(signature, message: Array("one".utf8), publicKey: key.publicKey))
        #expect(!SignatureCheck.isValidP256(signature, message: Array("two".utf8), publicKey: key.publicKey))
        #expect(!SignatureCheck.isValidP256(signature, message: Array("one".utf8), publicKey: P256.Signing.PrivateKey().publicKey))
        #expect(!SignatureCheck.isValidP256("not hex", message: Array("one".utf8), publicKey: key.publicKey))
        let device = try DeviceSigner(latency: .microseconds(10), slots: 1, key: Array(repeating: 7, count: 32))
        defer { device.shutdown() }
        let tag = Hex.encode(try device.tag(for: Array("one".utf8)))
        #expect(SignatureCheck.isValidDeviceTag(tag, message: Array("one".utf8), key: device.keyBytes))
        #expect(!SignatureCheck.isValidDeviceTag(tag, message: Array("two".utf8), key: device.keyBytes))
        #expect(!SignatureCheck.isValidDeviceTag(tag, message: Array("one".utf8), key: Array(repeating: 8, count: 32)))
    }

    @Test func executionNamesRoundTrip() {
        for execution in SigningServer.Execution.all {
            #expect(SigningServer.Execution(name: execution.description) == execution)
        }
        #expect(SigningServer.Execution(name: "jobs") == nil)
    }
}
