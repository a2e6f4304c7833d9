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
        // The account lock (AccountLockout) holds against sources that failed for it, not
        // against one that has not: a guesser cannot keep the owner out.
        let locked = user.map { $0.lockedUntil > now && throttle.hasFailed(source, account: username) } ?? false
        guard let user, verified, user.active, !locked else {
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
            guard try await consumesCode(mfaCode, of: user) else {
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

    /// Fresh authentication of a signed-in user before a change a stolen token must not make
    /// (their password, MFA, API keys): the current password, and a current TOTP code when the
    /// account has MFA (the code's step is consumed, as at login). Throttled like login, per source
    /// and per (source, account), so the route is no password oracle for a token's thief; each
    /// failure is audited as `action`. Failures do not lock the account (the caller already holds
    /// a credential for it; locking would only lock its owner out). Throws 429 or a 403 naming the
    /// wrong field.
    func reauthenticate(_ user: User, password: String, passwordField: String = "password", mfaCode: String?,
                        mfaField: String = "mfa_code", source: String, action: String) async throws {
        func failure(_ detail: String) async {
            await audit(actor: "user:\(user.username)", userID: user.id, action: action, subject: user.username, source: source,
                        outcome: "failure", detail: detail)
        }
        if let refusal = throttled(source, account: user.username) {
            await failure("throttled: \(refusal.message)")
            throw refusal
        }
        guard try await hasher.verify(password, hash: user.passwordHash) else {
            throttle.recordFailure(source, account: user.username)
            await failure("wrong password")
            throw APIError.refused(passwordField, "is wrong")
        }
        if user.mfaEnabled {
            guard let mfaCode else { throw APIError.refused(mfaField, "is required: this account uses MFA") }
            guard try await consumesCode(mfaCode, of: user) else {
                throttle.recordFailure(source, account: user.username)
                await failure("wrong or reused MFA code")
                throw APIError.refused(mfaField, "is wrong or already used")
            }
        }
        throttle.recordSuccess(source, account: user.username)
    }

    /// Whether `code` is a current TOTP code of `user`'s secret for a step not used before; a
    /// match uses the step up (a code is accepted once).
    private func consumesCode(_ code: String, of user: User) async throws -> Bool {
        guard let sealed = user.mfaSecret, let secret = try? String(decoding: secretBox.open(sealed), as: UTF8.self),
              let step = TOTPAuthenticator.verify(code: code, secret: secret) else { return false }
        return try await store.consumeTOTPStep(user.id, step: step)
    }
}
