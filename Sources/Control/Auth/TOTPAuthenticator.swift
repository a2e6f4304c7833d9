import Foundation
import HummingbirdOTP

/// RFC 6238 TOTP: 6 digits, 30 s steps, SHA-1 (what authenticator apps expect), accepting the
/// previous, current and next step. Verification returns the step that matched so the caller can
/// refuse it next time (no replay).
enum TOTPAuthenticator {
    static let step: Int64 = 30
    static let issuer = "WaddlePerf"

    /// A new random secret: 20 characters of the base32 alphabet (100 bits).
    static func newSecret() -> String {
        var generator = SystemRandomNumberGenerator()
        return String(decoding: (0..<20).map { _ in Secrets.base32Alphabet.randomElement(using: &generator)! }, as: UTF8.self)
    }

    static func uri(secret: String, account: String) -> String {
        TOTP(secret: secret).createAuthenticatorURL(label: "\(issuer):\(account)", issuer: issuer)
    }

    /// The secret as an authenticator app types it in (base32 of the key bytes).
    static func displaySecret(_ secret: String) -> String { Secrets.base32(Array(secret.utf8)) }

    static func code(secret: String, step: Int64) -> String {
        let value = TOTP(secret: secret).compute(date: Date(timeIntervalSince1970: TimeInterval(step * Self.step)))
        let digits = String(value)
        return String(repeating: "0", count: max(0, 6 - digits.count)) + digits
    }

    /// The matching step within ±1 of `now`, or nil.
    static func verify(code: String, secret: String, now: Date = Date()) -> Int64? {
        guard code.count == 6, code.allSatisfy(\.isASCIIDigit) else { return nil }
        let current = Int64(now.timeIntervalSince1970) / step
        var matched: Int64?
        // Check all three steps so timing does not reveal which one matched.
        for candidate in [current - 1, current, current + 1] {
            if Secrets.constantTimeEquals(Self.code(secret: secret, step: candidate), code) { matched = candidate }
        }
        return matched
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}
