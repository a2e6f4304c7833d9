import ProbeModel
import Foundation
import Glibc

/// One resolved destination of a probe run.
public struct ProbeTarget: Hashable, Sendable {
    /// What the user wrote (host name or address), for display.
    public var name: String
    public var address: IPAddress
    /// Destination port for TCP/UDP; 0 for ICMP.
    public var port: UInt16
    /// Why the name did not resolve; nil for a resolved target. An unresolved
    /// target stays in the run: each of its probes is an `unresolved`
    /// outcome (loss), and the other targets are probed as usual.
    public var resolutionFailure: String? = nil

    public init(name: String, address: IPAddress, port: UInt16 = 0) {
        self.name = name
        self.address = address
        self.port = port
    }

    /// A target whose name did not resolve (its address is a placeholder no probe uses).
    public static func unresolved(_ name: String, port: UInt16, reason: String) -> ProbeTarget {
        var t = ProbeTarget(name: name, address: .v4(0), port: port)
        t.resolutionFailure = reason
        return t
    }

    public var isResolved: Bool { resolutionFailure == nil }

    /// `address` or `address:port` (`[v6]:port`); the name as given when it did not resolve.
    public var endpoint: String {
        guard isResolved else { return port == 0 ? name : "\(name):\(port)" }
        return port == 0 ? address.description : address.endpoint(port: port)
    }
}

/// A target as written on the command line, before resolution.
public enum TargetSpecification: Equatable, Sendable {
    case address(IPAddress, port: UInt16?)
    case host(String, port: UInt16?)
    case network(IPAddress, prefixLength: Int, port: UInt16?)

    /// Largest number of addresses one CIDR may expand to.
    public static let maximumNetworkSize = 1 << 24

    /// Parses `host`, `ip`, `host:port`, `[v6]:port`, `ip/len` or `ip/len:port`.
    public init(parsing text: String) throws(ConfigurationError) {
        let field = "target '\(text)'"
        guard !text.isEmpty else { throw ConfigurationError(field: "target", "empty target") }
        var host = Substring(text)
        var port: UInt16? = nil

        func parsePort(_ p: Substring) throws(ConfigurationError) -> UInt16 {
            guard let v = Int(p), (1...65535).contains(v) else {
                throw ConfigurationError(field: field, "port must be 1-65535, got '\(p)'")
            }
            return UInt16(v)
        }

        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else {
                throw ConfigurationError(field: field, "missing ']' after IPv6 address")
            }
            let rest = host[host.index(after: close)...]
            if rest.hasPrefix(":") { port = try parsePort(rest.dropFirst()) }
            else if !rest.isEmpty { throw ConfigurationError(field: field, "unexpected '\(rest)' after ']'") }
            host = host[host.index(after: host.startIndex)..<close]
        } else if host.filter({ $0 == ":" }).count == 1 {
            let colon = host.firstIndex(of: ":")!
            port = try parsePort(host[host.index(after: colon)...])
            host = host[..<colon]
        }

        if let slash = host.firstIndex(of: "/") {
            let base = host[..<slash]
            guard let address = IPAddress(base) else {
                throw ConfigurationError(field: field, "'\(base)' is not an IP address (CIDR needs a numeric network)")
            }
            let maxLength = address.isIPv6 ? 128 : 32
            guard let length = Int(host[host.index(after: slash)...]), (0...maxLength).contains(length) else {
                throw ConfigurationError(field: field, "prefix length must be 0-\(maxLength)")
            }
            let hostBits = maxLength - length
            guard hostBits < 25, (1 << hostBits) <= Self.maximumNetworkSize else {
                throw ConfigurationError(field: field, "network has more than \(Self.maximumNetworkSize) addresses")
            }
            self = .network(address, prefixLength: length, port: port)
        } else if let address = IPAddress(host) {
            self = .address(address, port: port)
        } else {
            guard !host.isEmpty, host.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == "_" }) else {
                throw ConfigurationError(field: field, "not a host name, IP address or CIDR network")
            }
            self = .host(String(host), port: port)
        }
    }

    /// Addresses of a network: all of them for /31, /32, /127, /128, otherwise
    /// without the network and (IPv4) broadcast addresses, as `fping -g` does.
    static func expand(_ base: IPAddress, prefixLength: Int) -> [IPAddress] {
        switch base {
        case .v4(let v):
            let hostBits = 32 - prefixLength
            let mask: UInt32 = hostBits == 32 ? 0 : ~UInt32(0) << hostBits
            let network = v & mask
            let size = UInt64(1) << hostBits
            if size <= 2 { return (0..<size).map { .v4(network + UInt32($0)) } }
            return (1..<(size - 1)).map { .v4(network + UInt32($0)) }
        case .v6(let hi, let lo):
            let hostBits = 128 - prefixLength  // < 25, checked at parse
            let network = lo & (~UInt64(0) << hostBits)
            let size = UInt64(1) << hostBits
            if size <= 2 { return (0..<size).map { .v6(hi, network + $0) } }
            return (1..<size).map { .v6(hi, network + $0) }
        }
    }
}

/// Which address families a run may use.
public enum AddressFamilyPreference: Sendable {
    case any, ipv4, ipv6
}

/// Resolves specifications into targets. Name lookups (getaddrinfo, which
/// blocks) run on their own threads, never on the cooperative pool nor on a
/// ring thread.
public enum TargetResolver {
    public static func resolve(
        _ specifications: [TargetSpecification],
        defaultPort: UInt16,
        family: AddressFamilyPreference = .any
    ) async throws -> [ProbeTarget] {
        var names: [String] = []
        for case .host(let name, _) in specifications where !names.contains(name) { names.append(name) }
        var resolved: [String: Result<[IPAddress], LookupFailure>] = [:]
        await withTaskGroup(of: (String, Result<[IPAddress], LookupFailure>).self) { group in
            for name in names {
                group.addTask { (name, await lookup(name, family: family)) }
            }
            for await (name, result) in group { resolved[name] = result }
        }

        var targets: [ProbeTarget] = []
        func admit(_ address: IPAddress) -> Bool {
            switch family {
            case .any: true
            case .ipv4: !address.isIPv6
            case .ipv6: address.isIPv6
            }
        }
        for spec in specifications {
            switch spec {
            case .address(let a, let port):
                guard admit(a) else {
                    throw ConfigurationError(field: "target '\(a)'", "address family excluded by -4/-6")
                }
                targets.append(ProbeTarget(name: a.description, address: a, port: port ?? defaultPort))
            case .host(let name, let port):
                switch resolved[name] {
                case .success(let addresses)? where !addresses.isEmpty:
                    targets.append(ProbeTarget(name: name, address: addresses[0], port: port ?? defaultPort))
                case .failure(let failure)?:
                    targets.append(.unresolved(name, port: port ?? defaultPort, reason: failure.message))
                default:
                    targets.append(.unresolved(name, port: port ?? defaultPort, reason: "no address found"))
                }
            case .network(let base, let length, let port):
                guard admit(base) else {
                    throw ConfigurationError(field: "target '\(base)/\(length)'", "address family excluded by -4/-6")
                }
                for a in TargetSpecification.expand(base, prefixLength: length) {
                    targets.append(ProbeTarget(name: a.description, address: a, port: port ?? defaultPort))
                }
            }
        }
        return targets
    }

    /// Why getaddrinfo gave no address (gai_strerror's words).
    struct LookupFailure: Error {
        var message: String
    }

    /// getaddrinfo on a dedicated thread, bridged with a continuation.
    static func lookup(_ name: String, family: AddressFamilyPreference) async -> Result<[IPAddress], LookupFailure> {
        await withCheckedContinuation { (continuation: CheckedContinuation<Result<[IPAddress], LookupFailure>, Never>) in
            let thread = Thread {
                var hints = addrinfo()
                hints.ai_family = family == .ipv4 ? AF_INET : family == .ipv6 ? AF_INET6 : AF_UNSPEC
                hints.ai_socktype = 2  // SOCK_DGRAM: one entry per address
                var list: UnsafeMutablePointer<addrinfo>? = nil
                let rc = getaddrinfo(name, nil, &hints, &list)
                guard rc == 0 else {
                    continuation.resume(returning: .failure(LookupFailure(message: String(cString: gai_strerror(rc)))))
                    return
                }
                defer { freeaddrinfo(list) }
                var out: [IPAddress] = []
                var cursor = list
                while let entry = cursor {
                    if let sa = entry.pointee.ai_addr {
                        var storage = sockaddr_storage()
                        withUnsafeMutableBytes(of: &storage) { dst in
                            dst.copyMemory(from: UnsafeRawBufferPointer(start: sa, count: Int(entry.pointee.ai_addrlen)))
                        }
                        if let a = IPAddress(storage: &storage), !out.contains(a) { out.append(a) }
                    }
                    cursor = entry.pointee.ai_next
                }
                continuation.resume(returning: .success(out))
            }
            thread.start()
        }
    }
}
