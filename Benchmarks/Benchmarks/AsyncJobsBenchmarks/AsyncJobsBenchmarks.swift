// SPDX-License-Identifier: Apache-2.0
// package-benchmark suite of the Swift API: `swift package benchmark` in Benchmarks/.
// Time and mallocs are per operation (each benchmark iteration runs 1000 of them). Setup that is
// not the operation (starting the job a round trip resumes, finishing the jobs a batch made)
// lies outside startMeasurement()/stopMeasurement(). Jobs never cross threads: every iteration
// starts and finishes its own jobs.
// The comparison with OpenSSL lives in scripts/bench (instruction counts, same-run ratios).
import AsyncJobs
import Benchmark
import CBareSwitch

typealias Job = PausedJob<Int, Never>

@inline(never)
func pauseForever() -> Int {
    var count = 0
    while AsyncJob.pause() { count &+= 1 }
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
    default: fatalError("a job that should pause did not")
    }
}

func finish(_ job: consuming Job) {
    switch job.resume() {
    case .finished: break
    default: fatalError("a job that should finish did not")
    }
}

// The floor: the project's assembly switch alone, on a stack of its own. The two saved stack
// pointers live in raw memory, never in Swift globals: `&global` as the save slot would keep an
// exclusivity access open across the switch (docs/fibers.md).
nonisolated(unsafe) let bareSP = UnsafeMutablePointer<UnsafeMutableRawPointer?>.allocate(capacity: 2)  // [caller, job]
let bounce: @convention(c) (UnsafeMutableRawPointer?) -> Void = { _ in
    while true { _bare_swap(bareSP + 1, bareSP[0]!, nil) }
}

/// Jobs paused at once, for the RSS benchmarks.
func pausedJobsRSS(_ benchmark: Benchmark, count: Int) {
    let jobs = UnsafeMutablePointer<Job>.allocate(capacity: count)
    defer { jobs.deallocate() }
    // Touch the handle array now, so that its pages are not counted as the jobs'.
    UnsafeMutableRawPointer(jobs).initializeMemory(as: UInt8.self, repeating: 0, count: count * MemoryLayout<Job>.stride)
    finish(startPaused(pauseOnce))  // one-time state (pool, metadata) not counted
    let before = _bench_rss_bytes()
    for i in 0..<count { (jobs + i).initialize(to: startPaused(pauseOnce)) }
    let after = _bench_rss_bytes()
    benchmark.measurement(.custom("RSS bytes per paused job", useScalingFactor: false), Int(after - before) / count)
    for i in 0..<count { finish((jobs + i).move()) }
    JobPool.cleanUp()
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .cpuTotal, .mallocCountTotal, .throughput],
        timeUnits: .nanoseconds,
        scalingFactor: .kilo,
        maxDuration: .seconds(2),
        maxIterations: 10_000
    )

    Benchmark("bare switch round trip (floor)") { benchmark in
        let stack = UnsafeMutableRawPointer.allocate(byteCount: 64 * 1024, alignment: 16)
        defer { stack.deallocate() }
        bareSP[1] = _bare_make(stack + 64 * 1024, bounce)
        _bare_swap(bareSP, bareSP[1]!, nil)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations { _bare_swap(bareSP, bareSP[1]!, nil) }
        benchmark.stopMeasurement()
    }

    Benchmark("pause + resume round trip") { benchmark in
        var job = startPaused(pauseForever)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            switch job.resume() {
            case .paused(let next): job = next
            default: fatalError("round trip")
            }
        }
        benchmark.stopMeasurement()
        _ = consume job  // cancels it: its pause returns false and it finishes
    }

    Benchmark("pooled start -> finish, no pause") { benchmark in
        for _ in benchmark.scaledIterations {
            switch try! AsyncJob.start({ 1 }) {
            case .finished(let value): blackHole(value)
            default: fatalError("start -> finish")
            }
        }
    }

    Benchmark("start -> pause -> resume -> finish") { benchmark in
        for _ in benchmark.scaledIterations { finish(startPaused(pauseOnce)) }
    }

    Benchmark(
        "new job on a cold pool up to its first pause",
        configuration: .init(maxDuration: .seconds(3), maxIterations: 200)
    ) { benchmark in
        let jobs = UnsafeMutablePointer<Job>.allocate(capacity: 1000)
        defer { jobs.deallocate() }
        JobPool.cleanUp()
        benchmark.startMeasurement()
        for i in benchmark.scaledIterations { (jobs + i).initialize(to: startPaused(pauseOnce)) }
        benchmark.stopMeasurement()
        for i in benchmark.scaledIterations { finish((jobs + i).move()) }
        JobPool.cleanUp()
    }

    for count in [10_000, 100_000, 1_000_000] {
        Benchmark(
            "RSS per paused job, \(count) paused",
            configuration: .init(
                metrics: [.wallClock, .custom("RSS bytes per paused job", useScalingFactor: false)],
                timeUnits: .milliseconds, warmupIterations: 0, scalingFactor: .one,
                // One iteration: later ones would reuse the stacks the first one touched.
                maxDuration: .seconds(1), maxIterations: 1)
        ) { benchmark in
            pausedJobsRSS(benchmark, count: count)
        }
    }
}
