// SPDX-License-Identifier: Apache-2.0
// A job loop serving requests on a slow device, with its metrics in Prometheus' text format:
// what a /metrics endpoint would serve (swift-prometheus renders the registry; serving it over
// HTTP is the application's own choice of server).
import AsyncJobs
import AsyncJobsLoop
import AsyncJobsMetrics
import AsyncJobsTesting
import Metrics
import Prometheus
import Synchronization

let registry = PrometheusCollectorRegistry()
MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))

let metrics = JobLoopMetrics(dimensions: [("loop", "signing")])
var configuration = JobLoop.Configuration(maxConcurrentJobs: 8)
configuration.poolObserver = metrics.pool
let loop = try JobLoop.spawn(configuration: configuration)
let device = try SimulatedAccelerator(latency: .milliseconds(2), slots: 8)

// 32 requests of three device calls each: at most 8 at once, the rest queued.
let completed = Atomic(0)
for request in 0..<32 {
    loop.submit({ try (0..<3).reduce(0) { sum, call in sum + (try device.perform(request * 3 + call)) } }) { _ in
        completed.add(1, ordering: .relaxed)
    }
}
try await Task.sleep(for: .milliseconds(5))
await metrics.update(loop)
print("# while busy")
print(registry.emitToString())
while completed.load(ordering: .relaxed) < 32 { try await Task.sleep(for: .milliseconds(1)) }
await metrics.update(loop)
print("# once every request completed")
print(registry.emitToString())
loop.shutdownAndWait(.drain)
device.shutdown()
