/// JSON text pieces, shared by the CLI's reports and the control plane's responses: strings
/// that need no escaping are copied whole, numbers are written as digits without a String
/// between. Each piece is written at a pointer (the caller has made room: see each `room`)
/// or appended to a byte array.
public enum JSONText {
    private static let hex = Array("0123456789abcdef".utf8)

    /// Room `writeString` needs for `utf8Count` bytes of text: quotes, and six bytes
    /// (`\u00XX`) for each byte at worst.
    public static func stringRoom(_ utf8Count: Int) -> Int { 2 + 6 * utf8Count }
    /// Room `writeDecimal` needs: a sign and 20 digits.
    public static let decimalRoom = 21
    /// Room `writeDouble` needs: Swift's shortest round-trip form is at most 24 characters.
    public static let doubleRoom = 32

    /// Whether `utf8` can go between quotes as it is.
    @inline(__always)
    public static func isPlain(_ utf8: UnsafeBufferPointer<UInt8>) -> Bool {
        !utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") })
    }

    /// `utf8` as a JSON string, quotes included, at `p` (room: `stringRoom`). Returns the
    /// bytes written.
    public static func writeString(_ utf8: UnsafeBufferPointer<UInt8>, at p: UnsafeMutablePointer<UInt8>) -> Int {
        p[0] = UInt8(ascii: "\"")
        var n = 1
        if isPlain(utf8) {
            if let base = utf8.baseAddress { (p + 1).update(from: base, count: utf8.count) }
            n += utf8.count
        } else {
            func put(_ b: UInt8) { p[n] = b; n += 1 }
            for byte in utf8 {
                switch byte {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"): put(UInt8(ascii: "\\")); put(byte)
                case 0x0A: put(UInt8(ascii: "\\")); put(UInt8(ascii: "n"))
                case 0x0D: put(UInt8(ascii: "\\")); put(UInt8(ascii: "r"))
                case 0x09: put(UInt8(ascii: "\\")); put(UInt8(ascii: "t"))
                case 0..<0x20:
                    put(UInt8(ascii: "\\")); put(UInt8(ascii: "u")); put(UInt8(ascii: "0")); put(UInt8(ascii: "0"))
                    put(hex[Int(byte >> 4)]); put(hex[Int(byte & 0xF)])
                default: put(byte)
                }
            }
        }
        p[n] = UInt8(ascii: "\"")
        return n + 1
    }

    /// `s` as a JSON string, quotes included.
    public static func appendString(_ s: String, to out: inout [UInt8]) {
        var s = s
        s.withUTF8 { utf8 in
            if isPlain(utf8) {
                // The common case: one copy, no scratch space.
                out.append(UInt8(ascii: "\""))
                out.append(contentsOf: utf8)
                out.append(UInt8(ascii: "\""))
                return
            }
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: stringRoom(utf8.count)) { scratch in
                let n = writeString(utf8, at: scratch.baseAddress!)
                out.append(contentsOf: UnsafeBufferPointer(rebasing: scratch[..<n]))
            }
        }
    }

    /// The decimal digits of `v` at `p` (room: `decimalRoom`). Returns the bytes written.
    @inline(__always)
    public static func writeDecimal(_ v: UInt64, at p: UnsafeMutablePointer<UInt8>) -> Int {
        var digits = 1
        var rest = v / 10
        while rest > 0 { digits += 1; rest /= 10 }
        rest = v
        var i = digits
        repeat {
            i -= 1
            p[i] = UInt8(ascii: "0") + UInt8(rest % 10)
            rest /= 10
        } while rest > 0
        return digits
    }

    @inline(__always)
    public static func writeDecimal(_ v: Int64, at p: UnsafeMutablePointer<UInt8>) -> Int {
        guard v < 0 else { return writeDecimal(UInt64(v), at: p) }
        p[0] = UInt8(ascii: "-")
        return 1 + writeDecimal(v.magnitude, at: p + 1)
    }

    /// The decimal digits of `v`.
    public static func appendDecimal(_ v: UInt64, to out: inout [UInt8]) {
        withDecimal { writeDecimal(v, at: $0) } append: { out.append(contentsOf: $0) }
    }

    public static func appendDecimal(_ v: Int64, to out: inout [UInt8]) {
        withDecimal { writeDecimal(v, at: $0) } append: { out.append(contentsOf: $0) }
    }

    @inline(__always)
    private static func withDecimal(_ write: (UnsafeMutablePointer<UInt8>) -> Int, append: (UnsafeBufferPointer<UInt8>) -> Void) {
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: room for a sign and 20 digits
        withUnsafeMutableBytes(of: &digits) { buffer in
            let p = buffer.baseAddress!.assumingMemoryBound(to: UInt8.self)
            append(UnsafeBufferPointer(start: p, count: write(p)))
        }
    }

    /// A double as JSON at `p` (room: `doubleRoom`): whole numbers without ".0" (as
    /// JSONSerialization writes them), others in Swift's shortest round-trip form, and null
    /// for NaN and infinities. Returns the bytes written.
    public static func writeDouble(_ v: Double, at p: UnsafeMutablePointer<UInt8>) -> Int {
        if !v.isFinite {
            for (i, b) in "null".utf8.enumerated() { p[i] = b }
            return 4
        }
        if v == v.rounded(), abs(v) < 1e15 { return writeDecimal(Int64(v), at: p) }
        var n = 0
        for b in v.description.utf8 { p[n] = b; n += 1 }
        return n
    }

    public static func appendDouble(_ v: Double, to out: inout [UInt8]) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: doubleRoom) { scratch in
            let n = writeDouble(v, at: scratch.baseAddress!)
            out.append(contentsOf: UnsafeBufferPointer(rebasing: scratch[..<n]))
        }
    }
}
