import Hummingbird

/// Checks a request's query string against its operation's declared parameters (the same
/// declarations the OpenAPI document publishes), before the handler runs: one declaration, so
/// what the document allows and what the server accepts cannot drift apart. Unknown parameters
/// are ignored; a parameter given twice is refused.
enum QueryParameters {
    static func validate(_ request: Request, against declared: [Field]) throws {
        guard !declared.isEmpty else { return }
        let parameters = request.uri.queryParameters
        for field in declared {
            let values = parameters.getAll(field.name)
            guard let first = values.first else {
                if field.required { throw APIError.invalid(field.name, "is required") }
                continue
            }
            if values.count > 1 { throw APIError.invalid(field.name, "must be given once") }
            if let problem = problem(String(first), field.schema) { throw APIError.invalid(field.name, problem) }
        }
    }

    /// Why `text` is not a value of `schema` (as a query string carries it), or nil.
    static func problem(_ text: String, _ schema: JSONSchema) -> String? {
        switch schema {
        case .string(let maxLength, let minLength, let pattern, let values, _):
            return SchemaValidator.stringProblem(text, maxLength: maxLength, minLength: minLength, pattern: pattern, values: values)
        case .integer(let minimum, let maximum):
            guard let n = Int64(text), n.magnitude <= JSONSchema.integerLimit.magnitude else { return "must be an integer" }
            if let minimum, n < minimum { return "must be at least \(minimum)" }
            if let maximum, n > maximum { return "must be at most \(maximum)" }
            return nil
        case .number(let minimum, let maximum):
            guard let d = Double(text), d.isFinite else { return "must be a number" }
            if let minimum, d < minimum { return "must be at least \(minimum)" }
            if let maximum, d > maximum { return "must be at most \(maximum)" }
            return nil
        case .boolean:
            return text == "true" || text == "false" ? nil : "must be true or false"
        case .nullable(let inner):
            return problem(text, inner)
        case .array, .object, .freeform, .named:
            preconditionFailure("query parameters are scalars")
        }
    }
}
