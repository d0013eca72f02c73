// SPDX-License-Identifier: Apache-2.0
// Soak runs: many paused jobs at once (memory per paused job), and long start/finish and
// pause/resume cycles with wait descriptors (memory and open descriptors must stay flat).
import AsyncJobs
import Foundation
import Glibc
import SystemPackage
import _CToolShims

/// Long-running checks that the library loses nothing over millions of operations.
public enum Soak {
    /// What a soak run measured.
    public struct Report: Sendable {
        /// Lines describing the run, for printing.
        public var lines: [String] = []
        /// Whether every check held.
        public var passed = true
    }

    /// Resident memory of the process, in bytes (from /proc/self/statm).
    public static func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// Open file descriptors of the process.
    public static func openDescriptors() -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? -1
    }

    /// Holds one paused job (an Array cannot hold the noncopyable handle directly).
    final class Holder {
        var job: PausedJob<Int, Never>?
        init(_ job: consuming PausedJob<Int, Never>) { self.job = consume job }
    }

    /// Pauses `count` jobs at the same time on this thread, reports the memory each costs, then
    /// resumes them all and checks that each finished with its own value.
    public static func pausedJobs(count: Int, stackSize: Int = JobPool.defaultStackSize) throws -> Report {
        var report = Report()
        try JobPool.configure(stackSize: stackSize)
        let before = residentBytes()
        var holders: [Holder] = []
        holders.reserveCapacity(count)
        let start = Date()
        for index in 0..<count {
            switch try AsyncJob.start({ () -> Int in
                _ = AsyncJob.pause()
                return index
            }) {
            case .paused(let job): holders.append(Holder(job))
            default: report.passed = false
            }
        }
        let made = Date().timeIntervalSince(start)
        let statistics = JobPool.statistics
        let after = residentBytes()
        let holderBytes = count * (MemoryLayout<Holder>.size + 32)
        let perJob = Double(after - before - holderBytes) / Double(max(count, 1))
        report.lines.append("paused jobs: \(count) at once, \(statistics?.paused ?? 0) reported paused by the pool")
        report.lines.append(String(format: "memory: %.0f MiB resident for them, %.2f KB per paused job (stack %d KiB, handles excluded)", Double(after - before) / 1_048_576, perJob / 1000, stackSize / 1024))
        report.lines.append(String(format: "time: %.2f s to start them (%.2f us each)", made, made * 1e6 / Double(max(count, 1))))
        var sum = 0
        var finished = 0
        for holder in holders {
            guard let job = holder.job.take() else { continue }
            if case .finished(let value) = job.resume() {
                sum &+= value
                finished += 1
            }
        }
        let expected = count * (count - 1) / 2
        report.lines.append("resumed: \(finished) finished, sum of their values \(sum == expected ? "correct" : "WRONG")")
        report.passed = report.passed && finished == count && sum == expected && statistics?.paused == count
        holders.removeAll()
        JobPool.cleanUp()
        return report
    }

    /// Runs `startFinish` pooled start/finish cycles and `pauseResume` pause/resume cycles of a
    /// job waiting on a wait-context descriptor; checks that memory and open descriptors stay
    /// flat after warm-up.
    public static func cycles(startFinish: Int, pauseResume: Int) throws -> Report {
        var report = Report()
        let checkpoints = 10
        // Warm up: make the pool's job, the runtime's metadata.
        for _ in 0..<1000 { _ = try AsyncJob.start { 1 } }
        var memory: [Int] = []
        var descriptors: [Int] = []
        let startFinishStart = Date()
        for checkpoint in 0..<checkpoints {
            for _ in 0..<(startFinish / checkpoints) {
                guard case .finished = try AsyncJob.start({ checkpoint }) else { report.passed = false; break }
            }
            memory.append(residentBytes())
            descriptors.append(openDescriptors())
        }
        let startFinishTime = Date().timeIntervalSince(startFinishStart)
        report.lines.append(String(format: "start/finish: %d cycles in %.2f s", startFinish, startFinishTime))
        report.lines.append("  resident KiB at each tenth: \(memory.map { $0 / 1024 })")
        report.lines.append("  open descriptors at each tenth: \(descriptors)")
        report.passed = report.passed && flat(memory, slack: 512 * 1024) && Set(descriptors).count == 1

        // Pause/resume with a wait descriptor: an engine-style eventfd per context, signalled by
        // the job before it pauses, polled by the loop, drained by the job.
        memory.removeAll()
        descriptors.removeAll()
        let context = WaitContext()
        let key = WaitContext.Key("soak")
        let perCheckpoint = pauseResume / checkpoints
        let pauseStart = Date()
        var total = 0
        var outcome = try AsyncJob.start(waitContext: context) { () -> Int in
            var count = 0
            for _ in 0..<pauseResume {
                let fd: FileDescriptor
                if let existing = context.waitFD(forKey: key) {
                    fd = existing
                } else {
                    fd = FileDescriptor(rawValue: eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC)))
                    context.setWaitFD(fd, forKey: key) { _, fd, _ in _ = close(fd.rawValue) }
                }
                var one: UInt64 = 1
                _ = write(fd.rawValue, &one, 8)
                _ = AsyncJob.pause()
                var value: UInt64 = 0
                _ = read(fd.rawValue, &value, 8)
                count += Int(value)
            }
            return count
        }
        var resumes = 0
        loop: while true {
            switch consume outcome {
            case .paused(let job):
                guard let fd = context.allWaitFDs.first else { report.passed = false; return report }
                var poller = pollfd(fd: fd.rawValue, events: Int16(POLLIN), revents: 0)
                _ = poll(&poller, 1, -1)
                resumes += 1
                if resumes % perCheckpoint == 0 {
                    memory.append(residentBytes())
                    descriptors.append(openDescriptors())
                }
                outcome = job.resume()
            case .finished(let value):
                total = value
                break loop
            default:
                report.passed = false
                break loop
            }
        }
        let pauseTime = Date().timeIntervalSince(pauseStart)
        report.lines.append(String(format: "pause/resume with a wait descriptor: %d cycles in %.2f s, %d signals consumed", resumes, pauseTime, total))
        report.lines.append("  resident KiB at each tenth: \(memory.map { $0 / 1024 })")
        report.lines.append("  open descriptors at each tenth: \(descriptors)")
        report.passed = report.passed && total == pauseResume && resumes == pauseResume
            && flat(memory, slack: 512 * 1024) && Set(descriptors).count == 1
        let descriptorsBefore = openDescriptors()
        context.runCleanups()
        report.lines.append("wait context freed: \(descriptorsBefore - openDescriptors()) descriptor closed by its cleanup")
        JobPool.cleanUp()
        return report
    }

    /// Whether the samples after the first stay within `slack` bytes of the first.
    static func flat(_ samples: [Int], slack: Int) -> Bool {
        guard let first = samples.first else { return true }
        return samples.allSatisfy { abs($0 - first) <= slack }
    }
}
