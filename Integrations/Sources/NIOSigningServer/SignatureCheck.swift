// SPDX-License-Identifier: Apache-2.0
// How a client checks the server's answers (the tests and the benchmark's verifier).
import Crypto

/// Checks a `POST /sign` answer against the message it signs.
public enum SignatureCheck {
    /// True if `hex` is a raw P-256 ECDSA signature of `message` under `publicKey`.
    public static func isValidP256(_ hex: String, message: [UInt8], publicKey: P256.Signing.PublicKey) -> Bool {
        guard let bytes = Hex.decode(hex),
            let signature = try? P256.Signing.ECDSASignature(rawRepresentation: bytes)
        else { return false }
        return publicKey.isValidSignature(signature, for: message)
    }

    /// True if `hex` is the device's HMAC-SHA256 tag of `message` under `key`.
    public static func isValidDeviceTag(_ hex: String, message: [UInt8], key: [UInt8]) -> Bool {
        guard let bytes = Hex.decode(hex), bytes.count == SHA256.byteCount else { return false }
        return HMAC<SHA256>.isValidAuthenticationCode(bytes, authenticating: message, using: SymmetricKey(data: key))
    }
}
