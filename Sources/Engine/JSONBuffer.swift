/// Writes JSON objects straight into a raw byte buffer, shared by the CLI's reports and the
/// control plane's listings: the per-target documents of a 65,536-target report (20 MB)
/// without intermediate values, and without Array's per-append capacity and uniqueness checks,
/// which were most of their cost. Every write makes room for itself first (one comparison).
public struct JSONBuffer: ~Copyable {
    private var base: UnsafeMutablePointer<UInt8>
    private var capacity: Int
    public private(set) var count = 0
    private var needsComma = false

    public init(capacity: Int) {
        self.capacity = max(capacity, 64)
        base = .allocate(capacity: self.capacity)
    }

    deinit { base.deallocate() }

    /// Room for `n` more bytes; where they go.
    @inline(__always)
    private mutating func room(_ n: Int) -> UnsafeMutablePointer<UInt8> {
        if count + n > capacity { grow(to: count + n) }
        return base + count
    }

    private mutating func grow(to needed: Int) {
        let larger = max(needed, capacity * 2)
        let moved = UnsafeMutablePointer<UInt8>.allocate(capacity: larger)
        moved.initialize(from: base, count: count)
        base.deallocate()
        base = moved
        capacity = larger
    }

    @inline(__always)
    private mutating func append(_ byte: UInt8) {
        room(1).pointee = byte
        count += 1
    }

    private mutating func append(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard let source = bytes.baseAddress else { return }
        room(bytes.count).update(from: source, count: bytes.count)
        count += bytes.count
    }

    /// Starts over, keeping the buffer.
    public mutating func reset() {
        count = 0
        needsComma = false
    }

    /// The text written so far.
    public var bytes: [UInt8] { Array(UnsafeBufferPointer(start: base, count: count)) }
    public var text: String { String(decoding: UnsafeBufferPointer(start: base, count: count), as: UTF8.self) }

    public mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { append($0) }
    }

    public mutating func beginObject() { separate(); append(UInt8(ascii: "{")); needsComma = false }
    public mutating func endObject() { append(UInt8(ascii: "}")); needsComma = true }
    public mutating func newline() { append(UInt8(ascii: "\n")); needsComma = false }
    public mutating func beginArray() { separate(); append(UInt8(ascii: "[")); needsComma = false }
    public mutating func endArray() { append(UInt8(ascii: "]")); needsComma = true }

    /// A key known when the program was built: copied whole, never scanned for escapes
    /// (a /16 sweep writes two million of them).
    public mutating func key(_ name: StaticString) {
        let n = name.utf8CodeUnitCount
        var p = room(n + 4)
        if needsComma { p.pointee = UInt8(ascii: ","); p += 1 }
        p[0] = UInt8(ascii: "\"")
        (p + 1).update(from: name.utf8Start, count: n)
        p[n + 1] = UInt8(ascii: "\"")
        p[n + 2] = UInt8(ascii: ":")
        count = p + n + 3 - base
        needsComma = false
    }

    /// A key made once at run time (a declared metric's name) and written many
    /// times: its quoted, escaped form is kept, and copied like a `StaticString`.
    public mutating func key(_ key: JSONKey) {
        let n = key.quoted.count
        var p = room(n + 1)
        if needsComma { p.pointee = UInt8(ascii: ","); p += 1 }
        key.quoted.withUnsafeBufferPointer { p.update(from: $0.baseAddress!, count: n) }
        count = p + n - base
        needsComma = false
    }

    /// A key made at run time (a phase's name), escaped as needed.
    public mutating func key(dynamic name: String) {
        separate()
        string(name)
        append(UInt8(ascii: ":"))
        needsComma = false
    }

    private mutating func string(_ s: String) {
        var s = s
        s.withUTF8 { utf8 in count += JSONText.writeString(utf8, at: room(JSONText.stringRoom(utf8.count))) }
    }

    private mutating func decimal(_ v: Int64) { count += JSONText.writeDecimal(v, at: room(JSONText.decimalRoom)) }
    private mutating func decimal(_ v: UInt64) { count += JSONText.writeDecimal(v, at: room(JSONText.decimalRoom)) }

    public mutating func field(_ name: StaticString, _ value: UInt64) { key(name); decimal(value); needsComma = true }
    public mutating func field(_ name: StaticString, _ value: Int) { key(name); decimal(Int64(value)); needsComma = true }
    public mutating func field(_ name: StaticString, _ value: String) { key(name); string(value); needsComma = true }
    public mutating func field(_ name: StaticString, _ value: Double) {
        key(name)
        count += JSONText.writeDouble(value, at: room(JSONText.doubleRoom))
        needsComma = true
    }
    public mutating func field(_ name: StaticString, _ value: IPAddress) {
        key(name)
        value.withText { text in
            let p = room(text.count + 2)
            p[0] = UInt8(ascii: "\"")
            (p + 1).update(from: text.baseAddress!, count: text.count)
            p[text.count + 1] = UInt8(ascii: "\"")
            count += text.count + 2
        }
        needsComma = true
    }
    /// `json` is already JSON text (a stored document, a value written elsewhere): copied as is.
    public mutating func field(_ name: StaticString, json: UnsafeBufferPointer<UInt8>) {
        key(name)
        append(json)
        needsComma = true
    }
    public mutating func field(_ name: StaticString, _ value: Bool) {
        key(name)
        value ? raw("true") : raw("false")
        needsComma = true
    }
    public mutating func field(_ name: StaticString, _ value: Int64) { key(name); decimal(value); needsComma = true }
    /// Optional values: `null` when absent.
    public mutating func field(_ name: StaticString, _ value: String?) {
        if let value { field(name, value) } else { key(name); raw("null"); needsComma = true }
    }
    public mutating func field(_ name: StaticString, _ value: Int64?) {
        if let value { field(name, value) } else { key(name); raw("null"); needsComma = true }
    }
    public mutating func field(_ name: StaticString, _ value: Double?) {
        if let value { field(name, value) } else { key(name); raw("null"); needsComma = true }
    }
    public mutating func field(_ key: JSONKey, _ value: Double?) {
        self.key(key)
        if let value { count += JSONText.writeDouble(value, at: room(JSONText.doubleRoom)) } else { raw("null") }
        needsComma = true
    }
    /// A string given as its UTF-8 bytes (a database row's text, read in place); `null` when nil.
    public mutating func field(_ name: StaticString, utf8: UnsafeBufferPointer<UInt8>?) {
        key(name)
        if let utf8 { count += JSONText.writeString(utf8, at: room(JSONText.stringRoom(utf8.count))) } else { raw("null") }
        needsComma = true
    }
    public mutating func field(dynamic name: String, _ value: UInt64) { key(dynamic: name); decimal(value); needsComma = true }
    public mutating func field(dynamic name: String, _ value: String) { key(dynamic: name); string(value); needsComma = true }
    public mutating func field(dynamic name: String, _ value: Double) {
        key(dynamic: name)
        count += JSONText.writeDouble(value, at: room(JSONText.doubleRoom))
        needsComma = true
    }
    public mutating func field(dynamic name: String, _ value: Bool) {
        key(dynamic: name)
        value ? raw("true") : raw("false")
        needsComma = true
    }

    private mutating func separate() {
        if needsComma { append(UInt8(ascii: ",")) }
    }
}

/// An object key prepared once: `"name":`, escaped.
public struct JSONKey: Sendable, Hashable {
    public let name: String
    /// The key's JSON text, quotes and colon included.
    let quoted: [UInt8]

    public init(_ name: String) {
        self.name = name
        var buffer = JSONBuffer(capacity: name.utf8.count * 6 + 8)
        buffer.key(dynamic: name)
        quoted = buffer.bytes
    }
}
