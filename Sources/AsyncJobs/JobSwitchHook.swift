// SPDX-License-Identifier: Apache-2.0

/// Per-thread state that must follow jobs rather than threads: a library's errno-like "last
/// error", a per-thread arena or default context, anything kept in a thread-local variable that
/// a job's code changes and expects to find again after a pause.
///
/// A job runs on the thread of whoever starts or resumes it, so a thread-local variable is shared
/// by every job on the thread and by the code that drives them. A switch hook gives each job its
/// own copy of one word of such state: `start` makes the job's word when its body starts (for
/// example the starter's current value, as a child inherits it), `swap` exchanges the thread's
/// word with the job's on every switch into the job and out of it, and `end` lets go of the job's
/// word when its body returns (normally or cancelled). Between switches the thread holds the
/// word of whoever runs.
///
/// ```swift
/// // A C library's per-thread "current arena", given to each job:
/// try JobPool.addSwitchHook(JobSwitchHook(
///     start: { UInt(bitPattern: arena_current()) },             // a job starts in its starter's arena
///     swap: { word in word = UInt(bitPattern: arena_set_current(UnsafeMutableRawPointer(bitPattern: word))) }))
/// ```
///
/// The functions run on the switching thread, inside the switch: they must be short, must not
/// start, resume or pause a job, and must not throw or trap.
/// OpenSSL equivalent: what `ASYNC_start_job` does for the default `OSSL_LIB_CTX`, made general.
public struct JobSwitchHook: Sendable {
    let start: @Sendable () -> UInt
    let swap: @Sendable (inout UInt) -> Void
    let end: @Sendable (UInt) -> Void

    /// Creates a hook.
    /// - Parameters:
    ///   - start: the word of a job whose body starts, called on the starter's side before the
    ///     first switch into the job (default: 0).
    ///   - swap: exchanges the thread's word with `word`: installs `word` as the thread's and
    ///     stores the thread's previous word in it. Called before every switch into a job and
    ///     before every switch out of it.
    ///   - end: called with the job's word once its body has returned (default: nothing).
    public init(
        start: @escaping @Sendable () -> UInt = { 0 }, swap: @escaping @Sendable (_ word: inout UInt) -> Void,
        end: @escaping @Sendable (UInt) -> Void = { _ in }
    ) {
        self.start = start
        self.swap = swap
        self.end = end
    }
}

extension JobPool {
    /// Adds a switch hook to the calling thread's pool (creating the pool if needed): every job of
    /// the pool gets its own word of the hook's state. Hooks run in the order they were added
    /// (on the way out of a job, in reverse order), after the process-wide ones.
    /// - Throws: ``AsyncJobError/Code/jobsInUse`` if a job of the pool is paused or running (a
    ///   paused job has no word for the new hook).
    /// - Note: a pool without hooks pays nothing for them; a job with hooks takes the switch's
    ///   out-of-line path (docs/job-local-state.md gives the cost).
    /// OpenSSL equivalent: none.
    public static func addSwitchHook(_ hook: JobSwitchHook) throws(AsyncJobError) {
        try addSwiftSwitchHook(hook)
    }

    /// Adds a switch hook to every pool created from now on, on any thread (pools that exist keep
    /// their hooks). Process-wide hooks are never removed; there may be 16.
    /// - Throws: ``AsyncJobError/Code/tooManySwitchHooks`` when 16 are registered.
    /// OpenSSL equivalent: none.
    public static func addSwitchHookForNewPools(_ hook: JobSwitchHook) throws(AsyncJobError) {
        try addSwiftSwitchHookForNewPools(hook)
    }
}
