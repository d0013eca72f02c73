// SPDX-License-Identifier: Apache-2.0
// A stack for the switch tests, mapped like JobStack: [guard page | usable bytes].
import Glibc

/// One guarded stack; unmapped when the value goes away. A context on it must not run after that.
final class TestStack {
    let base: UnsafeMutableRawPointer
    let usableBytes: Int
    let pageSize: Int

    init(usableBytes requested: Int) {
        pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        // Sanitizers make frames several times larger (ASan's redzones, TSan's bookkeeping).
        let requested = isSanitized ? requested * 4 : requested
        usableBytes = (requested + pageSize - 1) & ~(pageSize - 1)
        let mapped = mmap(
            nil, usableBytes + pageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0)
        precondition(mapped != MAP_FAILED && mapped != nil, "mmap failed: errno \(errno)")
        base = mapped!
        precondition(mprotect(base, pageSize, PROT_NONE) == 0, "mprotect failed: errno \(errno)")
    }

    /// Lowest usable byte.
    var low: UnsafeMutableRawPointer { base + pageSize }
    /// One past the highest usable byte.
    var top: UnsafeMutableRawPointer { base + pageSize + usableBytes }

    deinit { munmap(base, usableBytes + pageSize) }
}

/// Saved stack pointers of the contexts in one test: slot 0 is the test's own thread.
/// Raw memory, so a save slot never is a Swift property with an open access (docs/fibers.md).
final class ContextSlots {
    let slots: UnsafeMutablePointer<UnsafeMutableRawPointer?>

    init(count: Int) {
        slots = .allocate(capacity: count)
        slots.initialize(repeating: nil, count: count)
        self.count = count
    }

    let count: Int
    deinit { slots.deallocate() }
}

/// A pointer-sized tag carried through a switch.
func tag(_ value: Int) -> UnsafeMutableRawPointer? { UnsafeMutableRawPointer(bitPattern: value) }
/// The tag a switch delivered (0 for nil).
func value(of pointer: UnsafeMutableRawPointer?) -> Int { Int(bitPattern: pointer) }

/// Whether this process runs under AddressSanitizer or ThreadSanitizer.
let isSanitized = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "__asan_init") != nil
    || dlsym(UnsafeMutableRawPointer(bitPattern: 0), "__tsan_init") != nil
