/// Why a response could not be parsed.
public enum HTTPParseError: Error, Equatable, Sendable {
    case malformedStatusLine
    case malformedHeader
    case headTooLarge
    case badContentLength
    case badChunk
}

/// An incremental HTTP/1.1 response parser: bytes in, state out. It never
/// copies or allocates; header fields the client needs are kept as offsets
/// into the caller's buffer, which must hold the whole head (status line and
/// headers) contiguously until `head` has been read.
///
/// Body framing follows RFC 9112 §6.3: no body for HEAD, 1xx, 204 and 304;
/// chunked when Transfer-Encoding ends in chunked; Content-Length when given;
/// otherwise until the connection closes.
public struct HTTP1ResponseParser: Sendable {
    public enum State: Equatable, Sendable {
        case head
        case body(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers
        case untilClose
        case complete
    }

    public struct Head: Sendable, Equatable {
        public var status = 0
        public var minorVersion = 1
        /// Bytes of the status line and headers, final CRLF included.
        public var bytes = 0
        public var contentLength: Int? = nil
        public var chunked = false
        /// The server will close the connection after this response.
        public var close = false
        /// Offsets of the Location value in the buffer the head was parsed from.
        public var location: Range<Int>? = nil
        /// An Alt-Svc header advertised h3.
        public var alternativeH3 = false
        /// Offsets of the Alt-Svc value.
        public var altSvc: Range<Int>? = nil
    }

    public private(set) var state: State = .head
    public private(set) var head = Head()
    /// Body bytes seen (chunk payload only, for chunked bodies).
    public private(set) var bodyBytes = 0
    /// Bytes consumed from the wire for this response (head, framing and body).
    public private(set) var wireBytes = 0
    private var expectBody = true
    /// 1xx heads skipped before the final response.
    public private(set) var interimResponses = 0
    private var scanned = 0
    /// Chunk-size line: accumulated value and whether a digit was seen /
    /// extensions are being skipped.
    private var chunkValue = 0
    private var chunkDigits = 0
    private var chunkExtension = false
    private var sawCR = false
    /// Trailers: bytes on the current trailer line.
    private var lineLength = 0

    public init() {}

    /// Starts a new response. `expectBody` is false for HEAD requests.
    public mutating func reset(expectBody: Bool) {
        self = HTTP1ResponseParser()
        self.expectBody = expectBody
    }

    public var isComplete: Bool { state == .complete }
    public var headComplete: Bool { state != .head }

    /// Consumes bytes from `buffer`; returns how many were consumed. While the
    /// head is incomplete nothing is consumed: call again with the same bytes
    /// plus more. After `.complete` no more bytes are consumed.
    public mutating func parse(_ buffer: UnsafeRawBufferPointer) throws(HTTPParseError) -> Int {
        var offset = 0
        if state == .head {
            guard let end = findHeadEnd(buffer) else {
                if buffer.count >= Self.maximumHead { throw .headTooLarge }
                return 0
            }
            try parseHead(buffer, end: end)
            offset = end
            wireBytes += end
            if (100...199).contains(head.status) && head.status != 101 {
                // An interim response (100 Continue, 103 Early Hints): the
                // final one follows; the caller parses the rest again.
                interimResponses += 1
                let keep = expectBody
                let wire = wireBytes
                let interim = interimResponses
                self = HTTP1ResponseParser()
                expectBody = keep
                wireBytes = wire
                interimResponses = interim
                return end
            }
        }
        let consumed = try parseBody(buffer, from: offset)
        wireBytes += consumed - offset
        return consumed
    }

    /// The connection reached end-of-file: completes an until-close body.
    /// Returns false when the response was cut short.
    public mutating func endOfStream() -> Bool {
        if state == .untilClose { state = .complete; return true }
        return state == .complete
    }

    public static let maximumHead = 64 * 1024

    // MARK: Head

    private mutating func findHeadEnd(_ b: UnsafeRawBufferPointer) -> Int? {
        var i = max(scanned, 3)
        while i < b.count {
            if b[i] == 0x0A {
                if b[i - 1] == 0x0A { return i + 1 }  // bare LF LF
                if b[i - 1] == 0x0D && b[i - 2] == 0x0A { return i + 1 }
            }
            i += 1
        }
        scanned = max(b.count, 3)
        return nil
    }

    private mutating func parseHead(_ b: UnsafeRawBufferPointer, end: Int) throws(HTTPParseError) {
        // "HTTP/1.D SSS" then a space (and the reason) or the end of the line (RFC 9112 4:
        // status-code is 3DIGIT; "2000" or "200x" is no status 200). Found by
        // Fuzz/swift/fuzz_http1_response.swift.
        guard end >= 12, b[0] == 0x48, b[1] == 0x54, b[2] == 0x54, b[3] == 0x50, b[4] == 0x2F,
              b[5] == 0x31, b[6] == 0x2E, (0x30...0x39).contains(b[7]), b[8] == 0x20,
              end == 12 || b[12] == 0x20 || b[12] == 0x0D || b[12] == 0x0A else { throw .malformedStatusLine }
        head.minorVersion = Int(b[7]) - 0x30
        var status = 0
        for i in 9..<12 {
            let d = Int(b[i]) - 0x30
            guard (0...9).contains(d) else { throw .malformedStatusLine }
            status = status * 10 + d
        }
        guard status >= 100 else { throw .malformedStatusLine }
        head.status = status
        head.bytes = end
        head.close = head.minorVersion == 0
        var line = Self.nextLine(b, from: 12, end: end)
        while line.next < end {
            line = Self.nextLine(b, from: line.next, end: end)
            if line.end == line.start { break }
            try header(b, line.start, line.end)
        }
        if !expectBody || status / 100 == 1 || status == 204 || status == 304 {
            state = .complete
        } else if head.chunked {
            state = .chunkSize
        } else if let length = head.contentLength {
            state = length == 0 ? .complete : .body(remaining: length)
        } else {
            state = .untilClose
            head.close = true
        }
    }

    /// The line starting at `from`: content [start, end) without CR/LF, and
    /// where the next line starts.
    private static func nextLine(_ b: UnsafeRawBufferPointer, from: Int, end: Int) -> (start: Int, end: Int, next: Int) {
        var i = from
        while i < end && b[i] != 0x0A { i += 1 }
        var e = i
        if e > from && b[e - 1] == 0x0D { e -= 1 }
        return (from, e, min(i + 1, end))
    }

    private mutating func header(_ b: UnsafeRawBufferPointer, _ start: Int, _ end: Int) throws(HTTPParseError) {
        var colon = start
        while colon < end && b[colon] != 0x3A { colon += 1 }
        guard colon < end, colon > start else { throw .malformedHeader }
        var v = colon + 1
        while v < end && (b[v] == 0x20 || b[v] == 0x09) { v += 1 }
        var ve = end
        while ve > v && (b[ve - 1] == 0x20 || b[ve - 1] == 0x09) { ve -= 1 }
        let nameLength = colon - start
        switch nameLength {
        case 14 where Self.nameIs(b, start, "content-length"):
            var n = 0
            guard ve > v else { throw .badContentLength }
            for i in v..<ve {
                let d = Int(b[i]) - 0x30
                guard (0...9).contains(d), n < Int.max / 20 else { throw .badContentLength }
                n = n * 10 + d
            }
            if let previous = head.contentLength, previous != n { throw .badContentLength }
            head.contentLength = n
        case 17 where Self.nameIs(b, start, "transfer-encoding"):
            // chunked must be the final coding.
            head.chunked = ve - v >= 7 && Self.nameIs(b, ve - 7, "chunked")
        case 10 where Self.nameIs(b, start, "connection"):
            if Self.contains(b, v, ve, "close") { head.close = true }
            else if Self.contains(b, v, ve, "keep-alive") && head.minorVersion == 0 { head.close = false }
        case 8 where Self.nameIs(b, start, "location"):
            head.location = v..<ve
        case 7 where Self.nameIs(b, start, "alt-svc"):
            head.altSvc = v..<ve
            head.alternativeH3 = Self.contains(b, v, ve, "h3=")
        default:
            break
        }
    }

    /// Case-insensitive match of ASCII `name` (lower case) at `start`. Only letters fold: OR-ing
    /// every byte with 0x20 made a CR stand for "-" ("Content\rLength"). Found by fuzzing.
    private static func nameIs(_ b: UnsafeRawBufferPointer, _ start: Int, _ name: StaticString) -> Bool {
        let p = name.utf8Start
        for i in 0..<name.utf8CodeUnitCount {
            let c = b[start + i]
            if ((0x41...0x5A).contains(c) ? c | 0x20 : c) != p[i] { return false }
        }
        return true
    }

    static func contains(_ b: UnsafeRawBufferPointer, _ start: Int, _ end: Int, _ token: StaticString) -> Bool {
        let n = token.utf8CodeUnitCount
        guard end - start >= n else { return false }
        for s in start...(end - n) where nameIs(b, s, token) { return true }
        return false
    }

    // MARK: Body

    private mutating func parseBody(_ b: UnsafeRawBufferPointer, from: Int) throws(HTTPParseError) -> Int {
        var i = from
        let n = b.count
        while i < n {
            switch state {
            case .head, .complete:
                return i
            case .untilClose:
                bodyBytes += n - i
                return n
            case .body(let remaining):
                let take = min(remaining, n - i)
                bodyBytes += take
                i += take
                state = take == remaining ? .complete : .body(remaining: remaining - take)
            case .chunkData(let remaining):
                let take = min(remaining, n - i)
                bodyBytes += take
                i += take
                state = take == remaining ? .chunkDataEnd : .chunkData(remaining: remaining - take)
            case .chunkDataEnd:
                let c = b[i]
                i += 1
                if c == 0x0A { state = .chunkSize; sawCR = false }
                else if c == 0x0D && !sawCR { sawCR = true }
                else { throw .badChunk }
            case .chunkSize:
                let c = b[i]
                i += 1
                if c == 0x0A {
                    guard chunkDigits > 0 else { throw .badChunk }
                    let size = chunkValue
                    chunkValue = 0; chunkDigits = 0; chunkExtension = false; sawCR = false
                    if size == 0 { state = .trailers; lineLength = 0 }
                    else { state = .chunkData(remaining: size) }
                } else if sawCR {
                    // A CR only ends the line: "1\r0" is no chunk of 0x10 bytes. Found by fuzzing.
                    throw .badChunk
                } else if c == 0x0D {
                    sawCR = true
                } else if chunkExtension {
                    continue
                } else if c == 0x3B || c == 0x20 || c == 0x09 {
                    chunkExtension = true
                } else {
                    let d: Int
                    switch c {
                    case 0x30...0x39: d = Int(c) - 0x30
                    case 0x61...0x66: d = Int(c) - 0x61 + 10
                    case 0x41...0x46: d = Int(c) - 0x41 + 10
                    default: throw .badChunk
                    }
                    guard chunkDigits < 15 else { throw .badChunk }
                    chunkValue = chunkValue << 4 | d
                    chunkDigits += 1
                }
            case .trailers:
                let c = b[i]
                i += 1
                if c == 0x0A {
                    if lineLength == 0 { state = .complete }
                    lineLength = 0
                } else if c != 0x0D {
                    lineLength += 1
                }
            }
        }
        return i
    }
}
