// SPDX-License-Identifier: Apache-2.0
// The value every stack canary holds (JobSlot writes and checks it below the frames of a stack
// without a guard page).

/// The value of every stack canary: 64 random bytes drawn once per process (`getrandom`), none
/// of its 8-byte words zero and not all of its bytes alike, so that neither zeros, a fill pattern
/// nor a copy from another process reproduce it.
enum CanaryPattern {
    /// The pattern, as the eight words stored at the canary's address (`JobSlot.canaryBytes`).
    static let words: InlineArray<8, UInt64> = {
        var generator = SystemRandomNumberGenerator()
        while true {
            var words = InlineArray<8, UInt64>(repeating: 0)
            var bytes = Set<UInt8>()
            for index in words.indices {
                while words[index] == 0 { words[index] = generator.next() }
                for shift in stride(from: 0, to: 64, by: 8) { bytes.insert(UInt8(truncatingIfNeeded: words[index] >> shift)) }
            }
            if bytes.count > 1 { return words }
        }
    }()
}
