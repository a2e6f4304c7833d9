/// A number stored with every result document, as a column the control plane
/// can filter and aggregate: the common summary of the latency phase, each
/// stored phase's mean (`<phase>_ms`) and each kind metric. Derived from a
/// `KindCatalog`, never listed by hand.
public struct StoredMetric: Sendable, Hashable {
    /// JSON key and column name (`latency_ms`, `connect_ms`, `throughput_mbps`).
    public var name: String
    public var unit: ResultField.Unit
    public var summary: String
    /// Offered as a statistics `metric` (min/max of one result are not: the
    /// statistics' own min/max cover them).
    public var isStatistic: Bool
    /// Largest valid value, when there is one (a percentage).
    public var maximum: Double?

    public init(_ name: String, _ unit: ResultField.Unit, _ summary: String, isStatistic: Bool = true) {
        self.name = name
        self.unit = unit
        self.summary = summary
        self.isStatistic = isStatistic
        self.maximum = unit == .percent ? 100 : nil
    }

    /// Every kind's result carries these: loss, and the latency phase's summary.
    public static let summary: [StoredMetric] = [
        StoredMetric("loss_percent", .percent, "probes without a successful reply, of those sent"),
        StoredMetric("latency_ms", .milliseconds, "mean of the latency phase over successful probes"),
        StoredMetric("min_ms", .milliseconds, "fastest latency", isStatistic: false),
        StoredMetric("max_ms", .milliseconds, "slowest latency", isStatistic: false),
        StoredMetric("p50_ms", .milliseconds, "median latency"),
        StoredMetric("p99_ms", .milliseconds, "99th percentile latency"),
        StoredMetric("jitter_ms", .milliseconds, "mean absolute difference of consecutive latencies"),
        StoredMetric("stddev_ms", .milliseconds, "population standard deviation of the latency"),
    ]

    /// A phase's stored mean.
    public static func phaseMean(_ phase: ResultField) -> StoredMetric {
        StoredMetric(phase.name + "_ms", .milliseconds, "mean " + phase.summary)
    }
}
