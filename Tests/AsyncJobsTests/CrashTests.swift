// SPDX-License-Identifier: Apache-2.0
// A crash inside a job behaves as one outside: the backtrace is written, then the process ends
// and its pipes close, with Swift's backtracer on and off. Each case runs in a child process
// whose output is read through a pipe with a deadline.
import AsyncJobs
import Foundation
import Testing

/// Set in the child process: which crash `crashForTheParentTest` makes.
private let crashVariable = "ASYNCJOBS_TEST_CRASH"

/// Reads through a null pointer (plus 8). Not inlined, so that the backtrace names it.
@inline(never)
func crashingJobBody(_ offset: Int) -> Int {
    UnsafeMutablePointer<Int>(bitPattern: 8 + offset)!.pointee
}

@Suite("Crashes inside jobs")
struct CrashTests {
    /// What the parent waits for: far more than a backtrace takes here (about a second).
    static let deadline = 120.0

    @Test(arguments: ["main", "thread"], ["yes", "no"])
    func nullDereferenceInsideAJobEndsTheProcessAndClosesItsPipes(thread: String, backtracer: String) {
        let run = ChildProcess.runTests(
            filter: "crashForTheParentTest",
            environment: [crashVariable: thread, "SWIFT_BACKTRACE": "enable=\(backtracer),interactive=no"],
            deadline: CrashTests.deadline)
        #expect(run.endedBeforeDeadline, "the crashed process's output never ended:\n\(run.output)")
        #expect(run.output.contains("crashing inside a job"))
        // The resumer's return addresses (no unwinder gets there from the job's stack); the
        // ucontext switch keeps no frame of the resumer to read them from.
        if !usesUcontextSwitch {
            #expect(run.output.contains("swift-async-jobs: fault inside job 0x"))
            #expect(run.output.contains("it was resumed from"))
        }
        if isSanitized {
            // The sanitizer reports the fault itself and exits with its own status.
            #expect(run.exitStatus != 0)
        } else {
            #expect(run.terminationSignal == SIGSEGV, "\(run)")
            if backtracer == "yes" {
                #expect(run.output.contains("Program crashed"))
                // The job's own frames, up to the first frame of its stack.
                #expect(run.output.contains("crashingJobBody"))
                #expect(run.output.contains("job_entry"))
            } else {
                #expect(!run.output.contains("Program crashed"))
            }
        }
    }

    /// The child's side of the test above; does nothing unless started by it.
    @Test(.enabled(if: ProcessInfo.processInfo.environment[crashVariable] != nil, "run by the crash tests only"))
    func crashForTheParentTest() {
        let crash: @Sendable () -> Void = {
            _ = try? AsyncJob.start { () -> Int in
                let line = "crashing inside a job\n"
                _ = line.withCString { write(2, $0, strlen($0)) }
                return crashingJobBody(0)
            }
        }
        if ProcessInfo.processInfo.environment[crashVariable] == "thread" {
            let thread = Thread { crash() }
            thread.start()
            while true { sleep(1) }
        } else {
            crash()
        }
    }
}
