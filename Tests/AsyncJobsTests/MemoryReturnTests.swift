// SPDX-License-Identifier: Apache-2.0
// Stack memory goes back to the system: after a burst of paused jobs is cleaned up, the process's
// resident memory returns to about what it was before the burst. Each case runs in a child
// process (resident memory is process-wide) and reads it from /proc/self/statm.
import AsyncJobs
import Foundation
import Testing

/// Holds a paused job (an array cannot hold noncopyable values).
private final class Holder {
    var job: PausedJob<Int, Never>?
    init(_ job: consuming PausedJob<Int, Never>) { self.job = consume job }
}

@Suite("Memory given back")
struct MemoryReturnTests {
    // Sanitizers keep shadow memory and quarantines that resident memory cannot see past.
    @Test(.disabled(if: isSanitized, "sanitizers' shadow memory hides what the library gives back"))
    func aBurstOfPausedJobsLeavesLittleResidentOnceCleanedUp() async {
        let result = await #expect(processExitsWith: .success, observing: [\.standardErrorContent]) {
            runSynchronously { measureABurst() }
        }
        let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(message.contains("after cleanup"), "\(message)")
    }
}

/// glibc's `malloc_trim(0)` (not in the Glibc module): gives malloc's free memory back.
private func trimMalloc() {
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") else { return }
    _ = unsafeBitCast(symbol, to: (@convention(c) (Int) -> Int32).self)(0)
}

/// In the child: 100,000 paused jobs, resumed to their end, then the pool cleaned up; exits 0
/// if the resident memory is then within 10 % of what it was before them.
private func measureABurst() {
    let count = 100_000
    // Warm up the runtime and the pool machinery, so that "before" is a steady state.
    for _ in 0..<1000 { _ = try? AsyncJob.start { 1 } }
    JobPool.cleanUp()
    // The test's own garbage (the holders below) is not the library's: trim malloc's
    // free memory before each reading.
    trimMalloc()
    let before = residentBytes()
    var holders: [Holder] = []
    holders.reserveCapacity(count)
    for value in 0..<count {
        guard case .paused(let job) = try! AsyncJob.start({ () -> Int in
            guard AsyncJob.pause() else { return -1 }
            return value
        }) else { exit(2) }
        holders.append(Holder(job))
    }
    let peak = residentBytes()
    // Every job finishes (resumed), then the pool is cleaned up.
    for holder in holders { _ = holder.job.take()?.resume() }
    holders = []
    JobPool.cleanUp()
    trimMalloc()
    let after = residentBytes()
    let line = "before \(before / 1024) KiB, peak \(peak / 1024) KiB, after cleanup \(after / 1024) KiB\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
    // Success returns normally (the exit test ends the process).
    if Double(after) > Double(before) * 1.10 { exit(1) }
}

