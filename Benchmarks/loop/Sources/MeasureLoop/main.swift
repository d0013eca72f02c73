// SPDX-License-Identifier: Apache-2.0
// Measures the job loop against the targets of docs/job-loop.md. Prints one line per scenario.
// Times: wall clock (CLOCK_MONOTONIC) and the loop thread's own CPU time
// (CLOCK_THREAD_CPUTIME_ID, read from a job, which runs on the loop thread). The machine is
// shared and has 2 cores: the loop-thread CPU per operation is the steadier number.
// Usage: MeasureLoop [seconds-per-scenario [name-filter]]   (default 1.0, all scenarios)
import AsyncJobs
import AsyncJobsLoop
import Glibc
import Synchronization

let scenarioSeconds = CommandLine.arguments.count > 1 ? Double(CommandLine.arguments[1]) ?? 1.0 : 1.0
let filter = CommandLine.arguments.count > 2 ? CommandLine.arguments[2] : ""
func wanted(_ name: String) -> Bool { filter.isEmpty || name.contains(filter) }

func clock(_ id: clockid_t) -> UInt64 {
    var now = timespec()
    clock_gettime(id, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}
func monotonic() -> UInt64 { clock(CLOCK_MONOTONIC) }
func threadCPU() -> UInt64 { clock(CLOCK_THREAD_CPUTIME_ID) }

struct Measurement {
    var operations: Int
    var wallNanoseconds: UInt64
    var loopCPUNanoseconds: UInt64
    var opsPerSecond: Double { Double(operations) / (Double(wallNanoseconds) / 1e9) }
    var loopCPUPerOperation: Double { Double(loopCPUNanoseconds) / Double(max(1, operations)) }
}

func pad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
}
func format(_ value: Double, _ digits: Int = 0) -> String {
    var text = String(Int((value * pow(10, Double(digits))).rounded()))
    if digits > 0 {
        while text.count <= digits { text = "0" + text }
        text.insert(".", at: text.index(text.endIndex, offsetBy: -digits))
    }
    return text
}

/// Runs `jobs` jobs on a fresh loop; each calls `operation` until the scenario's time is up.
func measureLoop(
    notification: JobLoop.Configuration.Notification, jobs: Int, stackSize: Int = 32 * 1024,
    operation: @escaping @Sendable () throws -> Void
) async throws -> Measurement {
    let loop = try JobLoop.spawn(
        configuration: .init(maxConcurrentJobs: jobs, stackSize: stackSize, notification: notification))
    defer { loop.shutdownAndWait(.cancel) }
    // Warm up: make every job (stack) once.
    try await withThrowingTaskGroup(of: Void.self) { group in
        for _ in 0..<jobs { group.addTask { try await loop.execute { try operation() } } }
        try await group.waitForAll()
    }
    let cpuBefore = try await loop.execute { threadCPU() }
    let start = monotonic()
    let end = start + UInt64(scenarioSeconds * 1e9)
    let operations = try await withThrowingTaskGroup(of: Int.self) { group in
        for _ in 0..<jobs {
            group.addTask {
                try await loop.execute {
                    var count = 0
                    repeat {
                        for _ in 0..<16 { try operation() }
                        count += 16
                    } while monotonic() < end
                    return count
                }
            }
        }
        return try await group.reduce(0, +)
    }
    let wall = monotonic() - start
    let cpuAfter = try await loop.execute { threadCPU() }
    return Measurement(operations: operations, wallNanoseconds: wall, loopCPUNanoseconds: cpuAfter - cpuBefore)
}

/// Keeps `concurrency` tasks in flight, one task per operation, until the time is up.
func measureTasks(concurrency: Int, operation: @escaping @Sendable () async throws -> Void) async throws -> Measurement {
    let start = monotonic()
    let end = start + UInt64(scenarioSeconds * 1e9)
    var operations = 0
    try await withThrowingTaskGroup(of: Void.self) { group in
        for _ in 0..<concurrency { group.addTask { try await operation() } }
        while try await group.next() != nil {
            operations += 1
            if monotonic() < end { group.addTask { try await operation() } }
        }
    }
    return Measurement(operations: operations, wallNanoseconds: monotonic() - start, loopCPUNanoseconds: 0)
}

func report(_ name: String, _ m: Measurement, extra: String = "") {
    print(
        pad(name, 58) + pad(format(m.opsPerSecond) + " ops/s", 18)
            + (m.loopCPUNanoseconds > 0 ? pad(format(m.loopCPUPerOperation / 1000, 3) + " us loop CPU/op", 24) : pad("", 24))
            + extra)
}

print("job loop measurements, \(scenarioSeconds) s per scenario")

// 1. Loop overhead per offloaded operation, fd and callback notification (trivial work on 1 worker).
let engine = try OffloadEngine(workers: 1)
for notification in [JobLoop.Configuration.Notification.waitFD, .callback] {
    for jobs in [1, 64] {
        let name = "offload \(notification), \(jobs) jobs, 1 worker"
        guard wanted(name) else { continue }
        let m = try await measureLoop(notification: notification, jobs: jobs) { _ = try engine.perform { 0 } }
        report(name, m)
    }
}

// 2. Job resumes per second on one thread, callback path only: each job fires its own wait
//    context's callback and pauses; the loop resumes it on the next turn.
for jobs in [1, 100, 1000] {
    guard wanted("callback resume, \(jobs) jobs") else { continue }
    let m = try await measureLoop(notification: .callback, jobs: jobs) {
        AsyncJob.currentWaitContext?.invokeCallback()
        _ = AsyncJob.pause()
    }
    report("callback resume, \(jobs) jobs, no other thread", m)
}

// 3. Simulated accelerator, 1 ms latency, 10,000 slots.
let accelerator = try SimulatedAccelerator(latency: .milliseconds(1), slots: 10_000)
for notification in [JobLoop.Configuration.Notification.callback, .waitFD] {
    for jobs in [10, 100, 1000, 3000, 10_000] {
        guard wanted("accelerator 1ms \(notification), \(jobs) jobs") else { continue }
        let m = try await measureLoop(notification: notification, jobs: jobs) { _ = try accelerator.perform(0) }
        let ideal = Double(min(jobs, 10_000)) / 0.001
        report("accelerator 1ms \(notification), \(jobs) jobs", m, extra: "\(format(m.opsPerSecond / ideal * 100, 1)) % of ideal")
    }
}

// 4. Swift concurrency, a task per operation, same devices and concurrency.
for concurrency in [100, 1000, 3000] {
    guard wanted("accelerator 1ms, Swift tasks, \(concurrency) in flight") else { continue }
    let m = try await measureTasks(concurrency: concurrency) {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            accelerator.submit { continuation.resume() }
        }
    }
    let ideal = Double(concurrency) / 0.001
    report("accelerator 1ms, Swift tasks, \(concurrency) in flight", m, extra: "\(format(m.opsPerSecond / ideal * 100, 1)) % of ideal")
}
for concurrency in [1, 64] {
    guard wanted("offload, Swift tasks, \(concurrency) in flight") else { continue }
    let m = try await measureTasks(concurrency: concurrency) { _ = try await engine.performAsync { 0 } }
    report("offload, Swift tasks, \(concurrency) in flight, 1 worker", m)
}
accelerator.shutdown()
engine.shutdown()
