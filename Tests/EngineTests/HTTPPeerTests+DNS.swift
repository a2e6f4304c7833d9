@testable import Engine
import Foundation
import Glibc
import Synchronization
import Testing

/// The stub resolver against a real DNS server on loopback
/// (Tests/peers/dnsserver.py, UDP and TCP, started by the peers script).
extension HTTPPeerTests {
    func resolverConfiguration(timeout: UInt64 = 1_000_000_000, attempts: Int = 2) -> ResolverConfiguration {
        var c = ResolverConfiguration(nameservers: [.v4(0x7F00_0001)], timeout: timeout, attempts: attempts)
        c.port = UInt16(peers.port("DNS"))
        return c
    }

    func lookup(_ names: [String], family: AddressFamilyPreference = .any, configuration: ResolverConfiguration? = nil,
                hosts: HostsFile = HostsFile()) async throws -> [String: DNSResolution] {
        try await StubResolver.resolve(names, family: family, configuration: configuration ?? resolverConfiguration(),
                                       hosts: hosts)
    }

    @Test func stubResolverAnswersFailsAndFallsBackToTCP() async throws {
        let r = try await lookup(["a.test", "alias.test", "nx.test", "servfail.test", "slow.test", "big.test"])
        #expect(r["a.test"]?.addresses == [.v4(0x7F00_0001), .v6(0, 1)], "A first, then AAAA")
        #expect(r["a.test"]?.source == "127.0.0.1:\(peers.port("DNS"))" && r["a.test"]?.queries == 2)
        #expect(r["alias.test"]?.addresses.first == .v4(0x7F00_0001), "CNAME followed")
        #expect(r["nx.test"]?.failure?.kind == .nxdomain && r["nx.test"]?.addresses.isEmpty == true)
        #expect(r["servfail.test"]?.failure?.kind == .serverFailure)
        let slow = try #require(r["slow.test"])
        #expect(slow.addresses == [.v4(0x7F00_0002)] && slow.duration >= 50_000_000 && slow.duration < 900_000_000)
        let big = try #require(r["big.test"])
        #expect(big.usedTCP && big.addresses.count == 40, "truncated over UDP, complete over TCP: \(big)")
    }

    @Test func stubResolverRetriesHostsAndSearch() async throws {
        // Every other UDP query for this name is dropped: the first of each
        // type goes unanswered and the retry after the timeout succeeds.
        let dropped = try await lookup(["drop-once.test"], family: .ipv4,
                                       configuration: resolverConfiguration(timeout: 200_000_000))
        let d = try #require(dropped["drop-once.test"])
        #expect(d.addresses == [.v4(0x7F00_0003)] && d.queries == 2 && d.duration >= 200_000_000, "\(d)")
        // /etc/hosts comes first: no query at all.
        let hosts = HostsFile.parse("127.0.0.9 only-in-hosts.test\n")
        let h = try await lookup(["only-in-hosts.test"], hosts: hosts)
        #expect(h["only-in-hosts.test"]?.addresses == [.v4(0x7F00_0009)] && h["only-in-hosts.test"]?.source == "hosts")
        // A short name goes through the search list.
        var search = resolverConfiguration()
        search.searchDomains = ["nothing.test", "test"]
        let s = try await lookup(["a"], family: .ipv4, configuration: search)
        #expect(s["a"]?.addresses == [.v4(0x7F00_0001)], "a → a.nothing.test (NXDOMAIN) → a.test")
        // A nameserver that never answers: timeout × attempts, then a timeout.
        let (silent, silentPort) = silentUDPSocket()
        defer { close(silent) }
        var mute = resolverConfiguration(timeout: 100_000_000, attempts: 2)
        mute.port = silentPort
        let t = try await lookup(["a.test"], family: .ipv4, configuration: mute)
        #expect(t["a.test"]?.failure?.kind == .timeout && t["a.test"]!.duration >= 200_000_000, "\(t)")
    }

    @Test func probesResolveForThemselvesWithoutTheCache() async throws {
        var s = settings(count: 3)
        s.dnsCache = false
        s.reuse = false
        s.resolver = resolverConfiguration()
        s.hosts = HostsFile()
        let requests = try [peers.url("PLAIN", "/small", host: "slow.test"), peers.url("PLAIN", "/small", host: "h.test"),
                            peers.url("PLAIN", "/small", host: "nx.test")].map { HTTPRequestSpec(url: try HTTPURL($0)) }
        let results = Mutex<[HTTPResult]>([])
        _ = try await HTTPProbeRun(targets: requests.map(HTTPProbeTarget.unresolved), settings: s).run { r in
            results.withLock { $0.append(r) }
        }
        let r = results.withLock { $0 }
        #expect(r.count == 9)
        for x in r {
            switch x.target {
            case 0:  // slow.test is 127.0.0.2, where nothing listens: refused, after a measured 50 ms lookup
                #expect(x.outcome == .refused && x.dns! >= 50_000_000, "\(x)")
            case 1:
                #expect(x.outcome == .success && x.dns != nil && x.connect != nil, "\(x)")
                let parts = x.dns! + x.connect! + x.ttfb! + x.transfer!
                #expect(parts <= x.total! && x.total! - parts < Self.unphasedSlack, "the lookup is inside total: \(x)")
            default:
                #expect(x.outcome == .unresolved(.nxdomain) && x.failedPhase == .dns && x.message?.contains("NXDOMAIN") == true)
            }
        }
    }

    /// A probe's deadline holds while it waits for its own lookup: a nameserver that never
    /// answers (1 s x 2 attempts) cannot hold a 300 ms probe for 2 s. It ends at its deadline as
    /// a timeout in phase `dns`, and the late answer belongs to no later probe.
    @Test func aProbeWaitingForItsLookupEndsAtItsOwnDeadline() async throws {
        let (silent, silentPort) = silentUDPSocket()
        defer { close(silent) }
        var s = settings(count: 2, timeout: 300_000_000)
        s.interval = 10_000_000
        s.dnsCache = false
        var mute = resolverConfiguration(timeout: 1_000_000_000, attempts: 2)
        mute.port = silentPort
        s.resolver = mute
        s.hosts = HostsFile()
        let request = HTTPRequestSpec(url: try HTTPURL(peers.url("PLAIN", "/small", host: "a.test")))
        let results = Mutex<[HTTPResult]>([])
        let started = ContinuousClock.now
        _ = try await HTTPProbeRun(targets: [.unresolved(request)], settings: s).run { r in results.withLock { $0.append(r) } }
        let elapsed = started.duration(to: .now)
        let r = results.withLock { $0 }
        #expect(r.count == 2 && r.allSatisfy { $0.outcome == .timeout && $0.failedPhase == .dns }, "\(r)")
        #expect(r.map(\.sequence) == [0, 1])
        #expect(elapsed < .milliseconds(1500), "each probe ended at its 300 ms deadline, not the resolver's 2 s: \(elapsed)")
    }

    /// With the cache, hosts resolve before the run: one that does not is its probes' outcome
    /// (`unresolved`, loss), and the run goes on for the others (it used to stop, exit 2).
    @Test func aHostThatDoesNotResolveBeforeTheRunIsAnOutcome() async throws {
        let requests = try [peers.url("PLAIN", "/small", host: "h.test"), peers.url("PLAIN", "/small", host: "nx.test")]
            .map { HTTPRequestSpec(url: try HTTPURL($0)) }
        let targets = try await HTTPProbeTarget.resolve(requests, configuration: resolverConfiguration(), hosts: HostsFile())
        #expect(targets[0].failedResolution == nil && targets[1].failedResolution?.failure?.kind == .nxdomain)
        let results = Mutex<[HTTPResult]>([])
        let report = try await HTTPProbeRun(targets: targets, settings: settings(count: 3)).run { r in results.withLock { $0.append(r) } }
        let r = results.withLock { $0 }
        #expect(r.filter { $0.target == 0 }.allSatisfy { $0.outcome == .success } && r.filter { $0.target == 0 }.count == 3)
        for x in r where x.target == 1 {
            #expect(x.outcome == .unresolved(.nxdomain) && x.failedPhase == .dns && x.total == nil, "\(x)")
            #expect(x.message?.hasPrefix("nx.test: ") == true)
        }
        #expect(report.summaries[1].sent == 3 && report.summaries[1].succeeded == 0 && report.summaries[1].lossPercent == 100)
        #expect(report.summaries[1].outcomes == ["unresolved": 3])
    }

    @Test func redirectsToAHostTheRunDidNotResolveAreResolvedOnTheWay() async throws {
        // nginx: /to-name → http://h.test:PLAIN/small, /to-nowhere → nx.test.
        var s = settings(count: 2)
        s.resolver = resolverConfiguration()
        s.hosts = HostsFile()
        let r = try await probe([peers.url("PLAIN", "/to-name"), peers.url("PLAIN", "/to-nowhere")], s)
        #expect(r.count == 4)
        for x in r where x.target == 0 {
            #expect(x.outcome == .success && x.status == 200 && x.url == "http://h.test:\(peers.port("PLAIN"))/small", "\(x)")
            #expect(x.redirects.map(\.status) == [302])
            if x.sequence == 0 {
                // Looked up on the way (its time is the hop's dns), then cached.
                #expect(x.dns != nil && x.connect != nil, "\(x)")
                let hop = x.dns! + x.connect! + x.ttfb! + x.transfer!
                #expect(hop + x.redirects[0].total <= x.total! + 1_000, "the lookup is inside total: \(x)")
            }
        }
        for x in r where x.target == 1 {
            #expect(x.outcome == .unresolved(.nxdomain) && x.failedPhase == .dns && x.redirects.count == 1, "\(x)")
            #expect(x.message?.hasPrefix("redirect to nx.test: ") == true && x.message?.contains("NXDOMAIN") == true)
        }
    }
}

/// A UDP socket on 127.0.0.1 that takes datagrams and never answers; the
/// caller closes it.
func silentUDPSocket() -> (fd: Int32, port: UInt16) {
    let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
    var address = sockaddr_in(sin_family: sa_family_t(AF_INET), sin_port: 0,
                              sin_addr: in_addr(s_addr: UInt32(0x7F00_0001).bigEndian), sin_zero: (0, 0, 0, 0, 0, 0, 0, 0))
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
    _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
    return (fd, UInt16(bigEndian: address.sin_port))
}
