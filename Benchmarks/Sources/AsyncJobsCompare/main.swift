// SPDX-License-Identifier: Apache-2.0
// The comparison loops of compare/loops.c, written against the Swift API and timed the same way
// (CLOCK_MONOTONIC, one pass of >= 0.3 s after calibration). Single-threaded, so that callgrind
// can run it. Driven by scripts/bench.
//
//   AsyncJobsCompare time OP      prints "OP ns_per_op iterations"
//   AsyncJobsCompare count OP N   exactly N operations; callgrind collects only inside the loop
//   AsyncJobsCompare rss N        prints "rss N bytes_per_paused_job"
// OP: roundtrip | roundtripcalled | startfinish | startpausefinish | fresh
// roundtripcalled: the round trip with resume and pause each behind one function call, the
// structure a C caller of the C library has (SAJ_start_job, SAJ_pause_job).
import AsyncJobs
import CBareSwitch
import Glibc

typealias Job = PausedJob<Int, Never>

func nowNanoseconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) * 1e9 + Double(ts.tv_nsec)
}

func fail(_ message: String) -> Never {
    let text = "AsyncJobsCompare: \(message)\n"
    _ = text.withCString { write(2, $0, strlen($0)) }
    exit(1)
}

@inline(never)
func pauseForever() -> Int {
    var count = 0
    while AsyncJob.pause() { count &+= 1 }
    return count
}

/// `AsyncJob.pause()` behind a call of its own (see `roundtripcalled`).
@inline(never)
func pauseCalled() -> Bool {
    AsyncJob.pause()
}

@inline(never)
func pauseForeverCalled() -> Int {
    var count = 0
    while pauseCalled() { count &+= 1 }
    return count
}

@inline(never)
func pauseOnce() -> Int {
    _ = AsyncJob.pause()
    return 1
}

func startPaused(_ body: @escaping () -> Int) -> Job {
    switch try! AsyncJob.start(body) {
    case .paused(let job): return job
    default: fail("a job that should pause did not")
    }
}

/// The job the round-trip loop resumes; it pauses again at once.
nonisolated(unsafe) var roundTripJob: UnsafeMutablePointer<Job>? = nil

@inline(never)
func roundTrip(_ n: Int) {
    let slot = roundTripJob!
    for _ in 0..<n {
        switch slot.move().resume() {
        case .paused(let job): slot.initialize(to: job)
        default: fail("round trip")
        }
    }
}

/// `PausedJob.resume()` behind a call of its own.
@inline(never)
func resumeCalled(_ job: consuming Job) -> JobOutcome<Int, Never> {
    job.resume()
}

@inline(never)
func roundTripCalled(_ n: Int) {
    let slot = roundTripJob!
    for _ in 0..<n {
        switch resumeCalled(slot.move()) {
        case .paused(let job): slot.initialize(to: job)
        default: fail("round trip (called)")
        }
    }
}

@inline(never)
func startFinish(_ n: Int) {
    for _ in 0..<n {
        switch try! AsyncJob.start({ 1 }) {
        case .finished(let value): if value != 1 { fail("start -> finish") }
        default: fail("start -> finish")
        }
    }
}

@inline(never)
func startPauseFinish(_ n: Int) {
    for _ in 0..<n {
        switch startPaused(pauseOnce).resume() {
        case .finished(let value): if value != 1 { fail("resume -> finish") }
        default: fail("resume -> finish")
        }
    }
}

nonisolated let freshBatch = 1000
nonisolated(unsafe) let freshJobs = UnsafeMutablePointer<Job>.allocate(capacity: freshBatch)

/// n new jobs on a cold pool, each up to its first pause; the pool is freed between batches
/// (untimed) so that every batch starts cold.
func fresh(_ n: Int, timed: Bool) -> Double {
    var elapsed = 0.0
    var done = 0
    while done < n {
        let count = min(freshBatch, n - done)
        let t0 = timed ? nowNanoseconds() : 0
        _bench_callgrind_toggle()
        for i in 0..<count { (freshJobs + i).initialize(to: startPaused(pauseOnce)) }
        _bench_callgrind_toggle()
        if timed { elapsed += nowNanoseconds() - t0 }
        for i in 0..<count {
            switch (freshJobs + i).move().resume() {
            case .finished: break
            default: fail("fresh finish")
            }
        }
        JobPool.cleanUp()
        done += count
    }
    return elapsed
}

func rss(_ n: Int) {
    let jobs = UnsafeMutablePointer<Job>.allocate(capacity: n)
    // Touch the handle array now, so that its pages are not counted as the jobs'.
    UnsafeMutableRawPointer(jobs).initializeMemory(as: UInt8.self, repeating: 0, count: n * MemoryLayout<Job>.stride)
    // One job first, so that one-time state (the pool, metadata) is not counted.
    switch startPaused(pauseOnce).resume() {
    case .finished: break
    default: fail("rss warm-up")
    }
    let before = _bench_rss_bytes()
    let t0 = nowNanoseconds()
    for i in 0..<n { (jobs + i).initialize(to: startPaused(pauseOnce)) }
    let elapsed = nowNanoseconds() - t0
    let after = _bench_rss_bytes()
    // Also: ns per job for these first jobs of the process (new memory, page faults, guard pages).
    print("rss \(n) \(Int((Double(after - before) / Double(n)).rounded())) \((elapsed / Double(n) * 10).rounded() / 10)")
    for i in 0..<n {
        switch (jobs + i).move().resume() {
        case .finished: break
        default: fail("rss finish")
        }
    }
    jobs.deallocate()
}

let arguments = CommandLine.arguments
guard arguments.count >= 3 else {
    fail("usage: AsyncJobsCompare time OP | count OP N | rss N")
}
let mode = arguments[1]
let name = arguments[2]
if mode == "rss" {
    rss(Int(name)!)
    exit(0)
}
let isFresh = name == "fresh"
let operation: (Int) -> Void
switch name {
case "roundtrip": operation = roundTrip
case "roundtripcalled": operation = roundTripCalled
case "startfinish": operation = startFinish
case "startpausefinish": operation = startPauseFinish
case "fresh": operation = { _ = fresh($0, timed: false) }
default: fail("unknown operation \(name)")
}
if !isFresh {
    try! JobPool.configure(maxSize: 1, initialSize: 1)
}
if name == "roundtrip" || name == "roundtripcalled" {
    roundTripJob = .allocate(capacity: 1)
    let body: () -> Int = name == "roundtrip" ? { pauseForever() } : { pauseForeverCalled() }
    roundTripJob!.initialize(to: startPaused(body))
}

func measure(_ n: Int) -> Double {
    if isFresh { return fresh(n, timed: true) }
    let t0 = nowNanoseconds()
    operation(n)
    return nowNanoseconds() - t0
}

if mode == "count" {
    let n = Int(arguments[3])!
    if isFresh {
        _ = fresh(n, timed: false)
    } else {
        _bench_callgrind_toggle()
        operation(n)
        _bench_callgrind_toggle()
    }
    exit(0)
}
var n = isFresh ? freshBatch : 1000
while measure(n) < 5e7 { n *= 2 }
n = Int(Double(n) * 6.5)
if isFresh { n = (n + freshBatch - 1) / freshBatch * freshBatch }
let elapsed = measure(n)
print("\(name) \((elapsed / Double(n) * 100).rounded() / 100) \(n)")
