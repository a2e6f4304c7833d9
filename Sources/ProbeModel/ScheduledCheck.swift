/// A check an agent runs again and again: a `ProbeSpec` and how often. What a client
/// configuration's `checks` list and an agent's `--config` file hold.
///
/// JSON (the same keys in YAML): the check's own keys, plus `every_s` and `enabled`:
///
///     {"kind": "tcp", "target": "db.example.org:5432", "name": "db", "every_s": 30}
///
/// A run must fit in its interval (`(count - 1) × interval_ms + timeout_ms ≤ every_s`), so a
/// check never overlaps itself when its runs start on time.
public struct ScheduledCheck: Sendable, Hashable, Codable {
    public var spec: ProbeSpec
    /// Seconds between the starts of two runs.
    public var everySeconds: Double
    /// A disabled check stays in the configuration and does not run.
    public var enabled: Bool

    public static let everyRange = 1.0...86_400.0

    public init(_ spec: ProbeSpec, everySeconds: Double, enabled: Bool = true) {
        self.spec = spec
        self.everySeconds = everySeconds
        self.enabled = enabled
    }

    /// What identifies the check across configuration changes (its schedule offset and its
    /// bookkeeping): its name, else its kind and target.
    public var id: String { spec.name ?? "\(spec.kind) \(spec.target)" }

    public var everyMilliseconds: Int { Int((everySeconds * 1000).rounded()) }

    enum Keys: String, CodingKey, CaseIterable {
        case everySeconds = "every_s"
        case enabled
    }

    public init(from decoder: any Decoder) throws {
        spec = try ProbeSpec(from: decoder, alongside: Keys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: Keys.self)
        everySeconds = try c.decode(Double.self, forKey: .everySeconds)
        enabled = try c.decodeIfPresent(Bool.self, forKey: .enabled) ?? true
    }

    public func encode(to encoder: any Encoder) throws {
        try spec.encode(to: encoder)
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(everySeconds, forKey: .everySeconds)
        if !enabled { try c.encode(false, forKey: .enabled) }
    }

    /// The check's fields, then its schedule: `every_s` in range and long enough for one run.
    public func validate(in catalog: KindCatalog = .builtIn, path: String = "") throws(ConfigurationError) {
        try spec.validate(in: catalog, path: path)
        guard everySeconds.isFinite, Self.everyRange.contains(everySeconds) else {
            throw ConfigurationError(field: path + "every_s", "must be 1-86400 seconds, got \(everySeconds)")
        }
        guard spec.runMilliseconds <= everyMilliseconds else {
            throw ConfigurationError(field: path + "every_s", "a run takes up to \(spec.runMilliseconds) ms "
                                     + "((count - 1) × interval_ms + timeout_ms), longer than every_s (\(everyMilliseconds) ms)")
        }
    }

    /// Validates a list: each check, then that no two share an id (`checks[3].name`).
    public static func validate(_ checks: [ScheduledCheck], in catalog: KindCatalog = .builtIn, path: String = "checks") throws(ConfigurationError) {
        var seen: [String: Int] = [:]
        for (i, check) in checks.enumerated() {
            try check.validate(in: catalog, path: "\(path)[\(i)].")
            if let first = seen[check.id] {
                throw ConfigurationError(field: "\(path)[\(i)].name", "'\(check.id)' is also \(path)[\(first)]; give each check a distinct name")
            }
            seen[check.id] = i
        }
    }
}
