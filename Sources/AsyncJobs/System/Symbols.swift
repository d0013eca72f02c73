// SPDX-License-Identifier: Apache-2.0
// Names of code addresses, for the backtraces of paused jobs: `dladdr` (the dynamic symbol
// table: exported and dynamically linked code; executables built by SwiftPM on Linux export
// theirs) and the Swift runtime's demangler.
import Glibc
import _CSystemShims

/// Looks up the function that contains a code address.
enum Symbols {
    /// The symbol (demangled), the offset of `address` into it, and the file of the image that
    /// holds it; each nil when unknown.
    static func describe(_ address: UInt) -> (symbol: String?, offset: UInt?, image: String?) {
        var name: UnsafePointer<CChar>? = nil
        var start: UnsafeRawPointer? = nil
        var file: UnsafePointer<CChar>? = nil
        guard let pointer = unsafe UnsafeRawPointer(bitPattern: address),
            unsafe aj_symbol_for_address(pointer, &name, &start, &file) != 0
        else { return (nil, nil, nil) }
        let image = unsafe file.map { unsafe String(cString: $0) }
        guard let name = unsafe name, let start = unsafe start else { return (nil, nil, image) }
        return unsafe (demangle(name), address - UInt(bitPattern: start), image)
    }

    /// The demangled form of a Swift symbol; other names as they are.
    static func demangle(_ name: UnsafePointer<CChar>) -> String {
        let length = unsafe strlen(name)
        guard let demangled = unsafe _swiftDemangle(name, length, nil, nil, 0) else { return unsafe String(cString: name) }
        defer { unsafe free(demangled) }
        return unsafe String(cString: demangled)
    }
}

/// The Swift runtime's demangler (swift/Demangle.h): returns a `malloc`ed string, or nil for a
/// name that is not a Swift symbol.
@_silgen_name("swift_demangle")
private func _swiftDemangle(
    _ mangledName: UnsafePointer<CChar>?, _ mangledNameLength: Int, _ outputBuffer: UnsafeMutablePointer<CChar>?,
    _ outputBufferSize: UnsafeMutablePointer<Int>?, _ flags: UInt32
) -> UnsafeMutablePointer<CChar>?
