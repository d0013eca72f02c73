// swift-tools-version: 6.2
// SPDX-License-Identifier: Apache-2.0
// Measurements of the job loop against its targets (docs/job-loop.md); run with scripts/measure-loop.
// A separate package so that the root package gains no executable, and users of the library
// resolve nothing for it.
import PackageDescription

// A path dependency's identity is its directory's name: derive it from where the project is.
let rootPackage = String(Context.packageDirectory.split(separator: "/").dropLast(2).last ?? "swift-async-jobs")

let package = Package(
    name: "swift-async-jobs-loop-measure",
    dependencies: [.package(path: "../..")],
    targets: [
        .executableTarget(
            name: "MeasureLoop",
            dependencies: [
                .product(name: "AsyncJobs", package: rootPackage),
                .product(name: "AsyncJobsLoop", package: rootPackage),
            ]
        )
    ],
    swiftLanguageModes: [.v6]
)
