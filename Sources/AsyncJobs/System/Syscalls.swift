// SPDX-License-Identifier: Apache-2.0
// One thin wrapper per system call the library makes. Each reads errno on the line after the
// call, states its EINTR policy, and traps on errnos that can only come from a bug here.
import Glibc
import SystemPackage
import _CSystemShims

/// Memory mapping calls for job stacks.
enum VirtualMemory {
    /// The system page size (`sysconf(_SC_PAGESIZE)`), read once.
    static let pageSize: Int = Int(sysconf(Int32(_SC_PAGESIZE)))

    /// `mmap` of private anonymous read-write memory that charges no commit (`MAP_NORESERVE`) and
    /// is marked as a stack (`MAP_STACK`). Never interrupted (no EINTR).
    static func mapStack(byteCount: Int) -> Result<UnsafeMutableRawPointer, Errno> {
        let address = unsafe mmap(
            nil, byteCount, PROT_READ | PROT_WRITE,
            MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0)
        let error = errno
        guard let address = unsafe address, unsafe address != MAP_FAILED else {
            return unsafe .failure(Errno(rawValue: error))
        }
        return unsafe .success(address)
    }

    /// `mmap` of private anonymous read-write memory for job records (`MAP_NORESERVE`). Never
    /// interrupted (no EINTR).
    static func mapRecords(byteCount: Int) -> Result<UnsafeMutableRawPointer, Errno> {
        let address = unsafe mmap(nil, byteCount, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
        let error = errno
        guard let address = unsafe address, unsafe address != MAP_FAILED else {
            return unsafe .failure(Errno(rawValue: error))
        }
        return unsafe .success(address)
    }

    /// `mprotect(PROT_NONE)`: turns the lowest bytes of a stack into a guard region.
    static func protectNone(_ address: UnsafeMutableRawPointer, byteCount: Int) -> Result<Void, Errno> {
        let result = unsafe mprotect(address, byteCount, PROT_NONE)
        let error = errno
        if result == 0 { return .success(()) }
        precondition(error != EINVAL, "mprotect of a job stack guard page failed with EINVAL (misaligned address)")
        return .failure(Errno(rawValue: error))
    }

    /// `madvise(MADV_DONTNEED)`: gives the pages of `[address, address + byteCount)` back to the
    /// system; the range stays mapped and reads as zeros until touched again. Page-aligned
    /// arguments only; a failure leaves the memory as it was (nothing to report: it is advice).
    static func discard(_ address: UnsafeMutableRawPointer, byteCount: Int) {
        guard byteCount > 0 else { return }
        _ = unsafe madvise(address, byteCount, MADV_DONTNEED)
    }

    /// `process_madvise` (glibc 2.36), looked up once: Debian 12's headers declare it only under
    /// `_GNU_SOURCE`, which the Glibc module does not define. Nil where the C library lacks it.
    private static let processMadvise: (@convention(c) (Int32, UnsafePointer<iovec>, Int, Int32, UInt32) -> Int)? = {
        guard let symbol = unsafe dlsym(nil, "process_madvise") else { return nil }
        return unsafe unsafeBitCast(
            symbol, to: (@convention(c) (Int32, UnsafePointer<iovec>, Int, Int32, UInt32) -> Int).self)
    }()

    /// `PIDFD_SELF` (Linux 6.14): the calling process, without a descriptor of its own.
    private static let pidfdSelf: Int32 = -10000

    /// Applies `advice` to `count` ranges of `byteCount` bytes, `stride` bytes apart from
    /// `first`, in one `process_madvise` call on the calling process (at most 64 ranges).
    /// Returns whether every range was advised; false where the kernel or the C library cannot
    /// (before Linux 6.14, or for advice it does not take this way), and the caller then advises
    /// each range on its own.
    static func adviseRanges(
        first: UnsafeMutableRawPointer, count: Int, stride: Int, byteCount: Int, advice: Int32
    ) -> Bool {
        guard let processMadvise = unsafe processMadvise, count > 0, count <= 64 else { return false }
        return unsafe withUnsafeTemporaryAllocation(of: iovec.self, capacity: count) { ranges in
            for index in 0..<count {
                unsafe ranges.initializeElement(
                    at: index, to: iovec(iov_base: first + index * stride, iov_len: byteCount))
            }
            let advised = unsafe processMadvise(pidfdSelf, ranges.baseAddress!, count, advice, 0)
            return advised == count * byteCount
        }
    }

    /// `munmap`. Fails only for arguments no caller here can produce, so failure traps.
    static func unmap(_ address: UnsafeMutableRawPointer, byteCount: Int) {
        let result = unsafe munmap(address, byteCount)
        let error = errno
        precondition(result == 0, "munmap of a job stack failed: errno \(error)")
    }
}

/// eventfd calls behind the first design's per-job wait fd and the engines' notification fds.
package enum EventCounter {
    /// `eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)`.
    package static func make() -> Result<FileDescriptor, Errno> {
        let fd = eventfd(0, Int32(EFD_NONBLOCK) | Int32(EFD_CLOEXEC))
        let error = errno
        if fd < 0 { return .failure(Errno(rawValue: error)) }
        return .success(FileDescriptor(rawValue: fd))
    }

    /// Adds 1 to the counter, making the fd readable. Retries on EINTR; EAGAIN (counter at its
    /// maximum) already means readable.
    package static func signal(_ fd: FileDescriptor) {
        while true {
            let written = aj_eventfd_add(fd.rawValue, 1)
            let error = errno
            if written == 8 || error == EAGAIN { return }
            if error == EINTR { continue }
            precondition(error != EBADF && error != EFAULT, "eventfd write failed: errno \(error)")
            return
        }
    }

    /// Reads and resets the counter; returns the value read (0 if it was not readable).
    /// Retries on EINTR.
    @discardableResult
    @inline(never)  // keeps the read buffer (and a stack protector) out of the callers' frames
    package static func drain(_ fd: FileDescriptor) -> UInt64 {
        var value: UInt64 = 0
        while true {
            let count = unsafe aj_eventfd_take(fd.rawValue, &value)
            let error = errno
            if count == 8 { return value }
            if error == EINTR { continue }
            precondition(error != EBADF && error != EFAULT, "eventfd read failed: errno \(error)")
            return 0
        }
    }

    /// `close`, ignoring EINTR (Linux releases the fd before reporting it).
    package static func close(_ fd: FileDescriptor) {
        _ = Glibc.close(fd.rawValue)
    }
}

/// Unbuffered writes to standard error, for reports made just before the process aborts.
package enum StandardError {
    package static func write(_ message: String) {
        var message = message
        message.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = unsafe Glibc.write(2, bytes.baseAddress! + offset, bytes.count - offset)
                if written < 0 && errno == EINTR { continue }
                if written <= 0 { return }
                offset += written
            }
        }
    }
}

/// Small reads of /proc files.
enum ProcFile {
    /// The decimal integer at the start of the file, or nil. Retries reads on EINTR.
    static func integer(at path: String) -> Int? {
        let fd = unsafe open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { _ = close(fd) }
        var bytes = [UInt8](repeating: 0, count: 64)
        var count = 0
        while true {
            count = unsafe bytes.withUnsafeMutableBytes { unsafe read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            break
        }
        guard count > 0 else { return nil }
        let digits = bytes[..<count].prefix { $0 >= 48 && $0 <= 57 }
        return Int(String(decoding: digits, as: UTF8.self))
    }
}

extension VirtualMemory {
    /// The lowest resident page of [`low`, `high`), by `mincore` (the bytes are rounded out to
    /// whole pages); nil if none is resident or the range is not mapped. Never interrupted.
    static func lowestResidentPage(from low: UnsafeMutableRawPointer, to high: UnsafeMutableRawPointer) -> UnsafeMutableRawPointer? {
        let page = UInt(pageSize)
        let first = UInt(bitPattern: low) & ~(page - 1)
        let end = (UInt(bitPattern: high) + page - 1) & ~(page - 1)
        guard end > first else { return nil }
        let pages = Int((end - first) / page)
        return unsafe withUnsafeTemporaryAllocation(of: UInt8.self, capacity: pages) { vector in
            let result = unsafe mincore(UnsafeMutableRawPointer(bitPattern: first), Int(end - first), vector.baseAddress!)
            guard result == 0 else { return nil }  // ENOMEM: not mapped (a custom allocator's memory)
            guard let index = unsafe vector.firstIndex(where: { $0 & 1 != 0 }) else { return nil }
            return unsafe UnsafeMutableRawPointer(bitPattern: first + UInt(index) * page)
        }
    }
}
