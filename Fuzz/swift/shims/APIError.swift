/// Stand-in for `APIError` (Sources/Control/HTTP/APIError.swift) when the request-body
/// parser is compiled on its own for fuzz_schema_parser: the real type is a Hummingbird
/// `HTTPResponseError` whose status is an `HTTPResponse.Status` (swift-http-types), and
/// its file also reaches `StoreError`, `ResultWriterError`, `SQLError` and the router.
///
/// `SchemaValidator.parse` (JSONSchema.swift) is its only user here and calls just
/// `APIError(.badRequest, code, message, fields:)`; the harness reads `status.code`,
/// `code`, `message` and `fields`, which the real type has with the same names.
struct APIError: Error, Sendable {
    struct Status: Sendable, Equatable {
        var code: Int
        static let badRequest = Status(code: 400)
    }

    var status: Status
    var code: String
    var message: String
    var fields: [String: String]?

    init(_ status: Status, _ code: String, _ message: String, fields: [String: String]? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields
    }
}
