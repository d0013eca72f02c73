// SPDX-License-Identifier: Apache-2.0
// A small number per thread, for engines that give each submitting thread a share of their
// state of its own (the simulated accelerator's submission shards): two threads with
// different numbers then never write the same cache line when they submit. Numbers are handed
// out in the order threads first ask; a job loop claims one as its thread starts, so the loops
// of a group, started together, get consecutive numbers (and so different shards, as long as
// an engine has at least as many shards as the group has loops).
import Glibc
import Synchronization

/// The calling thread's submitter number, kept in a pthread key.
///
/// Invariant: the key's value on a thread is 0 (no number yet) or the thread's number + 1.
package enum SubmitterNumber {
    private static let next = Atomic<Int>(0)

    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        let result = unsafe pthread_key_create(&key, nil)
        precondition(result == 0, "pthread_key_create failed: \(result) (the process is out of thread keys)")
        return key
    }()

    /// The calling thread's number, given to it now if it has none. Any thread.
    package static var current: Int {
        let stored = Int(bitPattern: unsafe pthread_getspecific(key))
        return stored != 0 ? stored - 1 : claim()
    }

    /// Reserves `count` consecutive numbers that no thread will claim, and returns the first.
    package static func reserve(_ count: Int) -> Int {
        next.wrappingAdd(max(0, count), ordering: .relaxed).oldValue & (Int.max >> 1)
    }

    /// Gives the calling thread `number` (one of a ``reserve(_:)``'s).
    package static func adopt(_ number: Int) {
        let result = unsafe pthread_setspecific(key, UnsafeRawPointer(bitPattern: (number & (Int.max >> 1)) + 1))
        precondition(result == 0, "pthread_setspecific failed: \(result)")
    }

    /// Gives the calling thread the next number (replacing any it had) and returns it.
    @discardableResult
    package static func claim() -> Int {
        // Numbers are only ever used modulo a shard count: masking keeps number + 1 positive
        // however many threads claim one.
        let number = reserve(1)
        adopt(number)
        return number
    }
}
