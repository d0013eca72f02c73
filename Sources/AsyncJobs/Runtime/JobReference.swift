// SPDX-License-Identifier: Apache-2.0
import SystemPackage

/// Identifies one job, from its start until it finishes, without owning it.
///
/// Engines use it to find the job's wait context and, in the first design, its wake descriptor.
/// Once the job finishes, the reference is stale: ``isAlive`` turns false and the job's
/// descriptors are no longer its.
/// - Important: ``wake()`` may be called from any thread; everything else belongs to the job's
///   thread.
/// OpenSSL equivalent: `ASYNC_JOB *`.
public struct JobReference: Hashable, Sendable {
    @usableFromInline let slot: JobSlot
    @usableFromInline let generation: UInt64

    /// Whether the job still exists (started and not yet finished).
    public var isAlive: Bool {
        slot.generation == generation && (slot.state == .running || slot.state == .paused)
    }

    /// The wait context the job was started with, or nil.
    /// OpenSSL equivalent: `ASYNC_get_wait_ctx()`.
    public var waitContext: WaitContext? {
        isAlive ? slot.waitContext : nil
    }

    /// The job's own wait descriptor (first design), created on first use and kept with the
    /// pooled job. It becomes readable after ``wake()``.
    /// - Throws: ``AsyncJobError/Code/waitDescriptorUnavailable`` if no eventfd can be made.
    /// OpenSSL equivalent: `ASYNC_get_wait_fd()` (OpenSSL 1.1.0 development design).
    public func waitFD() throws(AsyncJobError) -> FileDescriptor {
        // A stale reference's record may serve another job, or read as zeros: never its fd.
        guard isAlive else { throw AsyncJobError(.waitDescriptorUnavailable) }
        return try slot.wakeFD()
    }

    /// Makes the job's wait descriptor readable.
    /// OpenSSL equivalent: `ASYNC_wake()` (first design).
    public func wake() {
        guard isAlive, let fd = try? slot.wakeFD() else { return }
        EventCounter.signal(fd)
    }

    /// Makes the job's wait descriptor unreadable again.
    /// OpenSSL equivalent: `ASYNC_clear_wake()` (first design).
    public func clearWake() {
        guard isAlive, let fd = slot.existingWakeFD else { return }
        EventCounter.drain(fd)
    }

    @usableFromInline init(slot: JobSlot, generation: UInt64) {
        self.slot = slot
        self.generation = generation
    }
}
