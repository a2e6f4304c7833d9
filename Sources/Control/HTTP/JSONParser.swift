import Foundation

/// Reads a request body against its schema in one pass: syntax (RFC 8259, UTF-8), types,
/// bounds, required and unknown fields, straight into `SchemaValue`s.
///
/// Malformed JSON throws `Malformed` wherever it is found. A well-formed value that breaks
/// the schema is skipped and its problem recorded under its path ("results[3].latency_ms"),
/// so one response names every problem. Paths are spelled out only for a problem: the parser
/// keeps a stack of the containers it is in, and a scalar's name is known where it is read.
struct SchemaParser {
    struct Malformed: Error {}

    static let maximumDepth = 64
    static let maximumProblems = 50

    private let bytes: UnsafePointer<UInt8>
    private let count: Int
    private var index = 0
    private(set) var problems: [String: String] = [:]
    private var path: [PathPart] = []

    private enum PathPart {
        case key(String)
        case index(Int)
    }

    init(_ buffer: UnsafeRawBufferPointer) {
        // An empty buffer may have no base address; any valid pointer will do for zero bytes.
        self.bytes = buffer.baseAddress.map { $0.assumingMemoryBound(to: UInt8.self) } ?? UnsafePointer(bitPattern: 1)!
        self.count = buffer.count
    }

    /// The body as an object of `schema`; nil when it is well-formed JSON but not an object.
    mutating func document(_ schema: ObjectSchema) throws(Malformed) -> JSONObject? {
        // A UTF-8 byte order mark may precede the text (RFC 8259 §8.1).
        if count >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF { index = 3 }
        skipSpace()
        var result: JSONObject?
        if index < count && bytes[index] == UInt8(ascii: "{") {
            result = try object(schema, depth: 1)
        } else {
            try skip(depth: 0)
        }
        skipSpace()
        guard index == count else { throw Malformed() }
        return result
    }

    // MARK: Problems

    private mutating func problem(_ field: String?, _ message: @autoclosure () -> String) {
        guard problems.count < Self.maximumProblems else { return }
        var text = ""
        for part in path {
            switch part {
            case .key(let key):
                if !text.isEmpty { text += "." }
                text += key
            case .index(let i):
                text += "[\(i)]"
            }
        }
        if let field {
            if !text.isEmpty { text += "." }
            text += field
        }
        problems[text] = message()
    }

    // MARK: Schema-directed values

    /// The next value as `schema` says, or nil when it breaks the schema (problem recorded
    /// under `field`, or under the path alone for array elements).
    private mutating func value(_ schema: JSONSchema, field: String?, depth: Int) throws(Malformed) -> SchemaValue? {
        skipSpace()
        guard index < count else { throw Malformed() }
        let c = bytes[index]
        switch schema {
        case .nullable(let inner):
            if c == UInt8(ascii: "n") {
                try literal("null")
                return .null
            }
            return try value(inner, field: field, depth: depth)

        case .string(let maxLength, let minLength, let pattern, let values, _):
            guard c == UInt8(ascii: "\"") else { return try mismatch(field, "must be a string", depth) }
            let s = try string()
            if let message = SchemaValidator.stringProblem(s, maxLength: maxLength, minLength: minLength, pattern: pattern, values: values) {
                problem(field, message)
                return nil
            }
            return .string(s)

        case .integer(let minimum, let maximum):
            guard c == UInt8(ascii: "-") || isDigit(c) else { return try mismatch(field, "must be an integer", depth) }
            let n: Int64
            switch try number() {
            case .int(let v) where v.magnitude <= JSONSchema.integerLimit.magnitude:
                n = v
            case .double(let d) where d == d.rounded() && abs(d) < 9.0e15:
                n = Int64(d)
            default:
                problem(field, "must be an integer")
                return nil
            }
            if let minimum, n < minimum { problem(field, "must be at least \(minimum)"); return nil }
            if let maximum, n > maximum { problem(field, "must be at most \(maximum)"); return nil }
            return .int(n)

        case .number(let minimum, let maximum):
            // number() gives .int or .double, finite (anything else is malformed).
            guard c == UInt8(ascii: "-") || isDigit(c), let d = try number().double else {
                return try mismatch(field, "must be a number", depth)
            }
            if let minimum, d < minimum { problem(field, "must be at least \(minimum)"); return nil }
            if let maximum, d > maximum { problem(field, "must be at most \(maximum)"); return nil }
            return .double(d)

        case .boolean:
            if c == UInt8(ascii: "t") { try literal("true"); return .bool(true) }
            if c == UInt8(ascii: "f") { try literal("false"); return .bool(false) }
            return try mismatch(field, "must be true or false", depth)

        case .named(let name):
            preconditionFailure("request schemas do not refer to \(name) by name")

        case .freeform:
            guard c == UInt8(ascii: "{") else { return try mismatch(field, "must be an object", depth) }
            let start = index
            try skip(depth: depth)
            // Well-formed and UTF-8 (checked while skipping): the text is stored as sent.
            return .raw(String(decoding: UnsafeBufferPointer(start: bytes + start, count: index - start), as: UTF8.self))

        case .array(let element, let maxItems, let minItems):
            guard c == UInt8(ascii: "[") else { return try mismatch(field, "must be an array", depth) }
            if let field { path.append(.key(field)) }
            defer { if field != nil { path.removeLast() } }
            return try array(element, maxItems: maxItems, minItems: minItems, depth: depth + 1)

        case .object(let inner):
            guard c == UInt8(ascii: "{") else { return try mismatch(field, "must be an object", depth) }
            if let field { path.append(.key(field)) }
            defer { if field != nil { path.removeLast() } }
            return .object(try object(inner, depth: depth + 1))
        }
    }

    /// A well-formed value of the wrong type: skipped, its problem recorded.
    private mutating func mismatch(_ field: String?, _ message: String, _ depth: Int) throws(Malformed) -> SchemaValue? {
        try skip(depth: depth)
        problem(field, message)
        return nil
    }

    /// At `[`; the array's path is on the stack.
    private mutating func array(_ element: JSONSchema, maxItems: Int?, minItems: Int, depth: Int) throws(Malformed) -> SchemaValue? {
        guard depth <= Self.maximumDepth else { throw Malformed() }
        index += 1
        var items: [SchemaValue] = []
        var n = 0
        var conforms = true
        skipSpace()
        if index < count && bytes[index] == UInt8(ascii: "]") {
            index += 1
            if minItems > 0 {
                problem(nil, minItems == 1 ? "must not be empty" : "must have at least \(minItems) items")
                return nil
            }
            return .array(items)
        }
        while true {
            if let maxItems, n >= maxItems {
                // Past the limit only syntax is checked.
                conforms = false
                try skip(depth: depth)
            } else {
                path.append(.index(n))
                let item = try value(element, field: nil, depth: depth)
                path.removeLast()
                if let item { items.append(item) } else { conforms = false }
            }
            n += 1
            skipSpace()
            guard index < count else { throw Malformed() }
            if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
            if bytes[index] == UInt8(ascii: "]") { index += 1; break }
            throw Malformed()
        }
        if let maxItems, n > maxItems {
            problem(nil, "must have at most \(maxItems) items")
        }
        if n < minItems {
            problem(nil, "must have at least \(minItems) items")
            return nil
        }
        return conforms ? .array(items) : nil
    }

    /// At `{`; the object's path is on the stack.
    private mutating func object(_ schema: ObjectSchema, depth: Int) throws(Malformed) -> JSONObject {
        guard depth <= Self.maximumDepth else { throw Malformed() }
        index += 1
        let layout = schema.layout
        var slots = [SchemaValue?](repeating: nil, count: layout.fields.count)
        var seen: UInt64 = 0
        var hint = 0
        skipSpace()
        if index < count && bytes[index] == UInt8(ascii: "}") {
            index += 1
        } else {
            while true {
                skipSpace()
                guard index < count, bytes[index] == UInt8(ascii: "\"") else { throw Malformed() }
                let key = try scanString()
                let position: Int?
                if key.escaped {
                    position = layout.positions[try decode(key)]
                } else {
                    position = layout.position(of: bytes + key.start, count: key.end - key.start, hint: hint)
                }
                skipSpace()
                guard index < count, bytes[index] == UInt8(ascii: ":") else { throw Malformed() }
                index += 1
                if let position {
                    let field = layout.fields[position]
                    if seen & (1 << position) != 0 {
                        // A repeated key means different things to different parsers: refused.
                        try skip(depth: depth)
                        problem(field.name, "is repeated")
                    } else {
                        seen |= 1 << position
                        slots[position] = try value(field.schema, field: field.name, depth: depth)
                    }
                    hint = position + 1
                } else {
                    if schema.strict { problem(try decode(key), "unknown field") }
                    try skip(depth: depth)
                }
                skipSpace()
                guard index < count else { throw Malformed() }
                if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                if bytes[index] == UInt8(ascii: "}") { index += 1; break }
                throw Malformed()
            }
        }
        for (position, field) in layout.fields.enumerated() where field.required && seen & (1 << position) == 0 {
            problem(field.name, "is required")
        }
        return JSONObject(layout: layout, slots: slots)
    }

    // MARK: Syntax

    private func isDigit(_ c: UInt8) -> Bool { c &- UInt8(ascii: "0") < 10 }

    private mutating func skipSpace() {
        while index < count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    private mutating func literal(_ word: StaticString) throws(Malformed) {
        let n = word.utf8CodeUnitCount
        guard index + n <= count, memcmp(bytes + index, word.utf8Start, n) == 0 else { throw Malformed() }
        index += n
    }

    /// Any well-formed value, checked and passed over.
    private mutating func skip(depth: Int) throws(Malformed) {
        skipSpace()
        guard index < count, depth <= Self.maximumDepth else { throw Malformed() }
        switch bytes[index] {
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            let close = bytes[index] == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
            let isObject = close == UInt8(ascii: "}")
            index += 1
            skipSpace()
            if index < count && bytes[index] == close {
                index += 1
                return
            }
            while true {
                if isObject {
                    skipSpace()
                    guard index < count, bytes[index] == UInt8(ascii: "\"") else { throw Malformed() }
                    _ = try scanString()
                    skipSpace()
                    guard index < count, bytes[index] == UInt8(ascii: ":") else { throw Malformed() }
                    index += 1
                }
                try skip(depth: depth + 1)
                skipSpace()
                guard index < count else { throw Malformed() }
                if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                if bytes[index] == close { index += 1; return }
                throw Malformed()
            }
        case UInt8(ascii: "\""): _ = try scanString()
        case UInt8(ascii: "t"): try literal("true")
        case UInt8(ascii: "f"): try literal("false")
        case UInt8(ascii: "n"): try literal("null")
        default: _ = try number()
        }
    }

    /// A string's extent: the bytes between its quotes.
    private struct StringExtent {
        var start: Int
        var end: Int
        var escaped: Bool
    }

    /// At the opening quote: checks the string (escapes, control characters, UTF-8) and passes it.
    private mutating func scanString() throws(Malformed) -> StringExtent {
        index += 1
        let start = index
        var escaped = false
        var ascii = true
        while index < count {
            let b = bytes[index]
            if b == UInt8(ascii: "\"") {
                let extent = StringExtent(start: start, end: index, escaped: escaped)
                index += 1
                if !ascii {
                    let buffer = UnsafeBufferPointer(start: bytes + start, count: extent.end - start)
                    guard String(validating: buffer, as: UTF8.self) != nil else { throw Malformed() }
                }
                return extent
            }
            if b == UInt8(ascii: "\\") {
                escaped = true
                guard index + 1 < count else { throw Malformed() }
                switch bytes[index + 1] {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                     UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    index += 2
                case UInt8(ascii: "u"):
                    // Surrogates must pair here too: a skipped (free-form) value is stored
                    // and served as sent, and readers refuse a lone one.
                    index += 2
                    let scalar = try hex4()
                    if (0xD800...0xDBFF).contains(scalar) {
                        guard index + 1 < count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                            throw Malformed()
                        }
                        index += 2
                        guard (0xDC00...0xDFFF).contains(try hex4()) else { throw Malformed() }
                    } else if (0xDC00...0xDFFF).contains(scalar) {
                        throw Malformed()
                    }
                default:
                    throw Malformed()
                }
                continue
            }
            if b < 0x20 { throw Malformed() }
            if b >= 0x80 { ascii = false }
            index += 1
        }
        throw Malformed()
    }

    /// At the opening quote: the string's value.
    private mutating func string() throws(Malformed) -> String {
        let extent = try scanString()
        return try decode(extent)
    }

    /// A scanned string's value. Escaped surrogates must pair (a Swift string cannot hold half
    /// of one).
    private func decode(_ extent: StringExtent) throws(Malformed) -> String {
        let raw = UnsafeBufferPointer(start: bytes + extent.start, count: extent.end - extent.start)
        guard extent.escaped else { return String(decoding: raw, as: UTF8.self) }
        var out: [UInt8] = []
        out.reserveCapacity(raw.count)
        var i = 0
        func hex(_ at: Int) -> UInt32 {
            var v: UInt32 = 0
            for k in at..<at + 4 {
                let c = raw[k]
                let d: UInt8 = c <= UInt8(ascii: "9") ? c - UInt8(ascii: "0") : (c | 0x20) - UInt8(ascii: "a") + 10
                v = v << 4 | UInt32(d)
            }
            return v
        }
        while i < raw.count {
            let b = raw[i]
            guard b == UInt8(ascii: "\\") else {
                out.append(b)
                i += 1
                continue
            }
            let e = raw[i + 1]
            i += 2
            switch e {
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = hex(i)
                i += 4
                if (0xD800...0xDBFF).contains(scalar) {
                    guard i + 6 <= raw.count, raw[i] == UInt8(ascii: "\\"), raw[i + 1] == UInt8(ascii: "u") else { throw Malformed() }
                    let low = hex(i + 2)
                    guard (0xDC00...0xDFFF).contains(low) else { throw Malformed() }
                    i += 6
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00...0xDFFF).contains(scalar) {
                    throw Malformed()
                }
                guard let u = Unicode.Scalar(scalar) else { throw Malformed() }
                UTF8.encode(u) { out.append($0) }
            default: out.append(e)  // " \ /
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private mutating func hex4() throws(Malformed) -> UInt32 {
        guard index + 4 <= count else { throw Malformed() }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[index]
            index += 1
            let d: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = c - UInt8(ascii: "A") + 10
            default: throw Malformed()
            }
            v = v << 4 | UInt32(d)
        }
        return v
    }

    /// Powers of ten a Double holds exactly.
    private static let exactPowers: [Double] = (0...22).map { pow(10, Double($0)) }

    /// An RFC 8259 number: integral text that fits as `.int`, the rest as `.double`.
    private mutating func number() throws(Malformed) -> SchemaValue {
        let start = index
        var negative = false
        if index < count && bytes[index] == UInt8(ascii: "-") {
            negative = true
            index += 1
        }
        guard index < count, isDigit(bytes[index]) else { throw Malformed() }
        // Significant digits gathered while they fit, for the exact fast path below.
        var mantissa: UInt64 = 0
        var digits = 0
        var scale = 0
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
        } else {
            while index < count && isDigit(bytes[index]) {
                if digits < 19 {
                    mantissa = mantissa * 10 + UInt64(bytes[index] - UInt8(ascii: "0"))
                    digits += 1
                } else {
                    scale += 1
                }
                index += 1
            }
        }
        var integral = true
        if index < count && bytes[index] == UInt8(ascii: ".") {
            integral = false
            index += 1
            let first = index
            while index < count && isDigit(bytes[index]) {
                if digits < 19 {
                    if mantissa != 0 || bytes[index] != UInt8(ascii: "0") { digits += 1 }
                    mantissa = mantissa * 10 + UInt64(bytes[index] - UInt8(ascii: "0"))
                    scale -= 1
                }
                index += 1
            }
            guard index > first else { throw Malformed() }
        }
        var exponent = 0
        var saturated = false
        if index < count && (bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E")) {
            integral = false
            index += 1
            var negativeExponent = false
            if index < count && (bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-")) {
                negativeExponent = bytes[index] == UInt8(ascii: "-")
                index += 1
            }
            let first = index
            while index < count && isDigit(bytes[index]) {
                if exponent < 100_000 { exponent = exponent * 10 + Int(bytes[index] - UInt8(ascii: "0")) } else { saturated = true }
                index += 1
            }
            guard index > first else { throw Malformed() }
            if negativeExponent { exponent = -exponent }
        }
        if integral && scale == 0 && mantissa <= UInt64(Int64.max) {
            return .int(negative ? -Int64(mantissa) : Int64(mantissa))
        }
        // Exact: both operands are exact Doubles and one multiply or divide rounds correctly.
        let power = scale + exponent
        if digits < 19, mantissa < 1 << 53, !saturated, (-22...22).contains(power) {
            let m = Double(mantissa)
            let d = power >= 0 ? m * Self.exactPowers[power] : m / Self.exactPowers[-power]
            return .double(negative ? -d : d)
        }
        let text = String(decoding: UnsafeBufferPointer(start: bytes + start, count: index - start), as: UTF8.self)
        // Beyond a Double's range (1e999): no reader could take it back, so it is not JSON we
        // accept (as before), wherever it stands.
        guard let d = Double(text), d.isFinite else { throw Malformed() }
        return .double(d)
    }
}
