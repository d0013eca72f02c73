// SPDX-License-Identifier: Apache-2.0
// Turns the readability of engines' wait descriptors into calls of a handler, without reading
// them: SwiftNIO 2.101 has no public "watch this fd" API, so one thread waits in epoll
// (edge-triggered) and hands each readiness to the handler registered for its token, which
// hops to the event loop. The engine drains its own descriptor when its job resumes.
//
// Invariants: the wake eventfd is registered under `wakeToken` from init until the thread has
// ended; a descriptor is in the epoll set only between `watch` and `unwatch`; handlers are called
// on the watcher thread, outside the lock.
import Foundation
import Synchronization
import SystemPackage
import _CAsyncJobsNIOShims

/// Watches descriptors for readability on a thread of its own and calls a handler per token.
///
/// - Important: every method may be called from any thread. Call ``shutdown()`` when done (the
///   thread keeps the watcher alive until then); the descriptors themselves belong to their engines (the watcher never reads or closes them).
/// OpenSSL equivalent: the `select`/`poll` on `ASYNC_WAIT_CTX_get_all_fds()` an application
/// writes around `ASYNC_start_job()`.
public final class DescriptorWatcher: Sendable {
    private struct State {
        var handlers: [UInt64: @Sendable () -> Void] = [:]
        var stopped = false
    }

    private let epoll: Int32
    private let wake: Int32
    private let state = Mutex(State())
    private let finished = DispatchSemaphore(value: 0)
    private static var wakeToken: UInt64 { UInt64.max }

    /// Creates the watcher and starts its thread.
    /// - Throws: `Errno` if the epoll or eventfd descriptor cannot be made.
    public init() throws {
        let epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epoll >= 0 else { throw SystemPackage.Errno(rawValue: errno) }
        let wake = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
        guard wake >= 0 else {
            let error = SystemPackage.Errno(rawValue: errno)
            close(epoll)
            throw error
        }
        var event = epoll_event(events: EPOLLIN.rawValue, data: epoll_data_t(u64: Self.wakeToken))
        guard epoll_ctl(epoll, EPOLL_CTL_ADD, wake, &event) == 0 else {
            let error = SystemPackage.Errno(rawValue: errno)
            close(epoll)
            close(wake)
            throw error
        }
        self.epoll = epoll
        self.wake = wake
        startThread()
    }

    private func startThread() {
        let thread = Thread { self.run() }
        thread.name = "aj-nio-watcher"
        thread.start()
    }

    /// Sets the handler called when a descriptor watched under `token` becomes readable.
    /// - Parameter token: any value but `UInt64.max`.
    public func setHandler(_ token: UInt64, _ handler: @escaping @Sendable () -> Void) {
        precondition(token != Self.wakeToken, "DescriptorWatcher: token UInt64.max is reserved")
        state.withLock { $0.handlers[token] = handler }
    }

    /// Starts watching `fd` (edge-triggered): the handler of `token` is called each time it
    /// becomes readable, and at once if it is readable now.
    /// - Returns: false if epoll refused it (for example, it is closed already).
    @discardableResult
    public func watch(_ fd: SystemPackage.FileDescriptor, token: UInt64) -> Bool {
        var event = epoll_event(events: EPOLLIN.rawValue | EPOLLET.rawValue, data: epoll_data_t(u64: token))
        return epoll_ctl(epoll, EPOLL_CTL_ADD, fd.rawValue, &event) == 0
    }

    /// Stops watching `fd` (harmless if it is not watched or already closed).
    public func unwatch(_ fd: SystemPackage.FileDescriptor) {
        var event = epoll_event()
        _ = epoll_ctl(epoll, EPOLL_CTL_DEL, fd.rawValue, &event)
    }

    /// Stops the thread and closes the watcher's own descriptors; waits until it has ended.
    /// Idempotent.
    public func shutdown() {
        let first = state.withLock { state -> Bool in
            defer { state.stopped = true }
            return !state.stopped
        }
        guard first else { return }
        var one: UInt64 = 1
        _ = write(wake, &one, MemoryLayout<UInt64>.size)
        finished.wait()
        close(epoll)
        close(wake)
    }

    private func run() {
        // Foundation's `Thread.name` does not reach the kernel's name of the thread here, which
        // `top -H`, `perf` and `/proc/<pid>/task/*/comm` show: name it from the thread itself.
        aj_nio_name_current_thread("aj-nio-watcher")
        var events = [epoll_event](repeating: epoll_event(), count: 256)
        while true {
            let count = epoll_wait(epoll, &events, Int32(events.count), -1)
            if count < 0 {
                if errno == EINTR { continue }
                preconditionFailure("DescriptorWatcher: epoll_wait failed: \(SystemPackage.Errno(rawValue: errno))")
            }
            var calls: [@Sendable () -> Void] = []
            var stop = false
            state.withLock { state in
                for index in 0..<Int(count) {
                    let token = events[index].data.u64
                    if token == Self.wakeToken {
                        stop = state.stopped
                    } else if let handler = state.handlers[token] {
                        calls.append(handler)
                    }
                }
            }
            for call in calls { call() }
            if stop {
                finished.signal()
                return
            }
        }
    }
}
