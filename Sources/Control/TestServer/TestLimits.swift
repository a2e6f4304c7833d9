import Engine
import Foundation

/// How much the test server runs for whom. Two kinds of bound:
///
/// - **What one test may be** (probes, rate, duration): an ordinary user's test stays within
///   `ordinary`; a larger one is a load test and needs `tests:bench` (403 without it), up to
///   `bench` (422 beyond: no wait or permission makes it fit).
/// - **What may run at once** (tests, probes a second; per caller and in all): a test that
///   would pass them waits its turn, answered 429 with Retry-After: when the caller's (or the
///   server's) earliest running test should end.
public struct TestLimits: Sendable, Equatable {
    public struct PerTest: Sendable, Equatable {
        /// Probes in one test (`count`).
        public var probes: Int
        /// Probes a second one test sends (1000 / `interval_ms`; `interval_ms: 0` sends the
        /// whole count at once, `count` a second).
        public var rate: Double
        /// How long one test may take: (count − 1) × interval + timeout.
        public var duration: Duration

        public init(probes: Int, rate: Double, duration: Duration) {
            self.probes = probes
            self.rate = rate
            self.duration = duration
        }
    }

    public var ordinary = PerTest(probes: 1000, rate: 10, duration: .seconds(600))
    public var bench = PerTest(probes: 100_000, rate: 10_000, duration: .seconds(3600))
    /// Tests running at once: one caller's, and the server's.
    public var runningPerUser = 4
    public var running = 64
    /// Probes a second of running tests: one caller's (bench holders: `bench.rate`), the server's.
    public var ratePerUser: Double = 50
    public var rate: Double = 50_000
    /// Finished tests kept for `GET /api/v1/tests` (their results stay in the store).
    public var kept = 1000

    public init() {}

    /// The probes a second `spec` sends.
    static func rate(of spec: ProbeSpec) -> Double {
        spec.intervalMilliseconds == 0 ? Double(spec.count) : 1000 / Double(spec.intervalMilliseconds)
    }

    /// How long `spec` takes at most.
    static func duration(of spec: ProbeSpec) -> Duration {
        .milliseconds(max(0, spec.count - 1) * spec.intervalMilliseconds + spec.timeoutMilliseconds)
    }

    /// The first per-test bound `spec` passes in `tier`: (field, message).
    static func excess(_ spec: ProbeSpec, _ tier: PerTest) -> (field: String, message: String)? {
        if spec.count > tier.probes { return ("count", "\(spec.count) probes; at most \(tier.probes)") }
        let rate = rate(of: spec)
        if rate > tier.rate {
            return ("interval_ms", "\(spec.intervalMilliseconds) ms sends \(Self.format(rate)) probes a second; at most \(Self.format(tier.rate))")
        }
        let duration = duration(of: spec)
        if duration > tier.duration {
            return ("count", "the test would take \(duration.inSeconds) s; at most \(tier.duration.inSeconds) s")
        }
        return nil
    }

    static func format(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(format: "%.2f", value)
    }
}
