/// DNS wire format (RFC 1035) for the stub resolver: queries built and
/// responses parsed without I/O, so every malformed byte sequence can be
/// tested without a socket. The ring shell sends what `query` returns and
/// hands what it receives to `parse`.

/// The record types the resolver asks for. Answers of other types are
/// skipped when parsing: a server adding records we do not use is no error.
public enum DNSRecordType: UInt16, Hashable, Sendable, CustomStringConvertible {
    case a = 1
    case cname = 5
    case aaaa = 28

    public var description: String {
        switch self {
        case .a: "A"
        case .cname: "CNAME"
        case .aaaa: "AAAA"
        }
    }
}

/// One entry of the question section (class IN).
public struct DNSQuestion: Hashable, Sendable {
    public var name: String
    public var type: DNSRecordType

    public init(name: String, type: DNSRecordType) {
        self.name = name
        self.type = type
    }
}

/// A query that cannot be built or a response that cannot be parsed. The
/// message names the problem and, for responses, the offset where it is.
public struct DNSError: Error, Equatable, Sendable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }
}

/// One record of the answer section that the resolver understands.
public struct DNSAnswer: Hashable, Sendable {
    /// Owner name, without the trailing dot; bytes that are not printable
    /// ASCII (and `.` or `\` inside a label) are written `\DDD` as dig does.
    public var name: String
    public var type: UInt16
    /// Seconds; values with the top bit set count as 0 (RFC 2181 §8).
    public var ttl: UInt32
    /// For A and AAAA records.
    public var address: IPAddress?
    /// For CNAME records, the canonical name the owner is an alias of.
    public var target: String?
}

/// What a response says, as far as a stub resolver needs it.
public struct DNSResponse: Hashable, Sendable {
    /// CNAME chains longer than this are treated as having no answer, which
    /// also ends loops (`a → b → a`) that a broken zone may contain.
    public static let maximumCNAMEHops = 16

    public var id: UInt16
    public var isResponse: Bool
    public var authoritative: Bool
    /// TC: the answer did not fit; ask again over TCP.
    public var truncated: Bool
    public var recursionAvailable: Bool
    /// The 4-bit header RCODE (extended RCODEs from EDNS are not read).
    public var rcode: UInt8
    /// Questions of class IN and a known type; others are left out.
    public var questions: [DNSQuestion]
    public var answers: [DNSAnswer]

    /// The RCODE's mnemonic from RFC 1035, or `RCODE n`.
    public var rcodeName: String {
        switch rcode {
        case 0: "NOERROR"
        case 1: "FORMERR"
        case 2: "SERVFAIL"
        case 3: "NXDOMAIN"
        case 4: "NOTIMP"
        case 5: "REFUSED"
        default: "RCODE \(rcode)"
        }
    }

    /// The smallest TTL of the answers, for caching the whole answer as one.
    public var minimumTTL: UInt32? { answers.lazy.map(\.ttl).min() }

    /// Whether this is the response to the query `id` asking `question`.
    /// Names compare case-insensitively, so a server that keeps the case we
    /// sent (or 0x20-randomised) matches.
    public func isAnswer(to question: DNSQuestion, id: UInt16) -> Bool {
        isResponse && self.id == id && questions.count == 1
            && questions[0].type == question.type
            && DNSName.canonical(questions[0].name) == DNSName.canonical(question.name)
    }

    /// Follows the CNAME chain from `name` through the answer section and
    /// returns the final name, lower-cased and without the trailing dot; nil
    /// when the chain is longer than `maximumCNAMEHops` (or loops).
    public func canonicalName(for name: String) -> String? {
        var current = DNSName.canonical(name)
        var hops = 0
        while let alias = answers.first(where: {
            $0.type == DNSRecordType.cname.rawValue && DNSName.canonical($0.name) == current
        }), let target = alias.target {
            hops += 1
            guard hops <= Self.maximumCNAMEHops else { return nil }
            current = DNSName.canonical(target)
        }
        return current
    }

    /// The A or AAAA addresses of `name` after following its CNAME chain, in
    /// the order the server gave them.
    public func addresses(for name: String, type: DNSRecordType) -> [IPAddress] {
        guard let final = canonicalName(for: name) else { return [] }
        return answers.compactMap { answer in
            answer.type == type.rawValue && DNSName.canonical(answer.name) == final ? answer.address : nil
        }
    }
}

/// Comparing names the way DNS does: ASCII case-insensitive, the trailing
/// dot optional.
enum DNSName {
    static func canonical(_ name: some StringProtocol) -> String {
        withoutTrailingDot(name).lowercased()
    }

    static func withoutTrailingDot(_ name: some StringProtocol) -> String {
        String(name.hasSuffix(".") ? name.dropLast() : name[...])
    }
}

/// Building queries and parsing responses.
public enum DNSMessage {
    public static let maximumNameLength = 253
    public static let maximumLabelLength = 63
    /// A name in a valid message needs at most 127 pointers (one per label);
    /// more means a loop the backwards-only rule somehow missed.
    static let maximumPointerJumps = 128
    static let headerLength = 12

    /// A standard query (opcode QUERY, one question of class IN), no EDNS.
    /// A trailing dot is allowed and means the same name.
    public static func query(
        id: UInt16, name: String, type: DNSRecordType, recursionDesired: Bool = true
    ) throws(DNSError) -> [UInt8] {
        let labels = try wireLabels(of: name)
        var out: [UInt8] = []
        out.reserveCapacity(headerLength + name.utf8.count + 6)
        out += [UInt8(id >> 8), UInt8(id & 0xFF), recursionDesired ? 0x01 : 0x00, 0x00]
        out += [0, 1, 0, 0, 0, 0, 0, 0]  // QDCOUNT 1, AN/NS/AR 0
        for label in labels {
            out.append(UInt8(label.count))
            out += label
        }
        out += [0, UInt8(type.rawValue >> 8), UInt8(type.rawValue & 0xFF), 0, 1]
        return out
    }

    /// A message as sent over TCP: preceded by its length (RFC 1035 §4.2.2).
    public static func framedForTCP(_ message: [UInt8]) -> [UInt8] {
        [UInt8(message.count >> 8 & 0xFF), UInt8(message.count & 0xFF)] + message
    }

    /// Splits a name into labels, refusing what cannot go on the wire. Only
    /// printable ASCII is accepted: an internationalised name must already be
    /// in its `xn--` form, and a space or control byte is a typo, not a name.
    static func wireLabels(of name: String) throws(DNSError) -> [ArraySlice<UInt8>] {
        var bytes = Array(name.utf8)
        if bytes.last == UInt8(ascii: ".") { bytes.removeLast() }
        guard !bytes.isEmpty else { throw DNSError("empty name '\(name)'") }
        guard bytes.count <= maximumNameLength else {
            throw DNSError("name of \(bytes.count) bytes is longer than \(maximumNameLength)")
        }
        if let bad = bytes.first(where: { $0 <= 0x20 || $0 >= 0x7F }) {
            throw DNSError("name '\(name)' contains byte 0x\(String(bad, radix: 16)) (only printable ASCII; use the xn-- form)")
        }
        let labels = bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        for label in labels {
            guard !label.isEmpty else { throw DNSError("name '\(name)' has an empty label") }
            guard label.count <= maximumLabelLength else {
                throw DNSError("name '\(name)' has a label of \(label.count) bytes (at most \(maximumLabelLength))")
            }
        }
        return labels
    }

    /// Parses a response. Every count, length and pointer is checked against
    /// the message, so a malformed or cut message throws and never traps.
    /// Records after the answers are walked too, so counts that promise more
    /// than the message holds are caught; but when TC is set, records are
    /// read only as far as they are whole (the client retries over TCP and
    /// needs only the header to know it must).
    public static func parse(_ bytes: UnsafeRawBufferPointer) throws(DNSError) -> DNSResponse {
        guard bytes.count >= headerLength else {
            throw DNSError("message of \(bytes.count) bytes is shorter than the \(headerLength)-byte header")
        }
        var reader = DNSReader(bytes: bytes)
        let id = try reader.uint16()
        let flags = try reader.uint16()
        let questionCount = try reader.uint16()
        let answerCount = Int(try reader.uint16())
        let recordCount = answerCount + Int(try reader.uint16()) + Int(try reader.uint16())
        var response = DNSResponse(
            id: id, isResponse: flags & 0x8000 != 0, authoritative: flags & 0x0400 != 0,
            truncated: flags & 0x0200 != 0, recursionAvailable: flags & 0x0080 != 0,
            rcode: UInt8(flags & 0x000F), questions: [], answers: [])

        for _ in 0..<questionCount {
            let name = try reader.name()
            let type = try reader.uint16()
            let recordClass = try reader.uint16()
            if recordClass == 1, let known = DNSRecordType(rawValue: type) {
                response.questions.append(DNSQuestion(name: name, type: known))
            }
        }
        do throws(DNSError) {
            for index in 0..<recordCount {
                if let record = try reader.record(), index < answerCount { response.answers.append(record) }
            }
        } catch {
            guard response.truncated else { throw error }
        }
        return response
    }
}

/// A cursor over a message; every read is bounds-checked.
struct DNSReader {
    let bytes: UnsafeRawBufferPointer
    var offset = 0

    mutating func uint16() throws(DNSError) -> UInt16 {
        guard offset + 2 <= bytes.count else { throw DNSError("message ends inside a field at offset \(offset)") }
        defer { offset += 2 }
        return UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
    }

    mutating func uint32() throws(DNSError) -> UInt32 {
        let high = try uint16()
        return UInt32(high) << 16 | UInt32(try uint16())
    }

    mutating func name() throws(DNSError) -> String {
        let (text, end) = try Self.name(in: bytes, at: offset)
        offset = end
        return text
    }

    /// One resource record; nil for a class or type the resolver ignores
    /// (its data is skipped by its length, not parsed).
    mutating func record() throws(DNSError) -> DNSAnswer? {
        let owner = try name()
        let type = try uint16()
        let recordClass = try uint16()
        let rawTTL = try uint32()
        let length = Int(try uint16())
        let start = offset
        guard start + length <= bytes.count else {
            throw DNSError("record data of \(length) bytes at offset \(start) runs past the end of the message")
        }
        offset = start + length
        guard recordClass == 1, let known = DNSRecordType(rawValue: type) else { return nil }
        var answer = DNSAnswer(name: owner, type: type, ttl: rawTTL > UInt32(Int32.max) ? 0 : rawTTL)
        switch known {
        case .a:
            guard length == 4 else { throw DNSError("A record at offset \(start) has \(length) bytes of data, not 4") }
            answer.address = .v4(Self.integer(bytes, start, 4))
        case .aaaa:
            guard length == 16 else { throw DNSError("AAAA record at offset \(start) has \(length) bytes of data, not 16") }
            answer.address = .v6(Self.integer(bytes, start, 8), Self.integer(bytes, start + 8, 8))
        case .cname:
            let (target, end) = try Self.name(in: bytes, at: start)
            guard end == start + length else {
                throw DNSError("CNAME record at offset \(start): name does not fill its \(length) bytes of data")
            }
            answer.target = target
        }
        return answer
    }

    /// Big-endian integer of `count` bytes at `start` (already bounds-checked).
    static func integer<T: FixedWidthInteger>(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ count: Int) -> T {
        bytes[start..<(start + count)].reduce(T.zero) { $0 << 8 | T($1) }
    }

    /// Reads a possibly compressed name at `start`; returns it and the offset
    /// just past it where it was written (after the first pointer, if any).
    /// A pointer must point before the start of the labels being read, so
    /// every jump goes strictly backwards and no loop is possible; the jump
    /// limit and the 255-byte limit are further guards.
    static func name(in bytes: UnsafeRawBufferPointer, at start: Int) throws(DNSError) -> (String, Int) {
        var position = start
        var segmentStart = start
        var resume: Int? = nil
        var jumps = 0
        var wireLength = 1
        var text = ""
        while true {
            guard position < bytes.count else {
                throw DNSError("name at offset \(start) runs past the end of the message")
            }
            let length = Int(bytes[position])
            switch length & 0xC0 {
            case 0x00 where length == 0:
                return (text.isEmpty ? "." : text, resume ?? position + 1)
            case 0x00:
                let end = position + 1 + length
                guard end <= bytes.count else {
                    throw DNSError("label at offset \(position) runs past the end of the message")
                }
                wireLength += 1 + length
                guard wireLength <= 255 else { throw DNSError("name at offset \(start) is longer than 255 bytes") }
                if !text.isEmpty { text += "." }
                appendEscaped(bytes[(position + 1)..<end], to: &text)
                position = end
            case 0xC0:
                guard position + 1 < bytes.count else {
                    throw DNSError("compression pointer at offset \(position) runs past the end of the message")
                }
                let target = (length & 0x3F) << 8 | Int(bytes[position + 1])
                guard target >= DNSMessage.headerLength, target < segmentStart else {
                    throw DNSError("compression pointer at offset \(position) to \(target) does not point back to an earlier name")
                }
                jumps += 1
                guard jumps <= DNSMessage.maximumPointerJumps else {
                    throw DNSError("name at offset \(start) has more than \(DNSMessage.maximumPointerJumps) compression pointers")
                }
                if resume == nil { resume = position + 2 }
                position = target
                segmentStart = target
            default:
                throw DNSError("label type 0x\(String(length & 0xC0, radix: 16)) at offset \(position) is not supported")
            }
        }
    }

    /// Writes a label as text, escaping what would be ambiguous or
    /// unprintable as `\DDD` so distinct names never read the same.
    static func appendEscaped(_ label: Slice<UnsafeRawBufferPointer>, to text: inout String) {
        for byte in label {
            if byte > 0x20, byte < 0x7F, byte != UInt8(ascii: "."), byte != UInt8(ascii: "\\") {
                text.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                let digits = String(byte)
                text += "\\" + String(repeating: "0", count: 3 - digits.count) + digits
            }
        }
    }
}
