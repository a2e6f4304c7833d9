// fuzz_http1_response: the HTTP/1.1 response parser (Sources/Engine/HTTP/HTTP1ResponseParser.swift).
//
// Input: the bytes a server sends on one connection after one request.
// They are fed as HTTPConnection.consume feeds them: into a receive buffer of
// 16 KiB (HTTPConnection.receiveCapacity), each read at most the free space;
// after each read `parse` runs on what the buffer holds, consumed bytes are
// moved out, interim (1xx) heads loop, bytes after a complete response are
// garbage, a full buffer with nothing consumed is a head too large; at the end
// of the input the connection closes (`endOfStream`). Every `parse` call gets
// a copy of exactly the buffered bytes, so ASan sees a read past them.
// Each input runs with expectBody true (GET) and false (HEAD).
//
// Oracles beyond memory safety:
//  - the outcome (error, final head, state, body and wire byte counts, interim
//    heads, garbage, complete at close, the Location and Alt-Svc the engine
//    copies out) is the same whether the bytes arrive at once, one by one or
//    in pseudo-random pieces, and the same when run twice;
//  - it equals what an independent reference computes from the whole input
//    (RFC 9112 framing as the parser documents it: no body for HEAD, 1xx, 204,
//    304; chunked when Transfer-Encoding ends in "chunked"; Content-Length;
//    else until close), errors included;
//  - parse never consumes more than it was given, nothing while a head is
//    incomplete, nothing after .complete; wireBytes is the sum of what parse
//    reported consumed; bodyBytes never exceeds the bytes after the head; a
//    Content-Length body that completes has exactly that many bytes; Location
//    and Alt-Svc offsets lie inside the head.
// Strict checks (on by default; FUZZ_LENIENT=1 in the environment turns them
// off, to fuzz on past a known finding): the reference then also refuses a
// status below 100, a minor version that is not a digit and a status code not
// followed by SP or the end of the line (RFC 9112 §4); matches header names
// and tokens by ASCII case only (the parser ORs 0x20, so CR aliases '-');
// and refuses a CR in a chunk-size line that does not end it (RFC 9112 §7.1: no CR in a
// chunk-ext either; the parser used to skip it, so "1\r0" was 0x10).
// Any failed oracle is a fatalError, which libFuzzer reports as a crash.

import Glibc

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    FuzzHTTP1.check(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

enum FuzzHTTP1 {
    typealias Parser = HTTP1ResponseParser

    /// HTTPConnection.receiveCapacity.
    static let receiveCapacity = 16 * 1024
    static let strict = getenv("FUZZ_LENIENT") == nil

    static let LF: UInt8 = 0x0A
    static let CR: UInt8 = 0x0D
    static let SP: UInt8 = 0x20
    static let HTAB: UInt8 = 0x09

    static func fail(_ message: String) -> Never {
        fatalError("fuzz_http1_response: " + message
            + (strict ? "\n(strict checks on; FUZZ_LENIENT=1 turns them off)" : ""))
    }

    /// What the connection learns from the bytes.
    struct Outcome: Equatable {
        var error: HTTPParseError? = nil
        /// HTTPConnection's "response head larger than receiveCapacity".
        var headTooLarge = false
        /// Bytes after a complete response (the engine closes the connection).
        var garbage = false
        var interim = 0
        /// The final head, once parsed (nil while incomplete or when it was malformed).
        var head: Parser.Head? = nil
        /// Simulations only (the reference leaves it nil).
        var state: Parser.State? = nil
        var bodyBytes = 0
        /// Not compared after an error (a throwing call reports no consumption).
        var wireBytes: Int? = nil
        /// endOfStream() at the end of the input said the response was whole.
        var completeAtEnd = false
        /// What HTTPConnection copies out: Location of a 3xx, Alt-Svc advertising h3.
        var location: [UInt8]? = nil
        var altSvc: [UInt8]? = nil
    }

    static func check(_ input: UnsafeRawBufferPointer) {
        var seed: UInt64 = 0xCBF2_9CE4_8422_2325  // FNV-1a of the input: splits vary with it, reproducibly
        for byte in input { seed = (seed ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        for expectBody in [true, false] {
            let whole = simulate(input, expectBody: expectBody, split: .whole)
            let again = simulate(input, expectBody: expectBody, split: .whole)
            guard again == whole else { fail("not deterministic:\n  \(whole)\n  \(again)") }
            let random = simulate(input, expectBody: expectBody, split: .random(seed))
            guard random == whole else {
                fail("outcome depends on how the bytes arrive (expectBody \(expectBody)):\n  at once  \(whole)\n  in pieces \(random)")
            }
            if input.count <= 2048 {
                let single = simulate(input, expectBody: expectBody, split: .single)
                guard single == whole else {
                    fail("outcome depends on how the bytes arrive (expectBody \(expectBody)):\n  at once     \(whole)\n  byte by byte \(single)")
                }
            }
            var simulated = whole
            simulated.state = nil
            var expected = reference(input, expectBody: expectBody)
            if expected.error != nil { expected.location = nil; expected.altSvc = nil }
            guard simulated == expected else {
                fail("parser and reference disagree (expectBody \(expectBody)):\n  parser    \(simulated)\n  reference \(expected)")
            }
        }
    }

    // MARK: The engine's read loop

    enum Split {
        case whole
        case single
        case random(UInt64)
    }

    static func simulate(_ input: UnsafeRawBufferPointer, expectBody: Bool, split: Split) -> Outcome {
        var parser = Parser()
        parser.reset(expectBody: expectBody)
        var out = Outcome()
        var pending: [UInt8] = []
        var delivered = 0
        var consumedTotal = 0
        var rng: UInt64 = 0x9E37_79B9_7F4A_7C15
        if case .random(let seed) = split { rng ^= seed }

        reading: while delivered < input.count {
            let want: Int
            switch split {
            case .whole: want = input.count
            case .single: want = 1
            case .random:
                rng ^= rng << 13
                rng ^= rng >> 7
                rng ^= rng << 17
                want = (rng & 7) == 0 ? Int((rng >> 8) % 4096) + 1 : Int((rng >> 8) % 64) + 1
            }
            let n = min(want, receiveCapacity - pending.count, input.count - delivered)
            guard n > 0 else { fail("simulation: a read with no space (a full buffer must have stopped the loop)") }
            pending.append(contentsOf: input[delivered..<(delivered + n)])
            delivered += n

            while !pending.isEmpty {
                let wasComplete = parser.isComplete
                let headWasComplete = parser.headComplete
                let interimBefore = parser.interimResponses
                let window = UnsafeMutableRawBufferPointer.allocate(byteCount: pending.count, alignment: 1)
                defer { window.deallocate() }
                pending.withUnsafeBytes { window.copyMemory(from: $0) }

                let used: Int
                do throws(HTTPParseError) {
                    used = try parser.parse(UnsafeRawBufferPointer(window))
                } catch {
                    out.error = error
                    break reading
                }
                guard used >= 0, used <= pending.count else { fail("parse consumed \(used) of \(pending.count) bytes") }
                if wasComplete && used != 0 { fail("parse consumed \(used) bytes after .complete") }
                if !headWasComplete && !parser.headComplete {
                    let interimHead = parser.interimResponses == interimBefore + 1
                    guard parser.interimResponses == interimBefore || interimHead else { fail("more than one interim head per call") }
                    guard interimHead ? used > 0 : used == 0 else {
                        fail("parse consumed \(used) bytes of an incomplete head (interim heads \(interimBefore) -> \(parser.interimResponses))")
                    }
                }
                consumedTotal += used

                if !headWasComplete && parser.headComplete {
                    let head = parser.head
                    guard head.bytes > 0, head.bytes <= used else { fail("head of \(head.bytes) bytes, \(used) consumed") }
                    for range in [head.location, head.altSvc].compactMap({ $0 }) where range.upperBound > head.bytes {
                        fail("header value at \(range) outside the \(head.bytes)-byte head")
                    }
                    // As HTTPConnection.consume: a redirect's Location, an Alt-Svc that offers h3.
                    if head.status / 100 == 3, let r = head.location { out.location = Array(window[r]) }
                    if head.alternativeH3, let r = head.altSvc { out.altSvc = Array(window[r]) }
                }

                if used == pending.count {
                    pending.removeAll(keepingCapacity: true)
                } else if parser.isComplete {
                    out.garbage = true
                    break reading
                } else if used > 0 {
                    pending.removeFirst(used)
                    continue
                } else if pending.count == receiveCapacity {
                    out.headTooLarge = true
                    break reading
                }
                break
            }
        }

        out.interim = parser.interimResponses
        out.state = parser.state
        if parser.headComplete {
            out.head = parser.head
            out.bodyBytes = parser.bodyBytes
        } else if parser.bodyBytes != 0 {
            fail("\(parser.bodyBytes) body bytes before the head")
        }
        // A response that fails is dropped whole (HTTPConnection reads Location and Alt-Svc only
        // from one that parses): whether they were read before the error depends only on how
        // the bytes were split.
        if out.error != nil { out.location = nil; out.altSvc = nil }
        if out.error == nil {
            guard parser.wireBytes == consumedTotal else { fail("wireBytes \(parser.wireBytes), parse reported \(consumedTotal)") }
            out.wireBytes = parser.wireBytes
            if let head = out.head {
                guard parser.bodyBytes <= parser.wireBytes - head.bytes else {
                    fail("\(parser.bodyBytes) body bytes in \(parser.wireBytes - head.bytes) bytes after the head")
                }
            }
            if !out.garbage && !out.headTooLarge {
                out.completeAtEnd = parser.endOfStream()
                guard parser.endOfStream() == out.completeAtEnd else { fail("endOfStream is not idempotent") }
                guard parser.isComplete == out.completeAtEnd else { fail("endOfStream \(out.completeAtEnd) in state \(parser.state)") }
            }
        }
        if let head = out.head, parser.isComplete, expectBody, !head.chunked, let length = head.contentLength,
           !noBody(head.status), parser.bodyBytes != length {
            fail("complete with \(parser.bodyBytes) body bytes for Content-Length \(length)")
        }
        return out
    }

    static func noBody(_ status: Int) -> Bool { status / 100 == 1 || status == 204 || status == 304 }

    // MARK: Reference

    /// The outcome read off the whole input at once, with no parser state.
    static func reference(_ b: UnsafeRawBufferPointer, expectBody: Bool) -> Outcome {
        var out = Outcome()
        let n = b.count
        var start = 0
        var head = Parser.Head()
        // Interim heads, then the final one.
        while true {
            // The engine looks for the end of the head in what its buffer holds.
            let window = min(n - start, receiveCapacity)
            guard let end = headEnd(b, from: start, count: window) else {
                out.headTooLarge = window == receiveCapacity
                out.wireBytes = start
                return out
            }
            switch parseHead(b, from: start, length: end, expectBody: expectBody) {
            case .failure(let error):
                out.error = error
                return out
            case .success(let (parsed, interim)):
                if interim {
                    out.interim += 1
                    start += end
                    continue
                }
                head = parsed
            }
            break
        }
        out.head = head
        if head.status / 100 == 3, let r = head.location { out.location = Array(b[(start + r.lowerBound)..<(start + r.upperBound)]) }
        if head.alternativeH3, let r = head.altSvc { out.altSvc = Array(b[(start + r.lowerBound)..<(start + r.upperBound)]) }

        let bodyStart = start + head.bytes
        let rest = n - bodyStart
        var stop: Int? = nil  // where the response ended; nil: not yet
        if !expectBody || noBody(head.status) {
            stop = bodyStart
        } else if head.chunked {
            let chunked = chunkedBody(b, from: bodyStart)
            out.bodyBytes = chunked.body
            if let error = chunked.error {
                out.error = error
                return out
            }
            stop = chunked.end
        } else if let length = head.contentLength {
            out.bodyBytes = min(length, rest)
            if rest >= length { stop = bodyStart + length }
        } else {
            // Until close: everything is body, and the close completes it.
            out.bodyBytes = rest
            out.wireBytes = n
            out.completeAtEnd = true
            return out
        }
        if let stop {
            out.garbage = stop < n
            out.completeAtEnd = !out.garbage
            out.wireBytes = stop
        } else {
            out.wireBytes = n
        }
        return out
    }

    /// The length of the head at `from` (through its empty line), looking at `count` bytes.
    /// Lines end in LF or CRLF. (Like the parser it looks from the 4th byte: a head that ends
    /// sooner cannot hold a status line.)
    static func headEnd(_ b: UnsafeRawBufferPointer, from: Int, count: Int) -> Int? {
        var i = 3
        while i < count {
            let j = from + i
            if b[j] == LF && (b[j - 1] == LF || (b[j - 1] == CR && b[j - 2] == LF)) { return i + 1 }
            i += 1
        }
        return nil
    }

    /// A header name byte or token byte for matching: ASCII lower case (strict), or as the
    /// parser compares (`| 0x20`).
    static func fold(_ c: UInt8) -> UInt8 {
        if strict { return c >= 0x41 && c <= 0x5A ? c + 0x20 : c }
        return c | 0x20
    }

    static func matches(_ b: UnsafeRawBufferPointer, _ from: Int, _ to: Int, _ word: String) -> Bool {
        let w = Array(word.utf8)
        guard to - from == w.count else { return false }
        for k in 0..<w.count where fold(b[from + k]) != w[k] { return false }
        return true
    }

    static func contains(_ b: UnsafeRawBufferPointer, _ from: Int, _ to: Int, _ word: String) -> Bool {
        let length = word.utf8.count
        guard to - from >= length else { return false }
        for s in from...(to - length) where matches(b, s, s + length, word) { return true }
        return false
    }

    /// The head of `length` bytes at `start`: the Head the parser should report (offsets
    /// relative to `start`, close as the framing leaves it) and whether it is an interim one.
    static func parseHead(_ b: UnsafeRawBufferPointer, from start: Int, length: Int, expectBody: Bool)
        -> Result<(Parser.Head, Bool), HTTPParseError> {
        func at(_ i: Int) -> UInt8 { b[start + i] }
        let prefix = Array("HTTP/1.".utf8)
        guard length >= 12, (0..<7).allSatisfy({ at($0) == prefix[$0] }), at(8) == SP else { return .failure(.malformedStatusLine) }
        var status = 0
        for i in 9..<12 {
            guard at(i) >= 0x30 && at(i) <= 0x39 else { return .failure(.malformedStatusLine) }
            status = status * 10 + Int(at(i) - 0x30)
        }
        var head = Parser.Head()
        head.minorVersion = Int(at(7)) - 0x30
        if strict {
            // A found head has two LFs at or after offset 12, so at(12) exists.
            guard (0...9).contains(head.minorVersion), status >= 100, [SP, CR, LF].contains(at(12)) else {
                return .failure(.malformedStatusLine)
            }
        }
        head.status = status
        head.bytes = length
        head.close = head.minorVersion == 0

        // Header lines follow the status line, up to the empty line.
        var i = 12
        while at(i) != LF { i += 1 }
        i += 1
        while i < length {
            var e = i
            while e < length && at(e) != LF { e += 1 }
            let next = e + 1
            if e > i && at(e - 1) == CR { e -= 1 }
            if e == i { break }
            var colon = i
            while colon < e && at(colon) != 0x3A { colon += 1 }
            guard colon < e, colon > i else { return .failure(.malformedHeader) }
            var v = colon + 1
            while v < e && (at(v) == SP || at(v) == HTAB) { v += 1 }
            var ve = e
            while ve > v && (at(ve - 1) == SP || at(ve - 1) == HTAB) { ve -= 1 }
            let (ns, ne, vs, vend) = (start + i, start + colon, start + v, start + ve)
            if matches(b, ns, ne, "content-length") {
                guard ve > v else { return .failure(.badContentLength) }
                var value = 0
                for k in vs..<vend {
                    guard b[k] >= 0x30 && b[k] <= 0x39, value < Int.max / 20 else { return .failure(.badContentLength) }
                    value = value * 10 + Int(b[k] - 0x30)
                }
                if let previous = head.contentLength, previous != value { return .failure(.badContentLength) }
                head.contentLength = value
            } else if matches(b, ns, ne, "transfer-encoding") {
                head.chunked = ve - v >= 7 && matches(b, vend - 7, vend, "chunked")
            } else if matches(b, ns, ne, "connection") {
                if contains(b, vs, vend, "close") {
                    head.close = true
                } else if contains(b, vs, vend, "keep-alive") && head.minorVersion == 0 {
                    head.close = false
                }
            } else if matches(b, ns, ne, "location") {
                head.location = v..<ve
            } else if matches(b, ns, ne, "alt-svc") {
                head.altSvc = v..<ve
                head.alternativeH3 = contains(b, vs, vend, "h3=")
            }
            i = next
        }
        let interim = (100...199).contains(status) && status != 101
        if !interim && expectBody && !noBody(status) && !head.chunked && head.contentLength == nil {
            head.close = true  // until close
        }
        return .success((head, interim))
    }

    /// A chunked body at `from`: payload bytes, where it ended (after the trailers' empty line;
    /// nil when the input ends first), or the error.
    static func chunkedBody(_ b: UnsafeRawBufferPointer, from: Int) -> (body: Int, end: Int?, error: HTTPParseError?) {
        let n = b.count
        var i = from
        var body = 0
        while true {
            // chunk-size [ extension ] LF, CRs ignored; an extension starts at ';', SP or HTAB.
            var size = 0
            var digits = 0
            var inExtension = false
            while true {
                guard i < n else { return (body, nil, nil) }
                let c = b[i]
                i += 1
                if c == LF {
                    guard digits > 0 else { return (body, nil, .badChunk) }
                    break
                }
                if c == CR {
                    if strict && i < n && b[i] != LF { return (body, nil, .badChunk) }
                    continue
                }
                if inExtension { continue }
                if c == 0x3B || c == SP || c == HTAB {
                    inExtension = true
                    continue
                }
                let d: Int
                switch c {
                case 0x30...0x39: d = Int(c) - 0x30
                case 0x41...0x46: d = Int(c) - 0x41 + 10
                case 0x61...0x66: d = Int(c) - 0x61 + 10
                default: return (body, nil, .badChunk)
                }
                guard digits < 15 else { return (body, nil, .badChunk) }
                size = size << 4 | d
                digits += 1
            }
            if size == 0 {
                // Trailer lines, up to an empty one.
                var line = 0
                while true {
                    guard i < n else { return (body, nil, nil) }
                    let c = b[i]
                    i += 1
                    if c == LF {
                        if line == 0 { return (body, i, nil) }
                        line = 0
                    } else if c != CR {
                        line += 1
                    }
                }
            }
            let take = min(size, n - i)
            body += take
            i += take
            guard take == size else { return (body, nil, nil) }
            // The data's CRLF (or LF).
            guard i < n else { return (body, nil, nil) }
            if b[i] == CR {
                i += 1
                guard i < n else { return (body, nil, nil) }
                guard b[i] == LF else { return (body, nil, .badChunk) }
            } else if b[i] != LF {
                return (body, nil, .badChunk)
            }
            i += 1
        }
    }
}
