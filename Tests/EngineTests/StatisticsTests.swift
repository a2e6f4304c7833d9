@testable import Engine
import Testing

@Suite struct StatisticsTests {
    @Test func exactSeries() {
        var l = LatencyStatistics()
        for v in 1...10 { l.record(UInt64(v) * 1000) }
        #expect(l.count == 10 && l.min == 1000 && l.max == 10_000)
        #expect(l.mean == 5500)
        #expect(abs(l.standardDeviation! - 2872.281323) < 0.001)  // population σ of 1..10 × 1000
        #expect(l.percentile(50) == 5000)   // nearest rank: ceil(0.5 × 10) = 5th
        #expect(l.percentile(90) == 9000)
        #expect(l.percentile(99) == 10_000)
        #expect(l.percentile(0) == 1000)
        #expect(l.jitterMeanAbsoluteDifference == 1000)
        // RFC 3550: J starts at 0 and moves 1/16 of the way to |D| = 1000 nine times.
        let expected = 1000 * (1 - pow(15.0 / 16.0, 9))
        #expect(abs(l.jitterRFC3550! - expected) < 1e-6)
    }

    @Test func threeJitterDefinitionsDiffer() {
        var l = LatencyStatistics()
        for v: UInt64 in [10, 20, 10, 20, 10] { l.record(v * 1000) }
        #expect(l.jitterMeanAbsoluteDifference == 10_000)
        #expect(abs(l.standardDeviation! - 4898.979486) < 0.001)
        let j = (1...4).reduce(0.0) { j, _ in j + (10_000 - j) / 16 }
        #expect(abs(l.jitterRFC3550! - j) < 1e-6)
    }

    @Test func histogramBeyondExactLimit() {
        var l = LatencyStatistics()
        for v in 1...10_000 { l.record(UInt64(v) * 1000) }  // 1 µs ... 10 ms
        #expect(l.histogram != nil)
        func near(_ a: UInt64?, _ b: Double) -> Bool { abs(Double(a!) - b) / b < 0.001 }
        #expect(near(l.percentile(50), 5_000_000))
        #expect(near(l.percentile(90), 9_000_000))
        #expect(near(l.percentile(99), 9_900_000))
        #expect(l.max == 10_000_000 && l.min == 1000)
        #expect(l.mean == 5_000_500)
    }

    @Test func mergeKeepsMeanAndDropsRFC3550() {
        var a = LatencyStatistics(), b = LatencyStatistics(), all = LatencyStatistics()
        for v: UInt64 in [1, 2, 3, 4] { a.record(v); all.record(v) }
        for v: UInt64 in [10, 20, 30] { b.record(v); all.record(v) }
        a.absorb(b)
        #expect(a.count == 7 && a.min == 1 && a.max == 30)
        #expect(abs(a.mean! - all.mean!) < 1e-9)
        #expect(abs(a.standardDeviation! - all.standardDeviation!) < 1e-9)
        #expect(a.percentile(50) == all.percentile(50))
        #expect(a.jitterRFC3550 == nil)
        #expect(a.jitterMeanAbsoluteDifference == (3.0 + 20.0) / 5.0)
    }

    @Test func failuresCountAsLossNotLatency() {
        var s = ProbeSummary()
        s.record(ProbeResult(target: 0, sequence: 0, outcome: .success, phases: (1000, nil, nil)))
        s.record(ProbeResult(target: 0, sequence: 1, outcome: .timeout))
        s.record(ProbeResult(target: 0, sequence: 2, outcome: .refused))
        s.record(ProbeResult(target: 0, sequence: 3, outcome: .unreachable(type: 3, code: 1)))
        #expect(s.sent == 4 && s.received == 1 && s.lost == 3 && s.lossPercent == 75)
        #expect(s.latency.count == 1 && s.timeouts == 1 && s.refused == 1 && s.unreachable == 1)
    }
}

import Foundation
