// SPDX-License-Identifier: Apache-2.0
// The paused jobs of the calling thread's pool, as a user investigating a stuck or leaking
// program wants them: how long each has been paused, how often it paused, how deep its stack
// went, and where it is suspended.
import Synchronization

extension JobPool {
    /// One paused job, as ``JobPool/pausedJobs(symbolicated:maximumFrames:)`` saw it.
    public struct PausedJobReport: Sendable, Hashable, CustomStringConvertible {
        /// One frame of a paused job's stack.
        public struct Frame: Sendable, Hashable, CustomStringConvertible {
            /// The return address (the innermost frame: where the job resumes).
            public var address: UInt
            /// The function that holds it, demangled; nil when not symbolicated or unknown (a
            /// function the dynamic symbol table does not list).
            public var symbol: String?
            /// How far into `symbol` the address is.
            public var offset: UInt?
            /// The file of the executable or library that holds it.
            public var image: String?

            public var description: String {
                let where_ = "0x" + String(address, radix: 16)
                guard let symbol else { return image.map { "\(where_) in \($0)" } ?? where_ }
                return "\(where_) \(symbol) + \(offset ?? 0)"
            }
        }

        /// Identifies the job while it exists: the address of its record, which the C library
        /// hands out as its `ASYNC_JOB *`.
        public var address: UInt
        /// How many times the job paused since it started; nil unless its pool records pauses
        /// (``recordsPauses``) since before its last pause.
        public var pauseCount: Int?
        /// How long it has been paused; nil as for `pauseCount`.
        public var pausedFor: Duration?
        /// Usable bytes of its stack.
        public var stackSize: Int
        /// Bytes of its stack used at the deepest since the stack was made (whole pages,
        /// measured by which pages are resident); nil where the system cannot say (a custom
        /// allocator's memory that is not a mapping of its own).
        public var stackHighWater: Int?
        /// Whether the stack has a guard page (otherwise a canary protects it).
        public var hasGuardPage: Bool
        /// Where the job is suspended, innermost frame first (empty with the ucontext switch).
        public var backtrace: [Frame]

        public var description: String {
            var line = "job 0x\(String(address, radix: 16)): paused"
            if let pausedFor {
                let (seconds, attoseconds) = pausedFor.components
                let milliseconds = Double(seconds) * 1e3 + Double(attoseconds) / 1e15
                line += milliseconds < 1000
                    ? " for \((milliseconds * 100).rounded() / 100) ms" : " for \((milliseconds / 10).rounded() / 100) s"
            }
            if let pauseCount { line += ", \(pauseCount) pause\(pauseCount == 1 ? "" : "s")" }
            line += ", stack \(stackHighWater.map { "\($0 / 1024) KiB used of " } ?? "")\(stackSize / 1024) KiB"
            line += hasGuardPage ? " (guard page)" : " (canary)"
            return ([line] + backtrace.enumerated().map { "  #\($0.offset) \($0.element)" }).joined(separator: "\n")
        }
    }

    /// The paused jobs of the calling thread's pool (none without a pool).
    ///
    /// Costs a walk of the pool's jobs, one `mincore` per paused job, and with `symbolicated` a
    /// symbol lookup per frame: for diagnostics, not for a hot path.
    /// - Parameters:
    ///   - symbolicated: whether to name each frame's function (`dladdr`, then Swift's
    ///     demangler); false gives addresses only.
    ///   - maximumFrames: at most this many frames per backtrace.
    /// - Important: acts on the calling thread's pool only; a `JobLoop`'s jobs are listed by
    ///   the loop. From inside a job, the running job is not listed (it is not paused).
    public static func pausedJobs(symbolicated: Bool = true, maximumFrames: Int = 64) -> [PausedJobReport] {
        guard let pool = PoolHandle.current else { return [] }
        let now = ContinuousClock.now
        return pool.allSlots.filter { $0.state == .paused }.map { slot in
            let log = pool.pauseLog(of: slot)
            let frames = slot.suspendedReturnAddresses(limit: max(0, maximumFrames)).map { address in
                guard symbolicated else { return PausedJobReport.Frame(address: address) }
                // A return address is one past its call: look up the call's own byte.
                let (symbol, offset, image) = Symbols.describe(address &- 1)
                return PausedJobReport.Frame(address: address, symbol: symbol, offset: offset.map { $0 + 1 }, image: image)
            }
            return PausedJobReport(
                address: slot.addressBits, pauseCount: log?.pauses,
                pausedFor: log.map { now - $0.pausedAt }, stackSize: slot.usableStackBytes,
                stackHighWater: slot.stackHighWater, hasGuardPage: slot.stack?.hasGuardPage ?? false,
                backtrace: frames)
        }
    }

    /// Whether the calling thread's pool records when and how often its jobs pause (creating the
    /// pool to turn it on). Off by default: a pool that records takes its jobs' pauses and
    /// finishes off the inlined paths (about the cost of a pause on a canary-protected stack,
    /// plus a dictionary update); one that does not pays nothing.
    /// - Important: acts on the calling thread's pool only; see ``recordsPausesInNewPools``.
    public static var recordsPauses: Bool {
        get { PoolHandle.current?.recordsPauses ?? false }
        set {
            if !newValue && PoolHandle.current == nil { return }
            (PoolHandle.current ?? installDefaultPool()).recordsPauses = newValue
        }
    }

    /// Whether pools created from now on, on any thread, record pauses (``recordsPauses``).
    /// Initially false.
    public static var recordsPausesInNewPools: Bool {
        get { newPoolsRecordPauses.load(ordering: .relaxed) }
        set { newPoolsRecordPauses.store(newValue, ordering: .relaxed) }
    }

    static let newPoolsRecordPauses = Atomic<Bool>(false)
}

extension JobPool.PausedJobReport.Frame {
    init(address: UInt) {
        self.init(address: address, symbol: nil, offset: nil, image: nil)
    }
}

/// Receives what a pool's jobs do, for metrics: each pause, resume, end and refused start.
///
/// Called on the pool's thread, from inside the job for a pause or a resume (keep it short and
/// never start, resume or pause a job from it). A pool with an observer records pauses
/// (``JobPool/recordsPauses``), so its jobs take the full pause and finish paths; a pool without
/// one pays nothing for the hooks.
public protocol JobPoolObserver: AnyObject, Sendable {
    /// A job is about to pause.
    func jobWillPause()
    /// A job was resumed after being paused for `pausedFor` (also when the resume is its
    /// cancellation, reported just before).
    func jobResumed(after pausedFor: Duration)
    /// A job ended: its body returned (`cancelled` false), or it is being cancelled (its handle
    /// was dropped or cancelled, or its pool cleaned up) and runs to its end with failing pauses.
    func jobEnded(cancelled: Bool)
    /// A start found the pool at its limit (``JobOutcome/noJobsAvailable``, OpenSSL's `ASYNC_NO_JOBS`).
    func startFoundNoJob()
}

extension JobPool {
    /// The observer of the calling thread's pool (creating the pool to set one); setting one
    /// turns ``recordsPauses`` on, and turning that off does not remove it.
    /// - Important: acts on the calling thread's pool only; a `JobLoop`'s pool is observed
    ///   through its configuration.
    public static var observer: (any JobPoolObserver)? {
        get { PoolHandle.current?.observer }
        set {
            if newValue == nil && PoolHandle.current == nil { return }
            (PoolHandle.current ?? installDefaultPool()).observer = newValue
        }
    }

    /// What the calling thread's pool holds, with its stacks by protection: a walk of its jobs,
    /// for metrics taken now and then (nil without a pool).
    public static var stackCensus: StackCensus? {
        guard let pool = PoolHandle.current else { return nil }
        var census = StackCensus()
        for slot in pool.allSlots {
            if slot.stack?.hasGuardPage == true { census.guardPages += 1 } else { census.canaries += 1 }
            if slot.state == .paused { census.paused += 1 }
        }
        census.jobs = pool.total
        census.idle = pool.idle
        return census
    }

    /// A pool's jobs and stacks, counted by ``stackCensus``.
    public struct StackCensus: Sendable, Hashable {
        /// Jobs the pool owns, idle plus in use.
        public var jobs = 0
        /// Jobs waiting in the pool for reuse.
        public var idle = 0
        /// Jobs paused.
        public var paused = 0
        /// Stacks with a guard page below them.
        public var guardPages = 0
        /// Stacks protected by a canary instead.
        public var canaries = 0
        /// Jobs started and not finished.
        public var inUse: Int { jobs - idle }
    }
}
