@testable import Engine
import Foundation
import Synchronization
import Testing

/// HTTP/2 against real peers: nginx (h2 over TLS by ALPN, and h2c with prior
/// knowledge), nghttpd (h2c) and Tests/peers/h2misbehave.py (resets, GOAWAY,
/// silence, a close mid-body, a 50 ms first byte). In the HTTPPeerTests suite
/// so it runs in the HTTP peers' own test process.
extension HTTPPeerTests {
    func h2(count: Int = 1, timeout: UInt64 = 3_000_000_000) -> HTTPProbeSettings {
        settings(count: count, timeout: timeout, version: .http2)
    }

    @Test func http2GetOverH2cAndTLSReusesOneConnection() async throws {
        let before = LoopbackProbeTests.openSockets()
        let urls = [peers.url("H2C", "/small"), peers.url("NGHTTPD", "/100k.bin"),
                    peers.url("TLS", "/small", secure: true), peers.url("TLS", "/100k.bin", secure: true)]
        let r = try await probe(urls, h2(count: 3))
        #expect(r.count == 12)
        for x in r {
            #expect(x.outcome == .success && x.status == 200 && x.protocolName == "h2", "\(x)")
            #expect(x.bodyBytesIn == (x.target % 2 == 0 ? 12 : 100_000), "\(x)")
            #expect(x.headerBytesIn > 0 && x.headerBytesOut > 0)
            #expect(x.reused == (x.sequence > 0))
            #expect((x.connect != nil) == (x.sequence == 0))
            #expect((x.tls != nil) == (x.target >= 2 && x.sequence == 0))
            #expect(x.ttfb != nil && x.transfer != nil && x.total != nil)
            if x.target >= 2 { #expect(x.tlsDetails?.alpn == "h2" && x.tlsDetails?.verified == true) }
        }
        #expect(await LoopbackProbeTests.socketsSettle(atMost: before), "no socket leaked")
    }

    @Test func http2PostSendsTheBody() async throws {
        let body = Array(repeating: UInt8(ascii: "b"), count: 20_000)
        for url in [peers.url("H2C", "/post"), peers.url("TLS", "/post", secure: true)] {
            let r = try await probe([url], h2(), method: "POST", body: body)
            // nginx proxies to a location answering with the Content-Length it got: "20000\n".
            #expect(r[0].outcome == .success && r[0].status == 200 && r[0].bodyBytesIn == 6, "\(r[0])")
            #expect(r[0].bodyBytesOut == 20_000 && r[0].protocolName == "h2")
        }
        let wrongMethod = try await probe([peers.url("H2C", "/post")], h2())
        #expect(wrongMethod[0].outcome == .status(405))
    }

    @Test func http2StreamedBodiesAndRedirects() async throws {
        // A body streamed in three pieces 10 ms apart (nginx proxies a chunked upstream).
        let chunked = try await probe([peers.url("H2C", "/chunked"), peers.url("TLS", "/chunked", secure: true)], h2(count: 2))
        for x in chunked {
            #expect(x.outcome == .success && x.bodyBytesIn == "hello chunked world\n".utf8.count, "\(x)")
            #expect(x.transfer! >= 15_000_000)
        }
        let r = try await probe([peers.url("H2C", "/r1"), peers.url("TLS", "/r1", secure: true)], h2(count: 2))
        for x in r {
            #expect(x.outcome == .success && x.status == 200 && x.bodyBytesIn == 12, "\(x)")
            #expect(x.redirects.map(\.status) == [302, 301] && x.url.hasSuffix("/small"))
            #expect(x.total! >= x.redirects.reduce(0) { $0 + $1.total })
            // Same endpoint: every hop rides the one HTTP/2 connection.
            #expect(x.reused == (x.sequence > 0))
        }
    }

    @Test func http2FailuresAreOutcomes() async throws {
        let r = try await probe([peers.url("H2MISBEHAVE", "/rst"), peers.url("H2MISBEHAVE", "/goaway"),
                                 peers.url("H2MISBEHAVE", "/silent"), peers.url("H2MISBEHAVE", "/midbody"),
                                 peers.url("REFUSED", "/")], h2(timeout: 300_000_000))
        #expect(r[0].outcome == .streamReset(2) && r[0].failedPhase == .ttfb, "\(r[0])")
        #expect(r[0].message?.contains("INTERNAL_ERROR") == true)
        #expect(r[1].outcome == .goaway(11), "\(r[1])")
        #expect(r[1].message?.contains("ENHANCE_YOUR_CALM") == true)
        #expect(r[2].outcome == .timeout && r[2].failedPhase == .ttfb && r[2].connect != nil, "\(r[2])")
        #expect(r[3].outcome == .closed && r[3].failedPhase == .transfer && r[3].bodyBytesIn == 1000, "\(r[3])")
        #expect(r[4].outcome == .refused && r[4].failedPhase == .connect)
    }

    @Test func http2PhasesAddUpAndTheDelayIsInTTFB() async throws {
        let r = try await probe([peers.url("H2MISBEHAVE", "/slow"), peers.url("TLS", "/100k.bin", secure: true)],
                                h2(count: 3))
        for x in r {
            #expect(x.outcome == .success, "\(x)")
            let parts = (x.dns ?? 0) + (x.connect ?? 0) + (x.tls ?? 0) + x.ttfb! + x.transfer!
            #expect(parts <= x.total! && x.total! - parts < Self.unphasedSlack, "phases \(parts) vs total \(x.total!)")
            if x.target == 0 {
                #expect(x.ttfb! >= 50_000_000 && x.ttfb! < 80_000_000, "the 50 ms server delay is in ttfb: \(x.ttfb!)")
                #expect(x.transfer! < 20_000_000)
            }
        }
    }

    @Test func autoLetsALPNChoose() async throws {
        var s = settings()
        s.version = .auto
        let r = try await probe([peers.url("TLS", "/small", secure: true), peers.url("PLAIN", "/small")], s)
        #expect(r[0].outcome == .success && r[0].protocolName == "h2" && r[0].tlsDetails?.alpn == "h2", "\(r[0])")
        #expect(r[1].outcome == .success && r[1].protocolName == "http/1.1", "\(r[1])")
    }

    @Test func http2LoadRunsManyStreamsPerConnection() async throws {
        func bench(_ url: String, connections: Int = 4, streams: Int = 10, requests: Int? = 4_000,
                   duration: UInt64? = nil, timeout: UInt64 = 10_000_000_000) async throws -> HTTPBenchReport {
            var s = HTTPBenchSettings()
            s.version = .http2
            s.connections = connections
            s.streams = streams
            s.requests = requests
            s.duration = duration
            s.timeout = timeout
            s.threads = min(2, connections)
            s.tls.caFile = peers.ca
            return try await HTTPBenchRun(request: HTTPRequestSpec(url: try HTTPURL(url)), address: .v4(0x7F00_0001),
                                          settings: s).run()
        }
        for url in [peers.url("H2C", "/small"), peers.url("TLS", "/small", secure: true)] {
            let r = try await bench(url)
            #expect(r.requests == 4_000 && r.statusClasses[1] == 4_000 && r.errors.isEmpty, "\(r.errors)")
            #expect(r.connectionsOpened == 4 && r.histograms.connect.totalCount == 4 && r.protocolName == "h2")
            #expect(r.histograms.tls.totalCount == (url.hasPrefix("https") ? 4 : 0))
        }
        // Ten 50 ms responses on one connection at once: about 50 ms each, not
        // queued one after another.
        let slow = try await bench(peers.url("H2MISBEHAVE", "/slow"), connections: 1, streams: 10, requests: 20)
        #expect(slow.requests == 20 && slow.connectionsOpened == 1)
        #expect(slow.wallNanoseconds < 400_000_000, "streams ran concurrently: \(slow.wallNanoseconds)")
        // A reset stream is an error of its own; the connection carries on.
        let reset = try await bench(peers.url("H2MISBEHAVE", "/rst"), connections: 1, streams: 4, requests: 200)
        #expect(reset.errors["ttfb:stream_reset"] == 200 && reset.requests == 0 && reset.connectionsOpened == 1,
                "each request reported once: \(reset.errors)")
        // A stream that never answers times out alone (RST_STREAM CANCEL).
        let silent = try await bench(peers.url("H2MISBEHAVE", "/silent"), connections: 1, streams: 2, requests: nil,
                                     duration: 700_000_000, timeout: 200_000_000)
        #expect((silent.errors["ttfb:timeout"] ?? 0) >= 4 && silent.connectionsOpened == 1, "\(silent.errors)")
    }

    @Test func http2SettingsAreValidated() throws {
        var s = HTTPBenchSettings()
        s.streams = 10
        #expect(throws: ConfigurationError.self) { try s.validate() }
        s.version = .http2
        try s.validate()
        s.streams = 0
        #expect(throws: ConfigurationError.self) { try s.validate() }
    }
}
