// SPDX-License-Identifier: Apache-2.0
// A mutex over a futex word, with the `withLock` shape of Synchronization's `Mutex`.
//
// Why not Synchronization.Mutex: on Linux its contended path (`_lockSlow`, in the uninstrumented
// library) hands the lock over inside the kernel (PI futex), so ThreadSanitizer sees no
// happens-before edge between two holders and reports every contended critical section as a
// race. Why not pthread_mutex_t (this lock's first form): its lock and unlock took about 53
// instructions a pair here, a sixth of a wait context's set + clear. This lock is the classic
// three-state futex mutex (_CSystemShims: `aj_mutex_lock`/`aj_mutex_unlock`): one atomic
// operation each way when uncontended, and every hand-over is an acquire/release pair on the
// word in code that ThreadSanitizer instruments, so it sees the same edges it saw through its
// pthread interceptors. Like a pthread mutex, it leaves errno as it found it: its contended
// paths call the kernel, which sets errno, and a C caller may check errno after a wait-context
// call that took the lock. Every module of the package, and its tests, use this lock by its own
// name; `Mutex` always means Synchronization's.
import _CSystemShims

/// A value protected by a futex lock.
///
/// One allocation holds both: the value is the header of a `ManagedBuffer` and the lock's word
/// its one tail element, so the word has a stable address for the buffer's life without an
/// allocation of its own (a lock per engine request made two allocations and an aligned one,
/// about 450 instructions of the loop thread's 3,100 per operation). Copies share the lock, like
/// references to one object.
///
/// Invariant: the header is only read or written between `aj_mutex_lock` and `aj_mutex_unlock`
/// of the tail element, which is 0 (unlocked) when the buffer is made and is only ever accessed
/// by those two functions' atomic operations.
@usableFromInline @safe package struct FutexMutex<Value>: @unchecked Sendable {
    /// The value and the lock's word (see the type's invariant).
    @usableFromInline @safe final class Storage: ManagedBuffer<Value, UInt32> {}

    @usableFromInline let storage: Storage

    /// Creates the lock around `value`. Inlinable for the same reason as `withLock` (an engine
    /// may make one per request).
    @inlinable
    package init(_ value: consuming Value) {
        let initial = consume value
        let buffer = Storage.create(minimumCapacity: 1) { _ in initial }
        storage = unsafe unsafeDowncast(buffer, to: Storage.self)
        unsafe storage.withUnsafeMutablePointerToElements { unsafe $0.initialize(to: 0) }
    }

    /// Creates the lock around `value`, its word followed by at least `trailingBytes` bytes
    /// that nothing touches. With padding at the start of `value` as well, a lock that one
    /// thread takes at a high rate shares no cache line with whatever the allocator places
    /// beside it (a lock per submitting thread, as an engine's submission shards are).
    package init(_ value: consuming Value, trailingBytes: Int) {
        let initial = consume value
        let words = 1 + (max(0, trailingBytes) + MemoryLayout<UInt32>.stride - 1) / MemoryLayout<UInt32>.stride
        let buffer = Storage.create(minimumCapacity: words) { _ in initial }
        storage = unsafe unsafeDowncast(buffer, to: Storage.self)
        unsafe storage.withUnsafeMutablePointerToElements { unsafe $0.initialize(repeating: 0, count: words) }
    }

    /// Runs `body` with exclusive access to the value. Inlinable: the other modules of the package
    /// (the loop, the C library) would otherwise call an unspecialized generic that looks up
    /// `Value`'s metadata at every lock.
    @inlinable @inline(__always)
    package func withLock<Result, Failure: Error>(
        _ body: (inout Value) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        try unsafe storage.withUnsafeMutablePointers { (value, word) throws(Failure) -> Result in
            unsafe aj_mutex_lock(word)
            defer { unsafe aj_mutex_unlock(word) }
            return try unsafe body(&value.pointee)
        }
    }
}
