// SPDX-License-Identifier: Apache-2.0
// The operations `asyncjobs speed` measures, and how each variant performs one of them: inline
// on the calling thread, from a job (pausing it), or from a task (awaiting a continuation).
// Every variant does the same operation on inputs of the same size, through an engine of the
// same configuration (each variant makes its own: workload, key, worker pool or device).
import AsyncJobs
import AsyncJobsLoop
import AsyncJobsTesting
import Crypto
import Foundation

/// An operation `asyncjobs speed` can measure.
public enum SpeedOperation: String, CaseIterable, Sendable {
    /// SHA-256 of a 1 KiB block (swift-crypto), on the offload engine's workers.
    case sha256
    /// An ECDSA P-256 signature of a 64-byte message (swift-crypto), on the offload engine's workers.
    case p256Sign = "p256-sign"
    /// One request through the simulated accelerator (no CPU work, a fixed latency).
    case accel

    /// What one operation is, for the report's headings.
    public var summary: String {
        switch self {
        case .sha256: "SHA-256 of 1024-byte blocks on the offload engine's workers"
        case .p256Sign: "ECDSA P-256 signatures of 64-byte messages on the offload engine's workers"
        case .accel: "requests through the simulated accelerator"
        }
    }
}

/// The inputs of one operation (each variant makes its own, alike in size and kind).
struct SpeedWorkload: Sendable {
    let operation: SpeedOperation
    let block: [UInt8]
    let message: [UInt8]
    let key: SigningKey

    init(operation: SpeedOperation) {
        self.operation = operation
        var generator = SplitMix(seed: 0x5eed)
        block = (0..<1024).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
        message = (0..<64).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
        key = SigningKey(P256.Signing.PrivateKey())
    }

    /// Does the CPU work of one operation on the calling thread; returns a byte of the result so
    /// that nothing is optimised away.
    func compute() throws -> UInt8 {
        switch operation {
        case .sha256:
            return SHA256.hash(data: block).withUnsafeBytes { $0[0] }
        case .p256Sign:
            return try key.key.signature(for: message).rawRepresentation.first ?? 0
        case .accel:
            return 0
        }
    }
}

/// The engines one variant drives: a worker pool for the CPU operations, a device for `accel`.
struct SpeedEngines: Sendable {
    let workload: SpeedWorkload
    let engine: OffloadEngine?
    let accelerator: SimulatedAccelerator?

    init(
        workload: SpeedWorkload, workers: Int, workerScheduling: OffloadEngine.WorkerScheduling = .batch,
        latency: Duration, slots: Int
    ) throws {
        self.workload = workload
        if workload.operation == .accel {
            engine = nil
            accelerator = try SimulatedAccelerator(latency: latency, slots: slots)
        } else {
            engine = try OffloadEngine(workers: workers, scheduling: workerScheduling)
            accelerator = nil
        }
    }

    /// One operation on the calling thread (the accelerator blocks it for its latency).
    func performInline() throws -> UInt8 {
        if let accelerator { return try accelerator.perform(1) }
        return try workload.compute()
    }

    /// One operation from inside a job: the job pauses until the engine is done.
    func performInJob() throws -> UInt8 {
        if let accelerator { return try accelerator.perform(1) }
        let workload = self.workload
        return try engine!.perform { try workload.compute() }
    }

    /// One operation from a task: the task suspends until the engine is done.
    func performAsync() async throws -> UInt8 {
        if let accelerator {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                accelerator.submit { continuation.resume() }
            }
            return 1
        }
        let workload = self.workload
        return try await engine!.performAsync { try workload.compute() }
    }

    func shutdown() {
        engine?.shutdown()
        accelerator?.shutdown()
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

/// A small deterministic generator for the input bytes.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
