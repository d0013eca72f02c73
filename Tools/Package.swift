// swift-tools-version: 6.2
// SPDX-License-Identifier: Apache-2.0
// The `asyncjobs` command: the two manual pages' examples, the speed comparison (jobs vs sync vs
// Swift concurrency, like `openssl speed -async_jobs`) and the soak. A nested package, so that
// users of the library resolve none of its dependencies (swift-crypto, swift-argument-parser,
// hdrhistogram-swift): `swift run -c release --package-path Tools asyncjobs speed`.
import PackageDescription

// A path dependency's identity is its directory's name: derive it from where the project is.
let root = String(Context.packageDirectory.split(separator: "/").dropLast().last ?? "swift-async-jobs")

let package = Package(
    name: "swift-async-jobs-tools",
    products: [
        .executable(name: "asyncjobs", targets: ["asyncjobs"])
    ],
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
    ],
    targets: [
        .target(name: "_CToolShims"),
        // The manual pages' examples and the soak, as library code so that tests can run them.
        .target(
            name: "AsyncJobsExamples",
            dependencies: [
                "_CToolShims",
                .product(name: "AsyncJobs", package: root),
                .product(name: "AsyncJobsLoop", package: root),
                .product(name: "AsyncJobsTesting", package: root),
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        // `asyncjobs speed`: the workloads, the runs and the report.
        .target(
            name: "AsyncJobsSpeed",
            dependencies: [
                .product(name: "AsyncJobs", package: root),
                .product(name: "AsyncJobsLoop", package: root),
                .product(name: "AsyncJobsTesting", package: root),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),
        .executableTarget(
            name: "asyncjobs",
            dependencies: [
                "AsyncJobsExamples",
                "AsyncJobsSpeed",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            // Paused jobs' backtraces name functions through the dynamic symbol table.
            linkerSettings: [.unsafeFlags(["-Xlinker", "--export-dynamic"])]
        ),
        .testTarget(
            name: "AsyncJobsToolTests",
            dependencies: ["AsyncJobsExamples", "AsyncJobsSpeed", .product(name: "AsyncJobs", package: root)]
        ),
    ],
    swiftLanguageModes: [.v6]
)
