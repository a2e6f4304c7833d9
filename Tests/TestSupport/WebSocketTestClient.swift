import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A minimal RFC 6455 client over a blocking socket, for tests and benchmarks against the
/// control plane's streams: the opening handshake, unmasked text frames from the server, masked
/// close and pong frames from us. Its blocking calls run on threads of their own (`offPool`), so
/// an in-process server's handlers keep the cooperative pool.
public final class WebSocketTestClient: @unchecked Sendable {
    public let fd: Int32
    /// The handshake's answer: the status code and the body, when it was not 101.
    public private(set) var status = 0
    public private(set) var refusal = ""
    private var buffer: [UInt8] = []

    public enum Message: Sendable, Equatable {
        case text(String)
        case close(code: UInt16, reason: String)
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        public init(_ description: String) { self.description = description }
    }

    /// Connects to 127.0.0.1:`port` and asks to upgrade `path`. `receiveBuffer` shrinks the
    /// socket's receive buffer (a slow reader that stops reading fills it sooner).
    public init(port: Int, path: String, headers: [String: String] = [:], receiveBuffer: Int32? = nil) throws {
        let fd = try connectLoopback(port: port, receiveTimeoutSeconds: 20, receiveBuffer: receiveBuffer)
        self.fd = fd
        let key = Data((0..<16).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        var request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: \(key)\r\nSec-WebSocket-Version: 13\r\n"
        for (name, value) in headers { request += "\(name): \(value)\r\n" }
        request += "\r\n"
        try Self.sendAll(fd, Array(request.utf8))
        // The response head, then (for a refusal) its body by Content-Length.
        var head: [UInt8] = []
        while true {
            if let end = Self.find([13, 10, 13, 10], in: buffer) {
                head = Array(buffer[..<end])
                buffer.removeFirst(end + 4)
                break
            }
            try fill()
        }
        let text = String(decoding: head, as: UTF8.self)
        let statusLine = text.split(separator: "\r\n").first ?? ""
        status = Int(statusLine.split(separator: " ").dropFirst().first ?? "") ?? 0
        if status != 101 {
            let length = text.split(separator: "\r\n").compactMap { line -> Int? in
                let parts = line.split(separator: ":", maxSplits: 1)
                return parts.count == 2 && parts[0].lowercased() == "content-length" ? Int(parts[1].trimmingCharacters(in: .whitespaces)) : nil
            }.first ?? 0
            while buffer.count < length { try fill() }
            refusal = String(decoding: buffer.prefix(length), as: UTF8.self)
        } else {
            refusal = ""
        }
    }

    deinit { Glibc.close(fd) }

    private func fill() throws {
        var chunk = [UInt8](repeating: 0, count: 65_536)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { throw Failure(n == 0 ? "connection closed" : "recv: errno \(errno)") }
        buffer.append(contentsOf: chunk[..<n])
    }

    /// The next text or close message (pings are answered on the way).
    public func receive() throws -> Message {
        while true {
            while buffer.count < 2 { try fill() }
            let opcode = buffer[0] & 0x0f
            var length = Int(buffer[1] & 0x7f)
            var offset = 2
            if length == 126 {
                while buffer.count < 4 { try fill() }
                length = Int(buffer[2]) << 8 | Int(buffer[3])
                offset = 4
            } else if length == 127 {
                while buffer.count < 10 { try fill() }
                length = buffer[2..<10].reduce(0) { $0 << 8 | Int($1) }
                offset = 10
            }
            while buffer.count < offset + length { try fill() }
            let payload = Array(buffer[offset..<offset + length])
            buffer.removeFirst(offset + length)
            switch opcode {
            case 1: return .text(String(decoding: payload, as: UTF8.self))
            case 8:
                let code = payload.count >= 2 ? UInt16(payload[0]) << 8 | UInt16(payload[1]) : 1005
                return .close(code: code, reason: String(decoding: payload.dropFirst(2), as: UTF8.self))
            case 9: try send(opcode: 10, payload)
            default: continue
            }
        }
    }

    /// Every message up to and including the close, each as JSON where it is.
    public func receiveAll() throws -> [Message] {
        var out: [Message] = []
        while true {
            let m = try receive()
            out.append(m)
            if case .close = m { return out }
        }
    }

    public func close(code: UInt16 = 1000) {
        try? send(opcode: 8, [UInt8(code >> 8), UInt8(code & 0xff)])
    }

    private func send(opcode: UInt8, _ payload: [UInt8]) throws {
        var frame: [UInt8] = [0x80 | opcode, 0x80 | UInt8(payload.count)]
        let mask = (0..<4).map { _ in UInt8.random(in: 0...255) }
        frame += mask
        frame += payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
        try Self.sendAll(fd, frame)
    }

    private static func sendAll(_ fd: Int32, _ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw Failure("send: errno \(errno)") }
            sent += n
        }
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for i in 0...(haystack.count - needle.count) where haystack[i..<i + needle.count].elementsEqual(needle) { return i }
        return nil
    }
}

/// A TCP socket connected to 127.0.0.1:`port`, with a receive timeout (and, when given, a
/// smaller receive buffer, set before connecting so the window is small from the start).
public func connectLoopback(port: Int, receiveTimeoutSeconds: Int = 10, receiveBuffer: Int32? = nil) throws -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw WebSocketTestClient.Failure("socket: errno \(errno)") }
    if var size = receiveBuffer { setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size)) }
    var timeout = timeval(tv_sec: receiveTimeoutSeconds, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else {
        let error = errno
        Glibc.close(fd)
        throw WebSocketTestClient.Failure("connect to 127.0.0.1:\(port): errno \(error)")
    }
    return fd
}

/// Runs blocking work on a thread of its own and awaits it, leaving the cooperative pool free.
public func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
        }
        thread.start()
    }
}
