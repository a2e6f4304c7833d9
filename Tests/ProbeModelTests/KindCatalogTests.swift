import ProbeModel
import Testing

@Suite struct KindCatalogTests {
    @Test func builtInStoredMetricsAreTheSummaryThenEachStoredPhaseAndMetricOnce() {
        let names = KindCatalog.builtIn.storedMetrics.map(\.name)
        #expect(names == ["loss_percent", "latency_ms", "min_ms", "max_ms", "p50_ms", "p99_ms", "jitter_ms", "stddev_ms",
                          "connect_ms", "ttfb_ms", "total_ms", "dns_ms", "tls_ms", "quic_handshake_ms", "transfer_ms",
                          "throughput_mbps"])
        // ICMP's and UDP's rtt is the latency itself: no rtt_ms column.
        #expect(!names.contains("rtt_ms"))
        #expect(Set(names).count == names.count)
        #expect(KindCatalog.builtIn.testTypes == ["icmp", "tcp", "udp", "http"])
        #expect(KindCatalog.builtIn.statisticMetrics.contains("quic_handshake_ms"))
        #expect(!KindCatalog.builtIn.statisticMetrics.contains("min_ms"))
        #expect(KindDeclaration.http.latencyPhase.name == "total")
        #expect(KindDeclaration.tcp.latencyPhase.name == "connect")
    }

    @Test func aNewKindsFieldsAppearInEveryDerivedList() {
        let probe = KindDeclaration(name: "testkind", summary: "test only", defaultPort: 9,
                                    phases: [ResultField("wait", .nanoseconds, "w"), ResultField("answer", .nanoseconds, "a")],
                                    metrics: [ResultField("answers", .count, "n")])
        let catalog = KindCatalog(KindCatalog.builtIn.kinds + [probe])
        #expect(catalog.testTypes.last == "testkind")
        let names = catalog.storedMetrics.map(\.name)
        #expect(names.suffix(3) == ["wait_ms", "answer_ms", "answers"])
        #expect(catalog.statisticMetrics.contains("answer_ms"))
    }
}
