// SPDX-License-Identifier: Apache-2.0
// A mutex over pthread_mutex_t, with the `withLock` shape of Synchronization's `Mutex`.
//
// Why not Synchronization.Mutex: on Linux its contended path (`_lockSlow`, in the uninstrumented
// library) hands the lock over inside the kernel (PI futex), so ThreadSanitizer sees no
// happens-before edge between two holders and reports every contended critical section as a
// race. ThreadSanitizer intercepts pthread mutexes, so with this lock its reports are real ones.
// Uncontended cost is the same order (an atomic exchange each way). Every module of the package,
// and its tests, use this lock by its own name; `Mutex` always means Synchronization's.
import Glibc

/// A value protected by a pthread mutex.
///
/// One allocation holds both: the value is the header of a `ManagedBuffer` and the
/// `pthread_mutex_t` its one tail element, so the mutex has a stable address for the buffer's
/// life without an allocation of its own (a lock per engine request made two allocations and an
/// aligned one, about 450 instructions of the loop thread's 3,100 per operation). Copies share
/// the lock, like references to one object.
///
/// Invariant: the header is only read or written between `pthread_mutex_lock` and
/// `pthread_mutex_unlock` of the tail element, which is initialised when the buffer is made and
/// destroyed in its `deinit`.
@usableFromInline @safe package struct PosixMutex<Value>: @unchecked Sendable {
    /// The value and the mutex (see the type's invariant).
    @usableFromInline @safe final class Storage: ManagedBuffer<Value, pthread_mutex_t> {
        deinit {
            _ = unsafe withUnsafeMutablePointerToElements { unsafe pthread_mutex_destroy($0) }
        }
    }

    @usableFromInline let storage: Storage

    /// Creates the lock around `value`. Inlinable for the same reason as `withLock` (an engine
    /// may make one per request).
    @inlinable
    package init(_ value: consuming Value) {
        let initial = consume value
        let buffer = unsafe Storage.create(minimumCapacity: 1) { _ in initial }
        storage = unsafe unsafeDowncast(buffer, to: Storage.self)
        let result = unsafe storage.withUnsafeMutablePointerToElements { unsafe pthread_mutex_init($0, nil) }
        precondition(result == 0, "pthread_mutex_init failed: \(result)")
    }

    /// Runs `body` with exclusive access to the value. Inlinable: the other modules of the package
    /// (the loop, the C library) would otherwise call an unspecialized generic that looks up
    /// `Value`'s metadata at every lock.
    @inlinable @inline(__always)
    package func withLock<Result, Failure: Error>(
        _ body: (inout Value) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        try unsafe storage.withUnsafeMutablePointers { (value, mutex) throws(Failure) -> Result in
            let locked = unsafe pthread_mutex_lock(mutex)
            precondition(locked == 0, "pthread_mutex_lock failed: \(locked)")
            defer { _ = unsafe pthread_mutex_unlock(mutex) }
            return try unsafe body(&value.pointee)
        }
    }
}
