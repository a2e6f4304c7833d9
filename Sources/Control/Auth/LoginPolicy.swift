import Foundation

/// Who may log in: password checks with the same work for unknown users, TOTP with replay
/// protection, per-address throttling and per-account lockout, each failure audited. Used by
/// login, Basic authentication and enrollment (the throttle).
struct LoginPolicy: Sendable {
    let store: Store
    let hasher: PasswordHasher
    let secretBox: SecretBox
    let audit: AuditLog
    /// A bcrypt hash of nothing, checked for unknown users so they take as long as known ones.
    let decoyHash: String
    let throttle = LoginThrottle()

    /// The 429 for an address that failed too many credential checks (logins, enrollments) in
    /// all, or too many for `account`, or nil.
    func throttled(_ source: String, account: String? = nil) -> APIError? {
        guard let wait = throttle.retryAfter(source, account: account) else { return nil }
        let seconds = Int(wait.components.seconds) + 1
        return APIError(.tooManyRequests, "too_many_attempts", "too many failed attempts from this address; retry in \(seconds)s",
                        retryAfterSeconds: seconds)
    }

    /// Checks a username and password (and a TOTP code when the account has MFA). Unknown
    /// users, wrong passwords, disabled accounts and locked accounts all answer the same 401
    /// after the same bcrypt work; repeated failures back off per account and per address.
    func checkPassword(username: String, password: String, mfaCode: String?, source: String, allowMFA: Bool) async throws -> User {
        let generic = APIError(.unauthorized, "invalid_credentials", "invalid username or password")
        if let refusal = throttled(source, account: username) {
            await audit(actor: "unknown", userID: nil, action: "login", subject: username, source: source, outcome: "failure",
                        detail: "throttled: \(refusal.message)")
            throw refusal
        }
        let user = try await store.user(username: username)
        let verified = try await hasher.verify(password, hash: user?.passwordHash ?? decoyHash)
        let now = WallClock.nowMillis()
        guard let user, verified, user.active, user.lockedUntil <= now else {
            throttle.recordFailure(source, account: username)
            if let user {
                try await store.recordLoginFailure(user.id) { AccountLockout.lockedUntil(failures: $0, now: now) }
            }
            await audit(actor: user.map { "user:\($0.username)" } ?? "unknown", userID: user?.id, action: "login",
                        subject: username, source: source, outcome: "failure",
                        detail: user == nil ? "unknown user" : !verified ? "wrong password" : !(user!.active) ? "disabled" : "locked")
            throw generic
        }
        if user.mfaEnabled {
            guard allowMFA else {
                throw APIError(.unauthorized, "mfa_required", "this account uses MFA: log in at /api/v1/auth/login with mfa_code")
            }
            guard let mfaCode else {
                throw APIError(.unauthorized, "mfa_required", "MFA code required", fields: ["mfa_code": "is required for this account"])
            }
            guard let sealed = user.mfaSecret, let secret = try? String(decoding: secretBox.open(sealed), as: UTF8.self),
                  let step = TOTPAuthenticator.verify(code: mfaCode, secret: secret),
                  try await store.consumeTOTPStep(user.id, step: step) else {
                throttle.recordFailure(source, account: username)
                try await store.recordLoginFailure(user.id) { AccountLockout.lockedUntil(failures: $0, now: now) }
                await audit(actor: "user:\(user.username)", userID: user.id, action: "login", subject: username, source: source,
                            outcome: "failure", detail: "wrong or reused MFA code")
                throw APIError(.unauthorized, "invalid_mfa_code", "invalid or already used MFA code")
            }
        }
        throttle.recordSuccess(source, account: username)
        try await store.recordLoginSuccess(user.id)
        return user
    }
}
