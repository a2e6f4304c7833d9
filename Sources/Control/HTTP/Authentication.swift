import Foundation
import HTTPTypes
import Hummingbird

/// Finds out who is calling. A presented credential that does not check out is a 401 at once;
/// no credential leaves the principal empty and the route's permission decides.
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
        context.principal = try await authenticate(request, context: context)
        return try await next(request, context)
    }

    func authenticate(_ request: Request, context: ControlContext) async throws -> Principal? {
        if let key = request.headers[Self.managerKeyHeader] {
            guard let record = try await services.store.authenticateServerKey(hash: Secrets.sha256Hex(key)) else {
                throw APIError(.unauthorized, "unauthorized", "invalid server key")
            }
            return Principal(user: nil, credential: .serverKey(id: record.id))
        }
        if let authorization = request.headers[.authorization] {
            let parts = authorization.split(separator: " ", maxSplits: 1)
            guard parts.count == 2 else { throw APIError(.unauthorized, "unauthorized", "malformed Authorization header") }
            let scheme = parts[0].lowercased(), value = String(parts[1]).trimmingCharacters(in: .whitespaces)
            switch scheme {
            case "bearer" where DeviceTokens.looksLikeToken(value):
                guard let device = try await services.store.authenticateDevice(tokenHash: Secrets.sha256Hex(value)) else {
                    throw APIError(.unauthorized, "unauthorized", "invalid device token, or the device is deactivated")
                }
                return Principal(user: nil, credential: .device(id: device.id), device: device)
            case "bearer" where APIKeys.looksLikeKey(value), "apikey":
                return try await apiKey(value)
            case "bearer":
                return try await token(value)
            case "basic":
                return try await basic(value, context: context)
            default:
                throw APIError(.unauthorized, "unauthorized", "unsupported authorization scheme '\(parts[0])'")
            }
        }
        if let cookie = request.cookies[Self.sessionCookie] {
            return try await session(cookie.value, request: request)
        }
        return nil
    }

    private func activeUser(_ id: Int64) async throws -> User {
        guard let user = try await services.store.user(id: id), user.active else {
            throw APIError(.unauthorized, "unauthorized", "account is disabled or gone")
        }
        return user
    }

    private func token(_ value: String) async throws -> Principal {
        let claims: (userID: Int64, jti: String)
        do {
            claims = try await services.tokens.verify(value)
        } catch {
            throw APIError(.unauthorized, "unauthorized", "invalid or expired token")
        }
        let (active, user) = try await services.store.tokenUser(jti: claims.jti, userID: claims.userID, now: WallClock.nowMillis())
        guard active else { throw APIError(.unauthorized, "unauthorized", "token has been revoked") }
        guard let user, user.active else { throw APIError(.unauthorized, "unauthorized", "account is disabled or gone") }
        return Principal(user: user, credential: .token(jti: claims.jti))
    }

    private func apiKey(_ value: String) async throws -> Principal {
        guard APIKeys.looksLikeKey(value), let (key, user) = try await services.store.authenticateAPIKey(hash: Secrets.sha256Hex(value)) else {
            throw APIError(.unauthorized, "unauthorized", "invalid or revoked API key")
        }
        guard user.active else { throw APIError(.unauthorized, "unauthorized", "account is disabled or gone") }
        return Principal(user: user, credential: .apiKey(id: key.id))
    }

    private func basic(_ value: String, context: ControlContext) async throws -> Principal {
        guard let decoded = Data(base64Encoded: value).flatMap({ String(data: $0, encoding: .utf8) }),
              let colon = decoded.firstIndex(of: ":") else {
            throw APIError(.unauthorized, "unauthorized", "malformed Basic credentials")
        }
        let username = String(decoded[..<colon]), password = String(decoded[decoded.index(after: colon)...])
        let user = try await services.checkPassword(username: username, password: password, mfaCode: nil, source: context.remoteAddress, allowMFA: false)
        return Principal(user: user, credential: .basic)
    }

    private func session(_ value: String, request: Request) async throws -> Principal {
        let idHash = Secrets.sha256Hex(value)
        guard let session = try await services.store.activeSession(idHash: idHash, now: WallClock.nowMillis()) else {
            throw APIError(.unauthorized, "unauthorized", "session expired or logged out")
        }
        if ![.get, .head, .options].contains(request.method) {
            guard let csrf = request.headers[Self.csrfHeader], Secrets.constantTimeEquals(Secrets.sha256Hex(csrf), session.csrfHash) else {
                throw APIError(.forbidden, "csrf", "missing or wrong X-CSRF-Token for a cookie-authenticated request")
            }
        }
        return Principal(user: try await activeUser(session.userID), credential: .session(id: idHash))
    }
}

enum APIKeys {
    /// 32 random bytes as 64 lowercase hex characters.
    static func generate() -> String { Secrets.randomHex(bytes: 32) }

    static func looksLikeKey(_ value: String) -> Bool {
        value.utf8.count == 64 && value.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }
    }

    static func prefix(_ key: String) -> String { String(key.prefix(8)) }
}

/// Device tokens: `wpd_` and 64 hex characters, so a bearer value says which kind it is.
enum DeviceTokens {
    static let prefix = "wpd_"
    static func generate() -> String { prefix + Secrets.randomHex(bytes: 32) }
    static func looksLikeToken(_ value: String) -> Bool { value.hasPrefix(prefix) && APIKeys.looksLikeKey(String(value.dropFirst(prefix.count))) }
}
