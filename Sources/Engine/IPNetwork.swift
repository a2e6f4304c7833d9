import Glibc

/// An IPv4 or IPv6 network: `10.0.0.0/8`, `fd00::/8`, or a bare address (one host). IPv4-mapped
/// IPv6 addresses (`::ffff:192.0.2.1`) are the IPv4 address they carry. The control plane's
/// trusted proxies and the target policy are lists of these.
public struct IPNetwork: Sendable, Hashable, CustomStringConvertible {
    /// 4 or 16 bytes, host bits cleared.
    let bytes: [UInt8]
    public let prefixLength: Int

    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = IPNetwork.parseAddress(String(parts[0])) else { return nil }
        let bits = address.count * 8
        var length = bits
        if parts.count == 2 {
            guard let value = Int(parts[1]), (0...bits).contains(value) else { return nil }
            length = value
        }
        bytes = IPNetwork.masked(address, to: length)
        prefixLength = length
    }

    /// `address` bytes as `parseAddress` gives them (4 for IPv4 and IPv4-mapped IPv6, else 16).
    public func contains(_ address: [UInt8]) -> Bool {
        address.count == bytes.count && IPNetwork.masked(address, to: prefixLength) == bytes
    }

    public func contains(_ address: IPAddress) -> Bool { contains(IPNetwork.normalized(address)) }

    public var isIPv6: Bool { bytes.count == 16 }

    public var description: String { "\(IPNetwork.format(bytes))/\(prefixLength)" }

    /// The address's bytes, an IPv4-mapped IPv6 address as its IPv4 bytes.
    package static func normalized(_ address: IPAddress) -> [UInt8] {
        let b = address.bytes
        if b.count == 16 && b[0..<10].allSatisfy({ $0 == 0 }) && b[10] == 0xff && b[11] == 0xff { return Array(b[12...]) }
        return b
    }

    /// The address's bytes (4 for IPv4, including IPv4-mapped IPv6; 16 for IPv6), or nil.
    package static func parseAddress(_ text: String) -> [UInt8]? {
        if text.contains(":") {
            var raw = in6_addr()
            guard inet_pton(AF_INET6, text, &raw) == 1 else { return nil }
            let bytes = withUnsafeBytes(of: &raw) { Array($0) }
            if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xff && bytes[11] == 0xff { return Array(bytes[12...]) }
            return bytes
        }
        var raw = in_addr()
        guard inet_pton(AF_INET, text, &raw) == 1 else { return nil }
        return withUnsafeBytes(of: &raw) { Array($0) }
    }

    package static func format(_ bytes: [UInt8]) -> String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let family = bytes.count == 4 ? AF_INET : AF_INET6
        let written = bytes.withUnsafeBytes { raw in inet_ntop(family, raw.baseAddress, &buffer, socklen_t(buffer.count)) != nil }
        guard written else { return "?" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    package static func masked(_ address: [UInt8], to length: Int) -> [UInt8] {
        address.enumerated().map { index, byte in
            let keep = min(max(length - index * 8, 0), 8)
            return keep == 8 ? byte : byte & ~UInt8(truncatingIfNeeded: 0xff >> keep)
        }
    }
}
