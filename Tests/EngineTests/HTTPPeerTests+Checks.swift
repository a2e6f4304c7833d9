@testable import Engine
import Foundation
import ProbeModel
import Testing

/// A mixed list of checks on one ring thread: ICMP, TCP, UDP and HTTP at once, each with its
/// own parameters, against real peers (the echo responder, nginx).
extension HTTPPeerTests {
    @Test(.enabled(if: isPrivileged || mustBePrivileged))
    func aMixedListRunsOnOneThreadWithOneDocumentPerCheck() async throws {
        var config = EchoServer.Configuration()
        config.tcpPort = 0
        config.udpPort = 0
        config.udpDropEvery = 5
        let echo = try EchoServer(config)
        try echo.start()
        defer { echo.stop() }
        var head = HTTPParameters()
        head.method = "HEAD"
        var strict = HTTPParameters()
        strict.expectStatus = [201, 204]
        let checks = [
            ProbeSpec(kind: "icmp", target: "127.0.0.1", count: 4, intervalMilliseconds: 5,
                      parameters: .icmp(ICMPParameters(size: 200, ttl: 9))),
            ProbeSpec(kind: "tcp", target: "127.0.0.1:\(echo.tcpPort!)", count: 3, intervalMilliseconds: 5,
                      parameters: .tcp(TCPParameters(send: 64, expect: 64))),
            ProbeSpec(kind: "tcp", target: "127.0.0.1:\(echo.tcpPort!)", count: 2, intervalMilliseconds: 5),
            ProbeSpec(kind: "udp", target: "127.0.0.1:\(echo.udpPort!)", count: 10, intervalMilliseconds: 2,
                      timeoutMilliseconds: 300),
            ProbeSpec(kind: "http", target: peers.url("PLAIN", "/small"), count: 2, intervalMilliseconds: 5,
                      timeoutMilliseconds: 3000, parameters: .http(head)),
            ProbeSpec(kind: "http", target: peers.url("PLAIN", "/small"), count: 2, intervalMilliseconds: 5,
                      timeoutMilliseconds: 3000, parameters: .http(strict)),
            ProbeSpec(kind: "tcp", target: "nosuchhost.invalid:80", count: 2, intervalMilliseconds: 5),
        ]
        let report = try await CheckRun(checks).run()
        #expect(report.threads == 1 && report.documents.count == checks.count)
        let d = report.documents
        #expect(d.map(\.testType) == ["icmp", "tcp", "tcp", "udp", "http", "http", "tcp"])
        // ICMP: every echo answered; its TTL parameter reached the wire (the reply's TTL is the
        // loopback's own 64, but a request with TTL 9 still arrives on loopback).
        #expect(d[0].success && d[0].sent == 4 && d[0].received == 4 && d[0].metrics["latency_ms"] != nil)
        // TCP with a payload round trip: ttfb and total are measured; without one they are not.
        #expect(d[1].success && d[1].received == 3 && d[1].metrics["ttfb_ms"] != nil && d[1].metrics["total_ms"] != nil)
        #expect(d[2].success && d[2].received == 2 && d[2].metrics["ttfb_ms"] == nil && d[2].metrics["connect_ms"] != nil)
        // UDP: the responder drops every 5th datagram: 2 of 10 lost, counted as loss.
        #expect(d[3].sent == 10 && d[3].received == 8 && d[3].metrics["loss_percent"] == 20, "\(d[3])")
        // HTTP: HEAD accepted; a check that accepts only 201-204 fails on nginx's 200 with `status`.
        #expect(d[4].success && d[4].received == 2 && d[4].details["status"] == .number(200))
        #expect(!d[5].success && d[5].outcome == "status" && d[5].metrics["loss_percent"] == 100)
        // HTTP's latency is its total: the summary and the phase mean are one figure.
        #expect(d[4].metrics["total_ms"] != nil && d[4].metrics["latency_ms"] == d[4].metrics["total_ms"])
        // A name that does not resolve is its check's outcome; the rest ran.
        #expect(!d[6].success && d[6].outcome == "unresolved" && d[6].sent == 2 && d[6].resolvedAddress == nil)
        // Every document is what the upload accepts: its keys are declared.
        let declared = Set(KindCatalog.builtIn.storedMetrics.map(\.name))
        for doc in d { #expect(Set(doc.metrics.keys).isSubset(of: declared)) }
        let again = try JSONDecoder().decode([ResultDocument].self, from: JSONEncoder().encode(d))
        #expect(again == d)
    }

    @Test func badChecksAreRefusedNamingTheFieldByItsPlace() throws {
        #expect(throws: ConfigurationError(field: "checks[1].count", "must be 1-100000, got 0")) {
            try CheckRun([ProbeSpec(kind: "icmp", target: "127.0.0.1"), ProbeSpec(kind: "tcp", target: "a:1", count: 0)])
        }
        #expect(throws: ConfigurationError.self) { try CheckRun([]) }
    }
}
