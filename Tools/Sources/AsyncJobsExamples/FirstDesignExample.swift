// SPDX-License-Identifier: Apache-2.0
// The EXAMPLE program of the first manual page (ASYNC_start_job.pod, 2015), in Swift: a job that
// wakes itself through its own wait descriptor, pauses, and is resumed once the descriptor is
// readable. Its output is exactly the page's expected output.
import AsyncJobs
import Glibc
import SystemPackage

/// The manual pages' example programs, written against the Swift API.
public enum ManPageExamples {
    /// Runs the first page's example, sending each line of output to `output`.
    /// - Returns: the process exit status (0 on success).
    @discardableResult
    public static func firstDesign(output: @escaping @Sendable (String) -> Void) -> Int32 {
        let message = "Hello world!"

        func jobFunction(_ message: String) -> Int32 {
            guard let currentJob = AsyncJob.current else {
                output("Not executing within a job - should not happen")
                return 0
            }
            output("Executing within a job")
            output("Passed in message is: \(message)")
            // Normally some external event would cause this to happen at some later point, but we
            // do it here for demo purposes: the job is ready to be woken as soon as it pauses.
            currentJob.wake()
            // Return control back to the caller of start.
            _ = AsyncJob.pause()
            // Clear the wake signal.
            currentJob.clearWake()
            output("Resumed the job after a pause")
            return 1
        }

        var status: Int32 = 0
        // We only expect one job here, so the pool holds exactly one.
        do {
            try JobPool.configure(maxSize: 1, initialSize: 1)
        } catch {
            output("Error creating pool")
            output("Finishing")
            return 1
        }
        output("Starting...")
        do {
            var outcome = try AsyncJob.start { jobFunction(message) }
            loop: while true {
                switch consume outcome {
                case .noJobsAvailable:
                    output("An error occurred")
                    status = 1
                    break loop
                case .paused(let job):
                    output("Job was paused")
                    // Wait for the job to be woken.
                    output("Waiting for the job to be woken up")
                    let waitFD = try job.waitFD()
                    waitUntilReadable(waitFD)
                    outcome = job.resume()
                case .finished(let returnValue):
                    output("Job finished with return value \(returnValue)")
                    break loop
                }
            }
        } catch {
            output("An error occurred")
            status = 1
        }
        output("Finishing")
        JobPool.cleanUp()
        return status
    }

    /// The page's expected output.
    public static let firstDesignTranscript = [
        "Starting...",
        "Executing within a job",
        "Passed in message is: Hello world!",
        "Job was paused",
        "Waiting for the job to be woken up",
        "Resumed the job after a pause",
        "Job finished with return value 1",
        "Finishing",
    ]
}

/// Blocks until `fd` is readable (`select` in the page; `poll` here, which has no FD_SETSIZE
/// limit).
func waitUntilReadable(_ fd: FileDescriptor) {
    var descriptor = pollfd(fd: fd.rawValue, events: Int16(POLLIN), revents: 0)
    while poll(&descriptor, 1, -1) < 0 && errno == EINTR {}
}
