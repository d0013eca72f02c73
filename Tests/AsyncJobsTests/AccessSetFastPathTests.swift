// SPDX-License-Identifier: Apache-2.0
// The inline swap of Swift's exclusivity access sets (docs/context-switch.md, "The inline
// access-set swap"): which path this toolchain gets, and that the inline path saves exactly what
// the runtime's own functions save. The switches are debug-only test hooks; the on/off cases run
// in child processes because the setting is process-wide.
#if ASYNCJOBS_TEST_HOOKS
@testable import AsyncJobs
import Foundation
import Synchronization
import Testing

/// Adds one to each, pausing while both accesses are open.
private func bumpBothAcrossPause(_ first: inout Int, _ second: inout Int) {
    first += 1
    second += 1
    _ = AsyncJob.pause()
}

/// Runs one job that pauses with no access open, inside one access and inside two nested ones,
/// and returns the access-set words it saved at each pause. With a pool of one job, every run
/// uses the same record and stack, so the saved words (addresses of access records on the job's
/// stack) are comparable between runs.
private func savedAccessSetsOfTheWorkload() -> [[UInt]] {
    let first = SharedCounter()
    let second = SharedCounter()
    var saved: [[UInt]] = []
    var outcome = try! AsyncJob.start { () -> Int in
        _ = AsyncJob.pause()
        bumpAcrossPause(&first.value)
        bumpBothAcrossPause(&first.value, &second.value)
        return first.value + second.value
    }
    while true {
        switch consume outcome {
        case .paused(let job):
            saved.append(ContextTestHooks.savedAccessSet(of: job.reference))
            outcome = job.resume()
        case .finished(let value):
            precondition(value == 4, "the workload's job computed \(value)")
            return saved
        default:
            preconditionFailure("the workload's job did not run")
        }
    }
}

@Suite("Inline access-set swap")
struct AccessSetFastPathTests {
    @Test func theInlineSwapIsActiveOnThisToolchain() {
        // The pinned toolchain (Swift 6.3.1, x86_64): job_context.c recognises the runtime's
        // exclusivity functions and swaps inline. If this fails after a toolchain change, the
        // runtime's code changed: every switch now calls the runtime (correct, slower); check
        // `find_access_head` against the new runtime before changing this expectation.
        let inline = Thread.runAndJoin {
            withFreshPool { _ = drive(try! AsyncJob.start { () -> Int in 1 }) }
            return ContextTestHooks.accessSetSwapIsInline
        }
        if ContextTestHooks.isSanitizedBuild {
            #expect(!inline, "sanitizer builds must switch out of line (the fiber hooks are there)")
        } else {
            #if arch(x86_64)
            #expect(inline, "the inline access-set swap is not active on this toolchain (see docs/context-switch.md)")
            #else
            #expect(!inline, "the inline access-set swap exists only for x86_64")
            #endif
        }
    }

    /// Without an inline path (sanitizer builds, other architectures) there is nothing to compare.
    static var inlineSwapExists: Bool {
        #if arch(x86_64)
        !ContextTestHooks.isSanitizedBuild
        #else
        false
        #endif
    }

    @Test(.enabled(if: inlineSwapExists)) func theInlineSwapSavesWhatTheRuntimesFunctionsSave() async {
        await #expect(processExitsWith: .success) {
            runSynchronously {
                try! JobPool.configure(maxSize: 1)
                let inline = savedAccessSetsOfTheWorkload()
                precondition(ContextTestHooks.accessSetSwapIsInline, "the inline swap did not run")
                ContextTestHooks.setAccessSetInline(false)
                let runtime = savedAccessSetsOfTheWorkload()
                precondition(!ContextTestHooks.accessSetSwapIsInline, "the runtime's functions did not run")
                precondition(inline.count == 3 && runtime.count == 3, "the workload pauses three times")
                precondition(inline == runtime, "saved access sets differ: inline \(inline), runtime \(runtime)")
                precondition(inline[0] == [0, 0], "a pause with no access open saves nothing")
                precondition(inline[1][0] != 0 && inline[2][0] != 0, "a pause inside an access saves it")
                JobPool.cleanUp()
            }
        }
    }

    @Test func theEnvironmentVariableTurnsTheInlineSwapOff() async {
        await #expect(processExitsWith: .success) {
            runSynchronously {
                setenv("ASYNCJOBS_INLINE_ACCESS_SWAP", "0", 1)
                try! JobPool.configure(maxSize: 1)
                let saved = savedAccessSetsOfTheWorkload()
                precondition(!ContextTestHooks.accessSetSwapIsInline, "ASYNCJOBS_INLINE_ACCESS_SWAP=0 was ignored")
                precondition(saved.count == 3 && saved[0] == [0, 0] && saved[1][0] != 0, "saved \(saved)")
                JobPool.cleanUp()
            }
        }
    }
}

#endif
