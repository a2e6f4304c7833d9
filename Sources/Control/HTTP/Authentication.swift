import Foundation
import HTTPTypes
import Hummingbird

/// Finds out who is calling. A presented credential that does not check out leaves the principal
/// empty with the reason (`ControlContext.authenticationFailure`): a route that needs a principal
/// answers with it (401, or 403 for a missing CSRF token); a public route ignores a stale
/// credential. No credential leaves the principal empty and the route's permission decides.
///
/// Accepted: `Authorization: Bearer <JWT>`, `Bearer <API key>` and `ApiKey <API key>`,
/// `Basic` (legacy clients; not for MFA accounts), `X-Manager-Key: <server key>`, and the web UI's
/// `wp_session` cookie, which needs a matching `X-CSRF-Token` header on every state-changing request.
struct AuthenticationMiddleware: RouterMiddleware {
    typealias Context = ControlContext
    let services: ControlServices

    static let sessionCookie = "wp_session"
    static let csrfHeader = HTTPField.Name("X-CSRF-Token")!
    static let managerKeyHeader = HTTPField.Name("X-Manager-Key")!

    func handle(_ request: Request, context: ControlContext, next: (Request, ControlContext) async throws -> Response) async throws -> Response {
        var context = context
        do {
            context.principal = try await authenticate(request, context: context)
        } catch let refusal as APIError {
            context.authenticationFailure = refusal
        }
        return try await next(request, context)
    }

    /// A credential as presented, before it is checked.
    private enum Presented {
        case serverKey(Substring)
        case deviceToken(Substring)
        case apiKey(Substring)
        case jwt(Substring)
        case basic(Substring)
        case session(Substring)

        /// Keys the cache by what the credential is as well as its text.
        var cacheKey: CredentialCache.Key? {
            switch self {
            case .serverKey(let v): CredentialCache.Key(scheme: 1, v)
            case .deviceToken(let v): CredentialCache.Key(scheme: 2, v)
            case .apiKey(let v): CredentialCache.Key(scheme: 3, v)
            case .jwt(let v): CredentialCache.Key(scheme: 4, v)
            case .session(let v): CredentialCache.Key(scheme: 5, v)
            // A Basic success is remembered like any credential, so a client sending the same
            // username and password with every request pays bcrypt once per TTL, not per request;
            // a wrong password is never remembered and always goes through the login policy.
            case .basic(let v): CredentialCache.Key(scheme: 6, v)
            }
        }
    }

    private func presented(_ request: Request) throws -> Presented? {
        if let key = request.headers[Self.managerKeyHeader] { return .serverKey(Substring(key)) }
        if let authorization = request.headers[.authorization] {
            guard let space = authorization.firstIndex(of: " ") else {
                throw APIError(.unauthorized, "unauthorized", "malformed Authorization header")
            }
            let scheme = authorization[..<space].lowercased()
            var value = authorization[authorization.index(after: space)...]
            while value.first == " " { value = value.dropFirst() }
            while value.last == " " { value = value.dropLast() }
            guard !value.isEmpty else { throw APIError(.unauthorized, "unauthorized", "malformed Authorization header") }
            switch scheme {
            case "bearer" where DeviceTokens.looksLikeToken(value): return .deviceToken(value)
            case "bearer" where APIKeys.looksLikeKey(value), "apikey": return .apiKey(value)
            case "bearer": return .jwt(value)
            case "basic": return .basic(value)
            default: throw APIError(.unauthorized, "unauthorized", "unsupported authorization scheme '\(authorization[..<space])'")
            }
        }
        if let cookie = request.cookies[Self.sessionCookie] { return .session(Substring(cookie.value)) }
        return nil
    }

    func authenticate(_ request: Request, context: ControlContext) async throws -> Principal? {
        guard let credential = try presented(request) else { return nil }
        let now = WallClock.nowMillis()
        let cache = services.credentials
        let key = cache.enabled ? credential.cacheKey : nil
        // Read before the store is asked: an entry stamped with it is dropped by any later change.
        let epoch = services.store.authenticationEpoch
        let entry: CredentialCache.Entry
        if let key, let cached = cache.lookup(key, epoch: epoch, now: now) {
            entry = cached
        } else {
            entry = try await check(credential, epoch: epoch, now: now, context: context)
            if let key { cache.insert(key, entry, now: now, current: services.store.authenticationEpoch) }
        }
        if let csrfHash = entry.csrfHash, ![.get, .head, .options].contains(request.method) {
            guard let csrf = request.headers[Self.csrfHeader], Secrets.constantTimeEquals(Secrets.sha256Hex(csrf), csrfHash) else {
                throw APIError(.forbidden, "csrf", "missing or wrong X-CSRF-Token for a cookie-authenticated request")
            }
        }
        return entry.principal
    }

    /// Asks the store (and for JWTs the signature) who the credential proves to be: one trip to
    /// a database thread, which also reads the caller's scope.
    private func check(_ credential: Presented, epoch: UInt64, now: Int64, context: ControlContext) async throws -> CredentialCache.Entry {
        let forever = Int64.max
        switch credential {
        case .serverKey(let value):
            guard let (record, scope) = try await services.store.authenticateServerKey(hash: Secrets.sha256Hex(String(value))) else {
                throw APIError(.unauthorized, "unauthorized", "invalid server key")
            }
            let principal = Principal(user: nil, credential: .serverKey(id: record.id), serverKey: record, scope: scope)
            return CredentialCache.Entry(principal: principal, expiresAt: forever, epoch: epoch)
        case .deviceToken(let value):
            guard let device = try await services.store.authenticateDevice(tokenHash: Secrets.sha256Hex(String(value))) else {
                throw APIError(.unauthorized, "unauthorized", "invalid device token, or the device is deactivated")
            }
            let principal = Principal(user: nil, credential: .device(id: device.id), device: device, scope: Scope(ouIDs: []))
            return CredentialCache.Entry(principal: principal, expiresAt: forever, epoch: epoch)
        case .apiKey(let value):
            guard APIKeys.looksLikeKey(value), let (key, user, scope) = try await services.store.authenticateAPIKey(hash: Secrets.sha256Hex(String(value))) else {
                throw APIError(.unauthorized, "unauthorized", "invalid or revoked API key")
            }
            guard user.active else { throw APIError(.unauthorized, "unauthorized", "account is disabled or gone") }
            return CredentialCache.Entry(principal: Principal(user: user, credential: .apiKey(id: key.id), scope: scope), expiresAt: forever, epoch: epoch)
        case .jwt(let value):
            let claims: (userID: Int64, jti: String, expiresAt: Int64)
            do {
                claims = try await services.tokens.verify(String(value))
            } catch {
                throw APIError(.unauthorized, "unauthorized", "invalid or expired token")
            }
            let (active, user, scope) = try await services.store.tokenUser(jti: claims.jti, userID: claims.userID, now: now)
            guard active else { throw APIError(.unauthorized, "unauthorized", "token has been revoked") }
            guard let user, user.active else { throw APIError(.unauthorized, "unauthorized", "account is disabled or gone") }
            return CredentialCache.Entry(principal: Principal(user: user, credential: .token(jti: claims.jti), scope: scope),
                                         expiresAt: claims.expiresAt, epoch: epoch)
        case .basic(let value):
            guard let decoded = Data(base64Encoded: String(value)).flatMap({ String(data: $0, encoding: .utf8) }),
                  let colon = decoded.firstIndex(of: ":") else {
                throw APIError(.unauthorized, "unauthorized", "malformed Basic credentials")
            }
            let username = String(decoded[..<colon]), password = String(decoded[decoded.index(after: colon)...])
            let user: User
            do {
                user = try await services.login.checkPassword(username: username, password: password, mfaCode: nil, source: context.remoteAddress,
                                                              allowMFA: false)
            } catch let refusal as APIError where refusal.status == .tooManyRequests {
                // Credentials sent with a request are refused with 401 (and when to try again), as any bad credential is.
                throw APIError(.unauthorized, refusal.code, refusal.message, retryAfterSeconds: refusal.retryAfterSeconds)
            }
            let principal = Principal(user: user, credential: .basic, scope: try await services.store.scope(of: user))
            return CredentialCache.Entry(principal: principal, expiresAt: forever, epoch: epoch)
        case .session(let value):
            let idHash = Secrets.sha256Hex(String(value))
            guard let (session, user, scope) = try await services.store.sessionUser(idHash: idHash, now: now) else {
                throw APIError(.unauthorized, "unauthorized", "session expired or logged out")
            }
            guard let user, user.active else { throw APIError(.unauthorized, "unauthorized", "account is disabled or gone") }
            return CredentialCache.Entry(principal: Principal(user: user, credential: .session(id: idHash), scope: scope),
                                         csrfHash: session.csrfHash, expiresAt: session.expiresAt, epoch: epoch)
        }
    }
}

enum APIKeys {
    /// 32 random bytes as 64 lowercase hex characters.
    static func generate() -> String { Secrets.randomHex(bytes: 32) }

    static func looksLikeKey(_ value: some StringProtocol) -> Bool {
        value.utf8.count == 64 && value.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }
    }

    static func prefix(_ key: String) -> String { String(key.prefix(8)) }
}

/// Device tokens: `wpd_` and 64 hex characters, so a bearer value says which kind it is.
enum DeviceTokens {
    static let prefix = "wpd_"
    static func generate() -> String { prefix + Secrets.randomHex(bytes: 32) }
    static func looksLikeToken(_ value: some StringProtocol) -> Bool { value.hasPrefix(prefix) && APIKeys.looksLikeKey(value.dropFirst(prefix.count)) }
}
