@testable import Engine
import Testing

/// The response parser as transcripts: bytes in (whole, or split at every
/// possible point), state out.
struct HTTP1ResponseParserTests {
    /// Feeds `text` in pieces of `step` bytes the way a connection does:
    /// unconsumed bytes stay at the front of the buffer.
    func parse(_ text: String, step: Int = .max, head: Bool = true) throws -> HTTP1ResponseParser {
        var p = HTTP1ResponseParser()
        p.reset(expectBody: head)
        let bytes = Array(text.utf8)
        var pending: [UInt8] = []
        var offset = 0
        while offset < bytes.count && !p.isComplete {
            let end = min(bytes.count, offset + step)
            pending += bytes[offset..<end]
            offset = end
            // As the connection does: parse again while bytes are consumed
            // (an interim 1xx head is consumed on its own).
            while !pending.isEmpty && !p.isComplete {
                let used = try pending.withUnsafeBytes { try p.parse($0) }
                pending.removeFirst(used)
                if used == 0 { break }
            }
        }
        return p
    }

    @Test func contentLengthBodyAtEverySplit() throws {
        let text = "HTTP/1.1 200 OK\r\nContent-Length: 12\r\nServer: x\r\n\r\nhello world\n"
        for step in 1...text.utf8.count {
            let p = try parse(text, step: step)
            #expect(p.isComplete, "step \(step)")
            #expect(p.head.status == 200 && p.bodyBytes == 12 && p.head.bytes == 50 && !p.head.close)
            #expect(p.wireBytes == text.utf8.count)
        }
    }

    @Test func chunkedWithExtensionsAndTrailersAtEverySplit() throws {
        let text = "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
            + "6;name=value\r\nhello \r\nA\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\n"
        for step in 1...text.utf8.count {
            let p = try parse(text, step: step)
            #expect(p.isComplete && p.head.chunked && p.bodyBytes == 16, "step \(step)")
        }
    }

    @Test func interimResponsesAreSkipped() throws {
        let text = "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        for step in 1...text.utf8.count {
            let p = try parse(text, step: step)
            #expect(p.isComplete && p.head.status == 200 && p.bodyBytes == 2 && p.interimResponses == 1, "step \(step)")
        }
    }

    @Test func noBodyForHeadAnd204And304() throws {
        #expect(try parse("HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n", head: false).isComplete)
        #expect(try parse("HTTP/1.1 204 No Content\r\n\r\n").isComplete)
        #expect(try parse("HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n").isComplete)
    }

    @Test func untilCloseBodyEndsAtEndOfStream() throws {
        var p = try parse("HTTP/1.0 200 OK\r\n\r\nabc")
        #expect(!p.isComplete && p.head.close && p.bodyBytes == 3)
        let ended = p.endOfStream()
        #expect(ended && p.isComplete)
        // A Content-Length body cut short is not complete.
        var q = try parse("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
        let cut = q.endOfStream()
        #expect(!cut)
    }

    @Test func connectionHeadersAndHTTP10KeepAlive() throws {
        #expect(try parse("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n").head.close)
        #expect(try !parse("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n").head.close)
        #expect(try parse("HTTP/1.1 200\r\ncontent-length: 0\r\n\r\n").isComplete, "no reason phrase, lower-case names")
    }

    @Test func locationAndAltSvcAreFound() throws {
        let text = "HTTP/1.1 302 Found\r\nLocation:  /next?a=1 \r\nAlt-Svc: h3=\":443\"; ma=60\r\nContent-Length: 0\r\n\r\n"
        let p = try parse(text)
        let bytes = Array(text.utf8)
        #expect(String(decoding: bytes[p.head.location!], as: UTF8.self) == "/next?a=1")
        #expect(p.head.alternativeH3)
    }

    @Test func malformedInputIsAnError() throws {
        #expect(throws: HTTPParseError.malformedStatusLine) { try parse("SSH-2.0-OpenSSH\r\n\r\n") }
        #expect(throws: HTTPParseError.badContentLength) { try parse("HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n") }
        #expect(throws: HTTPParseError.badContentLength) {
            try parse("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")
        }
        #expect(throws: HTTPParseError.badChunk) { try parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n") }
        #expect(throws: HTTPParseError.malformedHeader) { try parse("HTTP/1.1 200 OK\r\nno colon here\r\n\r\n") }
        let huge = "HTTP/1.1 200 OK\r\n" + String(repeating: "X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n", count: 2000)
        #expect(throws: HTTPParseError.headTooLarge) { try parse(huge) }
    }

    /// Found by Fuzz/swift/fuzz_http1_response.swift: a status code is three digits then a space
    /// (or the line's end); header names fold letters only; a CR in a chunk-size line ends it.
    @Test func fuzzingFindingsAreRefused() throws {
        for line in ["HTTP/1.1 2000 OK", "HTTP/1.1 200\u{7f}OK", "HTTP/1.1 099 Low", "HTTP/1.x 200 OK"] {
            #expect(throws: HTTPParseError.malformedStatusLine, "\(line)") { try parse(line + "\r\nContent-Length: 0\r\n\r\n") }
        }
        #expect(try parse("HTTP/1.1 204\r\n\r\n").head.status == 204, "no reason phrase is fine")
        // "Content\rLength" is no Content-Length: the body runs until the connection closes.
        let aliased = try parse("HTTP/1.1 200 OK\r\nContent\rLength: 2\r\n\r\nok")
        #expect(aliased.head.contentLength == nil && aliased.head.close)
        #expect(throws: HTTPParseError.badChunk) { try parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r0\r\n") }
        #expect(throws: HTTPParseError.badChunk) {
            try parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1a;name=value\r\u{7f}\n")
        }
    }

    @Test func urlsAndRedirectResolution() throws {
        let u = try HTTPURL("https://[::1]:8443/a/b?q=1#frag")
        #expect(u.secure && u.host == "::1" && u.port == 8443 && u.path == "/a/b?q=1" && u.authority == "[::1]:8443")
        #expect(try HTTPURL("http://example.com").path == "/" && HTTPURL("http://example.com").port == 80)
        #expect(try u.resolving("c").path == "/a/c")
        #expect(try u.resolving("/x").description == "https://[::1]:8443/x")
        #expect(try u.resolving("//other.example/y").description == "https://other.example/y")
        #expect(try u.resolving("http://h:81/z").description == "http://h:81/z")
        #expect(throws: ConfigurationError.self) { try HTTPURL("ftp://x/") }
        #expect(throws: ConfigurationError.self) { try HTTPURL("http://host:99999/") }
        #expect(throws: ConfigurationError.self) { try HTTPURL("http://user:pw@host/") }
    }

    @Test func requestsAreSerialisedOnceWithLengthAndHost() throws {
        let spec = HTTPRequestSpec(url: try HTTPURL("http://h:8080/p"), method: "POST", headers: ["X-A: 1"],
                                   body: Array("abc".utf8))
        let t = spec.serialised()
        let text = String(decoding: UnsafeRawBufferPointer(start: t.pointer, count: t.count), as: UTF8.self)
        #expect(text == "POST /p HTTP/1.1\r\nHost: h:8080\r\nUser-Agent: waddleperf\r\nAccept: */*\r\nX-A: 1\r\nContent-Length: 3\r\n\r\nabc")
        #expect(t.bodyBytes == 3)
        #expect(throws: ConfigurationError.self) { try HTTPRequestSpec(url: spec.url, method: "get").validate() }
        #expect(throws: ConfigurationError.self) {
            try HTTPRequestSpec(url: spec.url, headers: ["Bad\r\nInjected: 1"]).validate()
        }
    }
}
