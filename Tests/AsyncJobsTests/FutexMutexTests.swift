// SPDX-License-Identifier: Apache-2.0
// The package's lock (System/FutexMutex.swift): mutual exclusion under contention, and a thread
// that finds the lock held sleeps until the holder unlocks, then gets it; errno survives both.
import AsyncJobs
import Foundation
import Testing

@Suite("Futex mutex")
struct FutexMutexTests {
    @Test func contendedIncrementsAreNeverLost() {
        let counter = FutexMutex(0)
        let threads = 4
        let rounds = 50_000
        let done = DispatchGroup()
        for _ in 0..<threads {
            done.enter()
            Thread {
                for _ in 0..<rounds { counter.withLock { $0 += 1 } }
                done.leave()
            }.start()
        }
        done.wait()
        #expect(counter.withLock { $0 } == threads * rounds)
    }

    @Test func lockingAndUnlockingLeaveErrnoAsItWas() {
        // A contended lock sleeps in the kernel, whose futex call sets errno when the lock was
        // released before the sleep began (EAGAIN): hammered from 8 threads, that happens often.
        let counter = FutexMutex(0)
        let changed = FutexMutex(0)
        let done = DispatchGroup()
        for _ in 0..<8 {
            done.enter()
            Thread {
                var seen = 0
                for _ in 0..<100_000 {
                    errno = EBADF
                    counter.withLock { value in
                        for _ in 0..<50 { value = (value &* 31) &+ 1 }
                    }
                    if errno != EBADF { seen += 1 }
                }
                changed.withLock { $0 += seen }
                done.leave()
            }.start()
        }
        done.wait()
        #expect(changed.withLock { $0 } == 0)
    }

    @Test func aWaiterGetsTheLockOnceTheHolderUnlocks() {
        let log = FutexMutex([String]())
        let holding = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let waiterDone = DispatchSemaphore(value: 0)
        Thread {
            log.withLock { entries in
                holding.signal()
                release.wait()
                entries.append("holder")
            }
        }.start()
        holding.wait()
        Thread {
            log.withLock { $0.append("waiter") }
            waiterDone.signal()
        }.start()
        // Lets the waiter reach the lock and sleep on it (the path that needs a wake-up); the
        // order asserted below holds however long this takes.
        Thread.sleep(forTimeInterval: 0.05)
        release.signal()
        waiterDone.wait()
        #expect(log.withLock { $0 } == ["holder", "waiter"])
    }
}
