/// JSON text pieces appended straight to a byte buffer, shared by the CLI's
/// reports and the control plane's responses: strings that need no escaping
/// are copied whole, numbers are written as digits without a String between.
public enum JSONText {
    private static let hex = Array("0123456789abcdef".utf8)

    /// `s` as a JSON string, quotes included.
    public static func appendString(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var s = s
        let plain = s.withUTF8 { utf8 in
            guard !utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) else {
                return false
            }
            out.append(contentsOf: utf8)
            return true
        }
        if !plain {
            for byte in s.utf8 {
                switch byte {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\")); out.append(byte)
                case 0x0A: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "n"))
                case 0x0D: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "r"))
                case 0x09: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "t"))
                case 0..<0x20:
                    out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                            hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
                default: out.append(byte)
                }
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// The decimal digits of `v`.
    public static func appendDecimal(_ v: UInt64, to out: inout [UInt8]) {
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: room for 20 digits
        withUnsafeMutableBytes(of: &digits) { buffer in
            var i = buffer.count
            var rest = v
            repeat {
                i -= 1
                buffer[i] = UInt8(ascii: "0") + UInt8(rest % 10)
                rest /= 10
            } while rest > 0
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[i...]))
        }
    }

    public static func appendDecimal(_ v: Int64, to out: inout [UInt8]) {
        if v < 0 { out.append(UInt8(ascii: "-")) }
        appendDecimal(v.magnitude, to: &out)
    }

    /// A double as JSON: whole numbers without ".0" (as JSONSerialization
    /// writes them), others in Swift's shortest round-trip form, and null
    /// for NaN and infinities.
    public static func appendDouble(_ v: Double, to out: inout [UInt8]) {
        guard v.isFinite else { out.append(contentsOf: "null".utf8); return }
        if v == v.rounded(), abs(v) < 1e15 { appendDecimal(Int64(v), to: &out) } else { out.append(contentsOf: v.description.utf8) }
    }
}
