// SPDX-License-Identifier: Apache-2.0
// Dedicated pthreads for the job loop, offload workers and the simulated accelerator, and a
// parking primitive (pthread mutex + condition variable) for threads that sleep until handed
// work. Foundation's Thread would do, but the core library does not depend on Foundation.
import Glibc
import _CSystemShims
import SystemPackage

/// A joinable pthread running a Swift closure.
package struct PlatformThread: Sendable {
    private let handle: pthread_t

    /// `pthread_create` + `pthread_setname_np`: runs `body` on a new thread.
    /// - Parameter name: the thread's name, as ps, top, gdb and /proc show it (its first 15 bytes).
    /// - Returns: the thread, or the error code of `pthread_create` (EAGAIN: out of threads).
    package static func spawn(name: String, _ body: @escaping @Sendable () -> Void) -> Result<PlatformThread, Errno> {
        let start = unsafe Unmanaged.passRetained(ThreadStart(name: name, body)).toOpaque()
        var handle = pthread_t()
        let result = unsafe pthread_create(&handle, nil, threadEntry, start)
        if result != 0 {
            unsafe Unmanaged<ThreadStart>.fromOpaque(start).release()
            return .failure(Errno(rawValue: result))
        }
        return .success(PlatformThread(handle: handle))
    }

    /// `pthread_join`: waits until the thread has ended. Must be called exactly once, from
    /// another thread.
    package func join() {
        let result = pthread_join(handle, nil)
        precondition(result == 0, "pthread_join failed: \(result)")
    }

    /// An identifier of the calling thread, comparable with `==`.
    package static var currentID: UInt { UInt(pthread_self()) }

    /// The identifier of this thread (as `currentID` reads on it).
    package var id: UInt { UInt(handle) }
}

/// A thread's body, passed to the new thread through `Unmanaged`: retained by `passRetained` in
/// `PlatformThread.spawn`, released by `takeRetainedValue` in `threadEntry`.
private final class ThreadStart {
    let name: String
    let body: @Sendable () -> Void
    init(name: String, _ body: @escaping @Sendable () -> Void) {
        self.name = name
        self.body = body
    }
}

private let threadEntry: @convention(c) (UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? = { argument in
    // Balances `passRetained` in `PlatformThread.spawn`.
    let start = unsafe Unmanaged<ThreadStart>.fromOpaque(argument!).takeRetainedValue()
    _ = unsafe aj_thread_set_name(start.name)  // diagnostics only: a failure changes nothing else
    start.body()
    return nil
}

/// A thread's sleep/wake permit: `park` blocks until `unpark` was called (since the last
/// `park`), like a binary semaphore.
///
/// Invariant: `mutex` and `condition` point at initialized pthread objects (the condition on
/// CLOCK_MONOTONIC) and `permit` at a Bool, all owned by this object for its whole lifetime and
/// only touched with `mutex` held (except in `init`/`deinit`).
@safe package final class ThreadParker: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>
    private let permit: UnsafeMutablePointer<Bool>

    package init() {
        unsafe mutex = .allocate(capacity: 1)
        unsafe condition = .allocate(capacity: 1)
        unsafe permit = .allocate(capacity: 1)
        unsafe permit.initialize(to: false)
        let mutexResult = unsafe pthread_mutex_init(mutex, nil)
        precondition(mutexResult == 0, "pthread_mutex_init failed: \(mutexResult)")
        var attributes = pthread_condattr_t()
        _ = unsafe pthread_condattr_init(&attributes)
        _ = unsafe pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        let conditionResult = unsafe pthread_cond_init(condition, &attributes)
        _ = unsafe pthread_condattr_destroy(&attributes)
        precondition(conditionResult == 0, "pthread_cond_init failed: \(conditionResult)")
    }

    deinit {
        _ = unsafe pthread_cond_destroy(condition)
        _ = unsafe pthread_mutex_destroy(mutex)
        unsafe condition.deallocate()
        unsafe mutex.deallocate()
        unsafe permit.deinitialize(count: 1)
        unsafe permit.deallocate()
    }

    /// Blocks until a permit is available, then takes it. Spurious wake-ups of the condition
    /// variable are absorbed here.
    package func park() {
        unsafe pthread_mutex_lock(mutex)
        while unsafe !permit.pointee {
            _ = unsafe pthread_cond_wait(condition, mutex)
        }
        unsafe permit.pointee = false
        unsafe pthread_mutex_unlock(mutex)
    }

    /// Makes a permit available and wakes the parked thread, if any.
    package func unpark() {
        unsafe pthread_mutex_lock(mutex)
        let wasAvailable = unsafe permit.pointee
        unsafe permit.pointee = true
        unsafe pthread_mutex_unlock(mutex)
        if !wasAvailable { _ = unsafe pthread_cond_signal(condition) }
    }
}
