// SPDX-License-Identifier: Apache-2.0
// Runs one test of this test binary in a child process, with its stdout and stderr read through
// one pipe until end of file or a deadline: a test of what a process does when it crashes (its
// output must end, and its pipes close, the way they do for a crash outside a job).
import Foundation
import Glibc

/// How a child process ended, and everything it wrote to stdout and stderr.
struct ChildRun {
    /// Everything the child (and any process it started) wrote before the pipe closed.
    var output: String
    /// Whether the pipe closed and the child ended before the deadline.
    var endedBeforeDeadline: Bool
    /// The signal that ended the child, if one did.
    var terminationSignal: Int32?
    /// The child's exit status, if it exited.
    var exitStatus: Int32?
}

enum ChildProcess {
    /// Runs the tests of this binary that `filter` selects in a child process, with
    /// `environment` added to this process's environment, in a process group of its own. Reads
    /// its output until the pipe closes (every process holding it ended or closed it) or until
    /// `deadline` seconds pass; at the deadline the whole group is killed.
    static func runTests(filter: String, environment: [String: String], deadline: Double) -> ChildRun {
        var pipeFDs: [Int32] = [0, 0]
        precondition(pipe(&pipeFDs) == 0, "pipe: \(errno)")
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawn_file_actions_adddup2(&actions, pipeFDs[1], 1)
        posix_spawn_file_actions_adddup2(&actions, pipeFDs[1], 2)
        posix_spawn_file_actions_addclose(&actions, pipeFDs[0])
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attributes, 0)
        let executable = "/proc/self/exe"
        let arguments = [executable, "--testing-library", "swift-testing", "--filter", filter]
        var merged = ProcessInfo.processInfo.environment
        for (key, value) in environment { merged[key] = value }
        let argv = arguments.map { strdup($0) } + [nil]
        let envp = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
            posix_spawn_file_actions_destroy(&actions)
            posix_spawnattr_destroy(&attributes)
        }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        close(pipeFDs[1])
        precondition(spawned == 0, "posix_spawn: \(spawned)")

        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        let end = Date().addingTimeInterval(deadline)
        var closed = false
        while !closed {
            let remaining = end.timeIntervalSinceNow
            if remaining <= 0 { break }
            var descriptor = pollfd(fd: pipeFDs[0], events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, Int32(min(remaining * 1000, 1000)))
            if ready < 0 && errno == EINTR { continue }
            if ready <= 0 { continue }
            let count = buffer.withUnsafeMutableBytes { read(pipeFDs[0], $0.baseAddress, $0.count) }
            if count > 0 { output += buffer[0..<count] } else if count == 0 || errno != EINTR { closed = true }
        }
        close(pipeFDs[0])
        if !closed { kill(-pid, SIGKILL) }
        var status: Int32 = 0
        // The child itself has ended once its pipe closed (or was just killed).
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let signal = status & 0x7f
        return ChildRun(
            output: String(decoding: output, as: UTF8.self),
            endedBeforeDeadline: closed,
            terminationSignal: signal != 0 && signal != 0x7f ? signal : nil,
            exitStatus: signal == 0 ? (status >> 8) & 0xff : nil)
    }
}
