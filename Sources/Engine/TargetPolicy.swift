import Glibc

/// Which addresses and ports a check may reach: the test server's guard against server-side
/// request forgery. It is applied to the address actually connected to, after resolution: to a
/// check's resolved target before the run starts (`CheckRun.prepare`), and on the ring to every
/// address an HTTP probe connects to, its own lookups' and each redirect hop's. A name that
/// resolves to a refused address (DNS rebinding included) is refused like the address itself.
///
/// Order: a `deny` rule refuses everyone; else an `allow` rule permits; else a `protected`
/// range (loopback, link-local, private, the server's own addresses, ...) refuses a caller that
/// is not `exempt`; else the address is reachable.
public struct TargetPolicy: Sendable, Hashable {
    public var allow: [Rule]
    public var deny: [Rule]
    /// Ranges only exempt callers reach unless `allow` names them.
    public var protected: [Rule]
    /// The caller may reach `protected` ranges (the server's administrators).
    public var exempt: Bool

    public init(allow: [Rule] = [], deny: [Rule] = [], protected: [Rule] = TargetPolicy.defaultProtected(), exempt: Bool = false) {
        self.allow = allow
        self.deny = deny
        self.protected = protected
        self.exempt = exempt
    }

    /// Every address and port, for callers outside the test server (the CLI, the agent).
    public static let open = TargetPolicy(protected: [])

    /// The same policy for a caller who may (or may not) reach protected ranges.
    public func exempting(_ exempt: Bool) -> TargetPolicy {
        var p = self
        p.exempt = exempt
        return p
    }

    /// Why `address:port` may not be reached, or nil when it may. ICMP has no port: pass 0, and
    /// rules limited to ports do not apply.
    public func refusal(_ address: IPAddress, port: UInt16) -> TargetRefused? {
        // An IPv6 address that carries an IPv4 one (NAT64 64:ff9b::/96, IPv4-compatible ::/96,
        // 6to4 2002::/16) reaches that IPv4 address on networks that translate: judged as both.
        if let embedded = Self.embeddedIPv4(address), let refused = refusal(embedded, port: port) {
            return TargetRefused(address: address, port: port, rule: refused.rule, detail: refused.detail + " (embedded \(embedded))")
        }
        if let rule = deny.first(where: { $0.matches(address, port: port) }) {
            return TargetRefused(address: address, port: port, rule: rule.name, detail: rule.description)
        }
        if allow.contains(where: { $0.matches(address, port: port) }) { return nil }
        if !exempt, let rule = protected.first(where: { $0.matches(address, port: port) }) {
            return TargetRefused(address: address, port: port, rule: rule.name, detail: rule.description)
        }
        return nil
    }

    /// The IPv4 address inside a NAT64 (64:ff9b::/96), IPv4-compatible (::a.b.c.d, not :: or
    /// ::1) or 6to4 (2002:AABB:CCDD::/48) address.
    static func embeddedIPv4(_ address: IPAddress) -> IPAddress? {
        guard case .v6(let hi, let lo) = address else { return nil }
        if hi == 0x0064_ff9b_0000_0000 && lo >> 32 == 0 { return .v4(UInt32(truncatingIfNeeded: lo)) }
        if hi == 0 && lo >> 32 == 0 && lo > 1 { return .v4(UInt32(truncatingIfNeeded: lo)) }
        if hi >> 48 == 0x2002 { return .v4(UInt32(truncatingIfNeeded: hi >> 16)) }
        return nil
    }

    /// One rule: networks (none: every address) and ports (none: every port).
    ///
    /// Text: `CIDR`, `CIDR:PORTS`, `[IPv6-CIDR]:PORTS` or `*:PORTS`, where PORTS is a port or a
    /// range: `10.0.0.0/8`, `192.168.1.0/24:443`, `[fd00::/8]:8000-8999`, `*:25`.
    public struct Rule: Sendable, Hashable, CustomStringConvertible {
        /// How a refusal names it: `deny_targets[2]`, `loopback`, `own-address`.
        public var name: String
        public var networks: [IPNetwork]
        public var ports: [ClosedRange<UInt16>]

        public init(name: String, networks: [IPNetwork], ports: [ClosedRange<UInt16>] = []) {
            self.name = name
            self.networks = networks
            self.ports = ports
        }

        public init(parsing text: String, name: String) throws(ConfigurationError) {
            func bad(_ why: String) -> ConfigurationError {
                ConfigurationError(field: name, "'\(text)' \(why) (CIDR, CIDR:PORTS, [IPv6-CIDR]:PORTS or *:PORTS)")
            }
            var network = Substring(text)
            var portList: Substring?
            if text.hasPrefix("[") {
                guard let close = text.firstIndex(of: "]") else { throw bad("has no closing ']'") }
                network = text[text.index(after: text.startIndex)..<close]
                let rest = text[text.index(after: close)...]
                if !rest.isEmpty {
                    guard rest.hasPrefix(":") else { throw bad("has text after ']'") }
                    portList = rest.dropFirst()
                }
            } else if text.filter({ $0 == ":" }).count == 1 || text.hasPrefix("*:") {
                let colon = text.firstIndex(of: ":")!
                network = text[..<colon]
                portList = text[text.index(after: colon)...]
            }
            if network == "*" {
                networks = []
            } else {
                guard let n = IPNetwork(String(network)) else { throw bad("is not a network") }
                networks = [n]
            }
            ports = []
            if let portList {
                for item in [portList] {
                    let bounds = item.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
                    guard let low = UInt16(bounds[0]), low > 0, let high = bounds.count == 2 ? UInt16(bounds[1]) : low, low <= high else {
                        throw bad("has a bad port '\(item)'")
                    }
                    ports.append(low...high)
                }
            }
            if networks.isEmpty && ports.isEmpty { throw bad("matches everything: give ports with '*'") }
            self.name = name
        }

        public func matches(_ address: IPAddress, port: UInt16) -> Bool {
            guard networks.isEmpty || networks.contains(where: { $0.contains(address) }) else { return false }
            return ports.isEmpty || (port != 0 && ports.contains { $0.contains(port) })
        }

        public var description: String {
            let where_ = networks.isEmpty ? "*" : networks.map(\.description).joined(separator: ", ")
            let on = ports.isEmpty ? "" : " port " + ports.map { $0.count == 1 ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound)" }
                .joined(separator: ",")
            return where_ + on
        }
    }

    /// What non-exempt callers may not reach by default: loopback, the unspecified address
    /// (which reaches this host), link-local (169.254.169.254, the cloud metadata service,
    /// among them), private and unique-local ranges, shared address space, multicast and
    /// broadcast, and `own` (the server's interface addresses; read with getifaddrs when nil).
    public static func defaultProtected(own: [IPAddress]? = nil) -> [Rule] {
        func rule(_ name: String, _ cidrs: [String]) -> Rule { Rule(name: name, networks: cidrs.map { IPNetwork($0)! }) }
        var rules = [
            rule("loopback", ["127.0.0.0/8", "::1/128"]),
            rule("unspecified", ["0.0.0.0/8", "::/128"]),
            rule("link-local", ["169.254.0.0/16", "fe80::/10"]),
            rule("private", ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"]),
            rule("shared-address-space", ["100.64.0.0/10"]),
            rule("multicast", ["224.0.0.0/4", "255.255.255.255/32", "ff00::/8"]),
        ]
        let mine = (own ?? interfaceAddresses()).compactMap { IPNetwork($0.description) }
        if !mine.isEmpty { rules.append(Rule(name: "own-address", networks: mine)) }
        return rules
    }

    /// This host's interface addresses (getifaddrs), IPv6 link-local scopes dropped.
    public static func interfaceAddresses() -> [IPAddress] {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return [] }
        defer { freeifaddrs(list) }
        var out: [IPAddress] = []
        var next: UnsafeMutablePointer<ifaddrs>? = first
        while let entry = next {
            if let sa = entry.pointee.ifa_addr {
                let family = Int32(sa.pointee.sa_family)
                if family == AF_INET || family == AF_INET6 {
                    var storage = sockaddr_storage()
                    withUnsafeMutableBytes(of: &storage) { dst in
                        let size = family == AF_INET ? MemoryLayout<sockaddr_in>.size : MemoryLayout<sockaddr_in6>.size
                        dst.copyMemory(from: UnsafeRawBufferPointer(start: sa, count: size))
                    }
                    if let address = withUnsafePointer(to: &storage, { IPAddress(storage: $0) }), !out.contains(address) {
                        out.append(address)
                    }
                }
            }
            next = entry.pointee.ifa_next
        }
        return out
    }
}

/// A target the policy refuses: the address, the port and the rule that refused it.
public struct TargetRefused: Error, Sendable, Hashable, CustomStringConvertible {
    public var address: IPAddress
    public var port: UInt16
    /// The rule's name (`loopback`, `deny_targets[0]`).
    public var rule: String
    /// What the rule covers (`127.0.0.0/8, ::1/128`).
    public var detail: String

    public var description: String {
        let what = port == 0 ? address.description : address.endpoint(port: port)
        return "\(what) is refused by the target policy (rule \(rule): \(detail))"
    }
}
