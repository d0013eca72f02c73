// SPDX-License-Identifier: Apache-2.0
// The work of one `POST /sign`, as one synchronous call, whichever thread or job makes it.
import AsyncJobsLoop
import Crypto

/// Signs a message with the server's work: a P-256 signature, or a round trip through the
/// signing device.
final class Signer: Sendable {
    private let key: SigningKey
    private let device: DeviceSigner?

    /// Makes a fresh P-256 key and, for work `.device`, the device (with `deviceKey`, or a random key).
    /// - Throws: ``JobLoopError`` if the device's timer thread cannot be started.
    init(work: SigningServer.Work, deviceKey: [UInt8]?) throws {
        key = SigningKey(P256.Signing.PrivateKey())
        switch work {
        case .p256:
            device = nil
        case .device(let latency, let slots):
            let bytes = deviceKey ?? (0..<32).map { _ in UInt8.random(in: .min ... .max) }
            device = try DeviceSigner(latency: latency, slots: slots, key: bytes)
        }
    }

    /// The public half of the P-256 key.
    var publicKey: P256.Signing.PublicKey { key.key.publicKey }

    /// The device's key (work `.device`).
    var deviceKey: [UInt8]? { device?.keyBytes }

    /// True if the work's call pauses a job by itself (the device's does); false if it is CPU
    /// work that a job hands to an engine's workers.
    var pausesByItself: Bool { device != nil }

    /// The signature of `message`: the raw P-256 signature, or the device's tag.
    func sign(_ message: [UInt8]) throws -> [UInt8] {
        if let device { return try device.tag(for: message) }
        return Array(try key.key.signature(for: message).rawRepresentation)
    }

    /// Shuts the device down (nothing to do for `.p256`).
    func shutdown() {
        device?.shutdown()
    }
}

/// A P-256 key shared by the threads that sign with it.
///
/// `@unchecked Sendable`: swift-crypto 3 does not mark the key `Sendable`, but it is an immutable
/// value over a BoringSSL `EC_KEY` that signing only reads, which BoringSSL allows from several
/// threads at once.
final class SigningKey: @unchecked Sendable {
    let key: P256.Signing.PrivateKey
    init(_ key: P256.Signing.PrivateKey) { self.key = key }
}
