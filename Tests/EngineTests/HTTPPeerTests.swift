@testable import Engine
import Foundation
import Synchronization
import Testing
import TestSupport

@Suite(.serialized, .enabled(if: HTTPPeers.available)) struct HTTPPeerTests {
    let peers: HTTPPeers

    init() throws {
        peers = try #require(HTTPPeers.current, "WADDLEPERF_REQUIRE_HTTP_PEERS is set but WADDLEPERF_TEST_HTTP_PEERS names no peers.env")
    }

    /// `version` nil: the default, HTTP/1.1.
    /// What may lie in no phase of a probe: the client's own turn between
    /// one phase's end and the next one's start (a flush waits for the end
    /// of the ring's turn). Microseconds on an idle machine; CI runs the
    /// suites in parallel on 2 cores, where a turn can be descheduled for
    /// milliseconds. The server delays these tests look for are 50 ms.
    static let unphasedSlack: UInt64 = 10_000_000

    func settings(count: Int = 1, timeout: UInt64 = 3_000_000_000, version: HTTPVersionChoice? = nil) -> HTTPProbeSettings {
        var s = HTTPProbeSettings()
        if let version { s.version = version }
        s.count = count
        s.interval = 20_000_000
        s.timeout = timeout
        s.tls.caFile = peers.ca
        return s
    }

    func probe(_ urls: [String], _ settings: HTTPProbeSettings, method: String = "GET",
               body: [UInt8] = []) async throws -> [HTTPResult] {
        let requests = try urls.map { HTTPRequestSpec(url: try HTTPURL($0), method: method, body: body) }
        let targets = try await HTTPProbeTarget.resolve(requests)
        let results = Mutex<[HTTPResult]>([])
        _ = try await HTTPProbeRun(targets: targets, settings: settings).run { r in results.withLock { $0.append(r) } }
        return results.withLock { $0 }.sorted { ($0.target, $0.sequence) < ($1.target, $1.sequence) }
    }

    @Test func getOverPlainAndTLSWithKeepAlive() async throws {
        let before = LoopbackProbeTests.openSockets()
        for secure in [false, true] {
            let port = secure ? "TLS" : "PLAIN"
            let r = try await probe([peers.url(port, "/small", secure: secure), peers.url(port, "/100k.bin", secure: secure)],
                                    settings(count: 3))
            #expect(r.count == 6)
            for x in r {
                #expect(x.outcome == .success && x.status == 200, "\(x)")
                #expect(x.bodyBytesIn == (x.target == 0 ? 12 : 100_000))
                #expect(x.headerBytesIn > 0 && x.headerBytesOut > 0 && x.remote.hasPrefix("127.0.0.1:"))
                // The first probe opens the connection; the others reuse it: no connect, no tls.
                #expect(x.reused == (x.sequence > 0))
                #expect((x.connect != nil) == (x.sequence == 0))
                #expect((x.tls != nil) == (secure && x.sequence == 0))
                #expect(x.ttfb != nil && x.transfer != nil && x.total != nil)
                if secure { #expect(x.tlsDetails?.verified == true && x.protocolName == "http/1.1") }
            }
        }
        #expect(await LoopbackProbeTests.socketsSettle(atMost: before), "no socket leaked")
    }

    @Test func postSendsTheBody() async throws {
        for secure in [false, true] {
            let body = Array(repeating: UInt8(ascii: "b"), count: 20_000)
            let r = try await probe([peers.url(secure ? "TLS" : "PLAIN", "/post", secure: secure)], settings(),
                                    method: "POST", body: body)
            // nginx proxies the POST to a location that answers with the
            // Content-Length it received: "20000\n".
            #expect(r[0].outcome == .success && r[0].status == 200 && r[0].bodyBytesIn == 6, "\(r[0])")
            #expect(r[0].bodyBytesOut == 20_000)
            let wrongMethod = try await probe([peers.url("PLAIN", "/post")], settings())
            #expect(wrongMethod[0].outcome == .status(405))
        }
    }

    @Test func chunkedBodies() async throws {
        for secure in [false, true] {
            let r = try await probe([peers.url(secure ? "TLS" : "PLAIN", "/chunked", secure: secure)], settings(count: 2))
            for x in r {
                #expect(x.outcome == .success && x.bodyBytesIn == "hello chunked world\n".utf8.count, "\(x)")
                // Three pieces 10 ms apart: the transfer phase spans them.
                #expect(x.transfer! >= 15_000_000)
            }
        }
    }

    @Test func redirectChainsAreFollowedAndTimed() async throws {
        let r = try await probe([peers.url("PLAIN", "/r1"), peers.url("TLS", "/r1", secure: true)], settings(count: 2))
        for x in r {
            #expect(x.outcome == .success && x.status == 200 && x.bodyBytesIn == 12, "\(x)")
            #expect(x.redirects.map(\.status) == [302, 301])
            #expect(x.url.hasSuffix("/small") && x.redirects[0].url.hasSuffix("/r1"))
            #expect(x.redirects.allSatisfy { $0.total > 0 })
            #expect(x.total! >= x.redirects.reduce(0) { $0 + $1.total })
            #expect(x.reused == (x.sequence > 0), "a chain is cold when its first hop connected")
        }
        var s = settings()
        s.maximumRedirects = 0
        let unfollowed = try await probe([peers.url("PLAIN", "/r1")], s)
        #expect(unfollowed[0].status == 302 && unfollowed[0].redirects.isEmpty)
        s.maximumRedirects = 3
        s.acceptedStatus = 200...299
        let loop = try await probe([peers.url("PLAIN", "/loop")], s)
        #expect(loop[0].redirects.count == 3 && loop[0].outcome == .status(302))
    }

    @Test func aRedirectToAnotherEndpointDoesNotCaptureLaterProbes() async throws {
        let r = try await probe([peers.url("PLAIN", "/to-tls")], settings(count: 3))
        for x in r {
            #expect(x.outcome == .success && x.redirects.count == 1 && x.redirects[0].url.hasSuffix("/to-tls"), "\(x)")
            #expect(x.url.hasPrefix("https://") && x.tlsDetails?.verified == true)
            // Each probe starts at the plain endpoint again: a new connection there.
            #expect(!x.redirects[0].reused && !x.reused)
        }
    }

    @Test func cancellingAnEndlessRunReturnsPromptly() async throws {
        var s = settings()
        s.count = nil
        s.interval = 5_000_000
        let run = try HTTPProbeRun(targets: try await HTTPProbeTarget.resolve(
            [HTTPRequestSpec(url: try HTTPURL(peers.url("PLAIN", "/small"))),
             HTTPRequestSpec(url: try HTTPURL(peers.url("SILENT", "/")))]), settings: s)
        let started = ContinuousClock.now
        let task = Task { try await run.run() }
        try await Task.sleep(for: .milliseconds(300))
        run.cancel()
        let report = try await task.value
        #expect(ContinuousClock.now - started < .seconds(3))
        #expect(report.summaries[0].succeeded > 10)
    }

    @Test func tlsVersionsAndCertificateDetails() async throws {
        var s = settings()
        let r13 = try await probe([peers.url("TLS", "/small", secure: true, host: "localhost")], s)
        let d = try #require(r13[0].tlsDetails)
        #expect(d.version == "TLSv1.3" && d.subject == "CN=good" && d.issuer == "CN=WaddlePerf test ca")
        #expect(d.subjectAlternativeNames.contains("DNS:localhost") && d.subjectAlternativeNames.contains("IP:127.0.0.1"))
        #expect((820...826).contains(d.daysToExpiry) && d.verified && d.alpn == "http/1.1")
        #expect(r13[0].dns != nil, "a host name is resolved and timed")
        s.tls.maximumVersion = .tls12
        let r12 = try await probe([peers.url("TLS", "/small", secure: true)], s)
        #expect(r12[0].outcome == .success && r12[0].tlsDetails?.version == "TLSv1.2")
        s.tls.maximumVersion = nil
        s.tls.minimumVersion = .tls13
        let old = try await probe([peers.url("TLS12", "/small", secure: true)], s)
        #expect(old[0].outcome == .tls(.protocolVersion) && old[0].failedPhase == .tls, "\(old[0])")
    }

    @Test func certificateFailuresAreOutcomes() async throws {
        let r = try await probe([
            peers.url("WRONGNAME", "/small", secure: true, host: "localhost"),
            peers.url("WRONGNAME", "/small", secure: true),
            peers.url("EXPIRED", "/small", secure: true),
            peers.url("UNKNOWN", "/small", secure: true),
        ], settings())
        #expect(r.map(\.outcome) == [.tls(.nameMismatch), .tls(.nameMismatch), .tls(.expired), .tls(.unknownCA)])
        #expect(r.allSatisfy { $0.failedPhase == .tls && $0.connect != nil && $0.message != nil })
        #expect(r[2].message == "certificate has expired")
        var insecure = settings()
        insecure.tls.verify = false
        let accepted = try await probe([peers.url("UNKNOWN", "/small", secure: true)], insecure)
        #expect(accepted[0].outcome == .success && accepted[0].tlsDetails?.verified == false)
    }

    @Test func connectionFailuresNameTheirPhase() async throws {
        let r = try await probe([peers.url("REFUSED", "/"), peers.url("SILENT", "/"), peers.url("MIDBODY", "/")],
                                settings(timeout: 300_000_000))
        #expect(r[0].outcome == .refused && r[0].failedPhase == .connect)
        #expect(r[1].outcome == .timeout && r[1].failedPhase == .ttfb && r[1].connect != nil)
        #expect(r[2].outcome == .closed && r[2].failedPhase == .transfer && r[2].bodyBytesIn == 1000)
    }

    @Test func phasesAddUpAndADelayedFirstByteShowsInTTFB() async throws {
        let r = try await probe([peers.url("SLOW", "/delay"), peers.url("TLS", "/100k.bin", secure: true)],
                                settings(count: 3))
        for x in r {
            #expect(x.outcome == .success, "\(x)")
            let parts = (x.dns ?? 0) + (x.connect ?? 0) + (x.tls ?? 0) + x.ttfb! + x.transfer!
            // What is left is the request's hand-over to the kernel: microseconds.
            #expect(parts <= x.total! && x.total! - parts < Self.unphasedSlack, "phases \(parts) vs total \(x.total!)")
            if x.target == 0 {
                #expect(x.ttfb! >= 50_000_000 && x.ttfb! < 80_000_000, "the 50 ms server delay is in ttfb")
                #expect((x.connect ?? 0) < 20_000_000 && x.transfer! < 20_000_000)
            }
        }
    }

    @Test func loadRunsCountEveryResponse() async throws {
        let request = HTTPRequestSpec(url: try HTTPURL(peers.url("PLAIN", "/small")))
        var s = HTTPBenchSettings()
        s.connections = 8
        s.duration = nil
        s.requests = 2_000
        s.threads = 2
        let closed = try await HTTPBenchRun(request: request, address: .v4(0x7F00_0001), settings: s).run()
        #expect(closed.requests == 2_000 && closed.statusClasses[1] == 2_000 && closed.errors.isEmpty)
        #expect(closed.histograms.total.totalCount == 2_000 && closed.histograms.connect.totalCount == 8)
        #expect(closed.bytesIn > 2_000 * 12)

        // Open loop: 400 req/s for one second is ~400 requests, whatever the server's speed.
        s.requests = nil
        s.duration = 1_000_000_000
        s.rate = 400
        let open = try await HTTPBenchRun(request: request, address: .v4(0x7F00_0001), settings: s).run()
        #expect((340...420).contains(open.requests), "\(open.requests)")

        // TLS, and errors counted by kind.
        var t = HTTPBenchSettings()
        t.connections = 4
        t.duration = nil
        t.requests = 400
        t.tls.caFile = peers.ca
        let tls = try await HTTPBenchRun(request: HTTPRequestSpec(url: try HTTPURL(peers.url("TLS", "/small", secure: true))),
                                         address: .v4(0x7F00_0001), settings: t).run()
        #expect(tls.requests == 400 && tls.histograms.tls.totalCount == 4)
        t.requests = nil
        t.duration = 300_000_000
        let refused = try await HTTPBenchRun(request: HTTPRequestSpec(url: try HTTPURL(peers.url("REFUSED", "/"))),
                                             address: .v4(0x7F00_0001), settings: t).run()
        #expect(refused.requests == 0 && (refused.errors["connect:refused"] ?? 0) > 0)
    }
}
