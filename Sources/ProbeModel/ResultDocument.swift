/// The result of one check against one target: what the CLI prints, what
/// `POST /api/v1/results` accepts, what `GET /api/v1/results` returns and
/// what an agent uploads. One shape, documented once (docs/results.md).
///
/// JSON keys: `test_type`, `target`, `resolved_address`, `protocol_detail`,
/// `outcome`, `success`, `created_at` (ms since the epoch), `sent`,
/// `received`, `device_id`, then every stored metric of the catalog that has a
/// value (`loss_percent`, `latency_ms`, `connect_ms`, ...), and `raw`, which
/// holds the kind-specific part: `{"details": {...}, "hops": [...]}`. A stored
/// result (`GET`) adds `id`, `user_id` and `ou_id` (`stored`).
public struct ResultDocument: Sendable, Hashable, Codable {
    public var testType: String
    public var target: String
    public var resolvedAddress: String?
    /// Protocol in use (`h2`, `http/1.1`, `ping`, `raw`): free text.
    public var protocolDetail: String?
    /// `success`, or why not (`timeout`, `refused`, `unreachable(3,1)`, `unresolved`, ...).
    public var outcome: String
    public var success: Bool
    public var createdAt: Int64?
    public var sent: Int64?
    public var received: Int64?
    /// The device that measured it (set by the server for a device's upload).
    public var deviceID: Int64?
    /// What the server adds once it has stored the result; nil in an upload.
    public var stored: Stored?
    /// Stored metrics by name (`KindCatalog.storedMetrics`).
    public var metrics: [String: Double]
    /// Kind-specific values (`KindDeclaration.details`).
    public var details: [String: DetailValue]
    /// Sub-results, for kinds that have them (traceroute's hops).
    public var hops: [Hop]

    public init(testType: String, target: String, outcome: String, success: Bool) {
        self.testType = testType
        self.target = target
        self.outcome = outcome
        self.success = success
        metrics = [:]
        details = [:]
        hops = []
    }

    /// A stored result's id and owners.
    public struct Stored: Sendable, Hashable {
        public var id: Int64
        public var userID: Int64?
        public var ouID: Int64?
        public init(id: Int64, userID: Int64?, ouID: Int64?) {
            self.id = id
            self.userID = userID
            self.ouID = ouID
        }
    }

    /// One hop of a path: its position, who answered, and its own metrics.
    public struct Hop: Sendable, Hashable, Codable {
        public var index: Int
        public var address: String?
        public var outcome: String
        public var metrics: [String: Double]
        public init(index: Int, address: String?, outcome: String, metrics: [String: Double] = [:]) {
            self.index = index
            self.address = address
            self.outcome = outcome
            self.metrics = metrics
        }
    }

    /// A detail's value: text, a number or a flag.
    public enum DetailValue: Sendable, Hashable, Codable {
        case text(String)
        case number(Double)
        case flag(Bool)

        public init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let b = try? c.decode(Bool.self) { self = .flag(b) }
            else if let d = try? c.decode(Double.self) { self = .number(d) }
            else { self = .text(try c.decode(String.self)) }
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.singleValueContainer()
            switch self {
            case .text(let s): try c.encode(s)
            case .number(let d): try c.encode(d)
            case .flag(let b): try c.encode(b)
            }
        }
    }

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ s: String) { stringValue = s }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// Keys every document may carry besides the metrics.
    static let fixedKeys = ["test_type", "target", "resolved_address", "protocol_detail", "outcome", "success",
                            "created_at", "sent", "received", "device_id", "raw", "id", "user_id", "ou_id"]

    struct Raw: Codable {
        var details: [String: DetailValue]?
        var hops: [Hop]?
    }

    /// Decodes against `KindCatalog.builtIn`: a key that is neither fixed nor a
    /// stored metric is refused, naming it.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        let catalog = KindCatalog.builtIn
        testType = try c.decode(String.self, forKey: Key("test_type"))
        target = try c.decode(String.self, forKey: Key("target"))
        resolvedAddress = try c.decodeIfPresent(String.self, forKey: Key("resolved_address"))
        // Empty means none (a stored result always lists the field).
        protocolDetail = try c.decodeIfPresent(String.self, forKey: Key("protocol_detail")).flatMap { $0.isEmpty ? nil : $0 }
        outcome = try c.decode(String.self, forKey: Key("outcome"))
        success = try c.decode(Bool.self, forKey: Key("success"))
        createdAt = try c.decodeIfPresent(Int64.self, forKey: Key("created_at"))
        sent = try c.decodeIfPresent(Int64.self, forKey: Key("sent"))
        received = try c.decodeIfPresent(Int64.self, forKey: Key("received"))
        deviceID = try c.decodeIfPresent(Int64.self, forKey: Key("device_id"))
        if let id = try c.decodeIfPresent(Int64.self, forKey: Key("id")) {
            stored = Stored(id: id, userID: try c.decodeIfPresent(Int64.self, forKey: Key("user_id")),
                            ouID: try c.decodeIfPresent(Int64.self, forKey: Key("ou_id")))
        }
        metrics = [:]
        for key in c.allKeys where !Self.fixedKeys.contains(key.stringValue) {
            guard catalog.storedMetric(named: key.stringValue) != nil else {
                throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: "unknown field '\(key.stringValue)'")
            }
            if let v = try c.decodeIfPresent(Double.self, forKey: key) { metrics[key.stringValue] = v }
        }
        let raw = try c.decodeIfPresent(Raw.self, forKey: Key("raw"))
        details = raw?.details ?? [:]
        hops = raw?.hops ?? []
    }

    /// Metrics in catalog order, so the document reads the same every time.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        try c.encode(testType, forKey: Key("test_type"))
        try c.encode(target, forKey: Key("target"))
        try c.encodeIfPresent(resolvedAddress, forKey: Key("resolved_address"))
        try c.encodeIfPresent(protocolDetail, forKey: Key("protocol_detail"))
        try c.encode(outcome, forKey: Key("outcome"))
        try c.encode(success, forKey: Key("success"))
        try c.encodeIfPresent(createdAt, forKey: Key("created_at"))
        try c.encodeIfPresent(sent, forKey: Key("sent"))
        try c.encodeIfPresent(received, forKey: Key("received"))
        try c.encodeIfPresent(deviceID, forKey: Key("device_id"))
        if let stored {
            try c.encode(stored.id, forKey: Key("id"))
            try c.encodeIfPresent(stored.userID, forKey: Key("user_id"))
            try c.encodeIfPresent(stored.ouID, forKey: Key("ou_id"))
        }
        for metric in KindCatalog.builtIn.storedMetrics {
            if let v = metrics[metric.name] { try c.encode(v, forKey: Key(metric.name)) }
        }
        if !details.isEmpty || !hops.isEmpty {
            try c.encode(Raw(details: details.isEmpty ? nil : details, hops: hops.isEmpty ? nil : hops), forKey: Key("raw"))
        }
    }
}
