// SPDX-License-Identifier: Apache-2.0
// The SAJ_WAIT_CTX functions (OpenSSL's ASYNC_WAIT_CTX_*) on WaitContext. A `SAJ_WAIT_CTX *` is
// the address of a WaitContext object: SAJ_WAIT_CTX_new retains it (passRetained) and
// SAJ_WAIT_CTX_free releases that retain; both ends are in this file. A job started with the
// context holds its own strong reference, so freeing a context that a paused job still uses
// does not free the object under it.
//
// C keys, custom data and callback arguments are stored as their bit patterns (UInt), compared
// by address like OpenSSL does, and handed back verbatim.
import AsyncJobs
import CAsyncJobsCompat
import Glibc
import Synchronization

/// Conversions between `SAJ_WAIT_CTX *` and WaitContext.
enum WaitContextHandle {
    /// Runs `body` with the object behind a handle (which the caller guarantees is alive).
    @inline(__always)
    static func withObject<Result, Failure: Error>(
        _ ctx: OpaquePointer, _ body: (WaitContext) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        // Guaranteed, not retained: the caller's handle keeps the object alive for the call.
        // (`_withUnsafeGuaranteedRef` rethrows untyped errors: the outcome goes through a Result.)
        let outcome = unsafe Unmanaged<WaitContext>.fromOpaque(UnsafeRawPointer(ctx))._withUnsafeGuaranteedRef {
            context in Swift.Result { () throws(Failure) -> Result in try body(context) }
        }
        return try outcome.get()
    }

    /// `withObject` for a body that cannot throw: nothing around the call (the wait-context
    /// calls, a few instructions each).
    @inline(__always)
    static func borrow<Result>(_ ctx: OpaquePointer, _ body: (WaitContext) -> Result) -> Result {
        unsafe Unmanaged<WaitContext>.fromOpaque(UnsafeRawPointer(ctx))._withUnsafeGuaranteedRef(body)
    }
}

@c @implementation
public func SAJ_WAIT_CTX_new() -> OpaquePointer? {
    // Retained here, released in SAJ_WAIT_CTX_free.
    unsafe OpaquePointer(Unmanaged.passRetained(WaitContext()).toOpaque())
}

@c @implementation
public func SAJ_WAIT_CTX_free(_ ctx: OpaquePointer?) {
    guard let ctx = unsafe ctx else { return }
    // The cleanup routines run now, while the handle is still the one the engines saw, even if
    // a paused job keeps the object alive longer.
    unsafe WaitContextHandle.withObject(ctx) { $0.runCleanups() }
    // Releases the retain of SAJ_WAIT_CTX_new.
    unsafe Unmanaged<WaitContext>.fromOpaque(UnsafeRawPointer(ctx)).release()
}

/// Whether `foreignCleanupCallerInstalled` has run.
private let foreignCleanupCallerReady = Atomic(false)

/// Installs, once, how the core calls a C cleanup routine (`SAJ_cleanup_fn`): as OpenSSL does
/// from ASYNC_WAIT_CTX_free, cleanup(ctx, key, fd, custom_data).
private let foreignCleanupCallerInstalled: Void = WaitContext.installForeignCleanupCaller {
    function, context, key, fd, customData in
    unsafe ForeignFunction<SAJ_cleanup_fn>(bits: function).value(
        OpaquePointer(bitPattern: context), UnsafeRawPointer(bitPattern: key), fd,
        UnsafeMutableRawPointer(bitPattern: customData))
}

@c @implementation
public func SAJ_WAIT_CTX_set_wait_fd(
    _ ctx: OpaquePointer?, _ key: UnsafeRawPointer?, _ fd: Int32, _ customData: UnsafeMutableRawPointer?,
    _ cleanup: SAJ_cleanup_fn?
) -> Int32 {
    guard let ctx = unsafe ctx else { return OpenSSLResult.failed(.nullArgument) }
    var routine: UInt = 0
    if let cleanup = unsafe cleanup {
        // (A flag first: the lazy global's check is a call into the runtime at every set.)
        if !foreignCleanupCallerReady.load(ordering: .acquiring) {
            _ = foreignCleanupCallerInstalled
            foreignCleanupCallerReady.store(true, ordering: .releasing)
        }
        routine = unsafe ForeignFunction(cleanup).bits
    }
    unsafe WaitContextHandle.borrow(ctx) { context in
        context.setWaitFD(fd, forForeignKey: UInt(bitPattern: key), customData: UInt(bitPattern: customData), cleanup: routine)
    }
    return 1
}

// SAJ_WAIT_CTX_get_fd, get_all_fds, get_changed_fds and get_callback are C
// (saj_wait_ctx_readers.c): they read the context's mirror (WaitContextMirror.swift) at a fixed
// offset without crossing into Swift, and call these whole versions when the mirror cannot
// answer (a NULL argument, entries that are not mirrored, a publish under way).

/// Compares the C readers' description of the mirror (`expected`: `count` values, in the order
/// of `WaitContext.mirrorLayout`: the struct's offset in the object, its `offsetof`s and
/// constants) with the mirror as Swift lays it out: -1 if they agree, else the position of the
/// first value that differs (the C library then stops the process, naming it). Called once, when
/// the library is loaded.
@c(_saj_wait_mirror_check)
func sajWaitMirrorCheck(_ expected: UnsafePointer<Int>, _ count: Int) -> Int {
    let layout = WaitContext.mirrorLayout
    for index in 0..<max(count, layout.count) {
        guard index < count, index < layout.count, unsafe expected[index] == layout[index] else { return index }
    }
    return -1
}

/// SAJ_WAIT_CTX_get_fd, whole.
@c(_saj_wait_ctx_get_fd_whole)
func sajWaitContextGetFDWhole(
    _ ctx: OpaquePointer?, _ key: UnsafeRawPointer?, _ fd: UnsafeMutablePointer<Int32>?,
    _ customData: UnsafeMutablePointer<UnsafeMutableRawPointer?>?
) -> Int32 {
    guard let ctx = unsafe ctx else { return OpenSSLResult.failed(.nullArgument) }
    // The custom data is a pointer: its bits are stored into the caller's `void *`.
    let found = unsafe WaitContextHandle.borrow(ctx) { context in
        unsafe context.copyWaitFD(
            forForeignKey: UInt(bitPattern: key), fd: fd, customData: UnsafeMutableRawPointer(customData))
    }
    return found ? 1 : 0
}

/// SAJ_WAIT_CTX_get_all_fds, whole.
@c(_saj_wait_ctx_get_all_fds_whole)
func sajWaitContextGetAllFDsWhole(
    _ ctx: OpaquePointer?, _ fd: UnsafeMutablePointer<Int32>?, _ numfds: UnsafeMutablePointer<Int>?
) -> Int32 {
    guard let ctx = unsafe ctx, let numfds = unsafe numfds else { return OpenSSLResult.failed(.nullArgument) }
    // Straight into the caller's array (sized from an earlier call, as OpenSSL's callers do).
    unsafe numfds.pointee = unsafe WaitContextHandle.borrow(ctx) { unsafe $0.copyWaitFDs(to: fd) }
    return 1
}

/// SAJ_WAIT_CTX_get_changed_fds, whole.
@c(_saj_wait_ctx_get_changed_fds_whole)
func sajWaitContextGetChangedFDsWhole(
    _ ctx: OpaquePointer?, _ addfd: UnsafeMutablePointer<Int32>?, _ numaddfds: UnsafeMutablePointer<Int>?,
    _ delfd: UnsafeMutablePointer<Int32>?, _ numdelfds: UnsafeMutablePointer<Int>?
) -> Int32 {
    guard let ctx = unsafe ctx else { return OpenSSLResult.failed(.nullArgument) }
    let counts = unsafe WaitContextHandle.borrow(ctx) { unsafe $0.copyChangedWaitFDs(added: addfd, removed: delfd) }
    if let numaddfds = unsafe numaddfds { unsafe numaddfds.pointee = counts.added }
    if let numdelfds = unsafe numdelfds { unsafe numdelfds.pointee = counts.removed }
    return 1
}

@c @implementation
public func SAJ_WAIT_CTX_clear_fd(_ ctx: OpaquePointer?, _ key: UnsafeRawPointer?) -> Int32 {
    guard let ctx = unsafe ctx else { return OpenSSLResult.failed(.nullArgument) }
    let cleared = unsafe WaitContextHandle.borrow(ctx) { $0.clearWaitFD(forForeignKey: UInt(bitPattern: key)) }
    return cleared ? 1 : 0
}

@c @implementation
public func SAJ_WAIT_CTX_set_callback(
    _ ctx: OpaquePointer?, _ callback: SAJ_callback_fn?, _ callbackArgument: UnsafeMutableRawPointer?
) -> Int32 {
    guard let ctx = unsafe ctx else { return OpenSSLResult.failed(.nullArgument) }
    guard let callback = unsafe callback else {
        unsafe WaitContextHandle.borrow(ctx) { $0.setCallback(nil, foreign: nil) }
        return 1
    }
    let function = unsafe ForeignFunction(callback)
    let argumentBits = UInt(bitPattern: callbackArgument)
    let foreign = unsafe WaitContext.ForeignCallback(function: function.bits, argument: argumentBits)
    unsafe WaitContextHandle.borrow(ctx) { context in
        context.setCallback({ _ = unsafe function.value(UnsafeMutableRawPointer(bitPattern: argumentBits)) }, foreign: foreign)
    }
    return 1
}

/// SAJ_WAIT_CTX_get_callback, whole.
@c(_saj_wait_ctx_get_callback_whole)
func sajWaitContextGetCallbackWhole(
    _ ctx: OpaquePointer?, _ callback: UnsafeMutablePointer<SAJ_callback_fn?>?,
    _ callbackArgument: UnsafeMutablePointer<UnsafeMutableRawPointer?>?
) -> Int32 {
    guard let ctx = unsafe ctx else { return OpenSSLResult.failed(.nullArgument) }
    // Like OpenSSL: 0 and the outputs untouched when no (C) callback is set.
    // Both outputs are pointers: their bits are stored into the caller's.
    let found = unsafe WaitContextHandle.borrow(ctx) { context in
        unsafe context.copyForeignCallback(
            function: UnsafeMutableRawPointer(callback), argument: UnsafeMutableRawPointer(callbackArgument))
    }
    return found ? 1 : 0
}

@c @implementation
public func SAJ_WAIT_CTX_set_status(_ ctx: OpaquePointer?, _ status: Int32) -> Int32 {
    guard let ctx = unsafe ctx else { return OpenSSLResult.failed(.nullArgument) }
    unsafe WaitContextHandle.borrow(ctx) { $0.status = .init(rawValue: status) }
    return 1
}

@c @implementation
public func SAJ_WAIT_CTX_get_status(_ ctx: OpaquePointer?) -> Int32 {
    guard let ctx = unsafe ctx else {
        OpenSSLResult.failed(.nullArgument)
        return SAJ_STATUS_UNSUPPORTED
    }
    return unsafe WaitContextHandle.borrow(ctx) { $0.status.rawValue }
}

/// A C function pointer, carried into `@Sendable` closures as its address (a C function has
/// no state, so sharing it across threads is safe).
@unsafe struct ForeignFunction<Function>: @unchecked Sendable {
    let bits: UInt

    init(_ function: Function) {
        unsafe bits = unsafeBitCast(function, to: UInt.self)
    }

    init(bits: UInt) {
        unsafe self.bits = bits
    }

    var value: Function { unsafe unsafeBitCast(bits, to: Function.self) }
}
