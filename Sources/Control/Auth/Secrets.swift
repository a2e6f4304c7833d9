import Crypto
import Foundation

/// Random tokens, hashes and sealed secrets: everything that must never be compared or stored naively.
enum Secrets {
    /// `count` random bytes from the system CSPRNG, as lowercase hex.
    static func randomHex(bytes count: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return hex((0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
    }

    static func hex<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in bytes { out.append(digits[Int(byte >> 4)]); out.append(digits[Int(byte & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }

    static func sha256Hex(_ text: String) -> String { hex(SHA256.hash(data: Array(text.utf8))) }
    static func sha256Hex(_ bytes: UnsafeRawBufferPointer) -> String { hex(SHA256.hash(data: bytes)) }

    /// Compares without an early exit, so timing says nothing about where two values differ.
    static func constantTimeEquals(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        var difference = UInt8(x.count == y.count ? 0 : 1)
        for i in 0..<max(x.count, y.count) {
            difference |= (i < x.count ? x[i] : 0) ^ (i < y.count ? y[i] : 0)
        }
        return difference == 0
    }

    static let base32Alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".utf8)

    static func base32(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        var buffer = 0, bits = 0
        for byte in bytes {
            buffer = (buffer << 8) | Int(byte)
            bits += 8
            while bits >= 5 {
                out.append(base32Alphabet[(buffer >> (bits - 5)) & 31])
                bits -= 5
            }
        }
        if bits > 0 { out.append(base32Alphabet[(buffer << (5 - bits)) & 31]) }
        return String(decoding: out, as: UTF8.self)
    }

    static func base32Decode(_ text: String) -> [UInt8]? {
        var out: [UInt8] = []
        var buffer = 0, bits = 0
        for c in text.uppercased().utf8 where c != UInt8(ascii: "=") {
            guard let value = base32Alphabet.firstIndex(of: c) else { return nil }
            buffer = (buffer << 5) | value
            bits += 5
            if bits >= 8 {
                out.append(UInt8((buffer >> (bits - 8)) & 255))
                bits -= 8
            }
        }
        return out
    }
}

/// Seals small secrets (TOTP seeds) with AES-256-GCM under a key derived from the server's
/// secret, so a copy of the database alone does not reveal them.
struct SecretBox: Sendable {
    private let key: SymmetricKey

    init(masterSecret: String) {
        key = HKDF<SHA256>.deriveKey(inputKeyMaterial: SymmetricKey(data: Array(masterSecret.utf8)),
                                     salt: Array("waddleperf-secret-box".utf8), info: Array("totp".utf8), outputByteCount: 32)
    }

    func seal(_ plaintext: [UInt8]) throws -> [UInt8] {
        Array(try AES.GCM.seal(plaintext, using: key).combined!)
    }

    func open(_ sealed: [UInt8]) throws -> [UInt8] {
        Array(try AES.GCM.open(AES.GCM.SealedBox(combined: sealed), using: key))
    }
}
