// SPDX-License-Identifier: Apache-2.0
// `asyncjobs paused`: a job loop serving requests that each make several calls to a slow device,
// and the list of its paused jobs taken while they wait: how long each has been paused, how
// often it paused, how deep its stack went and where it waits.
import AsyncJobs
import AsyncJobsLoop
import AsyncJobsTesting
import Synchronization

/// The demo behind `asyncjobs paused`.
public enum PausedJobsDemo {
    /// Runs `requests` requests on a loop whose pool records pauses, each making `calls` device
    /// calls of `latency`; once every request has paused at least twice (or once, with one
    /// call), prints the loop's paused jobs, then lets them finish.
    /// - Returns: 0 when every request completed and the listing showed at least one job.
    public static func run(
        requests: Int, calls: Int, latency: Duration, output: @Sendable (String) -> Void
    ) async throws -> Int32 {
        var configuration = JobLoop.Configuration(maxConcurrentJobs: max(1, requests))
        configuration.recordsPauses = true
        let loop = try JobLoop.spawn(configuration: configuration)
        let device = try SimulatedAccelerator(latency: latency, slots: max(1, requests))
        let completed = Atomic(0)
        for index in 0..<requests {
            loop.submit({ try handleRequest(index, calls: calls, device: device) }) { result in
                if case .success = result { completed.add(1, ordering: .relaxed) }
            }
        }
        // Until every request has paused twice (once, with one call): by then each has waited on
        // the device and been resumed. Should one finish first (a slow machine), the last
        // listing taken is shown.
        let wanted = min(2, max(1, calls))
        var reports = await loop.pausedJobs()
        while completed.load(ordering: .relaxed) == 0
            && (reports.count < requests || reports.contains(where: { ($0.pauseCount ?? 0) < wanted }))
        {
            try await Task.sleep(for: .milliseconds(5))
            let next = await loop.pausedJobs()
            if !next.isEmpty { reports = next }
        }
        output("\(reports.count) paused jobs of a loop serving \(requests) requests (\(calls) device calls of \(latency) each):")
        for report in reports { output(report.description) }
        loop.shutdownAndWait(.drain)
        device.shutdown()
        let done = completed.load(ordering: .relaxed)
        output("\(done) of \(requests) requests completed")
        return done == requests && !reports.isEmpty ? 0 : 1
    }

    // Named, non-inlined steps. The backtraces name exported functions (dladdr); the optimizer's
    // specialized copies of these are local symbols, shown as addresses (gdb names them).

    /// One request: `calls` device calls in turn.
    @inline(never)
    public static func handleRequest(_ index: Int, calls: Int, device: SimulatedAccelerator) throws -> Int {
        var total = 0
        for call in 0..<calls { total += try signResponse(index * 100 + call, device: device) }
        return total
    }

    /// One device call.
    @inline(never)
    public static func signResponse(_ value: Int, device: SimulatedAccelerator) throws -> Int {
        try device.perform(value)
    }
}
