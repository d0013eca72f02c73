// swift-tools-version: 6.2
// SPDX-License-Identifier: Apache-2.0
// Integrations of swift-async-jobs with other libraries, kept out of the root package so that
// neither its users nor its CI builds compile SwiftNIO: `cd Integrations && swift test`.
import Foundation
import PackageDescription

// A path dependency's identity is its directory's name, which depends on where the repository
// was cloned; read it instead of guessing.
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent

let package = Package(
    name: "swift-async-jobs-integrations",
    products: [
        .library(name: "AsyncJobsNIO", targets: ["AsyncJobsNIO"]),
        .executable(name: "asyncjobs-nio-server", targets: ["asyncjobs-nio-server"]),
    ],
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        .target(name: "_CAsyncJobsNIOShims"),
        .target(
            name: "AsyncJobsNIO",
            dependencies: [
                "_CAsyncJobsNIOShims",
                .product(name: "AsyncJobs", package: root),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .target(
            name: "NIOSigningServer",
            dependencies: [
                "AsyncJobsNIO",
                .product(name: "AsyncJobs", package: root),
                .product(name: "AsyncJobsLoop", package: root),
                .product(name: "AsyncJobsTesting", package: root),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .executableTarget(
            name: "asyncjobs-nio-server",
            dependencies: ["NIOSigningServer", .product(name: "Crypto", package: "swift-crypto")]
        ),
        .testTarget(
            name: "AsyncJobsNIOTests",
            dependencies: [
                "AsyncJobsNIO",
                "NIOSigningServer",
                .product(name: "AsyncJobs", package: root),
                .product(name: "AsyncJobsLoop", package: root),
                .product(name: "AsyncJobsTesting", package: root),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
