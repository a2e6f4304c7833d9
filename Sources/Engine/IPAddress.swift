import CProbe
import Glibc

/// An IPv4 or IPv6 address as raw network-order bytes.
public enum IPAddress: Hashable, Sendable, CustomStringConvertible {
    case v4(UInt32)            // host order
    case v6(UInt64, UInt64)    // host order, high and low halves

    public var family: Int32 { if case .v4 = self { AF_INET } else { AF_INET6 } }
    public var isIPv6: Bool { if case .v6 = self { true } else { false } }

    /// `address:port`, or `[address]:port` for IPv6.
    public func endpoint(port: UInt16) -> String { isIPv6 ? "[\(self)]:\(port)" : "\(self):\(port)" }

    /// Parses a numeric IPv4 or IPv6 address (no names, no zone ids).
    public init?(_ text: some StringProtocol) {
        var a4 = in_addr()
        var a6 = in6_addr()
        let s = String(text)
        if inet_pton(AF_INET, s, &a4) == 1 {
            self = .v4(UInt32(bigEndian: a4.s_addr))
        } else if inet_pton(AF_INET6, s, &a6) == 1 {
            self = withUnsafeBytes(of: &a6) { IPAddress(bytes: Array($0))! }
        } else {
            return nil
        }
    }

    /// From 4 or 16 network-order bytes.
    public init?(bytes: [UInt8]) {
        if bytes.count == 4 {
            self = .v4(bytes.reduce(0) { $0 << 8 | UInt32($1) })
        } else if bytes.count == 16 {
            let hi = bytes[0..<8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            let lo = bytes[8..<16].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            self = .v6(hi, lo)
        } else {
            return nil
        }
    }

    /// Network-order bytes (4 or 16).
    public var bytes: [UInt8] {
        switch self {
        case .v4(let v): return (0..<4).map { UInt8(truncatingIfNeeded: v >> (24 - 8 * $0)) }
        case .v6(let hi, let lo):
            return (0..<8).map { UInt8(truncatingIfNeeded: hi >> (56 - 8 * $0)) }
                + (0..<8).map { UInt8(truncatingIfNeeded: lo >> (56 - 8 * $0)) }
        }
    }

    public var description: String {
        if case .v4(let v) = self {
            // Dotted quad without inet_ntop or a heap buffer: CIDR sweeps
            // name 65,534 targets and print each address.
            return Self.withDottedQuad(v) { String(decoding: $0, as: UTF8.self) }
        }
        var b = bytes
        var out = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        _ = inet_ntop(family, &b, &out, socklen_t(out.count))
        return String(decoding: out.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The address as text, appended to a byte buffer (IPv4 without a String).
    public func appendText(to out: inout [UInt8]) {
        withText { out.append(contentsOf: $0) }
    }

    /// The address as text in a buffer (IPv4's on the stack), for writers that copy it.
    public func withText<R>(_ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        guard case .v4(let v) = self else {
            var text = description
            return text.withUTF8(body)
        }
        return Self.withDottedQuad(v, body)
    }

    /// `v`'s dotted quad in a stack buffer.
    private static func withDottedQuad<R>(_ v: UInt32, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 16) { buffer in
            var n = 0
            for shift in stride(from: 24, through: 0, by: -8) {
                let octet = UInt8(truncatingIfNeeded: v >> UInt32(shift))
                if octet >= 100 { buffer[n] = UInt8(ascii: "0") + octet / 100; n += 1 }
                if octet >= 10 { buffer[n] = UInt8(ascii: "0") + octet / 10 % 10; n += 1 }
                buffer[n] = UInt8(ascii: "0") + octet % 10
                n += 1
                if shift > 0 { buffer[n] = UInt8(ascii: "."); n += 1 }
            }
            return body(UnsafeBufferPointer(rebasing: buffer[..<n]))
        }
    }

    /// Fills a sockaddr for this address and `port`.
    func write(to storage: UnsafeMutablePointer<sockaddr_storage>, port: UInt16) {
        var b = bytes
        let rc = cprobe_sockaddr_make(storage, family, &b, port)
        // Only an unknown family fails, and `family` is AF_INET or AF_INET6 by construction.
        precondition(rc == 0, "cprobe_sockaddr_make: family \(family)")
    }

    /// Reads the address out of a sockaddr.
    init?(storage: UnsafePointer<sockaddr_storage>) {
        var b = [UInt8](repeating: 0, count: 16)
        let family = cprobe_sockaddr_address(storage, &b)
        if family == AF_INET { self.init(bytes: Array(b[0..<4])) }
        else if family == AF_INET6 { self.init(bytes: b) }
        else { return nil }
    }
}
