import Foundation
import Hummingbird
import HummingbirdWebSocket
import HTTPTypes

/// Registers handlers by operation id. Each handler is wrapped in the operation's permission
/// check, and `finish()` refuses to start a server in which a declared operation has no handler.
struct Routes {
    typealias Handler = @Sendable (Request, ControlContext, APIOperation) async throws -> Response
    let router: Router<ControlContext>
    /// How long a request body may take to arrive (`ConnectionLimits.bodyTimeout` in handlers).
    let bodyTimeout: Duration
    /// Each principal's request rate (checked once the credential is known).
    let quotas: PrincipalQuotas?
    private(set) var registered: Set<String> = []

    init(router: Router<ControlContext>, bodyTimeout: Duration = .seconds(30), quotas: PrincipalQuotas? = nil) {
        self.router = router
        self.bodyTimeout = bodyTimeout
        self.quotas = quotas
    }

    mutating func on(_ id: String, _ handler: @escaping Handler) {
        let operation = API.operation(id)
        precondition(registered.insert(id).inserted, "operation \(id) registered twice")
        let bodyTimeout = self.bodyTimeout, quotas = self.quotas
        router.on(RouterPath(operation.routerPath), method: operation.method) { request, context in
            try Self.admit(request, context, operation, quotas: quotas)
            // An exporter route admits its caller first, then checks its query itself.
            if operation.permission != .exporter { try QueryParameters.validate(request, against: operation.query) }
            // Only a route that reads a body needs its deadline bound.
            guard operation.request != nil else { return try await handler(request, context, operation) }
            return try await ConnectionLimits.$bodyTimeout.withValue(bodyTimeout) { try await handler(request, context, operation) }
        }
    }

    /// A WebSocket route. A GET without `Upgrade: websocket` answers 426. An upgrade request
    /// is upgraded, then put through the same checks as `on` and `check`: a refusal closes the
    /// socket at once, before any data, with code 4000 + the HTTP status it would have had
    /// (4401, 4403, 4404, 4429, ...) and the message as the reason. (Hummingbird answers a
    /// refused upgrade with a bare 400, and a browser sees no handshake status anyway.)
    mutating func webSocket(_ id: String, check: @escaping @Sendable (Request, ControlContext) async throws -> Void,
                            onUpgrade handler: @escaping WebSocketDataHandler<WebSocketRouterContext<ControlContext>>) {
        let operation = API.operation(id)
        precondition(registered.insert(id).inserted, "operation \(id) registered twice")
        let quotas = self.quotas
        router.ws(RouterPath(operation.routerPath), shouldUpgrade: { request, context in
            guard request.headers[.upgrade]?.lowercased() == "websocket" else {
                // A plain GET: refused as the upgrade would be (401, 403, 404), else told to upgrade.
                try Self.admit(request, context, operation, quotas: quotas)
                try await check(request, context)
                throw APIError(.upgradeRequired, "upgrade_required", "this is a WebSocket: send Upgrade: websocket",
                               headers: [.upgrade: "websocket"])
            }
            return .upgrade([:])
        }, onUpgrade: { inbound, outbound, context in
            do {
                try Self.admit(context.request, context.requestContext, operation, quotas: quotas)
                try await check(context.request, context.requestContext)
            } catch {
                let refusal = (error as? any APIErrorConvertible)?.apiError ?? APIError(.internalServerError, "internal", "internal error")
                let reason = String(decoding: Array(refusal.message.utf8.prefix(120)), as: UTF8.self)
                try await outbound.close(.unknown(UInt16(4000 + refusal.status.code)), reason: reason)
                return
            }
            try await handler(inbound, outbound, context)
        })
    }

    /// The permission, rate and password-change checks every operation passes first.
    private static func admit(_ request: Request, _ context: ControlContext, _ operation: APIOperation, quotas: PrincipalQuotas?) throws {
        // Public routes, and the exporter routes, which decide who may call them themselves.
        guard operation.permission != .none && operation.permission != .exporter else { return }
        // A credential that did not check out answers here, on routes that need one; a
        // public route (login, enrollment, health) ignores a stale one.
        guard let principal = context.principal else { throw context.authenticationFailure ?? APIError.unauthorized }
        guard principal.permissions.contains(operation.permission) else {
            throw APIError.forbidden("requires \(operation.permission.rawValue)")
        }
        if let wait = quotas?.admitRequest(principal.quotaKey) {
            throw APIError(.tooManyRequests, "rate_limited", "more than this server's rate_limit requests a second for \(principal.displayName)",
                           retryAfterSeconds: wait)
        }
        if principal.user?.mustChangePassword == true && !API.beforePasswordChange.contains(operation.id) {
            throw APIError(.forbidden, "password_change_required",
                           "this account has a one-time password: change it first (POST /api/v1/auth/password)")
        }
    }

    /// Checks every declared operation has a handler. (A method no operation declares on a known
    /// path is answered 405 by `ErrorMiddleware`, from `API.allowedMethods(at:)`.)
    func finish() {
        let missing = API.operations.map(\.id).filter { !registered.contains($0) }
        precondition(missing.isEmpty, "declared operations without a handler: \(missing)")
    }
}

// MARK: Request and response helpers

extension Request {
    /// The body validated against the operation's request schema, at most `maxBody` bytes.
    mutating func json(_ operation: APIOperation) async throws -> JSONObject {
        let (buffer, schema) = try await jsonBody(operation)
        return try buffer.withUnsafeReadableBytes { try SchemaValidator.parse($0, as: schema) }
    }

    /// The body, at most `maxBody` bytes, sent as JSON, and the schema it must satisfy (not yet
    /// checked: the caller parses it once, against that schema).
    mutating func jsonBody(_ operation: APIOperation) async throws -> (ByteBuffer, ObjectSchema) {
        guard let schema = operation.request else { preconditionFailure("\(operation.id) declares no request body") }
        let buffer: ByteBuffer
        let body = self.body, limit = operation.maxBody, timeout = ConnectionLimits.bodyTimeout
        do {
            // The whole body within the deadline, however it trickles in: a slow client cannot
            // hold a connection and a handler for ever.
            buffer = try await withThrowingTaskGroup(of: ByteBuffer?.self) { group in
                group.addTask { try await body.collect(upTo: limit) }
                group.addTask { try await Task.sleep(for: timeout); return nil }
                defer { group.cancelAll() }
                guard let first = try await group.next(), let collected = first else {
                    throw APIError(.requestTimeout, "request_timeout", "the request body did not arrive within \(timeout)")
                }
                return collected
            }
        } catch let error as APIError {
            throw error
        } catch {
            throw APIError(.contentTooLarge, "too_large", "request body exceeds \(operation.maxBody) bytes")
        }
        self.body = .init(buffer: buffer)
        if let type = headers[.contentType], !type.lowercased().hasPrefix("application/json") {
            throw APIError(.unsupportedMediaType, "unsupported_media_type", "send application/json")
        }
        return (buffer, schema)
    }

    /// The `Idempotency-Key` header: 1-128 of `A-Z a-z 0-9 . _ : -`.
    func idempotencyKey() throws -> String? {
        guard let value = headers[HTTPField.Name("Idempotency-Key")!] else { return nil }
        guard (1...128).contains(value.utf8.count),
              value.utf8.allSatisfy({ (48...57).contains($0) || (65...90).contains($0) || (97...122).contains($0) || ".-_:".utf8.contains($0) }) else {
            throw APIError.invalid("Idempotency-Key", "must be 1-128 characters of A-Z a-z 0-9 . _ : -")
        }
        return value
    }

    func queryInt(_ name: String, default value: Int, range: ClosedRange<Int>) throws -> Int {
        guard let text = uri.queryParameters[Substring(name)] else { return value }
        guard let parsed = Int(text), range.contains(parsed) else {
            throw APIError.invalid(name, "must be an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        return parsed
    }

    func queryInt64(_ name: String) throws -> Int64? {
        guard let text = uri.queryParameters[Substring(name)] else { return nil }
        guard let parsed = Int64(text), parsed >= 0 else { throw APIError.invalid(name, "must be a non-negative integer") }
        return parsed
    }

    func queryString(_ name: String, maxLength: Int = 255) throws -> String? {
        guard let text = uri.queryParameters[Substring(name)] else { return nil }
        guard text.count <= maxLength else { throw APIError.invalid(name, "must be at most \(maxLength) characters") }
        return String(text)
    }
}

extension ControlContext {
    func pathID(_ name: String = "id") throws -> Int64 {
        guard let text = parameters.get(name), let id = Int64(text), id > 0, id <= JSONSchema.integerLimit else {
            throw APIError.invalid(name, "must be an integer in 1...\(JSONSchema.integerLimit)")
        }
        return id
    }

    /// Who is calling; 401 when nobody authenticated.
    func caller() throws -> Principal {
        guard let principal else { throw APIError.unauthorized }
        return principal
    }
}

enum JSONResponse {
    /// One encoder for every typed response: sorted keys (the same body is the same bytes), no
    /// escaped slashes.
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    static let decoder = JSONDecoder()

    static func encode(_ value: some Encodable, status: HTTPResponse.Status = .ok, headers extra: HTTPFields = [:]) -> Response {
        do {
            return make(bytes: Array(try encoder.encode(value)), status: status, headers: extra)
        } catch {
            // Our response types encode plain values only; a failure here is a bug.
            preconditionFailure("cannot encode \(type(of: value)): \(error)")
        }
    }

    static func make(_ object: [String: Any], status: HTTPResponse.Status = .ok, headers extra: HTTPFields = [:]) -> Response {
        make(bytes: JSONWriter.data(object), status: status, headers: extra)
    }

    static func make(bytes: [UInt8], status: HTTPResponse.Status = .ok, headers extra: HTTPFields = [:]) -> Response {
        make(buffer: ByteBuffer(bytes: bytes), status: status, headers: extra)
    }

    static func make(buffer: ByteBuffer, status: HTTPResponse.Status = .ok, headers extra: HTTPFields = [:]) -> Response {
        var headers: HTTPFields = [.contentType: "application/json; charset=utf-8", .cacheControl: "no-store"]
        headers.append(contentsOf: extra)
        return Response(status: status, headers: headers, body: .init(byteBuffer: buffer))
    }

    static func noContent() -> Response { Response(status: .noContent) }

    static func timestamp(_ millis: Int64?) -> Any {
        guard let millis else { return NSNull() }
        return Date(timeIntervalSince1970: TimeInterval(millis) / 1000).formatted(iso8601)
    }

    static func optional(_ value: Any?) -> Any { value ?? NSNull() }

    /// A value type, so one format serves every response without a formatter per timestamp.
    private static let iso8601 = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
}

extension HTTPResponse.Status {
    init(operation: APIOperation) { self.init(code: operation.successStatus) }
}
