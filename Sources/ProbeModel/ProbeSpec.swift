/// One check: a kind, a target, how often and how long, and the kind's own
/// parameters. A run, an agent's configuration or a test server's job is a
/// list of these, and one list may mix kinds.
///
/// JSON (the same keys in YAML):
///
///     {"kind": "http", "target": "https://example.org/", "count": 3,
///      "interval_ms": 1000, "timeout_ms": 5000,
///      "http": {"method": "HEAD", "expect_status": [200, 204]}}
///
/// The kind's parameters sit under a key named after the kind; a check of
/// another kind may not carry them. Unknown keys are refused.
public struct ProbeSpec: Sendable, Hashable, Codable {
    public var kind: String
    /// Host, address, `host:port`, `[v6]:port`, or a URL for `http`.
    public var target: String
    /// A label for reports (default: the target).
    public var name: String?
    /// Probes per run of the check.
    public var count: Int
    /// Time between probes of one target, milliseconds.
    public var intervalMilliseconds: Int
    /// Per-probe deadline, milliseconds.
    public var timeoutMilliseconds: Int
    public var parameters: ProbeParameters

    public init(kind: String, target: String, name: String? = nil, count: Int = 1, intervalMilliseconds: Int = 1000,
                timeoutMilliseconds: Int = 1000, parameters: ProbeParameters? = nil) {
        self.kind = kind
        self.target = target
        self.name = name
        self.count = count
        self.intervalMilliseconds = intervalMilliseconds
        self.timeoutMilliseconds = timeoutMilliseconds
        self.parameters = parameters ?? ProbeParameters.defaults(for: kind) ?? .none
    }

    public var label: String { name ?? target }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case kind, target, name, count
        case intervalMilliseconds = "interval_ms"
        case timeoutMilliseconds = "timeout_ms"
        case icmp, tcp, udp, http
    }

    public init(from decoder: any Decoder) throws {
        try self.init(from: decoder, alongside: [])
    }

    /// Decodes a check whose object also holds `others` (a scheduled check's `every_s`).
    init(from decoder: any Decoder, alongside others: [String]) throws {
        try RefuseUnknownKeys.check(decoder, allowed: CodingKeys.allCases.map(\.rawValue) + others)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        kind = try c.decode(String.self, forKey: .kind)
        target = try c.decode(String.self, forKey: .target)
        name = try c.decodeIfPresent(String.self, forKey: .name)
        count = try c.decodeIfPresent(Int.self, forKey: .count) ?? 1
        intervalMilliseconds = try c.decodeIfPresent(Int.self, forKey: .intervalMilliseconds) ?? 1000
        timeoutMilliseconds = try c.decodeIfPresent(Int.self, forKey: .timeoutMilliseconds) ?? 1000
        let kind = self.kind
        let present = [CodingKeys.icmp, .tcp, .udp, .http].filter { c.contains($0) }
        if let other = present.first(where: { $0.rawValue != kind }) {
            throw DecodingError.dataCorruptedError(forKey: other, in: c,
                debugDescription: "parameters for '\(other.rawValue)' in a '\(kind)' check")
        }
        switch kind {
        case "icmp": parameters = .icmp(try c.decodeIfPresent(ICMPParameters.self, forKey: .icmp) ?? .init())
        case "tcp": parameters = .tcp(try c.decodeIfPresent(TCPParameters.self, forKey: .tcp) ?? .init())
        case "udp": parameters = .udp(try c.decodeIfPresent(UDPParameters.self, forKey: .udp) ?? .init())
        case "http": parameters = .http(try c.decodeIfPresent(HTTPParameters.self, forKey: .http) ?? .init())
        default: parameters = .none
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(kind, forKey: .kind)
        try c.encode(target, forKey: .target)
        try c.encodeIfPresent(name, forKey: .name)
        try c.encode(count, forKey: .count)
        try c.encode(intervalMilliseconds, forKey: .intervalMilliseconds)
        try c.encode(timeoutMilliseconds, forKey: .timeoutMilliseconds)
        switch parameters {
        case .icmp(let p): try c.encode(p, forKey: .icmp)
        case .tcp(let p): try c.encode(p, forKey: .tcp)
        case .udp(let p): try c.encode(p, forKey: .udp)
        case .http(let p): try c.encode(p, forKey: .http)
        case .none: break
        }
    }

    /// The longest one run of the check can take: its probes' spacing, then the last one's
    /// deadline.
    public var runMilliseconds: Int { (count - 1) * intervalMilliseconds + timeoutMilliseconds }

    /// Checks every field against `catalog`; the error names the first bad
    /// one by its path (`checks[2].http.method`).
    public func validate(in catalog: KindCatalog = .builtIn, path: String = "") throws(ConfigurationError) {
        func fail(_ field: String, _ message: String) -> ConfigurationError { ConfigurationError(field: path + field, message) }
        guard catalog.kind(named: kind) != nil else {
            throw fail("kind", "unknown kind '\(kind)' (known: \(catalog.testTypes.joined(separator: ", ")))")
        }
        guard !target.isEmpty, target.utf8.count <= 255 else { throw fail("target", "must be 1-255 bytes") }
        if let name, name.isEmpty || name.utf8.count > 255 { throw fail("name", "must be 1-255 bytes") }
        guard (1...100_000).contains(count) else { throw fail("count", "must be 1-100000, got \(count)") }
        guard (0...86_400_000).contains(intervalMilliseconds) else {
            throw fail("interval_ms", "must be 0-86400000, got \(intervalMilliseconds)")
        }
        guard (1...300_000).contains(timeoutMilliseconds) else {
            throw fail("timeout_ms", "must be 1-300000, got \(timeoutMilliseconds)")
        }
        try parameters.validate(path: path + kind + ".")
    }
}

/// Refuses keys a strict document does not define (a typo must not be
/// silently ignored).
enum RefuseUnknownKeys {
    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    static func check(_ decoder: any Decoder, allowed: [String]) throws {
        let c = try decoder.container(keyedBy: AnyKey.self)
        if let key = c.allKeys.first(where: { !allowed.contains($0.stringValue) }) {
            throw DecodingError.dataCorruptedError(forKey: key, in: c,
                debugDescription: "unknown field '\(key.stringValue)' (allowed: \(allowed.joined(separator: ", ")))")
        }
    }
}
