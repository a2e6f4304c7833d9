import Foundation
import Hummingbird

/// A request or response body of a route: Codable, and the schema it mirrors (the schema
/// validates requests and renders the OpenAPI document; `APIBodyTests` checks the two name the
/// same fields).
protocol APIBody: Codable, Sendable {
    associatedtype CodingKeys: CodingKey & CaseIterable
    static var schema: ObjectSchema { get }
}

/// A time in the API: ISO 8601 in UTC with milliseconds (`2026-12-02T16:01:09.123Z`); the store
/// keeps milliseconds since the epoch.
public struct APITimestamp: Codable, Sendable, Hashable {
    public var millis: Int64

    public init(millis: Int64) { self.millis = millis }

    /// nil stays nil: optional timestamps map straight from optional columns.
    public init?(millis: Int64?) {
        guard let millis else { return nil }
        self.millis = millis
    }

    /// Parses what `text` writes (and any ISO 8601 time with fractional seconds).
    private static let format = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    /// Written from the integer milliseconds: going through a `Double` of seconds would print
    /// ...09.122 for ...09.123.
    public var text: String {
        let seconds = millis >= 0 ? millis / 1000 : (millis - 999) / 1000
        let fraction = Int(millis - seconds * 1000)
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(fraction), 3))Z"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(text)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let date = try? Self.format.parse(text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not an ISO 8601 time: \(text)")
        }
        millis = Int64((date.timeIntervalSince1970 * 1000).rounded())
    }
}

/// An optional field that is always sent, as `null` when it has no value (the OpenAPI document
/// declares such fields required and nullable). A plain optional would be left out.
@propertyWrapper
public struct ExplicitNull<Value: Codable & Sendable>: Codable, Sendable {
    public var wrappedValue: Value?

    public init(wrappedValue: Value?) { self.wrappedValue = wrappedValue }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if let wrappedValue { try container.encode(wrappedValue) } else { try container.encodeNil() }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        wrappedValue = container.decodeNil() ? nil : try container.decode(Value.self)
    }
}

extension ExplicitNull: Equatable where Value: Equatable {}

extension KeyedDecodingContainer {
    /// An absent key decodes as nil too (clients of older servers).
    public func decode<Value>(_ type: ExplicitNull<Value>.Type, forKey key: Key) throws -> ExplicitNull<Value> {
        try decodeIfPresent(type, forKey: key) ?? ExplicitNull(wrappedValue: nil)
    }
}

/// A field of a partial update (PATCH): left out, sent as null, or sent with a value. Decode it
/// with `KeyedDecodingContainer.decodePatch`.
public enum Patch<Value: Sendable>: Sendable {
    case absent
    case null
    case value(Value)

    /// nil when absent; `.some(nil)` when sent as null.
    public var change: Value?? {
        switch self {
        case .absent: nil
        case .null: .some(nil)
        case .value(let value): .some(value)
        }
    }
}

extension Patch: Equatable where Value: Equatable {}

extension KeyedDecodingContainer {
    public func decodePatch<Value: Decodable>(_ type: Value.Type, forKey key: Key) throws -> Patch<Value> {
        guard contains(key) else { return .absent }
        if try decodeNil(forKey: key) { return .null }
        return .value(try decode(type, forKey: key))
    }
}

extension KeyedEncodingContainer {
    public mutating func encodePatch<Value: Encodable>(_ patch: Patch<Value>, forKey key: Key) throws {
        switch patch {
        case .absent: break
        case .null: try encodeNil(forKey: key)
        case .value(let value): try encode(value, forKey: key)
        }
    }
}

extension Request {
    /// The body checked against the operation's request schema (the messages and field paths
    /// come from there: `results[2].success: is required`), then decoded as `Body`. The schema
    /// has already refused anything `Body` could not hold, so a decoding failure is a mismatch
    /// between the two declarations: a bug, answered 500 and caught by the tests.
    ///
    /// `semantic`: the type checks more than the schema can say (a check's parameters must be its
    /// kind's); its refusals are 422 naming the field, not a mismatch.
    mutating func decode<Body: Decodable>(_ type: Body.Type, _ operation: APIOperation, semantic: Bool = false) async throws -> Body {
        let (buffer, schema) = try await jsonBody(operation)
        // The schema's messages and paths for anything it refuses; then the typed decoding.
        _ = try buffer.withUnsafeReadableBytes { try SchemaValidator.parse($0, as: schema) }
        do {
            return try buffer.withUnsafeReadableBytes { try JSONResponse.decoder.decode(Body.self, from: Data($0)) }
        } catch let error as DecodingError where semantic {
            let (path, message) = Self.describe(error)
            throw APIError.uncheckable(path, message)
        } catch {
            throw BodyDeclarationMismatch(operation: operation.id, type: "\(Body.self)", underlying: "\(error)")
        }
    }

    /// A decoding failure's field path (`http.method`) and message.
    static func describe(_ error: DecodingError) -> (String, String) {
        func path(_ keys: [any CodingKey]) -> String {
            keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".").replacingOccurrences(of: ".[", with: "[")
        }
        switch error {
        case .keyNotFound(let key, let context): return (path(context.codingPath + [key]), "is required")
        case .typeMismatch(_, let context), .valueNotFound(_, let context): return (path(context.codingPath), context.debugDescription)
        case .dataCorrupted(let context): return (context.codingPath.isEmpty ? "body" : path(context.codingPath), context.debugDescription)
        @unknown default: return ("body", "\(error)")
        }
    }
}

/// A request body that passed its schema but not its Codable type: the two declarations disagree.
struct BodyDeclarationMismatch: Error, CustomStringConvertible {
    let operation: String
    let type: String
    let underlying: String
    var description: String { "\(operation): body passed its schema but does not decode as \(type): \(underlying)" }
}
