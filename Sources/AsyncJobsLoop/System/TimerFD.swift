// SPDX-License-Identifier: Apache-2.0
// timerfd(2) and clock_gettime(2): precise absolute-deadline sleeps for the simulated
// accelerator. timerfd rather than a timed condition wait or epoll timeout because those are
// stretched by the thread's timer slack (50 us by default), which would distort a 1 ms latency
// by 5 %; a timerfd expires at its deadline.
import Glibc
import SystemPackage
import _CSystemShims

/// CLOCK_MONOTONIC readings in nanoseconds.
package enum MonotonicClock {
    /// `clock_gettime(CLOCK_MONOTONIC)` in nanoseconds. Cannot fail with valid arguments.
    @inline(__always)
    package static func nanoseconds() -> UInt64 {
        var now = timespec()
        let result = unsafe clock_gettime(CLOCK_MONOTONIC, &now)
        precondition(result == 0, "clock_gettime(CLOCK_MONOTONIC) failed")
        return UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
    }
}

/// A blocking CLOCK_MONOTONIC timerfd.
package enum TimerFD {
    /// `timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC)`: a blocking timer descriptor.
    package static func make() -> Result<FileDescriptor, Errno> {
        let fd = timerfd_create(CLOCK_MONOTONIC, Int32(TFD_CLOEXEC))
        let error = errno
        if fd < 0 { return .failure(Errno(rawValue: error)) }
        return .success(FileDescriptor(rawValue: fd))
    }

    /// `timerfd_settime(TFD_TIMER_ABSTIME)`: one expiry at `deadline` (CLOCK_MONOTONIC ns); a
    /// deadline in the past expires at once. Never interrupted.
    package static func arm(_ fd: FileDescriptor, deadline: UInt64) {
        var value = itimerspec()
        value.it_value.tv_sec = Int(max(deadline, 1) / 1_000_000_000)
        value.it_value.tv_nsec = Int(max(deadline, 1) % 1_000_000_000)
        let result = unsafe timerfd_settime(fd.rawValue, Int32(TFD_TIMER_ABSTIME), &value, nil)
        let error = errno
        precondition(result == 0, "timerfd_settime failed: errno \(error)")
    }

    /// Blocks until the timer has expired (reads the expiry count). Retries on EINTR.
    package static func waitForExpiry(_ fd: FileDescriptor) {
        var expirations: UInt64 = 0
        while true {
            let count = unsafe read(fd.rawValue, &expirations, 8)
            let error = errno
            if count == 8 { return }
            if error == EINTR { continue }
            preconditionFailure("timerfd read failed: errno \(error)")
        }
    }
}
