// SPDX-License-Identifier: Apache-2.0
import Synchronization

/// The calling thread's pool of reusable jobs.
///
/// Every thread has its own pool, created on first use with no limit and no jobs made in
/// advance. A job and its stack return to the pool when the job finishes, so starting a pooled
/// job allocates nothing. A thread's pool is freed by ``cleanUp()`` or when the thread exits.
/// - Important: all members act on the calling thread's pool only.
/// OpenSSL equivalent: `ASYNC_init_thread()` / `ASYNC_cleanup_thread()`.
public enum JobPool {
    /// Usable stack bytes of a job unless configured otherwise: 64 KiB.
    public static let defaultStackSize = 64 * 1024
    /// The smallest stack a pool accepts: 16 KiB (the Swift runtime needs several KiB the first
    /// time a type is used).
    public static let minimumStackSize = 16 * 1024

    /// What a pool is doing at a given moment.
    public struct Statistics: Hashable, Sendable {
        /// Jobs the pool owns (each with its stack): idle plus in use.
        public var jobs: Int
        /// Jobs waiting in the pool for reuse.
        public var idle: Int
        /// Jobs started and not finished (paused, or running).
        public var inUse: Int { jobs - idle }
        /// Jobs paused and waiting to be resumed.
        public var paused: Int
        /// The limit on `jobs` (0: none).
        public var maxSize: Int
        /// Usable stack bytes of each job.
        public var stackSize: Int
    }

    struct Defaults: @unchecked Sendable {
        var stackSize = JobPool.defaultStackSize
        var allocator: any StackAllocator = GuardedStackAllocator()
    }
    static let defaults = FutexMutex(Defaults())

    /// Sets the limits of the calling thread's pool, creating it if needed, and makes
    /// `initialSize` jobs now. Calling it again applies the new limits at once: idle jobs beyond
    /// a lower limit are freed; jobs in use are never touched.
    ///
    /// - Parameters:
    ///   - maxSize: most jobs the pool will own; 0 means no limit.
    ///   - initialSize: jobs to have ready now (with `maxSize == 0` too).
    ///   - stackSize: usable stack bytes per job (default: ``defaultStackSize``); idle jobs with
    ///     another size are freed, busy ones when they finish.
    ///   - allocator: where new stacks come from (default: ``defaultStackAllocator``).
    /// - Throws: ``AsyncJobError/Code/invalidPoolSize`` if `initialSize > maxSize > 0` or a size
    ///   is negative; ``AsyncJobError/Code/invalidStackSize`` below ``minimumStackSize``;
    ///   ``AsyncJobError/Code/stackAllocationFailed`` if the jobs cannot be made (the pool keeps
    ///   the ones it made).
    /// OpenSSL equivalent: `ASYNC_init_thread(max_size, init_size)`.
    public static func configure(
        maxSize: Int = 0, initialSize: Int = 0, stackSize: Int? = nil, allocator: (any StackAllocator)? = nil
    ) throws(AsyncJobError) {
        guard maxSize >= 0, initialSize >= 0, maxSize == 0 || initialSize <= maxSize else {
            throw AsyncJobError(.invalidPoolSize)
        }
        if let stackSize, stackSize < minimumStackSize { throw AsyncJobError(.invalidStackSize) }
        let pool = PoolHandle.current ?? installDefaultPool()
        pool.maxSize = maxSize
        if let stackSize { pool.stackByteCount = stackSize }
        if let allocator { pool.allocator = allocator }
        pool.trim()
        try pool.prefill(to: initialSize)
    }

    /// Frees the calling thread's pool. Jobs still paused are cancelled first: each is resumed
    /// with its pauses failing so that its code returns and releases what it holds; their
    /// handles become stale. Harmless without a pool; a later start makes a fresh one.
    /// - Returns: how many paused jobs were cancelled.
    /// - Important: must not be called from inside a job.
    /// OpenSSL equivalent: `ASYNC_cleanup_thread()`.
    @discardableResult
    public static func cleanUp() -> Int {
        precondition(JobSlot.current == nil, "JobPool.cleanUp() called from inside a job")
        guard let pool = PoolHandle.current else { return 0 }
        let cancelled = pool.cancelAndFreeAll()
        pool.destroy()
        return cancelled
    }

    /// The calling thread's pool, or nil if it has none.
    public static var statistics: Statistics? {
        guard let pool = PoolHandle.current else { return nil }
        return Statistics(
            jobs: pool.total, idle: pool.idle, paused: pool.pausedCount, maxSize: pool.maxSize,
            stackSize: pool.stackByteCount)
    }

    /// The stack size and allocator of pools created from now on, on any thread.
    /// OpenSSL equivalent: `ASYNC_set_mem_functions()` (3.2) for the allocator.
    public static var defaultStackAllocator: any StackAllocator {
        get { defaults.withLock { $0.allocator } }
        set { defaults.withLock { $0.allocator = newValue } }
    }

    /// Usable stack bytes of pools created from now on, on any thread (at least
    /// ``minimumStackSize``; initially ``defaultStackSize``).
    public static var stackSizeForNewPools: Int {
        get { defaults.withLock { $0.stackSize } }
        set {
            precondition(newValue >= minimumStackSize, "stack size \(newValue) is below JobPool.minimumStackSize")
            defaults.withLock { $0.stackSize = newValue }
        }
    }

    static func installDefaultPool() -> PoolHandle {
        let defaults = defaults.withLock { $0 }
        return PoolHandle.install(stackByteCount: defaults.stackSize, allocator: defaults.allocator)
    }
}

extension JobPool {
    /// Thread exit: the pthread key's destructor hands over the pool of a thread that did not
    /// clean up; its paused jobs are cancelled like in ``cleanUp()``.
    static func threadExited(_ pool: PoolHandle) {
        pool.cancelAndFreeAll()
        pool.destroy()
    }
}
