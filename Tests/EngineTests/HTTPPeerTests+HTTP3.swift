@testable import Engine
import Foundation
import Glibc
import Synchronization
import Testing

/// HTTP/3 against real QUIC peers: Debian's gtlsserver (ngtcp2's example
/// server over GnuTLS) with the suite's certificates, one forcing a Retry,
/// and an aioquic server (Tests/peers/h3peer.py) for redirects, delays,
/// silence, resets and closes mid-body, and version negotiation.
extension HTTPPeerTests {
    func h3(count: Int = 1, timeout: UInt64 = 3_000_000_000) -> HTTPProbeSettings {
        settings(count: count, timeout: timeout, version: .http3)
    }

    @Test func http3GetReusesOneQUICConnection() async throws {
        let before = LoopbackProbeTests.openSockets()
        let r = try await probe([peers.url("H3", "/hello.txt", secure: true),
                                 peers.url("H3", "/100k.bin", secure: true, host: "localhost"),
                                 peers.url("H3", "/1000000", secure: true)], h3(count: 3))
        #expect(r.count == 9)
        for x in r {
            #expect(x.outcome == .success && x.status == 200 && x.protocolName == "h3", "\(x)")
            #expect(x.bodyBytesIn == [12, 100_000, 1_000_000][Int(x.target)], "\(x)")
            #expect(x.headerBytesIn > 0 && x.headerBytesOut > 0)
            #expect(x.reused == (x.sequence > 0))
            // One handshake phase for QUIC, no TCP connect or separate TLS.
            #expect((x.quicHandshake != nil) == (x.sequence == 0) && x.connect == nil && x.tls == nil, "\(x)")
            #expect(x.ttfb != nil && x.transfer != nil && x.total != nil)
            let d = try #require(x.tlsDetails)
            #expect(d.alpn == "h3" && d.verified && d.version == "TLSv1.3" && d.subject == "CN=good" && !d.cipher.isEmpty)
        }
        #expect(await LoopbackProbeTests.socketsSettle(atMost: before), "no socket leaked")
    }

    @Test func http3PostSendsTheBody() async throws {
        let body = Array(repeating: UInt8(ascii: "q"), count: 20_000)
        // gtlsserver reads the body and answers /<N> with N bytes.
        let r = try await probe([peers.url("H3", "/100", secure: true)], h3(), method: "POST", body: body)
        #expect(r[0].outcome == .success && r[0].status == 200 && r[0].bodyBytesIn == 100, "\(r[0])")
        #expect(r[0].bodyBytesOut == 20_000)
        let missing = try await probe([peers.url("H3", "/no-such-file", secure: true)], h3())
        #expect(missing[0].outcome == .status(404))
        // gtlsserver answers a directory without its slash with 308 and
        // `Location: //dir/`: a network-path reference (RFC 3986 §4.2) to the
        // host "dir", not a path. The redirect is read as such: the host is
        // looked up (here at the suite's DNS server, which refuses names
        // outside test.) and the failure names it.
        var resolving = h3()
        resolving.resolver = resolverConfiguration()
        resolving.hosts = HostsFile()
        let redirected = try await probe([peers.url("H3", "/dir", secure: true)], resolving)
        #expect(redirected[0].redirects.map(\.status) == [308] && redirected[0].failedPhase == .dns, "\(redirected[0])")
        #expect(redirected[0].outcome == .unresolved(.serverFailure) && redirected[0].message?.hasPrefix("redirect to dir: ") == true)
    }

    @Test func http3FailuresAreOutcomes() async throws {
        // A UDP port that takes datagrams and never answers.
        let (silent, silentPort) = silentUDPSocket()
        defer { close(silent) }
        let r = try await probe([peers.url("H3UNKNOWN", "/hello.txt", secure: true),
                                 peers.url("H3WRONGNAME", "/hello.txt", secure: true, host: "localhost"),
                                 peers.url("REFUSED", "/", secure: true),
                                 "https://127.0.0.1:\(silentPort)/"], h3(timeout: 400_000_000))
        #expect(r[0].outcome == .tls(.unknownCA) && r[0].failedPhase == .quicHandshake, "\(r[0])")
        #expect(r[0].message?.contains("issuer is unknown") == true)
        #expect(r[1].outcome == .tls(.nameMismatch) && r[1].failedPhase == .quicHandshake, "\(r[1])")
        #expect(r[2].outcome == .refused && r[2].failedPhase == .quicHandshake, "\(r[2])")
        #expect(r[3].outcome == .timeout && r[3].failedPhase == .quicHandshake, "\(r[3])")
        // A request the server's HTTP/3 layer refuses (TE other than
        // "trailers" is malformed in HTTP/3): it resets the stream with
        // H3_MESSAGE_ERROR; the connection stays and carries the next one.
        let malformed = HTTPRequestSpec(url: try HTTPURL(peers.url("H3", "/hello.txt", secure: true)), headers: ["TE: gzip"])
        let reset = Mutex<[HTTPResult]>([])
        _ = try await HTTPProbeRun(targets: try await HTTPProbeTarget.resolve([malformed]), settings: h3(count: 2)).run { x in
            reset.withLock { $0.append(x) }
        }
        for x in reset.withLock({ $0 }) {
            #expect(x.outcome == .streamReset(0x10e) && x.failedPhase == .ttfb && x.message == "stream reset: H3_MESSAGE_ERROR", "\(x)")
            #expect(x.reused == (x.sequence > 0))
        }
        var insecure = h3()
        insecure.tls.verify = false
        let accepted = try await probe([peers.url("H3UNKNOWN", "/hello.txt", secure: true)], insecure)
        #expect(accepted[0].outcome == .success && accepted[0].tlsDetails?.verified == false)
    }

    @Test func http3HandlesRetryAndPhasesAddUp() async throws {
        // This server answers every first Initial with a Retry.
        let r = try await probe([peers.url("H3RETRY", "/hello.txt", secure: true), peers.url("H3", "/100k.bin", secure: true)],
                                h3(count: 3))
        for x in r {
            #expect(x.outcome == .success && x.status == 200, "\(x)")
            if x.sequence == 0 { #expect(x.quicRetry == (x.target == 0), "Retry seen exactly where the server forces it") }
            let parts = (x.quicHandshake ?? 0) + x.ttfb! + x.transfer!
            #expect(parts <= x.total! && x.total! - parts < Self.unphasedSlack, "phases \(parts) vs total \(x.total!): \(x)")
        }
    }

    @Test func http3LoadRunsManyStreamsPerConnection() async throws {
        var s = HTTPBenchSettings()
        s.version = .http3
        s.connections = 2
        s.streams = 10
        s.requests = 2_000
        s.duration = nil
        s.tls.caFile = peers.ca
        let r = try await HTTPBenchRun(request: HTTPRequestSpec(url: try HTTPURL(peers.url("H3", "/hello.txt", secure: true))),
                                       address: .v4(0x7F00_0001), settings: s).run()
        #expect(r.requests == 2_000 && r.statusClasses[1] == 2_000 && r.errors.isEmpty, "\(r.errors)")
        #expect(r.connectionsOpened == 2 && r.histograms.quicHandshake.totalCount == 2 && r.protocolName == "h3")
        #expect(r.histograms.connect.totalCount == 0 && r.histograms.tls.totalCount == 0)
        // A server granting 4 streams at a time: the other requests wait for
        // stream credit (MAX_STREAMS) and every one completes.
        s.connections = 1
        s.requests = 300
        let limited = try await HTTPBenchRun(
            request: HTTPRequestSpec(url: try HTTPURL(peers.url("H3RETRY", "/hello.txt", secure: true))),
            address: .v4(0x7F00_0001), settings: s).run()
        #expect(limited.requests == 300 && limited.errors.isEmpty && limited.connectionsOpened == 1, "\(limited.errors)")
    }

    // The aioquic peer (Tests/peers/h3peer.py): what gtlsserver cannot do.

    @Test func http3RedirectChainsBodiesAndADelayedFirstByte() async throws {
        let r = try await probe([peers.url("H3PEER", "/redirect/3", secure: true)], h3(count: 2))
        for x in r {
            #expect(x.outcome == .success && x.status == 200 && x.bodyBytesIn == 8, "\(x)")
            #expect(x.redirects.map(\.status) == [302, 302, 302] && x.url.hasSuffix("/redirect/0"))
            #expect(x.redirects[0].url.hasSuffix("/redirect/3") && x.redirects.allSatisfy { $0.total > 0 })
            // Every hop rides the first hop's QUIC connection; the chain
            // counts as cold when its first hop opened it.
            #expect(x.redirects[0].reused == (x.sequence > 0) && x.redirects.dropFirst().allSatisfy(\.reused))
            #expect(x.reused == (x.sequence > 0))
            #expect(x.total! >= x.redirects.reduce(0) { $0 + $1.total })
        }
        let body = (0..<50_000).map { UInt8(truncatingIfNeeded: $0 * 7) }
        let echoed = try await probe([peers.url("H3PEER", "/echo", secure: true)], h3(), method: "POST", body: body)
        #expect(echoed[0].outcome == .success && echoed[0].bodyBytesIn == 50_000 && echoed[0].bodyBytesOut == 50_000, "\(echoed[0])")
        #expect((1..<300).contains(echoed[0].headerBytesOut), "HEADERS and frame headers only: \(echoed[0].headerBytesOut)")
        let slow = try await probe([peers.url("H3PEER", "/slow", secure: true)], h3(count: 2))
        for x in slow {
            #expect(x.outcome == .success && x.bodyBytesIn == 5, "\(x)")
            #expect(x.ttfb! >= 50_000_000 && x.ttfb! < 80_000_000, "the 50 ms server delay is in ttfb: \(x.ttfb!)")
            #expect((x.quicHandshake ?? 0) < 40_000_000 && x.transfer! < 20_000_000)
            let parts = (x.quicHandshake ?? 0) + x.ttfb! + x.transfer!
            #expect(parts <= x.total! && x.total! - parts < Self.unphasedSlack, "phases \(parts) vs total \(x.total!)")
        }
    }

    @Test func http3SilenceResetsAndClosesMidBodyAreOutcomes() async throws {
        // A stream the server never answers times out in ttfb; the stream
        // is cancelled and the connection carries the next probe.
        let silent = try await probe([peers.url("H3PEER", "/silent", secure: true)], h3(count: 2, timeout: 300_000_000))
        for x in silent {
            #expect(x.outcome == .timeout && x.failedPhase == .ttfb && x.reused == (x.sequence > 0), "\(x)")
        }
        #expect(silent[0].quicHandshake != nil)
        // A request body sent whole to a server that never answers: counted as body, not as
        // head, though its stream never closed.
        let unanswered = try await probe([peers.url("H3PEER", "/silent", secure: true)], h3(timeout: 300_000_000),
                                         method: "POST", body: [UInt8](repeating: 0x61, count: 20_000))
        #expect(unanswered[0].outcome == .timeout && unanswered[0].bodyBytesOut == 20_000, "\(unanswered[0])")
        #expect((1..<300).contains(unanswered[0].headerBytesOut), "\(unanswered[0].headerBytesOut)")
        let r = try await probe([peers.url("H3PEER", "/reset-midbody", secure: true),
                                 peers.url("H3PEER", "/close-midbody", secure: true)], h3())
        #expect(r[0].outcome == .streamReset(0x102) && r[0].failedPhase == .transfer && r[0].bodyBytesIn == 1000, "\(r[0])")
        #expect(r[0].message == "stream reset: H3_INTERNAL_ERROR")
        #expect(r[1].outcome == .connectionClose(0x107) && r[1].failedPhase == .transfer && r[1].bodyBytesIn == 1000, "\(r[1])")
        #expect(r[1].message == "server closed the connection: CONNECTION_CLOSE application 0x107 (H3_EXCESSIVE_LOAD): closing on purpose")
        // A server that speaks only QUIC v2 answers our v1 Initial with
        // Version Negotiation: a protocol error naming what it offers.
        let v2 = try await probe([peers.url("H3V2", "/small", secure: true)], h3())
        #expect(v2[0].outcome == .protocolError && v2[0].failedPhase == .quicHandshake, "\(v2[0])")
        #expect(v2[0].message == "server does not speak QUIC version 1 (version negotiation; it offers 0x6b3343cf (QUIC v2))")
    }

    @Test func http3NeedsHTTPS() async throws {
        var s = HTTPBenchSettings()
        s.version = .http3
        #expect(throws: ConfigurationError.self) {
            _ = try HTTPBenchRun(request: HTTPRequestSpec(url: try HTTPURL("http://127.0.0.1/")), address: .v4(0x7F00_0001),
                                 settings: s)
        }
    }
}

extension HTTPPeerTests {
    @Test func h3UpgradeFollowsAltSvc() async throws {
        // nginx answers /hello.txt with Alt-Svc: h3=":<gtlsserver's port>".
        var s = settings(count: 3)
        s.version = .auto
        s.h3Upgrade = true
        let r = try await probe([peers.url("TLS", "/hello.txt", secure: true)], s)
        #expect(r.map(\.protocolName) == ["h2", "h3", "h3"], "\(r.map(\.protocolName))")
        #expect(r.allSatisfy { $0.outcome == .success && $0.bodyBytesIn == 12 })
        #expect(r[1].remote == "127.0.0.1:\(peers.port("H3"))" && r[1].quicHandshake != nil && !r[1].reused)
        #expect(r[2].reused && r[2].quicHandshake == nil)
        // Without the flag the advertisement is ignored.
        s.h3Upgrade = false
        let plain = try await probe([peers.url("TLS", "/hello.txt", secure: true)], s)
        #expect(plain.allSatisfy { $0.protocolName == "h2" })
    }
}

@Suite struct AltSvcTests {
    @Test func h3EntriesAreFound() {
        #expect(AltSvc.h3Endpoint("h3=\":443\"; ma=60, h3-29=\":443\"")! == (nil, 443))
        #expect(AltSvc.h3Endpoint("h3-29=\":1\", h3=\"alt.example:8443\"; persist=1")! == ("alt.example", 8443))
        #expect(AltSvc.h3Endpoint("h2=\":443\"") == nil)
        #expect(AltSvc.h3Endpoint("clear") == nil)
        #expect(AltSvc.h3Endpoint("h3=\":0\"") == nil && AltSvc.h3Endpoint("h3=:443") == nil)
    }
}
