// SPDX-License-Identifier: Apache-2.0
// Property test: random sequences of wait-context operations, run inside jobs that pause and are
// resumed, compared step by step with a small reference model of docs/contract.md's rules.
import AsyncJobs
import Foundation
import Synchronization
import SystemPackage
import Testing

/// The reference model: a list of entries with "added" and "deleted" marks.
struct WaitContextModel {
    struct Entry {
        let key: Int
        let fd: Int32
        let data: Int
        /// Whether it was set with a cleanup.
        let cleanup: Bool
        var added: Bool
        var deleted: Bool
    }
    var entries: [Entry] = []

    mutating func set(key: Int, fd: Int32, data: Int, cleanup: Bool = true) {
        entries.append(Entry(key: key, fd: fd, data: data, cleanup: cleanup, added: true, deleted: false))
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
    var cleanups: [String] { entries.reversed().filter { !$0.deleted && $0.cleanup }.map { "\($0.fd)/\($0.data)" } }
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

/// How the model's keys and custom data are made: the context answers one-word keys (and
/// custom data that is a word or nothing) from its lock-free mirror while it holds at most four
/// entries, and everything else under its lock; it keeps up to four entries of plain words
/// (one-word key, word or no custom data, no Swift cleanup) inline, and all of them in an array
/// once one does not fit. The model checks every combination.
enum ModelKeyStyle: CaseIterable, Sendable {
    /// `Key(Int)` and `Int` custom data: always under the lock.
    case value
    /// `Key(UInt)` (a C key) and `UInt` custom data: the mirror.
    case word
    /// `Key(ObjectIdentifier)` (an engine's key) and `UInt` custom data: the mirror.
    case object
    /// `Key(UInt)` and `UInt` custom data without a cleanup: the C library's entries, inline
    /// while there are at most four.
    case inlineWord
    /// Keys 0 and 2 `Key(UInt)`, key 1 `Key(ObjectIdentifier)`, `UInt` custom data, a cleanup
    /// only on key 2: inline C and Swift keys together (the mirror's two groups of slots), until
    /// a key-2 entry or a fifth one moves them all into the array.
    case inlineMixed

    private static let objects = [ModelKeyObject(), ModelKeyObject(), ModelKeyObject()]

    func key(_ key: Int) -> WaitContext.Key {
        switch self {
        case .value: WaitContext.Key(key)
        case .word, .inlineWord: WaitContext.Key(UInt(key))
        case .object: WaitContext.Key(ObjectIdentifier(ModelKeyStyle.objects[key]))
        case .inlineMixed: key == 1 ? WaitContext.Key(ObjectIdentifier(ModelKeyStyle.objects[key])) : WaitContext.Key(UInt(key))
        }
    }

    /// Whether an entry under `key` is set with a cleanup.
    func hasCleanup(_ key: Int) -> Bool {
        switch self {
        case .value, .word, .object: true
        case .inlineWord: false
        case .inlineMixed: key == 2
        }
    }

    func data(_ data: Int) -> any Sendable {
        self == .value ? data : UInt(data)
    }

    func read(_ data: (any Sendable)?) -> Int? {
        self == .value ? data as? Int : (data as? UInt).map { Int($0) }
    }
}

final class ModelKeyObject: Sendable {}

@Suite("Wait context model")
struct WaitContextModelTests {
    @Test(arguments: [1, 2, 3, 4, 5, 6, 7, 8], ModelKeyStyle.allCases)
    func randomOperationSequencesMatchTheModel(seed: UInt64, style: ModelKeyStyle) throws {
        try withFreshPool {
            var generator = SplitMix64(seed: seed)
            for episode in 0..<60 {
                let operations = (0..<80).map { _ in Self.randomOperation(&generator) }
                try checkEpisode(operations, style: style, label: "seed \(seed) \(style) episode \(episode)")
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

    func checkEpisode(_ operations: [ModelOperation], style: ModelKeyStyle, label: String) throws {
        let cleanupLog = FutexMutex<[String]>([])
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
                            model.set(key: key, fd: fd, data: data, cleanup: style.hasCleanup(key))
                            var cleanup: WaitContext.Cleanup? = nil
                            if style.hasCleanup(key) {
                                cleanup = { _, fd, data in
                                    let line = "\(fd.rawValue)/\(style.read(data) ?? -1)"
                                    cleanupLog.withLock { $0.append(line) }
                                }
                            }
                            context.setWaitFD(
                                FileDescriptor(rawValue: fd), forKey: style.key(key), customData: style.data(data),
                                cleanup: cleanup)
                        case .clear(let key):
                            let expected = model.clear(key: key)
                            if context.clearWaitFD(forKey: style.key(key)) != expected { mismatches.append("clear \(key)") }
                        case .get(let key):
                            let actual = context.waitDescriptor(forKey: style.key(key))
                            let expected = model.get(key: key)
                            if actual?.fd.rawValue != expected?.fd || style.read(actual?.customData) != expected?.data {
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
                            _ = AsyncJob.pause()
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

@Suite("Wait context readers without the lock")
struct WaitContextConcurrentReaderTests {
    /// While one thread keeps setting and clearing descriptors (crossing the four entries the
    /// lock-free mirror holds, and resetting the changes as a resume does), readers on another
    /// thread never see a torn or missing entry: the stable descriptor is always found whole, and
    /// every list holds it exactly once.
    @Test func readersNeverSeeATornEntryWhileAWriterChangesTheContext() throws {
        let context = WaitContext()
        let stable = ModelKeyObject()
        let stableKey = WaitContext.Key(ObjectIdentifier(stable))
        context.setWaitFD(FileDescriptor(rawValue: 10), forKey: stableKey, customData: UInt(1010))
        let others = (0..<6).map { WaitContext.Key(UInt(100 + $0)) }
        let stop = Atomic(false)
        let writer = try startThread {
            var round = 0
            while !stop.load(ordering: .relaxed) {
                let count = round % 7
                for (index, key) in others.prefix(count).enumerated() {
                    context.setWaitFD(FileDescriptor(rawValue: Int32(20 + index)), forKey: key, customData: UInt(index))
                }
                for key in others.prefix(count) { context.clearWaitFD(forKey: key) }
                round += 1
            }
        }
        var problems: [String] = []
        for _ in 0..<200_000 {
            let found = context.waitDescriptor(forKey: stableKey)
            if found?.fd.rawValue != 10 || found?.customData as? UInt != 1010 { problems.append("lookup \(String(describing: found))") }
            let all = context.allWaitFDs.map(\.rawValue)
            if all.count(where: { $0 == 10 }) != 1 || all.contains(where: { $0 != 10 && !(20..<26).contains($0) }) {
                problems.append("all \(all)")
            }
            if problems.count > 5 { break }
        }
        stop.store(true, ordering: .relaxed)
        try writer()
        #expect(problems.isEmpty, "\(problems)")
    }
}

/// Runs `body` on a new thread; the returned function waits for it and rethrows.
private func startThread(_ body: @escaping @Sendable () -> Void) throws -> () throws -> Void {
    let done = DispatchSemaphore(value: 0)
    let thread = Thread {
        body()
        done.signal()
    }
    thread.start()
    return { done.wait() }
}
