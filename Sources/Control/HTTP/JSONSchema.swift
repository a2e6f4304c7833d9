import Foundation

/// A JSON Schema subset, declared once per request and response body. Request schemas validate
/// incoming bodies (types, bounds, required fields, unknown fields refused) and the same values
/// render into the OpenAPI document, so the two cannot drift apart.
public indirect enum JSONSchema: Sendable {
    /// The integers the parser reads exactly (beyond, a JSON number may not survive a double):
    /// every integer field is bounded by this unless it declares tighter bounds.
    public static let integerLimit: Int64 = 8_999_999_999_999_999

    case string(maxLength: Int = 1024, minLength: Int = 0, pattern: String? = nil, values: [String]? = nil, format: String? = nil)
    case integer(minimum: Int64? = nil, maximum: Int64? = nil)
    case number(minimum: Double? = nil, maximum: Double? = nil)
    case boolean
    case array(of: JSONSchema, maxItems: Int? = nil, minItems: Int = 0)
    case object(ObjectSchema)
    /// Any JSON object, stored as given (e.g. raw probe output).
    case freeform
    case nullable(JSONSchema)
    /// The object schema of this name, declared elsewhere: lets a response shape contain itself
    /// (a tree's nodes). Documentation only: request schemas do not use it.
    case named(String)
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
    /// Where each field sits in a parsed object (built once, not per parsed object).
    let layout: FieldLayout

    public init(_ name: String, strict: Bool = true, _ fields: [Field]) {
        self.name = name
        self.fields = fields
        self.strict = strict
        self.layout = FieldLayout(fields)
    }

    /// A field's position in a parsed object's slots.
    func position(of name: String) -> Int {
        guard let position = layout.positions[name] else { preconditionFailure("\(self.name) has no field \(name)") }
        return position
    }
}

/// A schema's fields by position, with their names as bytes so a parsed key is matched
/// without building a string or hashing it.
final class FieldLayout: Sendable {
    let fields: [Field]
    let keys: [[UInt8]]
    let positions: [String: Int]

    init(_ fields: [Field]) {
        precondition(fields.count <= 64, "a schema's presence mask holds 64 fields")
        self.fields = fields
        self.keys = fields.map { Array($0.name.utf8) }
        self.positions = Dictionary(uniqueKeysWithValues: fields.enumerated().map { ($1.name, $0) })
    }

    /// The position of the field named by `count` bytes at `key`, trying `hint` first: senders
    /// write their fields in the same order every time.
    func position(of key: UnsafePointer<UInt8>, count: Int, hint: Int) -> Int? {
        let n = keys.count
        var i = hint < n ? hint : 0
        for _ in 0..<n {
            let candidate = keys[i]
            if candidate.count == count, candidate.withUnsafeBufferPointer({ memcmp($0.baseAddress!, key, count) == 0 }) {
                return i
            }
            i = i + 1 == n ? 0 : i + 1
        }
        return nil
    }
}

/// A value of a validated request body, typed by its schema: integers are `.int`, numbers
/// `.double`, free-form objects the JSON text as sent. (Not a general JSON value: the only
/// bodies still read this way are the result upload's, the hot path; the others decode into
/// their `APIBody` types.)
public enum SchemaValue: Sendable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([SchemaValue])
    case object(JSONObject)
    /// A `.freeform` object: its JSON text exactly as sent (checked well-formed).
    case raw(String)
}

/// A validated JSON object with typed accessors. Its values sit in slots by schema position;
/// a slot is nil when the field was absent.
public struct JSONObject: Sendable {
    let layout: FieldLayout
    var slots: [SchemaValue?]

    init(layout: FieldLayout, slots: [SchemaValue?]) {
        self.layout = layout
        self.slots = slots
    }

    /// The value at a position from `ObjectSchema.position(of:)` (hot paths look fields up once).
    subscript(position: Int) -> SchemaValue? { slots[position] }

    public subscript(key: String) -> SchemaValue? {
        guard let position = layout.positions[key] else {
            assertionFailure("no field \(key) in this schema")
            return nil
        }
        return slots[position]
    }

    /// Present, even as null.
    public func has(_ key: String) -> Bool { self[key] != nil }
    public func string(_ key: String) -> String? { self[key]?.string }
    public func int(_ key: String) -> Int64? { self[key]?.int }
    public func double(_ key: String) -> Double? { self[key]?.double }
    public func bool(_ key: String) -> Bool? { self[key]?.bool }
    public func objects(_ key: String) -> [JSONObject] {
        guard case .array(let items)? = self[key] else { return [] }
        return items.compactMap { if case .object(let o) = $0 { o } else { nil } }
    }
    /// A free-form field's JSON text as sent.
    public func rawJSON(_ key: String) -> String? { self[key]?.rawJSON }
    /// The names of the fields present, in schema order.
    public var presentFields: [String] { zip(layout.fields, slots).compactMap { $1 == nil ? nil : $0.name } }
}

extension SchemaValue {
    public var string: String? { if case .string(let s) = self { s } else { nil } }
    public var int: Int64? { if case .int(let v) = self { v } else { nil } }
    public var double: Double? {
        switch self {
        case .double(let d): d
        case .int(let v): Double(v)
        default: nil
        }
    }
    public var bool: Bool? { if case .bool(let b) = self { b } else { nil } }
    public var rawJSON: String? { if case .raw(let text) = self { text } else { nil } }
}

enum SchemaValidator {
    /// Parses `data` as one JSON object of `schema`; every problem is reported by field path.
    static func parse(_ data: Data, as schema: ObjectSchema) throws -> JSONObject {
        try data.withUnsafeBytes { try parse($0, as: schema) }
    }

    /// Parses and validates in one pass over the bytes, straight into typed values: no
    /// intermediate `Any` tree (whose dynamic casts and hashing were half the CPU of a result
    /// upload). Malformed JSON anywhere is `invalid_json`; a well-formed body that breaks the
    /// schema is `invalid_request` with the problems by field path.
    static func parse(_ bytes: UnsafeRawBufferPointer, as schema: ObjectSchema) throws -> JSONObject {
        var parser = SchemaParser(bytes)
        let object: JSONObject?
        do {
            object = try parser.document(schema)
        } catch {
            throw APIError(.badRequest, "invalid_json", "request body is not valid JSON")
        }
        guard let object else {
            throw APIError(.badRequest, "invalid_request", "request body must be a JSON object")
        }
        if !parser.problems.isEmpty {
            let problems = parser.problems
            let summary = problems.sorted { $0.key < $1.key }.prefix(5).map { "\($0.key): \($0.value)" }.joined(separator: "; ")
            throw APIError(.badRequest, "invalid_request", summary, fields: problems)
        }
        return object
    }

    /// For a string value of a `.string` schema: nil when it conforms, else the problem.
    static func stringProblem(_ s: String, maxLength: Int, minLength: Int, pattern: String?, values: [String]?) -> String? {
        // Lengths count code points, as JSON Schema and the databases' character columns do (not
        // grapheme clusters: "กำ" is one `Character` and two code points). Code points never
        // outnumber UTF-8 bytes: count them only when the bytes say it matters.
        let bytes = s.utf8.count
        if bytes > maxLength && s.unicodeScalars.count > maxLength { return "must be at most \(maxLength) characters" }
        if bytes < minLength || (minLength > 1 && s.unicodeScalars.count < minLength) {
            return minLength == 1 ? "must not be empty" : "must be at least \(minLength) characters"
        }
        if let values, !values.contains(s) { return "must be one of: \(values.joined(separator: ", "))" }
        if let pattern, !Patterns.matches(s, pattern) { return "must match \(pattern)" }
        return nil
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

    /// Anchored at the very start and end of the text (`\A`, `\z`): ICU's `$` also matches before
    /// a final newline, which would let "admin\n" pass `[A-Za-z0-9._@+-]+` (JSON Schema's
    /// ECMAScript `$` does not). Matching runs under the lock: corelibs Foundation does not promise that one compiled
    /// expression may be used by several threads at once.
    static func matches(_ string: String, _ pattern: String) -> Bool {
        cache.lock.lock()
        defer { cache.lock.unlock() }
        // ASCII only: Swift strings compare by canonical equivalence ("\u{212A}"
        // == "K") while the expression sees code units.
        let memorable = string.utf8.count <= 64 && string.utf8.allSatisfy { $0 < 0x80 }
        if memorable, let known = cache.answers[pattern]?[string] { return known }
        if cache.compiled[pattern] == nil, let regex = try? NSRegularExpression(pattern: "\\A(?:\(pattern))\\z") {
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
