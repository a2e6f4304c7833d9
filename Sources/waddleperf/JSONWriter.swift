/// Writes JSON objects straight into UTF-8 bytes: the per-target documents of
/// a 65,536-target report without building intermediate values.
struct JSONWriter {
    var bytes: [UInt8] = []
    private var needsComma = false

    init(capacity: Int) { bytes.reserveCapacity(capacity) }

    mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    mutating func beginObject() { separate(); bytes.append(UInt8(ascii: "{")); needsComma = false }
    mutating func endObject() { bytes.append(UInt8(ascii: "}")); needsComma = true }
    mutating func newline() { bytes.append(UInt8(ascii: "\n")); needsComma = false }

    mutating func key(_ name: String) {
        separate()
        JSONValue.writeString(name, to: &bytes)
        bytes.append(UInt8(ascii: ":"))
        needsComma = false
    }

    mutating func field(_ name: String, _ value: UInt64) { key(name); JSONValue.writeDecimal(value, to: &bytes); needsComma = true }
    mutating func field(_ name: String, _ value: Int) { key(name); JSONValue.writeDecimal(Int64(value), to: &bytes); needsComma = true }
    mutating func field(_ name: String, _ value: String) { key(name); JSONValue.writeString(value, to: &bytes); needsComma = true }
    mutating func field(_ name: String, _ value: Double) {
        key(name)
        JSONValue.double(value).write(to: &bytes)
        needsComma = true
    }
    mutating func field(_ name: String, _ value: JSONValue) { key(name); value.write(to: &bytes); needsComma = true }

    /// After a value appended to `bytes` directly.
    mutating func valueWritten() { needsComma = true }

    private mutating func separate() {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
    }

    var text: String { String(decoding: bytes, as: UTF8.self) }
}
