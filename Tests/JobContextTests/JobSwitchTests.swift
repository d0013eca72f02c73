// SPDX-License-Identifier: Apache-2.0
// The job-level switch (`_ajctx_prepare` / `_ajctx_resume` / `_ajctx_suspend` / `_ajctx_exit`)
// on stacks mapped here: the cycle the Swift library drives, without the library. With the Swift
// runtime linked, each switch also swaps the exclusivity access set.
import Testing
import _CJobContext

/// What a test job does, read from `owner`: a log it appends to, and how deep it pauses.
private struct JobScript {
    var log: [String] = []
    var pauseDepth = 0
    var intactFrames = 0
}

@inline(never) private func keepInMemory(_ frame: UnsafeMutableRawPointer) { _ = frame.load(as: UInt8.self) }

@inline(never) private func pauseAtDepth(
    _ depth: Int, _ job: UnsafeMutablePointer<_ajctx_job>, _ script: UnsafeMutablePointer<JobScript>
) -> Int {
    var frame = (depth, ~depth)
    withUnsafeMutableBytes(of: &frame) { keepInMemory($0.baseAddress!) }
    var intactBelow = 0
    if depth >= script.pointee.pauseDepth {
        script.pointee.log.append("paused at \(depth)")
        _ajctx_suspend(job)
    } else {
        intactBelow = pauseAtDepth(depth + 1, job, script)
    }
    return intactBelow + (frame == (depth, ~depth) ? 1 : 0)
}

/// Logs, pauses, logs, pauses (at the scripted depth), logs, exits. Holds no Swift reference
/// across a switch: the script is raw memory.
private func scriptedJob(_ job: UnsafeMutablePointer<_ajctx_job>) {
    let script = job.pointee.owner!.assumingMemoryBound(to: JobScript.self)
    script.pointee.log.append("a")
    _ajctx_suspend(job)
    script.pointee.log.append("b")
    if script.pointee.pauseDepth > 0 {
        script.pointee.intactFrames = pauseAtDepth(1, job, script)
    } else {
        _ajctx_suspend(job)
    }
    script.pointee.log.append("c")
    _ajctx_exit(job)
}

@Suite struct JobSwitchTests {
    /// Runs `scriptedJob` to completion `runs` times on one stack, resuming until it exits.
    private func runScript(stackBytes: Int, pauseDepth: Int, runs: Int) -> [JobScript] {
        let stack = TestStack(usableBytes: stackBytes)
        let job = UnsafeMutablePointer<_ajctx_job>.allocate(capacity: 1)
        job.initialize(to: _ajctx_job())
        let script = UnsafeMutablePointer<JobScript>.allocate(capacity: 1)
        defer {
            _ajctx_release(job)
            job.deinitialize(count: 1)
            job.deallocate()
            script.deinitialize(count: 1)
            script.deallocate()
        }
        job.pointee.stack_low = stack.low
        job.pointee.stack_size = stack.usableBytes
        job.pointee.entry = scriptedJob
        job.pointee.owner = UnsafeMutableRawPointer(script)
        job.pointee.wake_fd = -1
        var results: [JobScript] = []
        script.initialize(to: JobScript())
        for _ in 0..<runs {
            script.pointee = JobScript(pauseDepth: pauseDepth)
            _ajctx_prepare(job)
            for resume in 0..<3 {
                _ajctx_resume(job)
                script.pointee.log.append("resumer \(resume)")
            }
            results.append(script.pointee)
        }
        withExtendedLifetime(stack) {}
        return results
    }

    @Test(arguments: [16 << 10, 64 << 10, 256 << 10])
    func jobPausesTwiceThenExitsAndRunsAgainOnTheSameStack(stackBytes: Int) {
        let runs = runScript(stackBytes: stackBytes, pauseDepth: 0, runs: 3)
        for run in runs {
            #expect(run.log == ["a", "resumer 0", "b", "resumer 1", "c", "resumer 2"])
        }
    }

    @Test(arguments: [64 << 10, 256 << 10])
    func pauseAtDepthResumesInOrder(stackBytes: Int) {
        let runs = runScript(stackBytes: stackBytes, pauseDepth: 100, runs: 2)
        for run in runs {
            #expect(run.log == ["a", "resumer 0", "b", "paused at 100", "resumer 1", "c", "resumer 2"])
            #expect(run.intactFrames == 100)
        }
    }
}
