import Engine
/// A small JSON value and serializer: Foundation's JSONSerialization takes
/// seconds for a 65,536-target report; this takes milliseconds.
enum JSONValue {
    case int(Int64)
    case uint(UInt64)
    case double(Double)
    case string(String)
    case bool(Bool)
    case array([JSONValue])
    case object([(String, JSONValue)])
    case null

    /// Appends the JSON text as UTF-8 bytes: no per-character String work.
    func write(to out: inout [UInt8]) {
        switch self {
        case .int(let v): JSONValue.writeDecimal(v, to: &out)
        case .uint(let v): JSONValue.writeDecimal(v, to: &out)
        case .double(let v): JSONText.appendDouble(v, to: &out)
        case .string(let s): JSONValue.writeString(s, to: &out)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .null: out.append(contentsOf: "null".utf8)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (i, item) in items.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                item.write(to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let fields):
            out.append(UInt8(ascii: "{"))
            for (i, (key, value)) in fields.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                JSONValue.writeString(key, to: &out)
                out.append(UInt8(ascii: ":"))
                value.write(to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    static func writeDecimal(_ v: UInt64, to out: inout [UInt8]) { JSONText.appendDecimal(v, to: &out) }
    static func writeDecimal(_ v: Int64, to out: inout [UInt8]) { JSONText.appendDecimal(v, to: &out) }
    static func writeString(_ s: String, to out: inout [UInt8]) { JSONText.appendString(s, to: &out) }

    var text: String {
        var bytes: [UInt8] = []
        write(to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

}

/// Fixed-point milliseconds from nanoseconds, right-aligned to `width`,
/// without Foundation's String(format:).
public func millisecondsText(_ nanoseconds: Double?, width: Int = 7) -> String {
    guard let ns = nanoseconds else { return String(repeating: " ", count: width - 1) + "-" }
    let micros = Int64((ns / 1000).rounded())
    let text = "\(micros / 1000)." + String(String(1000 + micros % 1000).dropFirst())
    return text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
}

/// Right-aligns `text` to `width`.
public func rightAligned(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
}

/// A percentage with one decimal.
public func percentText(_ value: Double, decimals: Int = 1) -> String {
    let scale = decimals == 1 ? 10.0 : 1000.0
    let v = Int64((value * scale).rounded())
    let whole = v / Int64(scale)
    let frac = String(Int64(scale) + v % Int64(scale)).dropFirst()
    return "\(whole).\(frac)"
}

extension JSONBuffer {
    mutating func field(_ name: StaticString, _ value: JSONValue) {
        var text: [UInt8] = []
        value.write(to: &text)
        text.withUnsafeBufferPointer { field(name, json: $0) }
    }
}
