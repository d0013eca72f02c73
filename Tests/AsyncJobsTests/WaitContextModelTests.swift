// SPDX-License-Identifier: Apache-2.0
// Property test: random sequences of wait-context operations, run inside jobs that pause and are
// resumed, compared step by step with a small reference model of docs/contract.md's rules.
import AsyncJobs
import Synchronization
import SystemPackage
import Testing

/// The reference model: a list of entries with "added" and "deleted" marks.
struct WaitContextModel {
    struct Entry {
        let key: Int
        let fd: Int32
        let data: Int
        var added: Bool
        var deleted: Bool
    }
    var entries: [Entry] = []

    mutating func set(key: Int, fd: Int32, data: Int) {
        entries.append(Entry(key: key, fd: fd, data: data, added: true, deleted: false))
    }
    func get(key: Int) -> (fd: Int32, data: Int)? {
        entries.last { !$0.deleted && $0.key == key }.map { ($0.fd, $0.data) }
    }
    var all: [Int32] { entries.reversed().filter { !$0.deleted }.map(\.fd) }
    var changes: (added: [Int32], removed: [Int32]) {
        (entries.reversed().filter { $0.added && !$0.deleted }.map(\.fd),
         entries.reversed().filter { $0.deleted && !$0.added }.map(\.fd))
    }
    mutating func clear(key: Int) -> Bool {
        guard let index = entries.lastIndex(where: { !$0.deleted && $0.key == key }) else { return false }
        if entries[index].added { entries.remove(at: index) } else { entries[index].deleted = true }
        return true
    }
    /// What a resume does.
    mutating func reset() {
        entries.removeAll { $0.deleted }
        for index in entries.indices { entries[index].added = false }
    }
    /// Cleanup calls of a free, newest first: "fd/data".
    var cleanups: [String] { entries.reversed().filter { !$0.deleted }.map { "\($0.fd)/\($0.data)" } }
}

enum ModelOperation {
    case set(key: Int, fd: Int32, data: Int)
    case clear(key: Int)
    case get(key: Int)
    case getAll
    case getChanged
    case pauseAndResume
    case finishAndStartAnotherJob
}

@Suite("Wait context model")
struct WaitContextModelTests {
    @Test(arguments: [1, 2, 3, 4, 5, 6, 7, 8])
    func randomOperationSequencesMatchTheModel(seed: UInt64) throws {
        try withFreshPool {
            var generator = SplitMix64(seed: seed)
            for episode in 0..<60 {
                let operations = (0..<80).map { _ in Self.randomOperation(&generator) }
                try checkEpisode(operations, label: "seed \(seed) episode \(episode)")
            }
        }
    }

    static func randomOperation(_ generator: inout SplitMix64) -> ModelOperation {
        let key = Int.random(in: 0..<3, using: &generator)
        switch Int.random(in: 0..<100, using: &generator) {
        case 0..<30: return .set(key: key, fd: Int32.random(in: 3..<1000, using: &generator), data: Int.random(in: 0..<100, using: &generator))
        case 30..<50: return .clear(key: key)
        case 50..<60: return .get(key: key)
        case 60..<67: return .getAll
        case 67..<75: return .getChanged
        case 75..<95: return .pauseAndResume
        default: return .finishAndStartAnotherJob
        }
    }

    func checkEpisode(_ operations: [ModelOperation], label: String) throws {
        let cleanupLog = PosixMutex<[String]>([])
        var model = WaitContextModel()
        var mismatches: [String] = []
        do {
            let context = WaitContext()
            var remaining = operations[...]
            while !remaining.isEmpty {
                // One job runs operations until it finishes (or the operations run out).
                var outcome = try AsyncJob.start(waitContext: context) { () -> Void in
                    while let operation = remaining.popFirst() {
                        switch operation {
                        case .set(let key, let fd, let data):
                            model.set(key: key, fd: fd, data: data)
                            context.setWaitFD(FileDescriptor(rawValue: fd), forKey: .init(key), customData: data) { _, fd, data in
                                cleanupLog.withLock { $0.append("\(fd.rawValue)/\(data as? Int ?? -1)") }
                            }
                        case .clear(let key):
                            let expected = model.clear(key: key)
                            if context.clearWaitFD(forKey: .init(key)) != expected { mismatches.append("clear \(key)") }
                        case .get(let key):
                            let actual = context.waitDescriptor(forKey: .init(key))
                            let expected = model.get(key: key)
                            if actual?.fd.rawValue != expected?.fd || actual?.customData as? Int != expected?.data {
                                mismatches.append("get \(key)")
                            }
                        case .getAll:
                            if context.allWaitFDs.map(\.rawValue) != model.all { mismatches.append("all") }
                        case .getChanged:
                            let changes = context.changedWaitFDs
                            let expected = model.changes
                            if changes.added.map(\.rawValue) != expected.added || changes.removed.map(\.rawValue) != expected.removed {
                                mismatches.append("changed")
                            }
                        case .pauseAndResume:
                            AsyncJob.pause()
                            model.reset()
                        case .finishAndStartAnotherJob:
                            return
                        }
                    }
                }
                while case .paused(let job) = consume outcome {
                    // The application's view between segments.
                    if context.allWaitFDs.map(\.rawValue) != model.all { mismatches.append("all while paused") }
                    let changes = context.changedWaitFDs
                    if changes.added.map(\.rawValue) != model.changes.added { mismatches.append("added while paused") }
                    outcome = job.resume()
                }
            }
        }
        #expect(mismatches.isEmpty, "\(label): \(mismatches)")
        #expect(cleanupLog.withLock { $0 } == model.cleanups, "\(label): cleanup calls")
    }
}
