// swift-tools-version: 6.2
// SPDX-License-Identifier: Apache-2.0
import PackageDescription

// The root package is the library: the core (`AsyncJobs`), the job loop (`AsyncJobsLoop`), test
// doubles (`AsyncJobsTesting`) and the C library. It depends on swift-system only (and on the
// DocC plugin, a command that builds nothing into the library); the
// `asyncjobs` command (Tools/), the benchmarks (Benchmarks/) and the NIO bridge (Integrations/)
// are nested packages with dependencies of their own. docs/architecture.md describes the modules.

// ASYNCJOBS_UCONTEXT=1 selects the portable ucontext switch instead of the assembly one.
let useUcontext = Context.environment["ASYNCJOBS_UCONTEXT"] == "1"
let contextDefines: [CSetting] =
    (useUcontext ? [.define("AJCTX_USE_UCONTEXT")] : [])
    // The switch layer's test controls exist in debug builds only, never in the shipped library.
    + [.define("AJCTX_TEST_HOOKS", .when(configuration: .debug))]
// The core's test hooks (`ContextTestHooks`), likewise debug-only.
let testHooks: [SwiftSetting] = [.define("ASYNCJOBS_TEST_HOOKS", .when(configuration: .debug))]
let system: Target.Dependency = .product(name: "SystemPackage", package: "swift-system")

let package = Package(
    name: "swift-async-jobs",
    products: [
        .library(name: "AsyncJobs", targets: ["AsyncJobs"]),
        .library(name: "AsyncJobsLoop", targets: ["AsyncJobsLoop"]),
        .library(name: "AsyncJobsTesting", targets: ["AsyncJobsTesting"]),
        // The C library: OpenSSL's async.h API (SAJ_ symbols + <asyncjobs/async.h>), libAsyncJobsC.so.
        .library(name: "AsyncJobsC", type: .dynamic, targets: ["AsyncJobsCompat"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        // A command plugin only (`swift package generate-documentation`): nothing of it is built
        // into the library or its users' programs.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        // C and assembly, not API: create a machine context and switch to it.
        .target(name: "_CJobContext", cSettings: contextDefines),
        // Linux headers the Glibc module does not export (eventfd, epoll, timerfd).
        .target(name: "_CSystemShims"),
        // The core: jobs, pools, wait contexts, stacks and the runtime that switches them.
        .target(
            name: "AsyncJobs",
            dependencies: ["_CJobContext", "_CSystemShims", system],
            swiftSettings: [.strictMemorySafety()] + testHooks
        ),
        // The job loop: JobLoop, tickets, the offload engine, engine notification.
        .target(
            name: "AsyncJobsLoop",
            dependencies: ["AsyncJobs", "_CSystemShims", system],
            swiftSettings: [.strictMemorySafety()]
        ),
        // Doubles to test engines and loops with: the simulated accelerator.
        .target(
            name: "AsyncJobsTesting",
            dependencies: ["AsyncJobs", "AsyncJobsLoop", system],
            swiftSettings: [.strictMemorySafety()]
        ),
        // The C library: the header (the ABI's source of truth) and its Swift implementation.
        .target(name: "CAsyncJobsCompat", dependencies: ["_CJobContext"]),
        .target(
            name: "AsyncJobsCompat",
            dependencies: ["AsyncJobs", "CAsyncJobsCompat"],
            swiftSettings: [.strictMemorySafety()]
        ),
        .target(name: "JobContextTestSupport", path: "Tests/JobContextTestSupport"),
        .testTarget(name: "JobContextTests", dependencies: ["_CJobContext", "JobContextTestSupport"]),
        .testTarget(
            name: "AsyncJobsTests",
            dependencies: ["AsyncJobs", "_CSystemShims", system],
            swiftSettings: testHooks,
            // The paused-job backtrace tests name the test's own functions: dladdr sees only
            // symbols in the dynamic symbol table.
            linkerSettings: [.unsafeFlags(["-Xlinker", "--export-dynamic"])]
        ),
        .testTarget(
            name: "AsyncJobsLoopTests",
            dependencies: ["AsyncJobs", "AsyncJobsLoop", "AsyncJobsTesting", system]
        ),
    ],
    swiftLanguageModes: [.v6]
)
