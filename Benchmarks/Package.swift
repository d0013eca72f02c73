// swift-tools-version: 6.2
// SPDX-License-Identifier: Apache-2.0
// Benchmarks of swift-async-jobs. A separate package so that users of the library never resolve
// package-benchmark and its dependencies. See docs/performance.md; run everything with scripts/bench.
import PackageDescription

// A path dependency's identity is its directory's name, which depends on where the project is
// checked out: derive it instead of hard-coding it.
let rootPackage = String(Context.packageDirectory.split(separator: "/").dropLast().last ?? "swift-async-jobs")

let package = Package(
    name: "swift-async-jobs-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", exact: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        // The project's own assembly switch, compiled again under other symbol names: the floor.
        .target(name: "CBareSwitch", path: "Sources/CBareSwitch"),
        // package-benchmark suite: `swift package benchmark` (p50/p99, mallocs, RSS).
        .executableTarget(
            name: "AsyncJobsBenchmarks",
            dependencies: [
                .product(name: "AsyncJobs", package: rootPackage),
                .product(name: "Benchmark", package: "benchmark"),
                "CBareSwitch",
            ],
            path: "Benchmarks/AsyncJobsBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // Plain loop program for the comparison table (scripts/bench): the same loops as
        // compare/loops.c, timed the same way, and single-threaded so that callgrind can run it.
        .executableTarget(
            name: "AsyncJobsCompare",
            dependencies: [.product(name: "AsyncJobs", package: rootPackage), "CBareSwitch"],
            path: "Sources/AsyncJobsCompare"
        ),
    ],
    swiftLanguageModes: [.v6]
)
