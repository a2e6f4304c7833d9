import Engine
import Foundation

/// Serialises response values (String, Bool, Int, Int64, Double, NSNumber, NSNull, arrays and
/// dictionaries) to compact JSON with keys in byte order. corelibs `JSONSerialization` bridges
/// every value to an NS type and sorts keys with locale-aware comparison; this writer is the
/// difference between ~120 and several thousand 50-result listings per second.
enum JSONWriter {
    static func data(_ value: Any) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(1024)
        write(value, into: &out)
        return out
    }

    static func write(_ value: Any, into out: inout [UInt8]) {
        if type(of: value) is NSNumber.Type {
            number(value as! NSNumber, into: &out)
            return
        }
        switch value {
        case let v as String: string(v, into: &out)
        case let v as Bool: out.append(contentsOf: v ? trueBytes : falseBytes)
        case let v as Int: JSONText.appendDecimal(Int64(v), to: &out)
        case let v as Int64: JSONText.appendDecimal(Int64(v), to: &out)
        case let v as Int32: JSONText.appendDecimal(Int64(v), to: &out)
        case let v as UInt64: JSONText.appendDecimal(v, to: &out)
        case let v as Double: double(v, into: &out)
        case let v as [String: Any]:
            out.append(UInt8(ascii: "{"))
            var first = true
            for key in v.keys.sorted() {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                string(key, into: &out)
                out.append(UInt8(ascii: ":"))
                write(v[key]!, into: &out)
            }
            out.append(UInt8(ascii: "}"))
        case let v as [Any]:
            out.append(UInt8(ascii: "["))
            for (i, item) in v.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                write(item, into: &out)
            }
            out.append(UInt8(ascii: "]"))
        default:
            out.append(contentsOf: nullBytes)   // NSNull and anything unrepresentable
        }
    }

    private static let trueBytes = Array("true".utf8), falseBytes = Array("false".utf8), nullBytes = Array("null".utf8)

    private static func number(_ n: NSNumber, into out: inout [UInt8]) {
        switch UInt8(bitPattern: n.objCType.pointee) {
        case UInt8(ascii: "c"), UInt8(ascii: "B"): out.append(contentsOf: n.boolValue ? trueBytes : falseBytes)
        case UInt8(ascii: "d"), UInt8(ascii: "f"): double(n.doubleValue, into: &out)
        case UInt8(ascii: "Q"), UInt8(ascii: "L"), UInt8(ascii: "I"): JSONText.appendDecimal(n.uint64Value, to: &out)
        default: JSONText.appendDecimal(n.int64Value, to: &out)
        }
    }

    static func double(_ v: Double, into out: inout [UInt8]) { JSONText.appendDouble(v, to: &out) }

    static func string(_ s: String, into out: inout [UInt8]) { JSONText.appendString(s, to: &out) }
}
