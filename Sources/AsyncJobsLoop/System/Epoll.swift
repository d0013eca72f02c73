// SPDX-License-Identifier: Apache-2.0
// epoll(7) for the job loop: one wrapper per call. Each reads errno on the line after the call,
// states its EINTR policy, and traps on errnos that can only come from a bug here (EFAULT,
// EINVAL, a bad epoll descriptor).
import Glibc
import SystemPackage
import _CSystemShims

/// The epoll calls the job loop makes.
enum Epoll {
    /// Readable, edge-triggered: one report per signal of an engine's eventfd, so a descriptor
    /// that an engine has not drained yet never makes the loop spin.
    static let readableEdge: UInt32 = EPOLLIN.rawValue | EPOLLET.rawValue
    /// Readable, level-triggered: for the loop's own wake descriptor, which the loop drains.
    static let readableLevel: UInt32 = EPOLLIN.rawValue

    /// `epoll_create1(EPOLL_CLOEXEC)`. Never interrupted.
    static func create() -> Result<FileDescriptor, Errno> {
        let fd = epoll_create1(Int32(EPOLL_CLOEXEC))
        let error = errno
        if fd < 0 { return .failure(Errno(rawValue: error)) }
        return .success(FileDescriptor(rawValue: fd))
    }

    /// `epoll_ctl(EPOLL_CTL_ADD)`. Never interrupted (no EINTR).
    /// - Returns: nil on success, else the errno: EEXIST (already watched), EBADF (the engine
    ///   closed the descriptor), EPERM (a descriptor epoll cannot watch), ENOMEM/ENOSPC.
    static func add(_ epoll: FileDescriptor, _ fd: FileDescriptor, events: UInt32, data: UInt64) -> Errno? {
        var event = unsafe epoll_event()
        unsafe event.events = events
        unsafe event.data.u64 = data
        let result = unsafe epoll_ctl(epoll.rawValue, EPOLL_CTL_ADD, fd.rawValue, &event)
        let error = errno
        if result == 0 { return nil }
        precondition(error != EFAULT && error != EINVAL, "epoll_ctl(ADD) failed: errno \(error)")
        return Errno(rawValue: error)
    }

    /// `epoll_ctl(EPOLL_CTL_DEL)`. Never interrupted (no EINTR).
    /// - Returns: nil on success, else the errno: ENOENT (not watched, for example because the
    ///   descriptor was closed, which removes it from every epoll set) or EBADF (closed).
    static func remove(_ epoll: FileDescriptor, _ fd: FileDescriptor) -> Errno? {
        var event = unsafe epoll_event()
        let result = unsafe epoll_ctl(epoll.rawValue, EPOLL_CTL_DEL, fd.rawValue, &event)
        let error = errno
        if result == 0 { return nil }
        precondition(error != EFAULT && error != EINVAL, "epoll_ctl(DEL) failed: errno \(error)")
        return Errno(rawValue: error)
    }
}

/// The result array of `epoll_wait`, allocated once and reused for every wait.
///
/// Invariant: `events` points at `capacity` initialized `epoll_event` values owned by this
/// value, for exactly its lifetime.
@safe struct EpollEventBuffer: ~Copyable {
    private let events: UnsafeMutablePointer<epoll_event>
    /// How many events one wait can report.
    let capacity: Int

    /// Allocates room for `capacity` events (at least 1).
    init(capacity: Int) {
        let capacity = max(1, capacity)
        unsafe events = .allocate(capacity: capacity)
        unsafe events.initialize(repeating: epoll_event(), count: capacity)
        self.capacity = capacity
    }

    deinit {
        unsafe events.deallocate()
    }

    /// `epoll_wait`: waits up to `timeoutMilliseconds` (-1: forever, 0: poll) for ready
    /// descriptors. EINTR returns 0 events (the caller's loop waits again).
    /// - Returns: how many events are in the buffer.
    func wait(on epoll: FileDescriptor, timeoutMilliseconds: Int32) -> Int {
        let count = unsafe epoll_wait(epoll.rawValue, events, Int32(capacity), timeoutMilliseconds)
        let error = errno
        if count >= 0 { return Int(count) }
        precondition(error == EINTR, "epoll_wait failed: errno \(error)")
        return 0
    }

    /// The user data of event `index` (below the count the last wait returned).
    @inline(__always)
    func data(at index: Int) -> UInt64 {
        precondition(index >= 0 && index < capacity)
        return unsafe events[index].data.u64
    }
}
