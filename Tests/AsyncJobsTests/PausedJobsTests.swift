// SPDX-License-Identifier: Apache-2.0
// The paused jobs a pool reports: where each is suspended, how deep its stack went, and, when
// the pool records pauses, how often and for how long it paused.
import AsyncJobs
import Glibc
import Synchronization
import Testing

/// Writes down what a pool tells its observer.
final class EventLog: JobPoolObserver {
    let events = Mutex<[String]>([])
    func jobWillPause() { events.withLock { $0.append("pause") } }
    func jobResumed(after pausedFor: Duration) {
        events.withLock { $0.append(pausedFor >= .zero ? "resume" : "resume before pause") }
    }
    func jobEnded(cancelled: Bool) { events.withLock { $0.append(cancelled ? "cancelled" : "finished") } }
    func startFoundNoJob() { events.withLock { $0.append("no job") } }
}

/// Whether this build switches with ucontext (`ASYNCJOBS_UCONTEXT=1` at build and run time).
let usesUcontextSwitch = getenv("ASYNCJOBS_UCONTEXT").map { String(cString: $0) == "1" } ?? false

/// Pauses from a frame of its own, so that the backtrace has a function to find.
@inline(never)
func pauseInsideNamedFunction(times: Int) -> Int {
    var resumed = 0
    for _ in 0..<times where AsyncJob.pause() { resumed += 1 }
    return resumed
}

/// Uses about `depth` KiB of stack, then pauses at the bottom.
@inline(never)
func pauseAfterUsingStack(kibibytes depth: Int) -> Int {
    var block = (0 as UInt64, 0 as UInt64, 0 as UInt64, 0 as UInt64, 0 as UInt64, 0 as UInt64, 0 as UInt64, 0 as UInt64)
    block.0 = UInt64(depth)
    var bytes = [UInt8](repeating: 0, count: 0)
    // 1 KiB a frame, on the stack: a tuple the optimizer cannot drop (it is passed down).
    var frame = (block, block, block, block, block, block, block, block, block, block, block, block, block, block, block, block)
    withUnsafeMutableBytes(of: &frame) { $0[0] = UInt8(truncatingIfNeeded: depth) }
    bytes.append(0)
    if depth <= 1 { return pauseInsideNamedFunction(times: 1) + Int(frame.0.0 & 0) + bytes.count - 1 }
    return pauseAfterUsingStack(kibibytes: depth - 1) + Int(frame.15.0 & 0)
}

@Suite("Paused jobs")
struct PausedJobsTests {
    @Test func eachPausedJobIsListedWithWhereItIsSuspended() throws {
        try withFreshPool {
            guard case .paused(let job) = try AsyncJob.start({ pauseInsideNamedFunction(times: 1) }) else {
                Issue.record("expected a pause")
                return
            }
            let reports = JobPool.pausedJobs()
            #expect(reports.count == 1)
            let report = try #require(reports.first)
            #expect(report.stackSize == JobPool.defaultStackSize)
            #expect(report.hasGuardPage)
            #expect(report.pauseCount == nil, "nothing is recorded unless the pool records pauses")
            #expect(report.pausedFor == nil)
            let symbols = report.backtrace.compactMap(\.symbol)
            if usesUcontextSwitch {
                // The portable switch saves no frame layout to walk.
                #expect(report.backtrace.isEmpty)
            } else {
                #expect(symbols.contains { $0.contains("pauseInsideNamedFunction") }, "\(report)")
                // The walk goes on past it, up to the job's entry in the library.
                #expect(symbols.contains { $0.contains("runBody") }, "\(report)")
                #expect(JobPool.pausedJobs(symbolicated: false).first?.backtrace.allSatisfy { $0.symbol == nil } == true)
                #expect(JobPool.pausedJobs(maximumFrames: 1).first?.backtrace.count == 1)
            }
            guard case .finished(let value) = job.resume() else {
                Issue.record("expected the end")
                return
            }
            #expect(value == 1)
            #expect(JobPool.pausedJobs().isEmpty)
        }
    }

    @Test func theHighWaterMarkFollowsTheDeepestUseOfTheStack() throws {
        try withFreshPool(stackSize: 256 * 1024) {
            guard case .paused(let shallow) = try AsyncJob.start({ pauseInsideNamedFunction(times: 1) }),
                case .paused(let deep) = try AsyncJob.start({ pauseAfterUsingStack(kibibytes: 96) })
            else {
                Issue.record("expected two pauses")
                return
            }
            let reports = JobPool.pausedJobs(symbolicated: false)
            #expect(reports.count == 2)
            let marks = reports.compactMap(\.stackHighWater).sorted()
            #expect(marks.count == 2)
            // At least the top page; the shallow job's stack may have been deeper before (a stack
            // reused from an earlier pool keeps its resident pages), so only the deep one is pinned.
            #expect(marks.allSatisfy { $0 >= 4096 && $0 <= 256 * 1024 }, "\(marks)")
            #expect(marks.last.map { $0 >= 96 * 1024 } == true, "\(marks)")
            _ = shallow.resume()
            _ = deep.resume()
        }
    }

    @Test func aRecordingPoolCountsPausesAndTimesThem() throws {
        try withFreshPool {
            JobPool.recordsPauses = true
            #expect(JobPool.recordsPauses)
            var outcome = try AsyncJob.start { pauseInsideNamedFunction(times: 3) }
            var counts: [Int?] = []
            while case .paused(let job) = consume outcome {
                let report = JobPool.pausedJobs(symbolicated: false).first
                counts.append(report?.pauseCount)
                #expect(report?.pausedFor.map { $0 >= .zero } == true)
                outcome = job.resume()
            }
            #expect(counts == [1, 2, 3])
            // The record goes back to the pool: its next job starts counting afresh.
            guard case .paused(let next) = try AsyncJob.start({ pauseInsideNamedFunction(times: 1) }) else {
                Issue.record("expected a pause")
                return
            }
            #expect(JobPool.pausedJobs(symbolicated: false).first?.pauseCount == 1)
            JobPool.recordsPauses = false
            #expect(JobPool.pausedJobs(symbolicated: false).first?.pauseCount == nil)
            _ = next.resume()
        }
    }

    @Test func aPoolThatDoesNotRecordRecordsNothingOnRecordsFromOneThatDid() throws {
        try withFreshPool {
            JobPool.recordsPauses = true
            guard case .paused(let job) = try AsyncJob.start({ pauseInsideNamedFunction(times: 1) }) else {
                Issue.record("expected a pause")
                return
            }
            _ = job.resume()
        }
        // The records of the pool cleaned up are reused by the next one.
        try withFreshPool {
            guard case .paused(let job) = try AsyncJob.start({ pauseInsideNamedFunction(times: 1) }) else {
                Issue.record("expected a pause")
                return
            }
            #expect(!JobPool.recordsPauses)
            #expect(JobPool.pausedJobs(symbolicated: false).first?.pauseCount == nil)
            _ = job.resume()
        }
    }

    @Test func anObserverHearsEachPauseResumeEndAndRefusedStart() throws {
        let log = EventLog()
        try withFreshPool(maxSize: 1) {
            JobPool.observer = log
            #expect(JobPool.recordsPauses)
            guard case .paused(let first) = try AsyncJob.start({ pauseInsideNamedFunction(times: 2) }) else {
                Issue.record("expected a pause")
                return
            }
            guard case .noJobsAvailable = try AsyncJob.start({ 0 }) else {
                Issue.record("expected no job: the pool's one job is paused")
                return
            }
            guard case .paused(let again) = first.resume(), case .finished = again.resume() else {
                Issue.record("expected a pause, then the end")
                return
            }
            do {
                guard case .paused = try AsyncJob.start({ pauseInsideNamedFunction(times: 1) }) else {
                    Issue.record("expected a pause")
                    return
                }
                // The handle is dropped here: the job is cancelled, which resumes it to its end.
            }
            let census = JobPool.stackCensus
            #expect(census?.jobs == 1 && census?.idle == 1 && census?.paused == 0)
            #expect(census?.guardPages == 1 && census?.canaries == 0)
            JobPool.observer = nil
        }
        #expect(
            log.events.withLock { $0 }
                == ["pause", "no job", "resume", "pause", "resume", "finished", "pause", "cancelled", "resume"])
    }
}
