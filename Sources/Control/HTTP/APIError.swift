import Foundation
import Hummingbird

/// Every error the API returns: JSON `{error, message, fields?}` with the right status.
public struct APIError: Error, Sendable {
    public var status: HTTPResponse.Status
    /// A stable machine-readable code, e.g. `invalid_request`, `unauthorized`, `forbidden`.
    public var code: String
    public var message: String
    public var fields: [String: String]?
    public var retryAfterSeconds: Int?

    public init(_ status: HTTPResponse.Status, _ code: String, _ message: String, fields: [String: String]? = nil, retryAfterSeconds: Int? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields
        self.retryAfterSeconds = retryAfterSeconds
    }

    static func invalid(_ field: String, _ message: String) -> APIError {
        APIError(.badRequest, "invalid_request", "\(field): \(message)", fields: [field: message])
    }
    static let unauthorized = APIError(.unauthorized, "unauthorized", "authentication required")
    static func forbidden(_ message: String = "not permitted") -> APIError { APIError(.forbidden, "forbidden", message) }
    static func notFound(_ what: String) -> APIError { APIError(.notFound, "not_found", "\(what) not found") }
    static func conflict(_ message: String) -> APIError { APIError(.conflict, "conflict", message) }

    func response() -> Response {
        var object: [String: Any] = ["error": code, "message": message]
        if let fields { object["fields"] = fields }
        var headers: HTTPFields = [:]
        if let retryAfterSeconds { headers[.retryAfter] = String(max(1, retryAfterSeconds)) }
        if status == .unauthorized { headers[.wwwAuthenticate] = "Bearer realm=\"waddleperf\"" }
        return JSONResponse.make(object, status: status, headers: headers)
    }
}

/// Turns whatever a handler throws into an `APIError` response; unexpected errors become a 500
/// whose details go to the log, not to the client.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            return error.response()
        } catch let error as StoreError {
            switch error {
            case .notFound(let what): return APIError.notFound(what).response()
            case .conflict(let message): return APIError.conflict(message).response()
            case .invalid(let field, let message): return APIError.invalid(field, message).response()
            }
        } catch let error as ResultWriterError {
            switch error {
            case .overloaded: return APIError(.tooManyRequests, "overloaded", "result queue is full; retry later", retryAfterSeconds: 1).response()
            case .unavailable(let why): return APIError(.serviceUnavailable, "unavailable", why, retryAfterSeconds: 5).response()
            case .rejected(let why): return APIError(.unprocessableContent, "rejected", why).response()
            }
        } catch let error as SQLError where error.kind == .connection {
            context.logger.error("database unavailable: \(error)")
            return APIError(.serviceUnavailable, "unavailable", "database unavailable", retryAfterSeconds: 5).response()
        } catch let error as any HTTPResponseError {
            switch error.status {
            case .contentTooLarge:
                return APIError(.contentTooLarge, "too_large", "request body is larger than this route accepts").response()
            case .notFound:
                return APIError(.notFound, "not_found", "no such route: \(request.method) \(request.uri.path)").response()
            case .methodNotAllowed:
                return APIError(.methodNotAllowed, "method_not_allowed", "\(request.method) is not allowed on \(request.uri.path)").response()
            default:
                return APIError(error.status, "http_error", error.status.reasonPhrase).response()
            }
        } catch {
            context.logger.error("unhandled error on \(request.method) \(request.uri.path): \(error)")
            return APIError(.internalServerError, "internal", "internal error").response()
        }
    }
}
