// fuzz_dns_message: the stub resolver's DNS codec (Sources/Engine/DNS/DNSMessage.swift).
//
// Input: one DNS message, as DNSClient.received hands it to `DNSMessage.parse`
// (a UDP datagram, or a TCP body after its 2-byte length). libFuzzer's buffer
// is parsed in place, so a read past its end is a heap overflow ASan reports.
// The same bytes, read as a host name, also drive `DNSMessage.query`.
//
// Oracles beyond memory safety:
//  - parse is deterministic (the same Result twice);
//  - it agrees with an independent reference decoder written here from the
//    documented rules (RFC 1035 §4.1, pointers only strictly backwards and at
//    most 128 of them, 255-byte names, labels of type 0x40/0x80 refused, A = 4
//    bytes, AAAA = 16, a CNAME's name fills its data exactly, TTLs with the top
//    bit set read 0, other types and classes skipped, with TC set only whole
//    records kept): same success or failure, same DNSResponse;
//  - header fields read back as the header bytes say; no more questions and
//    answers than the counts; each answer has the payload its type promises;
//  - every name is "." or labels of 1...63 bytes, 255 bytes on the wire at
//    most, printable ASCII, escaped `\DDD` exactly when the byte needs it (so
//    distinct names never read the same);
//  - a question name (unescaped) goes back through `DNSMessage.query` and
//    parses to the same question; `framedForTCP` prefixes the length;
//  - `query` accepts a name exactly when it is 1...253 bytes of printable
//    ASCII in labels of 1...63 (trailing dot allowed), writes the RFC 1035
//    bytes, and its output parses back to that name;
//  - bytes appended after a message that parsed (TC clear) change nothing;
//  - the lookups DNSClient runs on a response (isAnswer, canonicalName,
//    addresses) terminate and keep to the asked family; addresses round-trip
//    through IPAddress(bytes:), description and IPAddress(String).
// Any failed oracle is a fatalError, which libFuzzer reports as a crash.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let message = UnsafeRawBufferPointer(start: data, count: size)
    FuzzDNS.checkParse(message)
    FuzzDNS.checkQueries(message)
    return 0
}

enum FuzzDNS {
    typealias Outcome = Result<DNSResponse, DNSError>

    static func fail(_ message: String) -> Never {
        fatalError("fuzz_dns_message: " + message)
    }

    static func parse(_ bytes: UnsafeRawBufferPointer) -> Outcome {
        do throws(DNSError) {
            return .success(try DNSMessage.parse(bytes))
        } catch {
            return .failure(error)
        }
    }

    /// `body` on an allocation of exactly `bytes.count` bytes, so ASan sees any read past the end.
    static func withExactCopy<R>(_ bytes: [UInt8], _ body: (UnsafeRawBufferPointer) -> R) -> R {
        let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 1)
        defer { copy.deallocate() }
        bytes.withUnsafeBytes { copy.copyMemory(from: $0) }
        return body(UnsafeRawBufferPointer(copy))
    }

    // MARK: Responses

    static func checkParse(_ message: UnsafeRawBufferPointer) {
        let outcome = parse(message)
        guard parse(message) == outcome else { fail("parse is not deterministic") }
        let reference = FuzzDNSReference.parse(message)
        switch (outcome, reference) {
        case (.success(let response), .some(let expected)):
            guard response == expected else {
                fail("parse differs from the reference decoder:\n  parse     \(response)\n  reference \(expected)")
            }
            checkResponse(response, message)
        case (.success(let response), nil):
            fail("parse accepted a message the reference decoder refuses: \(response)")
        case (.failure(let error), .some(let expected)):
            fail("parse refused (\(error.message)) a message the reference decoder reads as \(expected)")
        case (.failure(let error), nil):
            guard !error.message.isEmpty else { fail("a DNSError without a message") }
        }
    }

    static func checkResponse(_ r: DNSResponse, _ m: UnsafeRawBufferPointer) {
        func field(_ at: Int) -> UInt16 { UInt16(m[at]) << 8 | UInt16(m[at + 1]) }
        let flags = field(2)
        guard r.id == field(0), r.isResponse == (flags & 0x8000 != 0), r.authoritative == (flags & 0x0400 != 0),
              r.truncated == (flags & 0x0200 != 0), r.recursionAvailable == (flags & 0x0080 != 0),
              r.rcode == UInt8(flags & 0x000F) else {
            fail("header fields differ from the header bytes: \(r)")
        }
        guard r.questions.count <= Int(field(4)), r.answers.count <= Int(field(6)) else {
            fail("\(r.questions.count) questions and \(r.answers.count) answers for counts \(field(4)) and \(field(6))")
        }
        guard !r.rcodeName.isEmpty else { fail("empty rcodeName") }

        for q in r.questions {
            checkName(q.name, "question name")
            checkQueryRoundTrip(q, id: r.id)
        }
        for a in r.answers {
            checkName(a.name, "owner name")
            guard a.ttl <= UInt32(Int32.max) else { fail("TTL \(a.ttl) has the top bit set") }
            switch a.type {
            case DNSRecordType.a.rawValue:
                guard case .v4? = a.address, a.target == nil else { fail("A answer without an IPv4 address: \(a)") }
            case DNSRecordType.aaaa.rawValue:
                guard case .v6? = a.address, a.target == nil else { fail("AAAA answer without an IPv6 address: \(a)") }
            case DNSRecordType.cname.rawValue:
                guard a.address == nil, let target = a.target else { fail("CNAME answer without a target: \(a)") }
                checkName(target, "CNAME target")
            default:
                fail("answer of type \(a.type), which the resolver does not read")
            }
            if let address = a.address { checkAddress(address) }
        }
        guard r.minimumTTL == r.answers.map(\.ttl).min() else { fail("minimumTTL \(String(describing: r.minimumTTL))") }

        // What DNSClient asks of a response: it must end (CNAME loops) and keep to the family asked.
        for q in r.questions {
            let canonical = r.canonicalName(for: q.name)
            for type in [DNSRecordType.a, .aaaa] {
                let addresses = r.addresses(for: q.name, type: type)
                if canonical == nil && !addresses.isEmpty { fail("addresses for \(q.name) past a CNAME chain that has no end") }
                for address in addresses where address.isIPv6 != (type == .aaaa) {
                    fail("\(type) lookup of \(q.name) gave \(address)")
                }
            }
        }
        if r.questions.count == 1 {
            let q = r.questions[0]
            guard r.isAnswer(to: q, id: r.id) == r.isResponse else { fail("isAnswer to its own question: \(r)") }
            // (The root's canonical form is "", so it gets no extra dot.)
            let shouted = DNSQuestion(name: q.name == "." ? "." : q.name.uppercased() + ".", type: q.type)
            guard r.isAnswer(to: shouted, id: r.id) == r.isResponse else {
                fail("isAnswer is not case-insensitive or not trailing-dot-insensitive for \(q.name)")
            }
            guard !r.isAnswer(to: q, id: r.id &+ 1) else { fail("isAnswer ignores the id") }
        }

        // Every read is at an offset the bytes before it decide, so what follows a message that
        // parsed cannot change it. (With TC set a record error is swallowed; more bytes may mend it.)
        if !r.truncated {
            let extended = Array(m) + [0xC0, 0x0C, 0x00, 0x01, 0xFF]
            guard withExactCopy(extended, parse) == .success(r) else { fail("bytes after the message changed the response") }
        }
    }

    /// "." or labels of 1...63 bytes (after unescaping) and at most 255 bytes on the wire; only
    /// printable ASCII; `\DDD` for exactly the bytes that need it.
    static func checkName(_ name: String, _ what: String) {
        if name == "." { return }
        let text = Array(name.utf8)
        var labels = [0]
        var i = 0
        while i < text.count {
            let c = text[i]
            guard c > 0x20 && c < 0x7F else { fail("\(what) \(name) has byte \(c)") }
            if c == UInt8(ascii: ".") {
                guard labels[labels.count - 1] > 0 else { fail("\(what) \(name) has an empty label") }
                labels.append(0)
                i += 1
                continue
            }
            if c == UInt8(ascii: "\\") {
                guard i + 3 < text.count, text[(i + 1)...(i + 3)].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
                    fail("\(what) \(name): a backslash not followed by three digits")
                }
                let value = text[(i + 1)...(i + 3)].reduce(0) { $0 * 10 + Int($1) - 0x30 }
                guard value <= 255 else { fail("\(what) \(name): escape of \(value)") }
                guard value <= 0x20 || value >= 0x7F || value == 0x2E || value == 0x5C else {
                    fail("\(what) \(name): byte \(value) escaped though printable (two spellings of one name)")
                }
                i += 4
            } else {
                i += 1
            }
            labels[labels.count - 1] += 1
        }
        guard labels[labels.count - 1] > 0 else { fail("\(what) \(name) ends with a dot") }
        guard labels.allSatisfy({ $0 <= DNSMessage.maximumLabelLength }) else { fail("\(what) \(name) has a label over 63 bytes") }
        let wire = labels.reduce(1) { $0 + 1 + $1 }
        guard wire <= 255 else { fail("\(what) \(name) is \(wire) bytes on the wire") }
    }

    static func checkAddress(_ address: IPAddress) {
        let bytes = address.bytes
        guard bytes.count == (address.isIPv6 ? 16 : 4), IPAddress(bytes: bytes) == address else {
            fail("\(address) does not round-trip through its bytes \(bytes)")
        }
        let text = address.description
        guard IPAddress(text) == address else { fail("\(text) does not parse back to the address") }
        guard address.withText({ String(decoding: $0, as: UTF8.self) }) == text else { fail("withText differs from description for \(text)") }
        var appended: [UInt8] = []
        address.appendText(to: &appended)
        guard appended == Array(text.utf8) else { fail("appendText differs from description for \(text)") }
    }

    /// A name the parser produced (no escapes) is one `query` takes, and its query reads back the same.
    static func checkQueryRoundTrip(_ q: DNSQuestion, id: UInt16) {
        guard q.name != ".", !q.name.contains("\\") else { return }
        let bytes: [UInt8]
        do throws(DNSError) {
            bytes = try DNSMessage.query(id: id, name: q.name, type: q.type)
        } catch {
            fail("query refuses the parsed name \(q.name): \(error.message)")
        }
        guard case .success(let back) = withExactCopy(bytes, parse), back.questions == [q], back.answers.isEmpty,
              back.id == id, !back.isResponse, !back.truncated, back.rcode == 0 else {
            fail("the query for \(q.name) does not parse back to its question")
        }
        let framed = DNSMessage.framedForTCP(bytes)
        guard framed.count == bytes.count + 2, Int(framed[0]) << 8 | Int(framed[1]) == bytes.count, Array(framed[2...]) == bytes else {
            fail("framedForTCP of \(bytes.count) bytes")
        }
    }

    // MARK: Queries

    /// Host-name characters, '.' and '\' most often, and one upper-case letter.
    static let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789-_...\\\\Z".utf8)

    static func checkQueries(_ m: UnsafeRawBufferPointer) {
        let types: [DNSRecordType] = [.a, .aaaa, .cname]
        let type = types[Int(m.first ?? 0) % types.count]
        let id = UInt16(truncatingIfNeeded: m.count &* 40503)
        let raw = String(decoding: m.prefix(300), as: UTF8.self)
        let mapped = String(decoding: m.prefix(300).map { alphabet[Int($0) % alphabet.count] }, as: UTF8.self)
        checkQuery(raw, type: type, id: id)
        checkQuery(mapped, type: type, id: id)
    }

    static func checkQuery(_ name: String, type: DNSRecordType, id: UInt16) {
        var wire = Array(name.utf8)
        if wire.last == UInt8(ascii: ".") { wire.removeLast() }
        let labels = wire.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        let printable = wire.allSatisfy { $0 > 0x20 && $0 < 0x7F }
        let labelsFit = labels.allSatisfy { (1...DNSMessage.maximumLabelLength).contains($0.count) }
        let valid = !wire.isEmpty && wire.count <= DNSMessage.maximumNameLength && printable && labelsFit

        let built: [UInt8]
        do throws(DNSError) {
            built = try DNSMessage.query(id: id, name: name, type: type)
        } catch {
            guard !valid else { fail("query refuses the valid name \(name.debugDescription): \(error.message)") }
            guard !error.message.isEmpty else { fail("a DNSError without a message") }
            return
        }
        guard valid else { fail("query accepts the invalid name \(name.debugDescription)") }

        // RFC 1035 §4.1.1-2: header (RD set, QDCOUNT 1), the labels, the root, QTYPE, QCLASS IN.
        var expected: [UInt8] = [UInt8(id >> 8), UInt8(id & 0xFF), 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]
        for label in labels { expected.append(UInt8(label.count)); expected += label }
        expected += [0, UInt8(type.rawValue >> 8), UInt8(type.rawValue & 0xFF), 0, 1]
        guard built == expected else { fail("query for \(name.debugDescription) is \(built), not \(expected)") }

        // What parse writes for it: the same text, with '\' escaped.
        var text = ""
        for (index, label) in labels.enumerated() {
            if index > 0 { text += "." }
            for byte in label {
                if byte == UInt8(ascii: "\\") { text += "\\092" } else { text.append(Character(Unicode.Scalar(byte))) }
            }
        }
        guard case .success(let back) = withExactCopy(built, parse) else { fail("the query for \(name.debugDescription) does not parse") }
        guard back.questions == [DNSQuestion(name: text, type: type)], back.id == id, !back.isResponse, back.answers.isEmpty else {
            fail("the query for \(name.debugDescription) parses as \(back)")
        }
    }
}

/// An independent decoder of the same format, from the rules in DNSMessage.swift's comments.
enum FuzzDNSReference {
    struct Malformed: Error {}

    static func parse(_ m: UnsafeRawBufferPointer) -> DNSResponse? {
        do throws(Malformed) {
            return try decode(m)
        } catch {
            return nil
        }
    }

    static func u16(_ m: UnsafeRawBufferPointer, _ at: inout Int) throws(Malformed) -> UInt16 {
        guard at + 2 <= m.count else { throw Malformed() }
        let value = UInt16(m[at]) << 8 | UInt16(m[at + 1])
        at += 2
        return value
    }

    static func decode(_ m: UnsafeRawBufferPointer) throws(Malformed) -> DNSResponse {
        guard m.count >= 12 else { throw Malformed() }
        var at = 0
        let id = try u16(m, &at)
        let flags = try u16(m, &at)
        let questionCount = Int(try u16(m, &at))
        let answerCount = Int(try u16(m, &at))
        let authorityCount = Int(try u16(m, &at))
        let additionalCount = Int(try u16(m, &at))
        var response = DNSResponse(
            id: id, isResponse: flags & 0x8000 != 0, authoritative: flags & 0x0400 != 0, truncated: flags & 0x0200 != 0,
            recursionAvailable: flags & 0x0080 != 0, rcode: UInt8(flags & 0x000F), questions: [], answers: [])
        for _ in 0..<questionCount {
            let (name, end) = try self.name(m, at)
            at = end
            let type = try u16(m, &at)
            let recordClass = try u16(m, &at)
            if recordClass == 1, let known = DNSRecordType(rawValue: type) {
                response.questions.append(DNSQuestion(name: name, type: known))
            }
        }
        for index in 0..<(answerCount + authorityCount + additionalCount) {
            do throws(Malformed) {
                if let answer = try record(m, &at), index < answerCount { response.answers.append(answer) }
            } catch {
                // TC: the message was cut; what was whole is kept.
                if response.truncated { return response }
                throw error
            }
        }
        return response
    }

    static func record(_ m: UnsafeRawBufferPointer, _ at: inout Int) throws(Malformed) -> DNSAnswer? {
        let (owner, end) = try name(m, at)
        at = end
        let type = try u16(m, &at)
        let recordClass = try u16(m, &at)
        let ttlHigh = UInt32(try u16(m, &at))
        let ttlLow = UInt32(try u16(m, &at))
        let ttl = ttlHigh << 16 | ttlLow
        let length = Int(try u16(m, &at))
        let start = at
        guard start + length <= m.count else { throw Malformed() }
        at = start + length
        guard recordClass == 1 else { return nil }
        var answer = DNSAnswer(name: owner, type: type, ttl: ttl & 0x8000_0000 != 0 ? 0 : ttl)
        switch type {
        case 1:
            guard length == 4 else { throw Malformed() }
            answer.address = IPAddress(bytes: Array(m[start..<(start + 4)]))
        case 28:
            guard length == 16 else { throw Malformed() }
            answer.address = IPAddress(bytes: Array(m[start..<(start + 16)]))
        case 5:
            let (target, targetEnd) = try name(m, start)
            guard targetEnd == start + length else { throw Malformed() }
            answer.target = target
        default:
            return nil
        }
        return answer
    }

    /// The name at `start` and the offset after it as written (after its first pointer, if any).
    static func name(_ m: UnsafeRawBufferPointer, _ start: Int) throws(Malformed) -> (String, Int) {
        var labels: [String] = []
        var position = start
        var pointerLimit = start  // a pointer must go strictly before the labels being read
        var after: Int? = nil
        var jumps = 0
        var wire = 1
        while true {
            guard position < m.count else { throw Malformed() }
            let length = Int(m[position])
            if length == 0 {
                return (labels.isEmpty ? "." : labels.joined(separator: "."), after ?? position + 1)
            }
            if length >= 0xC0 {
                guard position + 1 < m.count else { throw Malformed() }
                let target = (length - 0xC0) * 256 + Int(m[position + 1])
                guard target >= 12, target < pointerLimit else { throw Malformed() }
                jumps += 1
                guard jumps <= 128 else { throw Malformed() }
                if after == nil { after = position + 2 }
                position = target
                pointerLimit = target
            } else if length >= 0x40 {
                throw Malformed()
            } else {
                guard position + 1 + length <= m.count else { throw Malformed() }
                wire += 1 + length
                guard wire <= 255 else { throw Malformed() }
                labels.append(text(m, from: position + 1, to: position + 1 + length))
                position += 1 + length
            }
        }
    }

    /// A label as dig writes it: printable ASCII as is, '.', '\' and the rest as `\DDD`.
    static func text(_ m: UnsafeRawBufferPointer, from: Int, to: Int) -> String {
        var s = ""
        for i in from..<to {
            let b = m[i]
            if b > 0x20 && b < 0x7F && b != UInt8(ascii: ".") && b != UInt8(ascii: "\\") {
                s.append(Character(Unicode.Scalar(b)))
            } else {
                let digits = String(b)
                s += "\\" + String(repeating: "0", count: 3 - digits.count) + digits
            }
        }
        return s
    }
}
