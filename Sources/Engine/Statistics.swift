import Histogram

/// Latency statistics over a series of samples (nanoseconds): exact
/// min/max/mean/stddev (Welford), percentiles from an HdrHistogram with three
/// significant digits, and jitter under explicit names.
public struct LatencyStatistics: Sendable {
    /// Up to this many samples are kept exactly (percentiles by nearest
    /// rank); beyond it they move into an HdrHistogram. A sweep of 65,536
    /// targets with a few probes each must not allocate a histogram per target.
    public static let exactSampleLimit = 256

    private var samples: [UInt64] = []
    public private(set) var histogram: Histogram<UInt64>? = nil
    public private(set) var count: UInt64 = 0
    public private(set) var minimum: UInt64 = .max
    public private(set) var maximum: UInt64 = 0
    private var mean_: Double = 0
    private var m2: Double = 0
    private var previous: UInt64? = nil
    private var rfc3550: Double = 0
    private var absoluteDifferenceSum: Double = 0
    private var differenceCount: UInt64 = 0
    /// The RFC 3550 estimator is a running filter over one series: it cannot
    /// be merged, so a merged statistic does not report it.
    private var isMerged = false

    public init() {}

    static func makeHistogram() -> Histogram<UInt64> {
        Histogram(lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000_000,
                  numberOfSignificantValueDigits: .three)
    }

    private mutating func store(_ value: UInt64) {
        if histogram == nil && samples.count < Self.exactSampleLimit {
            samples.append(value)
            return
        }
        if histogram == nil {
            var h = Self.makeHistogram()
            for v in samples { _ = h.record(Swift.max(v, 1)) }
            samples = []
            histogram = h
        }
        _ = histogram!.record(Swift.max(value, 1))
    }

    /// Records one sample, in arrival order (the order jitter is defined on).
    public mutating func record(_ nanoseconds: UInt64) {
        store(nanoseconds)
        count += 1
        minimum = Swift.min(minimum, nanoseconds)
        maximum = Swift.max(maximum, nanoseconds)
        let x = Double(nanoseconds)
        let delta = x - mean_
        mean_ += delta / Double(count)
        m2 += delta * (x - mean_)
        if let previous {
            let d = abs(x - Double(previous))
            // RFC 3550 §6.4.1: J(i) = J(i-1) + (|D(i-1,i)| - J(i-1)) / 16, where
            // D is the difference of transit times; for round trips, of RTTs.
            rfc3550 += (d - rfc3550) / 16
            absoluteDifferenceSum += d
            differenceCount += 1
        }
        previous = nanoseconds
    }

    public var mean: Double? { count > 0 ? mean_ : nil }
    /// Population standard deviation.
    public var standardDeviation: Double? { count > 0 ? (m2 / Double(count)).squareRoot() : nil }
    /// RFC 3550 interarrival jitter estimator (1/16 gain) over consecutive samples.
    public var jitterRFC3550: Double? { differenceCount > 0 && !isMerged ? rfc3550 : nil }
    /// Mean of absolute differences between consecutive samples.
    public var jitterMeanAbsoluteDifference: Double? {
        differenceCount > 0 ? absoluteDifferenceSum / Double(differenceCount) : nil
    }
    public var min: UInt64? { count > 0 ? minimum : nil }
    public var max: UInt64? { count > 0 ? maximum : nil }

    /// Percentile (0-100): the smallest recorded value at or below which at
    /// least that share of samples fall (nearest rank). Exact while samples
    /// are kept, within the HdrHistogram's 0.1% precision after that.
    public func percentile(_ p: Double) -> UInt64? {
        guard count > 0 else { return nil }
        if let histogram { return histogram.valueAtPercentile(p) }
        if samples.count == 1 { return samples[0] }  // a sweep's one probe per target: no copy to sort
        let sorted = samples.sorted()
        let rank = Int((p / 100 * Double(sorted.count)).rounded(.up))
        return sorted[Swift.min(Swift.max(rank, 1), sorted.count) - 1]
    }

    /// Merges another series (another target or thread). The mean absolute
    /// difference merges as a mean over all consecutive pairs; the RFC 3550
    /// estimator does not merge and is reported as absent afterwards.
    public mutating func absorb(_ other: LatencyStatistics) {
        guard other.count > 0 else { return }
        guard count > 0 else { self = other; return }
        if histogram == nil && other.histogram == nil && samples.count + other.samples.count <= Self.exactSampleLimit {
            samples += other.samples
        } else {
            if histogram == nil {
                var h = Self.makeHistogram()
                for v in samples { _ = h.record(Swift.max(v, 1)) }
                samples = []
                histogram = h
            }
            if let oh = other.histogram { histogram!.add(oh) }
            else { for v in other.samples { _ = histogram!.record(Swift.max(v, 1)) } }
        }
        let n = Double(count), m = Double(other.count)
        let delta = other.mean_ - mean_
        mean_ += delta * m / (n + m)
        m2 += other.m2 + delta * delta * n * m / (n + m)
        count += other.count
        minimum = Swift.min(minimum, other.minimum)
        maximum = Swift.max(maximum, other.maximum)
        absoluteDifferenceSum += other.absoluteDifferenceSum
        differenceCount += other.differenceCount
        isMerged = true
    }
}

/// Counters and latency for one target, or for a whole run.
public struct ProbeSummary: Sendable {
    public var sent: UInt64 = 0
    public var received: UInt64 = 0
    public var duplicates: UInt64 = 0
    public var reordered: UInt64 = 0
    public var timeouts: UInt64 = 0
    public var refused: UInt64 = 0
    public var unreachable: UInt64 = 0
    public var errors: UInt64 = 0
    /// Probes of a target whose name did not resolve.
    public var unresolved: UInt64 = 0
    public var lastTTL: Int16 = -1
    public var latency = LatencyStatistics()
    /// Phases after the first, for kinds with several (e.g. TCP ttfb, total);
    /// like the first, recorded for successful probes only.
    public var secondaryPhases: [LatencyStatistics] = []

    public init() {}

    public var lost: UInt64 { sent - received }
    public var lossPercent: Double { sent == 0 ? 0 : Double(lost) * 100 / Double(sent) }

    public mutating func record(_ result: ProbeResult) {
        sent += 1
        switch result.outcome {
        case .success:
            received += 1
            if let v = result.phases.0 { latency.record(v) }
            if let v = result.phases.1 { recordSecondary(0, v) }
            if let v = result.phases.2 { recordSecondary(1, v) }
            if result.ttl >= 0 { lastTTL = result.ttl }
        case .timeout: timeouts += 1
        case .refused: refused += 1
        case .unreachable: unreachable += 1
        case .error: errors += 1
        case .unresolved: unresolved += 1
        }
    }

    private mutating func recordSecondary(_ index: Int, _ value: UInt64) {
        while secondaryPhases.count <= index { secondaryPhases.append(LatencyStatistics()) }
        secondaryPhases[index].record(value)
    }

    public mutating func absorb(_ other: ProbeSummary) {
        sent += other.sent
        received += other.received
        duplicates += other.duplicates
        reordered += other.reordered
        timeouts += other.timeouts
        refused += other.refused
        unreachable += other.unreachable
        errors += other.errors
        unresolved += other.unresolved
        if other.lastTTL >= 0 { lastTTL = other.lastTTL }
        latency.absorb(other.latency)
        for (i, s) in other.secondaryPhases.enumerated() {
            while secondaryPhases.count <= i { secondaryPhases.append(LatencyStatistics()) }
            secondaryPhases[i].absorb(s)
        }
    }
}
