import Foundation

/// A JSON Schema subset, declared once per request and response body. Request schemas validate
/// incoming bodies (types, bounds, required fields, unknown fields refused) and the same values
/// render into the OpenAPI document, so the two cannot drift apart.
public indirect enum JSONSchema: Sendable {
    case string(maxLength: Int = 1024, minLength: Int = 0, pattern: String? = nil, values: [String]? = nil, format: String? = nil)
    case integer(minimum: Int64? = nil, maximum: Int64? = nil)
    case number(minimum: Double? = nil, maximum: Double? = nil)
    case boolean
    case array(of: JSONSchema, maxItems: Int? = nil)
    case object(ObjectSchema)
    /// Any JSON object, stored as given (e.g. raw probe output).
    case freeform
    case nullable(JSONSchema)
}

public struct Field: Sendable {
    public var name: String
    public var schema: JSONSchema
    public var required: Bool
    public var description: String

    public init(_ name: String, _ schema: JSONSchema, required: Bool = false, _ description: String = "") {
        self.name = name
        self.schema = schema
        self.required = required
        self.description = description
    }
}

public struct ObjectSchema: Sendable {
    public let name: String
    public let fields: [Field]
    /// Refuse fields the schema does not name (request bodies).
    public let strict: Bool
    /// The field names, for the unknown-field check (built once, not per validated object).
    let names: Set<String>

    public init(_ name: String, strict: Bool = true, _ fields: [Field]) {
        self.name = name
        self.fields = fields
        self.strict = strict
        self.names = Set(fields.map(\.name))
    }
}

/// A validated JSON object with typed accessors.
public struct JSONObject: @unchecked Sendable {
    public let values: [String: Any]

    public func has(_ key: String) -> Bool { values[key] != nil }
    public func string(_ key: String) -> String? { values[key] as? String }
    public func int(_ key: String) -> Int64? { (values[key] as? NSNumber).map { $0.int64Value } }
    public func double(_ key: String) -> Double? { (values[key] as? NSNumber).map { $0.doubleValue } }
    public func bool(_ key: String) -> Bool? { (values[key] as? NSNumber).map { $0.boolValue } }
    public func objects(_ key: String) -> [JSONObject] { ((values[key] as? [Any]) ?? []).compactMap { ($0 as? [String: Any]).map(JSONObject.init(values:)) } }
}

enum SchemaValidator {
    /// Parses `data` as one JSON object and validates it; every problem is reported by field path.
    static func parse(_ data: Data, as schema: ObjectSchema) throws -> JSONObject {
        let parsed: Any
        do {
            parsed = try JSONReader.read(data) ?? JSONSerialization.jsonObject(with: data, options: [])
        } catch {
            throw APIError(.badRequest, "invalid_json", "request body is not valid JSON")
        }
        guard let object = parsed as? [String: Any] else {
            throw APIError(.badRequest, "invalid_request", "request body must be a JSON object")
        }
        var problems: [String: String] = [:]
        validate(object, schema, path: "", problems: &problems)
        if !problems.isEmpty {
            let summary = problems.sorted { $0.key < $1.key }.prefix(5).map { "\($0.key): \($0.value)" }.joined(separator: "; ")
            throw APIError(.badRequest, "invalid_request", summary, fields: problems)
        }
        return JSONObject(values: object)
    }

    static func validate(_ object: [String: Any], _ schema: ObjectSchema, path: String, problems: inout [String: String]) {
        if schema.strict && object.count > 0 {
            for key in object.keys where !schema.names.contains(key) { problems[path + key] = "unknown field" }
        }
        for field in schema.fields {
            guard let value = object[field.name] else {
                if field.required { problems[path + field.name] = "is required" }
                continue
            }
            // Scalars are checked without building their path; it is spelled out only for a problem.
            if let problem = scalarProblem(value, field.schema) {
                if !problem.isEmpty { problems[path + field.name] = problem }
            } else {
                validate(value, field.schema, path: path + field.name, problems: &problems)
            }
        }
    }

    /// Foundation's JSON parser makes true/false NSNumbers of type 'c'; 0 and 1 are 'q'.
    static func isBool(_ value: Any) -> Bool {
        guard let number = value as? NSNumber else { return false }
        return number.objCType.pointee == 0x63
    }

    /// For a scalar schema: "" when `value` conforms, else the problem. nil for arrays and
    /// objects, which `validate` walks with paths.
    static func scalarProblem(_ value: Any, _ schema: JSONSchema) -> String? {
        switch schema {
        case .nullable(let inner):
            if value is NSNull { return "" }
            return scalarProblem(value, inner)
        case .string(let maxLength, let minLength, let pattern, let values, _):
            guard let s = value as? String else { return "must be a string" }
            // Characters never outnumber UTF-8 bytes: count them only when the bytes say it matters.
            let bytes = s.utf8.count
            if bytes > maxLength && s.count > maxLength { return "must be at most \(maxLength) characters" }
            if bytes < minLength || (minLength > 1 && s.count < minLength) {
                return minLength == 1 ? "must not be empty" : "must be at least \(minLength) characters"
            }
            if let values, !values.contains(s) { return "must be one of: \(values.joined(separator: ", "))" }
            if let pattern, !Patterns.matches(s, pattern) { return "must match \(pattern)" }
            return ""
        case .integer(let minimum, let maximum):
            guard let n = value as? NSNumber, !isBool(value), let d = Optional(n.doubleValue), d == d.rounded(), abs(d) < 9.0e15 else {
                return "must be an integer"
            }
            if let minimum, n.int64Value < minimum { return "must be at least \(minimum)" }
            if let maximum, n.int64Value > maximum { return "must be at most \(maximum)" }
            return ""
        case .number(let minimum, let maximum):
            guard let n = value as? NSNumber, !isBool(value), n.doubleValue.isFinite else { return "must be a number" }
            if let minimum, n.doubleValue < minimum { return "must be at least \(minimum)" }
            if let maximum, n.doubleValue > maximum { return "must be at most \(maximum)" }
            return ""
        case .boolean:
            return isBool(value) ? "" : "must be true or false"
        case .freeform:
            return value is [String: Any] ? "" : "must be an object"
        case .array, .object:
            return nil
        }
    }

    static func validate(_ value: Any, _ schema: JSONSchema, path: String, problems: inout [String: String]) {
        if problems.count > 50 { return }
        if let problem = scalarProblem(value, schema) {
            if !problem.isEmpty { problems[path] = problem }
            return
        }
        switch schema {
        case .nullable(let inner):
            if value is NSNull { return }
            validate(value, inner, path: path, problems: &problems)
        case .array(let element, let maxItems):
            guard let items = value as? [Any] else { problems[path] = "must be an array"; return }
            if let maxItems, items.count > maxItems { problems[path] = "must have at most \(maxItems) items"; return }
            for (i, item) in items.enumerated() {
                if problems.count > 50 { return }
                if let problem = scalarProblem(item, element) {
                    if !problem.isEmpty { problems["\(path)[\(i)]"] = problem }
                } else {
                    validate(item, element, path: "\(path)[\(i)]", problems: &problems)
                }
            }
        case .object(let inner):
            guard let object = value as? [String: Any] else { problems[path] = "must be an object"; return }
            validate(object, inner, path: path + ".", problems: &problems)
        default:
            break
        }
    }
}

/// Compiled patterns, anchored, one per distinct pattern (compiling per value was the most
/// expensive part of validating a result upload).
enum Patterns {
    private final class Cache: @unchecked Sendable {
        let lock = NSLock()
        var compiled: [String: NSRegularExpression] = [:]
        /// Recent answers per pattern: uploads repeat the same few values
        /// (`icmp`, `success`) in every row, and a lookup is ~20× cheaper
        /// than NSRegularExpression. Bounded: cleared when full.
        var answers: [String: [String: Bool]] = [:]
    }
    private static let cache = Cache()
    private static let answersPerPattern = 4096

    /// Matching runs under the lock: corelibs Foundation does not promise that one compiled
    /// expression may be used by several threads at once.
    static func matches(_ string: String, _ pattern: String) -> Bool {
        cache.lock.lock()
        defer { cache.lock.unlock() }
        // ASCII only: Swift strings compare by canonical equivalence ("\u{212A}"
        // == "K") while the expression sees code units.
        let memorable = string.utf8.count <= 64 && string.utf8.allSatisfy { $0 < 0x80 }
        if memorable, let known = cache.answers[pattern]?[string] { return known }
        if cache.compiled[pattern] == nil, let regex = try? NSRegularExpression(pattern: "^(?:\(pattern))$") {
            cache.compiled[pattern] = regex
        }
        guard let regex = cache.compiled[pattern] else { return false }
        let result = regex.firstMatch(in: string, range: NSRange(string.startIndex..., in: string)) != nil
        if memorable {
            if (cache.answers[pattern]?.count ?? 0) >= answersPerPattern { cache.answers[pattern] = [:] }
            cache.answers[pattern, default: [:]][string] = result
        }
        return result
    }
}
