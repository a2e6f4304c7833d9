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

    func write(to out: inout String) {
        switch self {
        case .int(let v): out += String(v)
        case .uint(let v): out += String(v)
        case .double(let v): out += v.isFinite ? (v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : String(v)) : "null"
        case .string(let s): JSONValue.writeString(s, to: &out)
        case .bool(let b): out += b ? "true" : "false"
        case .null: out += "null"
        case .array(let items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                item.write(to: &out)
            }
            out += "]"
        case .object(let fields):
            out += "{"
            for (i, (key, value)) in fields.enumerated() {
                if i > 0 { out += "," }
                JSONValue.writeString(key, to: &out)
                out += ":"
                value.write(to: &out)
            }
            out += "}"
        }
    }

    var text: String {
        var s = ""
        write(to: &s)
        return s
    }

    static func writeString(_ s: String, to out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}

/// Fixed-point milliseconds from nanoseconds, right-aligned to `width`,
/// without Foundation's String(format:).
func millisecondsText(_ nanoseconds: Double?, width: Int = 7) -> String {
    guard let ns = nanoseconds else { return String(repeating: " ", count: width - 1) + "-" }
    let micros = Int64((ns / 1000).rounded())
    let text = "\(micros / 1000)." + String(String(1000 + micros % 1000).dropFirst())
    return text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
}

/// Right-aligns `text` to `width`.
func rightAligned(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
}

/// A percentage with one decimal.
func percentText(_ value: Double, decimals: Int = 1) -> String {
    let scale = decimals == 1 ? 10.0 : 1000.0
    let v = Int64((value * scale).rounded())
    let whole = v / Int64(scale)
    let frac = String(Int64(scale) + v % Int64(scale)).dropFirst()
    return "\(whole).\(frac)"
}
