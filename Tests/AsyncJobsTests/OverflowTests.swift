// SPDX-License-Identifier: Apache-2.0
// Stack overflow is always detected and reported with the job and its stack size: by the guard
// page of the default allocator, or by the canary on stacks without one.
import AsyncJobs
import Foundation
import Testing

/// Recurses with a 1 KiB frame until the stack runs out.
@inline(never)
func recurseDeeply(_ depth: Int) -> Int {
    var frame = [UInt8](repeating: 0, count: 1)
    return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 1024) { buffer in
        buffer.initialize(repeating: UInt8(truncatingIfNeeded: depth))
        frame[0] = buffer[depth % 1024]
        return depth > 1_000_000 ? Int(frame[0]) : recurseDeeply(depth + 1) + Int(buffer[0])
    }
}

/// About `depth` KiB of frames: with 24 on a 16 KiB stack, into the spare memory below it.
func digBelowSixteenKiB(_ depth: Int) -> Int {
    withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 1024) { buffer in
        buffer.initialize(repeating: 1)
        return depth == 0 ? Int(buffer[0]) : digBelowSixteenKiB(depth - 1) + Int(buffer[1])
    }
}

/// Hands out stacks with 64 KiB of spare memory below them and no guard page: an overrun lands in
/// the spare memory, overwriting only the canary.
final class UnguardedAllocator: StackAllocator, @unchecked Sendable {
    let slack = 64 * 1024
    func allocateStack(minimumByteCount: Int) -> StackMemory? {
        let total = minimumByteCount + slack
        guard let memory = malloc(total) else { return nil }
        return StackMemory(base: memory + slack, byteCount: minimumByteCount, hasGuardPage: false)
    }
    func deallocateStack(_ stack: StackMemory) {
        free(stack.base - slack)
    }
}

/// `UnguardedAllocator` that remembers the last stack it handed out.
final class RecordingAllocator: StackAllocator, @unchecked Sendable {
    nonisolated(unsafe) static var lastBase: UnsafeMutableRawPointer?
    let inner = UnguardedAllocator()
    func allocateStack(minimumByteCount: Int) -> StackMemory? {
        let stack = inner.allocateStack(minimumByteCount: minimumByteCount)
        RecordingAllocator.lastBase = stack?.base
        return stack
    }
    func deallocateStack(_ stack: StackMemory) {
        inner.deallocateStack(stack)
    }
}

/// Whether this process runs under AddressSanitizer.
let isAddressSanitized = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "__asan_init") != nil

@Suite("Stack overflow")
struct OverflowTests {
    @Test func guardPageHitIsReportedWithTheJobAndItsStackSize() async throws {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            runSynchronously {
                try! JobPool.configure(stackSize: JobPool.minimumStackSize)
                _ = try? AsyncJob.start { recurseDeeply(0) }
            }
        }
        let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(message.contains("swift-async-jobs: stack overflow in job 0x"))
        #expect(message.contains("16384-byte stack (guard page hit at 0x"))
        #expect(message.contains("JobPool.configure(stackSize:)"))
    }

    @Test func guardPageHitOnASecondaryThreadIsReportedToo() async throws {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let thread = Thread {
                try! JobPool.configure(stackSize: 32 * 1024)
                _ = try? AsyncJob.start { recurseDeeply(0) }
            }
            thread.start()
            while true { sleep(1) }
        }
        let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(message.contains("32768-byte stack (guard page hit at"))
    }

    // Under AddressSanitizer, large locals live on its fake stack, not on the job's stack.
    @Test(.disabled(if: isAddressSanitized, "ASan moves the frames off the job's stack"))
    func overwrittenCanaryIsReportedAtTheNextPause() async throws {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            runSynchronously {
                try! JobPool.configure(stackSize: JobPool.minimumStackSize, allocator: UnguardedAllocator())
                _ = try? AsyncJob.start { () -> Int in
                    let value = digBelowSixteenKiB(24)
                    _ = AsyncJob.pause()
                    return value
                }
            }
        }
        let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(message.contains("swift-async-jobs: stack overflow in job 0x"))
        #expect(message.contains("stack canary overwritten"))
    }

    /// What an overrun (or a stack probe, or a zeroed buffer) might leave in the canary.
    enum Fill: String, Codable, Sendable, CaseIterable {
        case zero, alternatingBits, random

        func write(to address: UnsafeMutableRawPointer, count: Int) {
            switch self {
            case .zero: address.initializeMemory(as: UInt8.self, repeating: 0, count: count)
            case .alternatingBits: address.initializeMemory(as: UInt8.self, repeating: 0xAA, count: count)
            case .random:
                for offset in 0..<count { address.storeBytes(of: UInt8.random(in: 0...255), toByteOffset: offset, as: UInt8.self) }
            }
        }
    }

    // The canary of a custom allocator's stack is the stack's lowest 64 bytes: the job writes
    // over them as an overrun would, and the next pause must notice whatever the bytes are.
    @Test(.disabled(if: isAddressSanitized, "ASan moves the frames off the job's stack"), arguments: Fill.allCases)
    func canaryOverwrittenWithAnyPatternIsReported(fill: Fill) async throws {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) { [fill] in
            runSynchronously {
                try! JobPool.configure(stackSize: JobPool.minimumStackSize, allocator: RecordingAllocator())
                _ = try? AsyncJob.start { () -> Int in
                    fill.write(to: RecordingAllocator.lastBase!, count: 64)
                    _ = AsyncJob.pause()
                    return 0
                }
            }
        }
        let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(message.contains("stack canary overwritten"))
    }

    @Test func faultsOutsideJobStacksGoToTheEarlierHandler() async throws {
        // A null dereference outside any job still crashes the ordinary way (SIGSEGV, or the
        // sanitizer's own report in sanitizer builds).
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            runSynchronously {
                _ = try! AsyncJob.start { 1 }   // installs our handler
                let pointer = UnsafeMutablePointer<Int>(bitPattern: 8)!
                pointer.pointee = 1
            }
        }
        let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(!message.contains("swift-async-jobs: stack overflow"))
    }
}

@Suite("Guard page budget")
struct GuardBudgetTests {
    @Test func budgetFollowsTheMappingLimitWithRoomToSpare() {
        let budget = GuardedStackAllocator.guardPageBudget
        #expect(budget > 1000)
        #expect(budget * 2 < 65530 || budget * 2 < 10_000_000)
    }

    @Test func stacksPastTheBudgetHaveNoGuardPageAndAreStillProtected() async {
        // In a child process: the budget is process-wide.
        await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            runSynchronously {
                let allocator = GuardedStackAllocator()
                GuardedStackAllocator.guardPageBudget = GuardedStackAllocator.guardedStackCount + 1
                let first = allocator.allocateStack(minimumByteCount: 16 * 1024)
                let second = allocator.allocateStack(minimumByteCount: 16 * 1024)
                guard first?.hasGuardPage == true, second?.hasGuardPage == false else { exit(0) }
                // Jobs on unguarded stacks are covered by the canary.
                try! JobPool.configure(stackSize: 16 * 1024, allocator: UnguardedAllocator())
                _ = try? AsyncJob.start { () -> Int in
                    let value = digBelowSixteenKiB(24)
                    _ = AsyncJob.pause()
                    return value
                }
            }
        }
    }
}

