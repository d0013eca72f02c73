// SPDX-License-Identifier: Apache-2.0
// A mutex over pthread_mutex_t, with the `withLock` shape of Synchronization's `Mutex`.
//
// Why not Synchronization.Mutex: on Linux its contended path (`_lockSlow`, in the uninstrumented
// library) hands the lock over inside the kernel (PI futex), so ThreadSanitizer sees no
// happens-before edge between two holders and reports every contended critical section as a
// race. ThreadSanitizer intercepts pthread mutexes, so with this lock its reports are real ones.
// Uncontended cost is the same order (an atomic exchange each way).
import Glibc

/// Inside this module `Mutex` means `PosixMutex` (see the file comment).
typealias Mutex = PosixMutex

/// A value protected by a pthread mutex.
///
/// Invariant: `value` is only read or written between `pthread_mutex_lock` and
/// `pthread_mutex_unlock` of `mutex`, which lives in its own allocation for the object's life.
@safe package final class PosixMutex<Value>: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var value: Value

    /// Creates the lock around `value`.
    package init(_ value: consuming Value) {
        unsafe mutex = .allocate(capacity: 1)
        let result = unsafe pthread_mutex_init(mutex, nil)
        precondition(result == 0, "pthread_mutex_init failed: \(result)")
        self.value = value
    }

    deinit {
        _ = unsafe pthread_mutex_destroy(mutex)
        unsafe mutex.deallocate()
    }

    /// Runs `body` with exclusive access to the value.
    @inline(__always)
    package func withLock<Result, Failure: Error>(
        _ body: (inout Value) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        let locked = unsafe pthread_mutex_lock(mutex)
        precondition(locked == 0, "pthread_mutex_lock failed: \(locked)")
        defer { _ = unsafe pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
