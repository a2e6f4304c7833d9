import Engine
import Foundation
import Hummingbird
import SQLDatabase

/// Every error the API returns: JSON `{error, message, fields?}` with the right status. It is a
/// Hummingbird `HTTPResponseError`, so it renders itself wherever it is thrown.
public struct APIError: Error, Sendable, HTTPResponseError {
    public var status: HTTPResponse.Status
    /// A stable machine-readable code, e.g. `invalid_request`, `unauthorized`, `forbidden`.
    public var code: String
    public var message: String
    public var fields: [String: String]?
    public var retryAfterSeconds: Int?
    /// Sent as is (for example `Allow` with a 405).
    public var headers: HTTPFields

    public init(_ status: HTTPResponse.Status, _ code: String, _ message: String, fields: [String: String]? = nil,
                retryAfterSeconds: Int? = nil, headers: HTTPFields = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields
        self.retryAfterSeconds = retryAfterSeconds
        self.headers = headers
    }

    static func invalid(_ field: String, _ message: String) -> APIError {
        APIError(.badRequest, "invalid_request", "\(field): \(message)", fields: [field: message])
    }
    /// A check its schema accepts but the engine cannot run (a target its kind cannot take, a
    /// URL that does not parse, parameters of another kind): 422, naming the field.
    static func uncheckable(_ field: String, _ message: String) -> APIError {
        let field = field.hasPrefix("checks[0].") ? String(field.dropFirst("checks[0].".count)) : field
        return APIError(.unprocessableContent, "invalid_check", "\(field): \(message)", fields: [field: message])
    }
    static let unauthorized = APIError(.unauthorized, "unauthorized", "authentication required")
    static func forbidden(_ message: String = "not permitted") -> APIError { APIError(.forbidden, "forbidden", message) }
    static func notFound(_ what: String) -> APIError { APIError(.notFound, "not_found", "\(what) not found") }
    static func conflict(_ message: String) -> APIError { APIError(.conflict, "conflict", message) }
    /// A well-formed field that names something that does not exist (or, for a move, a place it
    /// cannot go): the request conflicts with what is stored.
    static func conflict(_ field: String, _ message: String) -> APIError {
        APIError(.conflict, "conflict", "\(field): \(message)", fields: [field: message])
    }
    /// A well-formed field the caller may not use, or a proof (a password, a code) that is wrong.
    static func refused(_ field: String, _ message: String) -> APIError {
        APIError(.forbidden, "forbidden", "\(field): \(message)", fields: [field: message])
    }

    /// The body every error shares (`Schemas.error` in the OpenAPI document).
    struct Body: Codable, Sendable, Equatable {
        var error: String
        var message: String
        var fields: [String: String]?
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response { response() }

    func response() -> Response {
        var headers = self.headers
        if let retryAfterSeconds { headers[.retryAfter] = String(max(1, retryAfterSeconds)) }
        if status == .unauthorized { headers[.wwwAuthenticate] = "Bearer realm=\"waddleperf\"" }
        return JSONResponse.encode(Body(error: code, message: message, fields: fields), status: status, headers: headers)
    }
}

/// An error of a lower layer (the store, the result writer, the database) that has an API answer.
/// The error middleware asks for it, so no error type is listed there.
protocol APIErrorConvertible: Error {
    var apiError: APIError { get }
}

extension APIError: APIErrorConvertible {
    var apiError: APIError { self }
}

extension StoreError: APIErrorConvertible {
    var apiError: APIError {
        switch self {
        case .notFound(let what): APIError.notFound(what)
        case .conflict(let message): APIError.conflict(message)
        case .invalid(let field, let message): APIError.invalid(field, message)
        case .reference(let field, let message): APIError.conflict(field, message)
        }
    }
}

extension ResultWriterError: APIErrorConvertible {
    var apiError: APIError {
        switch self {
        case .overloaded: APIError(.tooManyRequests, "overloaded", "result queue is full; retry later", retryAfterSeconds: 1)
        case .unavailable(let why): APIError(.serviceUnavailable, "unavailable", why, retryAfterSeconds: 5)
        case .rejected(let why): APIError(.unprocessableContent, "rejected", why)
        }
    }
}

extension TargetRefused: APIErrorConvertible {
    /// 403 naming the rule (and the address actually connected to, after resolution).
    var apiError: APIError {
        APIError(.forbidden, "target_refused", description, fields: ["target": description, "rule": rule])
    }
}

extension ResourceBusy: APIErrorConvertible {
    var apiError: APIError { APIError(.serviceUnavailable, "busy", description, retryAfterSeconds: 2) }
}

extension SQLError: APIErrorConvertible {
    /// A lost database is a 503 to retry; any other database error is a bug, a 500.
    var apiError: APIError {
        kind == .connection
            ? APIError(.serviceUnavailable, "unavailable", "database unavailable", retryAfterSeconds: 5)
            : APIError(.internalServerError, "internal", "internal error")
    }
}

/// Renders whatever a handler throws as an API error: our own errors say what they are; the
/// framework's (no route, body too large) get our body; anything else is a 500 whose details go
/// to the log, not to the client.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let error: APIError
        do {
            return try await next(request, context)
        } catch let thrown as any APIErrorConvertible {
            error = thrown.apiError
            if error.status.code >= 500 && error.status != .notImplemented { context.logger.error("\(request.method) \(request.uri.path): \(thrown)") }
        } catch let thrown as any HTTPResponseError {
            switch thrown.status {
            case .contentTooLarge: error = APIError(.contentTooLarge, "too_large", "request body is larger than this route accepts")
            case .notFound:
                // The router matched no (method, path): a known path with another method is a 405.
                if let allow = API.allowedMethods(at: request.uri.path) {
                    error = APIError(.methodNotAllowed, "method_not_allowed", "\(request.method) is not allowed on \(request.uri.path); allowed: \(allow)",
                                     headers: [.allow: allow])
                } else {
                    error = APIError(.notFound, "not_found", "no such route: \(request.method) \(request.uri.path)")
                }
            default: error = APIError(thrown.status, "http_error", thrown.status.reasonPhrase)
            }
        } catch {
            context.logger.error("unhandled error on \(request.method) \(request.uri.path): \(error)")
            return APIError(.internalServerError, "internal", "internal error").response()
        }
        return error.response()
    }
}
