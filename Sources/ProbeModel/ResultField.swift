/// One named value a probe kind produces. Declared once per kind
/// (`KindDeclaration`); the CLI's columns, the result document's keys, the
/// control plane's upload schema, its stored columns, the statistics `metric`
/// values and the OpenAPI document all derive from these declarations.
public struct ResultField: Sendable, Hashable {
    public enum Unit: String, Sendable, Hashable, Codable {
        /// A duration per probe; a result document stores its mean in milliseconds (`<name>_ms`).
        case nanoseconds
        case milliseconds
        /// 0...100.
        case percent
        /// Megabits per second.
        case megabitsPerSecond = "mbps"
        case count
        case bytes
        case text
    }

    public var name: String
    public var unit: Unit
    public var summary: String
    /// Phases only: whether the phase's mean has a stored metric of its own
    /// (`<name>_ms`). False for a phase that *is* the kind's latency (ICMP's
    /// `rtt`): `latency_ms` and its companions already summarise it.
    public var stored: Bool

    public init(_ name: String, _ unit: Unit, _ summary: String, stored: Bool = true) {
        self.name = name
        self.unit = unit
        self.summary = summary
        self.stored = stored
    }
}
