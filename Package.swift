// swift-tools-version: 6.2
// SPDX-License-Identifier: Apache-2.0
import PackageDescription

// ASYNCJOBS_UCONTEXT=1 selects the portable ucontext switch instead of the assembly one.
let useUcontext = Context.environment["ASYNCJOBS_UCONTEXT"] == "1"
let contextDefines: [CSetting] = useUcontext ? [.define("AJCTX_USE_UCONTEXT")] : []

let package = Package(
    name: "swift-async-jobs",
    products: [
        .library(name: "AsyncJobs", targets: ["AsyncJobs"]),
        .executable(name: "asyncjobs", targets: ["asyncjobs"]),
        // The C library: OpenSSL's async.h API (SAJ_ symbols + <asyncjobs/async.h>), libAsyncJobsC.so.
        .library(name: "AsyncJobsC", type: .dynamic, targets: ["AsyncJobsCompat"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // Only the `asyncjobs speed` command (AsyncJobsSpeed) uses these; no test target does.
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
    ],
    targets: [
        .target(name: "_CJobContext", cSettings: contextDefines),
        .target(name: "_CSystemShims"),
        .target(name: "CAsyncJobsCompat"),
        .target(
            name: "AsyncJobsCompat",
            dependencies: ["AsyncJobs", "CAsyncJobsCompat"],
            swiftSettings: [.strictMemorySafety()]
        ),
        .target(
            name: "AsyncJobs",
            dependencies: ["_CJobContext", "_CSystemShims", .product(name: "SystemPackage", package: "swift-system")],
            swiftSettings: [.strictMemorySafety()]
        ),
        .target(
            name: "AsyncJobsExamples",
            dependencies: ["AsyncJobs", "_CSystemShims", .product(name: "SystemPackage", package: "swift-system")]
        ),
        .target(
            name: "AsyncJobsSpeed",
            dependencies: [
                "AsyncJobs",
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
            ]
        ),
        .target(name: "JobContextTestSupport", path: "Tests/JobContextTestSupport"),
        .testTarget(name: "JobContextTests", dependencies: ["_CJobContext", "JobContextTestSupport"]),
        .testTarget(
            name: "AsyncJobsTests",
            dependencies: ["AsyncJobs", "AsyncJobsExamples", "_CSystemShims", .product(name: "SystemPackage", package: "swift-system")]
        ),
        .testTarget(
            name: "AsyncJobsLoopTests",
            dependencies: ["AsyncJobs", .product(name: "SystemPackage", package: "swift-system")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
