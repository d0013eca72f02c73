// swift-tools-version: 6.2
// SPDX-License-Identifier: Apache-2.0
// Metrics of swift-async-jobs through swift-metrics, the ecosystem's metrics API: a nested
// package, so that users of the library resolve and build no metrics dependency unless they ask
// for this one. `AsyncJobsMetrics` maps the core's pool observer and the job loop's statistics to
// swift-metrics counters, gauges and timers; `asyncjobs-metrics-example` shows them in Prometheus'
// text format through swift-prometheus.
import PackageDescription

// A path dependency's identity is its directory's name: derive it from where the project is.
let root = String(Context.packageDirectory.split(separator: "/").dropLast().last ?? "swift-async-jobs")

let package = Package(
    name: "swift-async-jobs-metrics",
    products: [
        .library(name: "AsyncJobsMetrics", targets: ["AsyncJobsMetrics"]),
        .executable(name: "asyncjobs-metrics-example", targets: ["asyncjobs-metrics-example"]),
    ],
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        .target(
            name: "AsyncJobsMetrics",
            dependencies: [
                .product(name: "AsyncJobs", package: root),
                .product(name: "AsyncJobsLoop", package: root),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ]
        ),
        .executableTarget(
            name: "asyncjobs-metrics-example",
            dependencies: [
                "AsyncJobsMetrics",
                .product(name: "AsyncJobs", package: root),
                .product(name: "AsyncJobsLoop", package: root),
                .product(name: "AsyncJobsTesting", package: root),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .testTarget(
            name: "AsyncJobsMetricsTests",
            dependencies: [
                "AsyncJobsMetrics",
                .product(name: "AsyncJobs", package: root),
                .product(name: "AsyncJobsLoop", package: root),
                .product(name: "AsyncJobsTesting", package: root),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
