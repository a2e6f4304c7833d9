import ProbeModel
import Foundation

/// What to send: method, URL, headers and body.
public struct HTTPRequestSpec: Sendable, Equatable {
    public var method = "GET"
    public var url: HTTPURL
    /// Extra header lines ("Name: value"), sent in order.
    public var headers: [String] = []
    public var body: [UInt8] = []

    public init(url: HTTPURL, method: String = "GET", headers: [String] = [], body: [UInt8] = []) {
        self.url = url
        self.method = method
        self.headers = headers
        self.body = body
    }

    /// Checks the method and header lines; the error names the field.
    public func validate() throws(ConfigurationError) {
        guard !method.isEmpty, method.utf8.allSatisfy({ (0x41...0x5A).contains($0) || $0 == 0x2D }) else {
            throw ConfigurationError(field: "method", "'\(method)' is not an HTTP method (upper-case letters)")
        }
        for h in headers {
            guard let colon = h.firstIndex(of: ":"), colon != h.startIndex,
                  h[..<colon].utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }),
                  !h.utf8.contains(0x0D), !h.utf8.contains(0x0A) else {
                throw ConfigurationError(field: "header", "'\(h)' must be 'Name: value' on one line")
            }
        }
    }

    /// The request serialised once: a run sends these bytes unchanged.
    func serialised() -> HTTPRequestTemplate {
        var text = "\(method) \(url.path) HTTP/1.1\r\nHost: \(url.authority)\r\n"
        // The same fields for HTTP/2, names in lower case.
        var fields: [(String, String)] = []
        let names = Set(headers.map { $0.prefix(while: { $0 != ":" }).lowercased() })
        if !names.contains("user-agent") { text += "User-Agent: waddleperf\r\n"; fields.append(("user-agent", "waddleperf")) }
        if !names.contains("accept") { text += "Accept: */*\r\n"; fields.append(("accept", "*/*")) }
        for h in headers {
            text += h + "\r\n"
            let colon = h.firstIndex(of: ":")!
            fields.append((h[..<colon].lowercased(), h[h.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        if !body.isEmpty || method == "POST" || method == "PUT" || method == "PATCH" {
            text += "Content-Length: \(body.count)\r\n"
            if !names.contains("content-length") { fields.append(("content-length", String(body.count))) }
        }
        text += "\r\n"
        let head = Array(text.utf8)
        let http2Head = [(":method", method), (":scheme", url.secure ? "https" : "http"), (":authority", url.authority),
                         (":path", url.path)] + fields
        return HTTPRequestTemplate(bytes: head + body, headerBytes: head.count, expectBody: method != "HEAD",
                                   http2Head: http2Head)
    }
}

/// A serialised request in memory that lives as long as the run (the ring
/// sends from it directly).
final class HTTPRequestTemplate {
    let pointer: UnsafeMutableRawPointer
    let count: Int
    let headerBytes: Int
    let expectBody: Bool
    /// The same request as an HTTP/2 and HTTP/3 header list, body from `pointer`.
    let fields: HTTPRequestFields

    init(bytes: [UInt8], headerBytes: Int, expectBody: Bool, http2Head: [(String, String)]) {
        let memory = UnsafeMutableRawPointer.allocate(byteCount: max(bytes.count, 1), alignment: 16)
        bytes.withUnsafeBytes { memory.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
        pointer = memory
        count = bytes.count
        self.headerBytes = headerBytes
        self.expectBody = expectBody
        fields = HTTPRequestFields(head: http2Head, body: UnsafeRawPointer(memory + headerBytes),
                                   bodyCount: bytes.count - headerBytes)
    }

    var bodyBytes: Int { count - headerBytes }

    deinit { pointer.deallocate() }
}
