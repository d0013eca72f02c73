// SPDX-License-Identifier: Apache-2.0
// Where job stacks come from. The default allocator maps each stack with a PROT_NONE guard page
// below it; a custom allocator (OpenSSL 3.2's ASYNC_set_mem_functions) returns plain memory,
// and such stacks are protected by the canary that every pause and finish checks.

/// A block of memory used as one job's stack.
///
/// Invariant: `[base, base + byteCount)` is readable and writable and stays valid until it is
/// given back to the allocator that returned it.
@safe public struct StackMemory: @unchecked Sendable, Hashable {
    /// Lowest usable address.
    public let base: UnsafeMutableRawPointer
    /// Usable size in bytes.
    public let byteCount: Int
    /// Whether an inaccessible guard region sits directly below `base`.
    public let hasGuardPage: Bool

    public static func == (lhs: StackMemory, rhs: StackMemory) -> Bool {
        unsafe lhs.base == rhs.base && lhs.byteCount == rhs.byteCount && lhs.hasGuardPage == rhs.hasGuardPage
    }

    public func hash(into hasher: inout Hasher) {
        unsafe hasher.combine(base)
        hasher.combine(byteCount)
    }

    /// Describes memory that a custom allocator hands out.
    public init(base: UnsafeMutableRawPointer, byteCount: Int, hasGuardPage: Bool = false) {
        unsafe self.base = base
        self.byteCount = byteCount
        self.hasGuardPage = hasGuardPage
    }
}

/// A source of job stacks.
///
/// Stacks are requested when a pool makes a job (never on every start: jobs and their stacks are
/// pooled) and given back when the pool frees the job.
/// - Important: both methods are called on the thread that owns the pool.
/// OpenSSL equivalent: `ASYNC_set_mem_functions()` (3.2).
public protocol StackAllocator: Sendable {
    /// Returns at least `minimumByteCount` bytes, 16-byte aligned, or `nil` when none is available.
    func allocateStack(minimumByteCount: Int) -> StackMemory?
    /// Gives back a stack that `allocateStack` returned.
    func deallocateStack(_ stack: StackMemory)
}

/// The default allocator: each stack is its own mapping (`MAP_NORESERVE`, so untouched pages cost
/// nothing) with a `PROT_NONE` guard page below it, so an overflow faults instead of corrupting
/// memory.
/// OpenSSL equivalent: none (OpenSSL mallocs unguarded 32 KiB stacks).
public struct GuardedStackAllocator: StackAllocator {
    /// Creates the default allocator.
    public init() {}

    public func allocateStack(minimumByteCount: Int) -> StackMemory? {
        let page = VirtualMemory.pageSize
        let usable = (minimumByteCount + page - 1) / page * page
        guard case .success(let mapping) = unsafe VirtualMemory.mapStack(byteCount: usable + page) else {
            return nil
        }
        guard case .success = unsafe VirtualMemory.protectNone(mapping, byteCount: page) else {
            unsafe VirtualMemory.unmap(mapping, byteCount: usable + page)
            return nil
        }
        return unsafe StackMemory(base: mapping + page, byteCount: usable, hasGuardPage: true)
    }

    public func deallocateStack(_ stack: StackMemory) {
        let page = VirtualMemory.pageSize
        unsafe VirtualMemory.unmap(stack.base - page, byteCount: stack.byteCount + page)
    }
}
