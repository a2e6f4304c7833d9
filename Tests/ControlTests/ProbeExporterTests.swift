@testable import Control
import Engine
import Foundation
import HTTPTypes
import Testing

/// `/probe` (blackbox_exporter's interface) and `/metrics`, against the live server on
/// loopback. (A real Prometheus and blackbox_exporter scrape both in Tests/prometheus/scrape.py.)
@Suite("probe exporter and metrics", .serialized)
struct ProbeExporterTests {
    /// `name value` lines of an exposition, labels included in the name.
    static func samples(_ text: String) -> [String: Double] {
        var out: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " ") else { continue }
            out[String(line[..<space])] = Double(line[line.index(after: space)...])
        }
        return out
    }

    @Test("the target policy sees the IPv4 address inside NAT64, IPv4-compatible and 6to4 addresses")
    func embeddedIPv4() {
        let policy = TargetPolicy(protected: TargetPolicy.defaultProtected(own: []))
        for (text, rule) in [("64:ff9b::a00:5", "private"), ("64:ff9b::7f00:1", "loopback"), ("::a9fe:a9fe", "link-local"),
                             ("2002:c0a8:0101::1", "private"), ("::ffff:10.0.0.1", "private")] {
            #expect(policy.refusal(IPAddress(text)!, port: 80)?.rule == rule, "\(text)")
        }
        for text in ["64:ff9b::808:808", "2002:0808:0808::1", "2001:db8::1"] {
            #expect(policy.refusal(IPAddress(text)!, port: 80) == nil, "\(text)")
        }
    }

    @Test("module files: blackbox's format and defaults, our extensions, errors that name the key")
    func moduleFiles() throws {
        let modules = try ProbeModule.parse("""
            modules:
              http_2xx:
                prober: http
                timeout: 5s
                http: {valid_status_codes: [200, 204], method: HEAD, preferred_ip_protocol: ip4, ip_protocol_fallback: false, version: "3"}
              tcp_connect: {prober: tcp}
              icmp_many: {prober: icmp, timeout: 3s, icmp: {count: 5, interval: 200ms, payload_size: 100, ttl: 32}}
              dns_udp: {prober: dns, dns: {query_name: example.org}}
            """)
        #expect(modules["http_2xx"]?.validStatusCodes == [200, 204] && modules["http_2xx"]?.method == "HEAD")
        #expect(modules["http_2xx"]?.family == .ipv4 && modules["http_2xx"]?.httpVersion == .http3)
        #expect(modules["tcp_connect"]?.timeout == .zero)
        let icmp = try #require(modules["icmp_many"])
        #expect(icmp.count == 5 && icmp.interval == .milliseconds(200) && icmp.payloadSize == 100 && icmp.ttl == 32)
        // Five packets 200 ms apart in 3 s: each waits up to 3000 - 800 ms.
        let spec = try icmp.check(target: "127.0.0.1", timeout: .seconds(3))
        #expect(spec.count == 5 && spec.intervalMilliseconds == 200 && spec.timeoutMilliseconds == 2200)
        #expect(throws: ConfigurationError.self) { try icmp.check(target: "127.0.0.1", timeout: .milliseconds(700)) }
        #expect(modules["dns_udp"]?.prober == .dns)
        for (yaml, field) in [
            ("modules: {a: {prober: http, http: {bogus: 1}}}", "modules.a.http.bogus"),
            ("modules: {a: {prober: tcp, tcp: {tls: true}}}", "modules.a.tcp.tls"),
            ("modules: {a: {prober: grpc}}", "modules.a.prober"),
            ("modules: {a: {prober: icmp, icmp: {count: 0}}}", "modules.a.icmp.count"),
            ("modules: {a: {prober: icmp, timeout: soon}}", "modules.a.timeout"),
            ("modules: {a: {prober: icmp, http: {}}}", "modules.a.http"),
        ] {
            do {
                _ = try ProbeModule.parse(yaml)
                Issue.record("accepted: \(yaml)")
            } catch {
                #expect(error.field == field, "\(yaml): \(error)")
            }
        }
    }

    @Test("/probe: blackbox's names and answers; several ICMP packets; loss against a target nobody answers; dns is 501")
    func probe() async throws {
        var hopLimited = ProbeModule(name: "icmp_ttl1", prober: .icmp, timeout: .seconds(5))
        hopLimited.count = 10
        hopLimited.interval = .milliseconds(100)
        hopLimited.ttl = 1
        try await APIHarness.run(testing: .live, configure: { $0.probeModules["icmp_ttl1"] = hopLimited }) { c in
            let health = "http://127.0.0.1:\(c.port)/health"
            let http = try await c.call(.get, "/probe?module=http_2xx&target=\(health)")
            #expect(http.status == 200 && http.headers[.contentType] == "text/plain; version=0.0.4; charset=utf-8")
            let h = Self.samples(http.text)
            #expect(h["probe_success"] == 1 && h["probe_http_status_code"] == 200 && h["probe_http_version"] == 1.1, "\(http.text)")
            #expect(h["probe_ip_protocol"] == 4 && h["probe_http_ssl"] == 0 && h["probe_http_content_length"] == 15)
            for phase in ["resolve", "connect", "tls", "processing", "transfer"] {
                #expect(h["probe_http_duration_seconds{phase=\"\(phase)\"}"] != nil, "\(phase)")
            }
            #expect((h["probe_duration_seconds"] ?? 0) > 0)
            // A status outside 2xx fails the module, as in blackbox.
            let missing = Self.samples(try await c.call(.get, "/probe?module=http_2xx&target=http://127.0.0.1:\(c.port)/nowhere").text)
            #expect(missing["probe_success"] == 0 && missing["probe_http_status_code"] == 404)

            let icmp = Self.samples(try await c.call(.get, "/probe?module=icmp_loss&target=127.0.0.1").text)
            #expect(icmp["probe_icmp_packets_sent"] == 10 && icmp["probe_icmp_packets_received"] == 10 && icmp["probe_icmp_packet_loss_ratio"] == 0)
            #expect(icmp["probe_icmp_rtt_seconds{quantile=\"0.5\"}"] != nil && icmp["probe_icmp_jitter_seconds"] != nil)
            #expect(icmp["probe_icmp_reply_hop_limit"] == 64)
            // Sent with TTL 1 to a host beyond this one (TEST-NET-2): no echo reply can come back
            // (the first router answers time-exceeded, or there is no route), so all ten are lost.
            let silent = try await c.call(.get, "/probe?module=icmp_ttl1&target=198.51.100.1",
                                          headers: [ProbeController.scrapeTimeoutHeader: "2"])
            let s = Self.samples(silent.text)
            #expect(s["probe_success"] == 0 && s["probe_icmp_packets_received"] == 0 && s["probe_icmp_packet_loss_ratio"] == 1, "\(silent.text)")
            // The scrape's timeout (2 s less half a second) bounds the probe.
            #expect((s["probe_duration_seconds"] ?? 9) < 1.9, "\(silent.text)")

            let tcp = Self.samples(try await c.call(.get, "/probe?module=tcp_connect&target=127.0.0.1:\(c.port)").text)
            #expect(tcp["probe_success"] == 1 && tcp["probe_failed_due_to_regex"] == 0)
            let unresolved = Self.samples(try await c.call(.get, "/probe?module=icmp&target=no-such-host.invalid").text)
            #expect(unresolved["probe_success"] == 0 && unresolved["probe_ip_protocol"] == 0)

            let unknown = try await c.call(.get, "/probe?module=nope&target=127.0.0.1")
            #expect(unknown.status == 400 && unknown.text.contains("unknown module 'nope'"))
            let noTarget = try await c.call(.get, "/probe?module=icmp")
            #expect(noTarget.status == 400 && noTarget.text.contains("target: is required"), "\(noTarget.text)")
            // A forwarded request is not local, whatever it claims (a proxy on this host, or a
            // client writing the header itself): it needs a credential.
            let forwarded = try await c.call(.get, "/probe?module=icmp&target=127.0.0.1",
                                             headers: [HTTPField.Name("Forwarded")!: "for=127.0.0.1"])
            #expect(forwarded.status == 401, "\(forwarded.text)")
            #expect(try await c.call(.get, "/metrics", headers: [HTTPField.Name("X-Forwarded-For")!: "127.0.0.1"]).status == 401)
            // An absurd scrape timeout is clamped, not a crash.
            let huge = try await c.call(.get, "/probe?module=icmp&target=127.0.0.1", headers: [ProbeController.scrapeTimeoutHeader: "1e16"])
            #expect(huge.status == 200 && Self.samples(huge.text)["probe_success"] == 1)
            // No module named: blackbox's default, http_2xx.
            #expect(Self.samples(try await c.call(.get, "/probe?target=\(health)").text)["probe_http_status_code"] == 200)
        }
        try await APIHarness.run(testing: .live, configure: {
            $0.probeModules["dns_udp"] = ProbeModule(name: "dns_udp", prober: .dns, timeout: .seconds(5))
        }) { c in
            let dns = try await c.call(.get, "/probe?module=dns_udp&target=127.0.0.1")
            #expect(dns.status == 501 && dns.text.contains("dns prober"), "\(dns.text)")
        }
    }

    @Test("/probe and /metrics access: authenticated mode asks everyone, the policy follows the credential")
    func access() async throws {
        try await APIHarness.run(testing: .live, configure: { $0.probeAccess = .authenticated }) { c in
            let admin = try await c.adminToken()
            _ = try await c.createUser("plain", role: .user, ou: nil, token: admin)
            let user = try await c.token("plain", "Sturdy-Walrus-17")
            #expect(try await c.call(.get, "/probe?module=icmp&target=127.0.0.1").status == 401)
            #expect(try await c.call(.get, "/metrics").status == 401)
            #expect(Self.samples(try await c.call(.get, "/probe?module=icmp&target=127.0.0.1", token: admin).text)["probe_success"] == 1)
            let refused = try await c.call(.get, "/probe?module=icmp&target=127.0.0.1", token: user)
            #expect(refused.status == 403 && refused.json["error"] as? String == "target_refused", "\(refused.text)")
            #expect(try await c.call(.get, "/metrics", token: user).status == 403)
            #expect(try await c.call(.get, "/metrics", token: admin).status == 200)
        }
    }

    @Test("/metrics counts requests by route, tests, probes, committed rows and batches, ring time")
    func metrics() async throws {
        try await APIHarness.run(testing: .live) { c in
            let admin = try await c.adminToken()
            let created = try await c.call(.post, "/api/v1/tests", token: admin,
                                           json: ["kind": "icmp", "target": "127.0.0.1", "count": 20, "interval_ms": 10])
            let id = created.json["id"] as? String ?? ""
            _ = try await TestServerTests.waitFinished(c, id, token: admin)
            _ = try await c.call(.get, "/probe?module=icmp&target=127.0.0.1")
            for _ in 0..<2 { _ = try await c.call(.get, "/api/v1/results?limit=5", token: admin) }
            let reply = try await c.call(.get, "/metrics")
            #expect(reply.status == 200)
            let m = Self.samples(reply.text)
            #expect(m["waddleperf_tests_started_total"] == 1 && m["waddleperf_test_probes_total"] == 20, "\(reply.text)")
            #expect(m["waddleperf_probe_requests_total"] == 1)
            #expect((m["waddleperf_writer_committed_rows_total"] ?? 0) >= 1 && (m["waddleperf_writer_batch_rows_count"] ?? 0) >= 1)
            #expect(m["http_server_requests_total{route=\"/api/v1/tests\",method=\"POST\",status=\"202\"}"] == 1, "\(reply.text)")
            #expect(m["http_server_requests_total{route=\"/api/v1/tests/{test_id}\",method=\"GET\",status=\"200\"}"] ?? 0 >= 1,
                    "\(m.keys.filter { $0.contains("tests") })")
            #expect((m["waddleperf_ring_busy_seconds_total"] ?? 0) > 0 && (m["waddleperf_ring_wait_seconds_total"] ?? 0) > 0)
            #expect((m["waddleperf_db_wait_seconds_count"] ?? 0) > 0)
            #expect(m["waddleperf_tests_running"] == 0)
            // The second page was sent as rendered; the test and the scrape each started on a ring.
            #expect(m["waddleperf_result_pages_total{outcome=\"cached\"}"] == 1 && m["waddleperf_result_pages_total{outcome=\"rendered\"}"] == 1,
                    "\(m.filter { $0.key.contains("pages") })")
            #expect((m["waddleperf_ring_setups_total{outcome=\"reused\"}"] ?? 0) + (m["waddleperf_ring_setups_total{outcome=\"created\"}"] ?? 0) >= 2)
            // Every family has its help text.
            let types = reply.text.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }.count
            let helps = reply.text.split(separator: "\n").filter { $0.hasPrefix("# HELP ") }.count
            #expect(types > 0 && types == helps)
        }
    }
}
