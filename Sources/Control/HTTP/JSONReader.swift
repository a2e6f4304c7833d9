import Foundation

/// A JSON reader for request bodies, producing what `JSONSerialization`
/// produces (`[String: Any]`, `[Any]`, `String`, `NSNumber` with booleans as
/// such, `NSNull`) about twice as fast for the documents the API takes: corelibs
/// Foundation builds an intermediate tree and converts it, and was a quarter
/// of the server's CPU on result uploads.
///
/// It is conservative: it accepts only RFC 8259 JSON in UTF-8 without
/// duplicate keys, nested at most 64 deep. Anything else (a UTF-16 body, a
/// repeated key, a malformed document) makes `read` return nil, and the
/// caller asks `JSONSerialization`, which then decides exactly as before.
enum JSONReader {
    static let maximumDepth = 64

    static func read(_ data: Data) -> Any? {
        data.withUnsafeBytes { raw -> Any? in
            guard let base = raw.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return nil }
            var p = Parser(bytes: base, count: raw.count)
            // An object or an array, as JSONSerialization without .fragmentsAllowed.
            p.skipSpace()
            guard p.index < p.count, p.bytes[p.index] == UInt8(ascii: "{") || p.bytes[p.index] == UInt8(ascii: "[") else {
                return nil
            }
            guard let value = p.value(depth: 0) else { return nil }
            p.skipSpace()
            return p.index == p.count ? value : nil
        }
    }

    private struct Parser {
        let bytes: UnsafePointer<UInt8>
        let count: Int
        var index = 0

        init(bytes: UnsafePointer<UInt8>, count: Int) {
            self.bytes = bytes
            self.count = count
        }

        mutating func skipSpace() {
            while index < count {
                switch bytes[index] {
                case 0x20, 0x09, 0x0A, 0x0D: index += 1
                default: return
                }
            }
        }

        mutating func value(depth: Int) -> Any? {
            skipSpace()
            guard index < count, depth <= JSONReader.maximumDepth else { return nil }
            switch bytes[index] {
            case UInt8(ascii: "{"): return object(depth: depth + 1)
            case UInt8(ascii: "["): return array(depth: depth + 1)
            case UInt8(ascii: "\""): return string()
            case UInt8(ascii: "t"): return literal("true", NSNumber(value: true))
            case UInt8(ascii: "f"): return literal("false", NSNumber(value: false))
            case UInt8(ascii: "n"): return literal("null", NSNull())
            default: return number()
            }
        }

        mutating func literal(_ word: StaticString, _ value: Any) -> Any? {
            let n = word.utf8CodeUnitCount
            guard index + n <= count, memcmp(bytes + index, word.utf8Start, n) == 0 else { return nil }
            index += n
            return value
        }

        mutating func object(depth: Int) -> Any? {
            index += 1  // {
            // Room for a result's fields without regrowing (a dictionary doubles from one).
            var result: [String: Any] = Dictionary(minimumCapacity: 24)
            skipSpace()
            if index < count && bytes[index] == UInt8(ascii: "}") {
                index += 1
                return result
            }
            while true {
                skipSpace()
                guard index < count, bytes[index] == UInt8(ascii: "\""), let key = string() else { return nil }
                skipSpace()
                guard index < count, bytes[index] == UInt8(ascii: ":") else { return nil }
                index += 1
                guard let v = value(depth: depth) else { return nil }
                // A repeated key: let JSONSerialization decide what it means.
                guard result.updateValue(v, forKey: key) == nil else { return nil }
                skipSpace()
                guard index < count else { return nil }
                if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                if bytes[index] == UInt8(ascii: "}") { index += 1; return result }
                return nil
            }
        }

        mutating func array(depth: Int) -> Any? {
            index += 1  // [
            var result: [Any] = []
            skipSpace()
            if index < count && bytes[index] == UInt8(ascii: "]") {
                index += 1
                return result
            }
            while true {
                guard let v = value(depth: depth) else { return nil }
                result.append(v)
                skipSpace()
                guard index < count else { return nil }
                if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                if bytes[index] == UInt8(ascii: "]") { index += 1; return result }
                return nil
            }
        }

        /// At the opening quote.
        mutating func string() -> String? {
            index += 1
            let start = index
            var ascii = true
            // Fast path: no escapes (the common case) is one copy.
            while index < count {
                let b = bytes[index]
                if b == UInt8(ascii: "\"") {
                    let buffer = UnsafeBufferPointer(start: bytes + start, count: index - start)
                    index += 1
                    return ascii ? String(decoding: buffer, as: UTF8.self) : String(validating: buffer, as: UTF8.self)
                }
                if b == UInt8(ascii: "\\") { break }
                if b < 0x20 { return nil }
                if b >= 0x80 { ascii = false }
                index += 1
            }
            // With escapes: decode into bytes, then validate as UTF-8.
            var out = [UInt8](UnsafeBufferPointer(start: bytes + start, count: index - start))
            while index < count {
                let b = bytes[index]
                index += 1
                switch b {
                case UInt8(ascii: "\""):
                    return String(validating: out, as: UTF8.self)
                case UInt8(ascii: "\\"):
                    guard index < count else { return nil }
                    let e = bytes[index]
                    index += 1
                    switch e {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                    case UInt8(ascii: "b"): out.append(0x08)
                    case UInt8(ascii: "f"): out.append(0x0C)
                    case UInt8(ascii: "n"): out.append(0x0A)
                    case UInt8(ascii: "r"): out.append(0x0D)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "u"):
                        guard var scalar = hex4() else { return nil }
                        if (0xD800...0xDBFF).contains(scalar) {
                            // A high surrogate must be followed by an escaped low one.
                            guard index + 1 < count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                                return nil
                            }
                            index += 2
                            guard let low = hex4(), (0xDC00...0xDFFF).contains(low) else { return nil }
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        } else if (0xDC00...0xDFFF).contains(scalar) {
                            return nil
                        }
                        guard let u = Unicode.Scalar(scalar) else { return nil }
                        UTF8.encode(u) { out.append($0) }
                    default:
                        return nil
                    }
                default:
                    if b < 0x20 { return nil }
                    out.append(b)
                }
            }
            return nil
        }

        mutating func hex4() -> UInt32? {
            guard index + 4 <= count else { return nil }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let c = bytes[index]
                index += 1
                let d: UInt8
                switch c {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): d = c - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): d = c - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): d = c - UInt8(ascii: "A") + 10
                default: return nil
                }
                v = v << 4 | UInt32(d)
            }
            return v
        }

        /// RFC 8259 number: integers (within ±2^53) as integers, others as Doubles.
        mutating func number() -> Any? {
            let start = index
            if index < count && bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard index < count else { return nil }
            if bytes[index] == UInt8(ascii: "0") {
                index += 1
            } else if (UInt8(ascii: "1")...UInt8(ascii: "9")).contains(bytes[index]) {
                while index < count && (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
            } else {
                return nil
            }
            var integral = true
            if index < count && bytes[index] == UInt8(ascii: ".") {
                integral = false
                index += 1
                let digits = index
                while index < count && (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
                guard index > digits else { return nil }
            }
            if index < count && (bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E")) {
                integral = false
                index += 1
                if index < count && (bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-")) { index += 1 }
                let digits = index
                while index < count && (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
                guard index > digits else { return nil }
            }
            let text = String(decoding: UnsafeBufferPointer(start: bytes + start, count: index - start), as: UTF8.self)
            if integral {
                // Beyond ±2^53 JSONSerialization picks UInt64 or Double by rules of its own: decline.
                guard let v = Int(text), v.magnitude < 1 << 53 else { return nil }
                return NSNumber(value: v)
            }
            guard let d = Double(text), d.isFinite else { return nil }
            return NSNumber(value: d)
        }
    }
}
