// SPDX-License-Identifier: Apache-2.0
// OpenSSL 3.2's ASYNC_set_mem_functions / ASYNC_get_mem_functions: C stack allocation functions
// become the StackAllocator of pools created afterwards (JobPool.defaultStackAllocator), on every
// thread, as in OpenSSL, where the functions are used when jobs are made. Stacks from them have
// no guard page: the core's canary, checked at every pause and finish, guards them instead.
import AsyncJobs
import CAsyncJobsCompat
import Glibc

/// Job stacks from a C allocation function pair.
@unsafe struct ForeignStackAllocator: StackAllocator, @unchecked Sendable {
    let allocate: ForeignFunction<SAJ_stack_alloc_fn>
    let deallocate: ForeignFunction<SAJ_stack_free_fn>

    func allocateStack(minimumByteCount: Int) -> StackMemory? {
        var granted = minimumByteCount
        guard let base = unsafe allocate.value(&granted) else { return nil }
        // The core needs 16-byte alignment and at least the requested size. The stack is
        // recorded with exactly the requested size, so the pool keeps reusing it (a pool
        // frees jobs whose stack size differs from its own).
        guard granted >= minimumByteCount, UInt(bitPattern: base) & 15 == 0 else {
            unsafe deallocate.value(base)
            return nil
        }
        return unsafe StackMemory(base: base, byteCount: minimumByteCount)
    }

    func deallocateStack(_ stack: StackMemory) {
        unsafe deallocate.value(stack.base)
    }
}

/// The functions `SAJ_get_mem_functions` reports before any are set (OpenSSL reports its own
/// defaults too). Setting exactly this pair brings back the guarded default allocator.
enum DefaultStackFunctions {
    static let allocate: SAJ_stack_alloc_fn = { size in unsafe malloc(size.pointee) }
    static let deallocate: SAJ_stack_free_fn = { address in unsafe free(address) }
}

@c @implementation
public func SAJ_set_mem_functions(_ allocate: SAJ_stack_alloc_fn?, _ deallocate: SAJ_stack_free_fn?) -> Int32 {
    let current = unsafe currentStackFunctions()
    // OpenSSL: a NULL argument keeps the function in place.
    let newAllocate = unsafe ForeignFunction(allocate ?? current.allocate)
    let newDeallocate = unsafe ForeignFunction(deallocate ?? current.deallocate)
    if unsafe newAllocate.bits == ForeignFunction(DefaultStackFunctions.allocate).bits
        && newDeallocate.bits == ForeignFunction(DefaultStackFunctions.deallocate).bits
    {
        JobPool.defaultStackAllocator = GuardedStackAllocator()
    } else {
        JobPool.defaultStackAllocator = unsafe ForeignStackAllocator(allocate: newAllocate, deallocate: newDeallocate)
    }
    return 1
}

@c @implementation
public func SAJ_get_mem_functions(
    _ allocate: UnsafeMutablePointer<SAJ_stack_alloc_fn?>?, _ deallocate: UnsafeMutablePointer<SAJ_stack_free_fn?>?
) {
    let current = unsafe currentStackFunctions()
    if let allocate = unsafe allocate { unsafe allocate.pointee = current.allocate }
    if let deallocate = unsafe deallocate { unsafe deallocate.pointee = current.deallocate }
}

private func currentStackFunctions() -> (allocate: SAJ_stack_alloc_fn, deallocate: SAJ_stack_free_fn) {
    if let foreign = unsafe JobPool.defaultStackAllocator as? ForeignStackAllocator {
        return unsafe (foreign.allocate.value, foreign.deallocate.value)
    }
    return unsafe (DefaultStackFunctions.allocate, DefaultStackFunctions.deallocate)
}
