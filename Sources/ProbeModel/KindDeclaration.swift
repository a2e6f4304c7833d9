/// Everything the rest of the system needs to know about a probe kind,
/// declared once. No I/O here: the engine's `ProbeKind` types and HTTP probe
/// point at these declarations, and the control plane and the CLI derive
/// their lists from a `KindCatalog` of them.
public struct KindDeclaration: Sendable, Hashable {
    /// Name on the command line, in `ProbeSpec.kind` and in a result's `test_type`.
    public var name: String
    public var summary: String
    /// Port used when a target gives none; nil when ports do not apply.
    public var defaultPort: UInt16?
    /// The timed phases of one probe, in order (nanoseconds).
    public var phases: [ResultField]
    /// Index in `phases` of the latency the statistics summarise
    /// (`latency_ms`, `p50_ms`, ...): the first phase unless declared.
    public var latencyIndex: Int
    /// Numbers per result beyond the phases and the common summary (stored
    /// under their own name, e.g. `throughput_mbps`).
    public var metrics: [ResultField]
    /// Kind-specific text and numbers in the document's `details` object.
    public var details: [ResultField]
    /// Whether results carry a list of sub-results (hops).
    public var hasHops: Bool

    public init(name: String, summary: String, defaultPort: UInt16?, phases: [ResultField], latency: String? = nil,
                metrics: [ResultField] = [], details: [ResultField] = [], hasHops: Bool = false) {
        precondition(!phases.isEmpty, "a kind declares at least its latency phase")
        let latencyIndex = latency.map { l in phases.firstIndex { $0.name == l } } ?? 0
        precondition(latencyIndex != nil, "latency phase \(latency ?? "") is not among the phases of \(name)")
        self.latencyIndex = latencyIndex!
        self.name = name
        self.summary = summary
        self.defaultPort = defaultPort
        self.phases = phases
        self.metrics = metrics
        self.details = details
        self.hasHops = hasHops
    }

    /// The phase statistics are built from.
    public var latencyPhase: ResultField { phases[latencyIndex] }
}

extension KindDeclaration {
    public static let icmp = KindDeclaration(
        name: "icmp", summary: "ICMP echo request/reply round trip", defaultPort: nil,
        phases: [ResultField("rtt", .nanoseconds, "echo request sent → reply received (kernel timestamps when available)",
                             stored: false)],
        details: [ResultField("ttl", .count, "TTL / hop limit of the last reply")])

    public static let tcp = KindDeclaration(
        name: "tcp", summary: "TCP connect (and optional request/reply round trip)", defaultPort: 80,
        phases: [
            ResultField("connect", .nanoseconds, "connect() issued → connection established"),
            ResultField("ttfb", .nanoseconds, "payload sent → first reply byte (with a payload and expected reply)"),
            ResultField("total", .nanoseconds, "connect issued → last expected byte read"),
        ])

    public static let udp = KindDeclaration(
        name: "udp", summary: "UDP echo round trip", defaultPort: 7,
        phases: [ResultField("rtt", .nanoseconds, "datagram sent → echo received (kernel timestamps when available)",
                             stored: false)],
        details: [ResultField("ttl", .count, "TTL / hop limit of the last reply")])

    public static let http = KindDeclaration(
        name: "http", summary: "HTTP/1.1, HTTP/2 or HTTP/3 request, timed phase by phase", defaultPort: nil,
        phases: [
            ResultField("dns", .nanoseconds, "host name lookup"),
            ResultField("connect", .nanoseconds, "TCP connect"),
            ResultField("tls", .nanoseconds, "TLS handshake"),
            ResultField("quic_handshake", .nanoseconds, "QUIC handshake (HTTP/3: transport and TLS together)"),
            ResultField("ttfb", .nanoseconds, "request sent → first response byte"),
            ResultField("transfer", .nanoseconds, "first → last response byte"),
            ResultField("total", .nanoseconds, "request started → last body byte (redirects included)"),
        ],
        latency: "total",
        metrics: [ResultField("throughput_mbps", .megabitsPerSecond, "response body bits per second over the transfer phase")],
        details: [
            ResultField("status", .count, "HTTP status of the last response"),
            ResultField("tls_version", .text, "negotiated TLS version"),
            ResultField("days_to_expiry", .count, "days until the server certificate expires"),
            ResultField("cert_not_after", .count, "the server certificate's notAfter, seconds since the epoch"),
            ResultField("body_bytes", .bytes, "body bytes of the last response"),
            ResultField("redirects", .count, "redirects the last probe followed"),
        ])
}
