import HTTPTypes
import Hummingbird

extension HTTPField.Name {
    static let xFrameOptions = HTTPField.Name("X-Frame-Options")!
    static let referrerPolicy = HTTPField.Name("Referrer-Policy")!
}

/// Headers every answer carries, ahead of the web UI: no MIME sniffing, no framing by other
/// sites, no referrer leaking paths and query strings elsewhere, and HSTS when the server is
/// configured for HTTPS (`secure_cookies`).
struct SecurityHeadersMiddleware<Context: RequestContext>: RouterMiddleware {
    let strictTransport: Bool

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[.xFrameOptions] = "DENY"
        // The web UI's pages carry their own policy (`WebUIMiddleware`).
        if response.headers[.contentSecurityPolicy] == nil { response.headers[.contentSecurityPolicy] = "frame-ancestors 'none'" }
        response.headers[.referrerPolicy] = "no-referrer"
        if strictTransport { response.headers[.strictTransportSecurity] = "max-age=31536000; includeSubDomains" }
        return response
    }
}
