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
    public var name: String
    public var fields: [Field]
    /// Refuse fields the schema does not name (request bodies).
    public var strict: Bool

    public init(_ name: String, strict: Bool = true, _ fields: [Field]) {
        self.name = name
        self.fields = fields
        self.strict = strict
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
            parsed = try JSONSerialization.jsonObject(with: data, options: [])
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
        let known = Dictionary(uniqueKeysWithValues: schema.fields.map { ($0.name, $0) })
        if schema.strict {
            for key in object.keys where known[key] == nil { problems[path + key] = "unknown field" }
        }
        for field in schema.fields {
            let name = path + field.name
            guard let value = object[field.name] else {
                if field.required { problems[name] = "is required" }
                continue
            }
            validate(value, field.schema, path: name, problems: &problems)
        }
    }

    static func isBool(_ value: Any) -> Bool {
        guard let number = value as? NSNumber else { return false }
        // Foundation's JSON parser makes true/false NSNumbers of type 'c'; 0 and 1 are 'q'.
        return String(cString: number.objCType) == "c"
    }

    static func validate(_ value: Any, _ schema: JSONSchema, path: String, problems: inout [String: String]) {
        if problems.count > 50 { return }
        switch schema {
        case .nullable(let inner):
            if value is NSNull { return }
            validate(value, inner, path: path, problems: &problems)
        case .string(let maxLength, let minLength, let pattern, let values, _):
            guard let s = value as? String else { problems[path] = "must be a string"; return }
            if s.count > maxLength { problems[path] = "must be at most \(maxLength) characters" }
            else if s.count < minLength { problems[path] = minLength == 1 ? "must not be empty" : "must be at least \(minLength) characters" }
            else if let values, !values.contains(s) { problems[path] = "must be one of: \(values.joined(separator: ", "))" }
            else if let pattern, s.range(of: "^(?:\(pattern))$", options: .regularExpression) == nil { problems[path] = "must match \(pattern)" }
        case .integer(let minimum, let maximum):
            guard let n = value as? NSNumber, !isBool(value), let d = Optional(n.doubleValue), d == d.rounded(), abs(d) < 9.0e15 else {
                problems[path] = "must be an integer"; return
            }
            if let minimum, n.int64Value < minimum { problems[path] = "must be at least \(minimum)" }
            if let maximum, n.int64Value > maximum { problems[path] = "must be at most \(maximum)" }
        case .number(let minimum, let maximum):
            guard let n = value as? NSNumber, !isBool(value), n.doubleValue.isFinite else { problems[path] = "must be a number"; return }
            if let minimum, n.doubleValue < minimum { problems[path] = "must be at least \(minimum)" }
            if let maximum, n.doubleValue > maximum { problems[path] = "must be at most \(maximum)" }
        case .boolean:
            if !isBool(value) { problems[path] = "must be true or false" }
        case .array(let element, let maxItems):
            guard let items = value as? [Any] else { problems[path] = "must be an array"; return }
            if let maxItems, items.count > maxItems { problems[path] = "must have at most \(maxItems) items"; return }
            for (i, item) in items.enumerated() { validate(item, element, path: "\(path)[\(i)]", problems: &problems) }
        case .object(let inner):
            guard let object = value as? [String: Any] else { problems[path] = "must be an object"; return }
            validate(object, inner, path: path + ".", problems: &problems)
        case .freeform:
            if !(value is [String: Any]) { problems[path] = "must be an object" }
        }
    }
}
