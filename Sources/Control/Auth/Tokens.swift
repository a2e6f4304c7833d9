import Foundation
import JWTKit

/// The claims of an access token. `jti` is recorded in the store so logout and revocation take
/// effect at once; `ver` ties the token to the password it was issued under.
struct AccessClaims: JWTPayload {
    var sub: SubjectClaim
    var iat: IssuedAtClaim
    var exp: ExpirationClaim
    var jti: IDClaim
    var iss: IssuerClaim

    func verify(using algorithm: some JWTAlgorithm) async throws {
        try exp.verifyNotExpired()
        guard iss.value == TokenIssuer.issuer else { throw JWTError.claimVerificationFailure(failedClaim: iss, reason: "wrong issuer") }
    }
}

enum TokenError: Error, Equatable {
    case malformed
    case algorithm(String)
    case invalid
}

/// Issues and checks HS256 access tokens.
struct TokenIssuer: Sendable {
    static let issuer = "waddleperf"
    let keys: JWTKeyCollection
    let lifetime: Duration

    init(secret: String, lifetime: Duration) async {
        keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        self.lifetime = lifetime
    }

    struct Issued: Sendable {
        var token: String
        var jti: String
        var issuedAt: Int64
        var expiresAt: Int64
    }

    func issue(userID: Int64, now: Date = Date()) async throws -> Issued {
        let jti = Secrets.randomHex(bytes: 16)
        let expires = now.addingTimeInterval(TimeInterval(lifetime.components.seconds))
        let claims = AccessClaims(sub: .init(value: String(userID)), iat: .init(value: now), exp: .init(value: expires),
                                  jti: .init(value: jti), iss: .init(value: Self.issuer))
        let token = try await keys.sign(claims, header: ["typ": "JWT"])
        return Issued(token: token, jti: jti, issuedAt: Int64(now.timeIntervalSince1970 * 1000),
                      expiresAt: Int64(expires.timeIntervalSince1970 * 1000))
    }

    /// Verifies signature, expiry and issuer. The header must say exactly HS256: `none`, RS/ES
    /// algorithms (key confusion) and anything else are refused before the signature is looked at.
    func verify(_ token: String) async throws -> (userID: Int64, jti: String, expiresAt: Int64) {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let headerBytes = Self.base64URLDecode(String(parts[0])),
              let header = try? JSONSerialization.jsonObject(with: Data(headerBytes)) as? [String: Any] else {
            throw TokenError.malformed
        }
        guard let alg = header["alg"] as? String, alg == "HS256" else {
            throw TokenError.algorithm(String(describing: header["alg"] ?? "missing"))
        }
        guard header["crit"] == nil else { throw TokenError.malformed }
        let claims: AccessClaims
        do {
            claims = try await keys.verify(token, as: AccessClaims.self)
        } catch {
            throw TokenError.invalid
        }
        guard let userID = Int64(claims.sub.value) else { throw TokenError.invalid }
        return (userID, claims.jti.value, Int64(claims.exp.value.timeIntervalSince1970 * 1000))
    }

    static func base64URLDecode(_ text: String) -> [UInt8]? {
        var s = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while s.count % 4 != 0 { s += "=" }
        return Data(base64Encoded: s).map(Array.init)
    }
}
