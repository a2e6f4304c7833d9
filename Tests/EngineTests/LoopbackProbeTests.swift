@testable import Engine
import Foundation
import Synchronization
import Testing

/// Real sockets on loopback. ICMP raw sockets, nftables rules and ping-socket
/// sysctls need root: the test command runs as root and sets
/// WADDLEPERF_REQUIRE_PRIVILEGED, which turns a skip into a failure.
let isPrivileged = getuid() == 0
let mustBePrivileged = ProcessInfo.processInfo.environment["WADDLEPERF_REQUIRE_PRIVILEGED"] != nil

@Suite(.serialized) struct LoopbackProbeTests {
    init() {
        if mustBePrivileged && !isPrivileged { Issue.record("WADDLEPERF_REQUIRE_PRIVILEGED is set but not running as root") }
    }

    func targets(_ texts: [String], port: UInt16 = 0) async throws -> [ProbeTarget] {
        try await TargetResolver.resolve(try texts.map { try TargetSpecification(parsing: $0) }, defaultPort: port)
    }

    func settings(count: Int = 3, interval: UInt64 = 10_000_000, timeout: UInt64 = 1_000_000_000) -> ProbeSettings {
        var s = ProbeSettings()
        s.count = count
        s.interval = interval
        s.timeout = timeout
        return s
    }

    /// Runs and collects every result as well as the report.
    func run(_ kind: any ProbeKind.Type, _ targets: [ProbeTarget], _ settings: ProbeSettings) async throws -> (ProbeReport, [ProbeResult]) {
        let results = Mutex<[ProbeResult]>([])
        let run = try ProbeRun(kind: kind, targets: targets, settings: settings)
        let report = try await run.run { batch in results.withLock { $0 += batch } }
        return (report, results.withLock { $0 })
    }

    /// Open sockets: what a leak would leave. (Not every descriptor: a ring thread keeps its
    /// io_uring instance for the next run, `RingReuse`.)
    static func openSockets() -> Int {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") else { return -1 }
        return names.filter { (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\($0)"))?.hasPrefix("socket:") == true }.count
    }

    // MARK: ICMP

    @Test(.enabled(if: isPrivileged || mustBePrivileged), arguments: [ICMPSocketKind.ping, .raw])
    func icmpEchoBothFamilies(kind: ICMPSocketKind) async throws {
        var s = settings(count: 5)
        s.icmpSocket = kind
        let (report, results) = try await run(ICMPEchoProbe.self, try await targets(["127.0.0.1", "::1"]), s)
        #expect(report.notes.joined().contains("IPv4: \(kind.rawValue) socket"))
        #expect(report.notes.joined().contains("IPv6: \(kind.rawValue) socket"))
        for summary in report.summaries {
            #expect(summary.sent == 5 && summary.received == 5 && summary.lost == 0 && summary.duplicates == 0)
            #expect(summary.lastTTL == 64)
            // Loopback RTT from kernel timestamps is microseconds.
            #expect(summary.latency.max! < 5_000_000)
        }
        #expect(results.count == 10)
        #expect(results.allSatisfy { $0.clock == .kernel }, "RTTs come from kernel TX and RX timestamps")
    }

    @Test(.enabled(if: isPrivileged || mustBePrivileged))
    func icmpWithoutTransmitTimestampsUsesKernelReceiveTime() async throws {
        var s = settings(count: 3)
        s.kernelTransmitTimestamps = false
        let (report, results) = try await run(ICMPEchoProbe.self, try await targets(["127.0.0.1"]), s)
        #expect(report.total.received == 3)
        #expect(results.allSatisfy { $0.clock == .kernelReceive })
    }

    @Test(.enabled(if: isPrivileged || mustBePrivileged), arguments: [ICMPSocketKind.ping, .raw])
    func icmpSweepOf8190DistinctTargets(kind: ICMPSocketKind) async throws {
        var s = settings(count: 1, timeout: 2_000_000_000)
        s.icmpSocket = kind
        s.rate = 50_000
        let t = try await targets(["127.1.0.0/19"])
        #expect(t.count == 8190)
        let (report, _) = try await run(ICMPEchoProbe.self, t, s)
        let total = report.total
        #expect(total.sent == 8190 && total.received == 8190 && total.lost == 0)
        #expect(report.summaries.allSatisfy { $0.received == 1 })
    }

    @Test(.enabled(if: isPrivileged || mustBePrivileged))
    func icmpScale16382Targets() async throws {
        var s = settings(count: 1, timeout: 2_000_000_000)
        s.icmpSocket = .raw
        // Two rings, two raw sockets: each socket's BPF filter keeps only its
        // own echo id, so no reply is seen twice or by the wrong ring.
        s.threads = 2
        let t = try await targets(["127.3.0.0/18"])
        let (report, results) = try await run(ICMPEchoProbe.self, t, s)
        #expect(report.total.received == 16_382 && report.total.lost == 0 && report.total.duplicates == 0)
        #expect(Set(results.map(\.target)).count == 16_382)
        #expect(report.summaries.allSatisfy { $0.received == 1 })
        print("icmp sweep of \(t.count) targets: \(Double(report.wallNanoseconds) / 1e6) ms, peak RSS \(peakRSSKilobytes()) KiB")
    }

    @Test(.enabled(if: isPrivileged || mustBePrivileged), arguments: [ICMPSocketKind.ping, .raw])
    func icmpUnreachableIsAnOutcome(kind: ICMPSocketKind) async throws {
        let table = "waddleperf_test_unreach"
        try nft("add table inet \(table)")
        defer { try? nft("delete table inet \(table)") }
        // Rejected on the way in, so the send succeeds and an ICMP error comes back.
        try nft("add chain inet \(table) in { type filter hook input priority 0 ; }")
        try nft("add rule inet \(table) in ip daddr 127.9.9.9 icmp type echo-request reject with icmp type host-unreachable")
        var s = settings(count: 3)
        s.icmpSocket = kind
        let (report, results) = try await run(ICMPEchoProbe.self, try await targets(["127.9.9.9", "127.0.0.1"]), s)
        #expect(report.summaries[0].unreachable == 3 && report.summaries[0].received == 0)
        #expect(report.summaries[1].received == 3)
        #expect(results.filter { $0.target == 0 }.allSatisfy { $0.outcome == .unreachable(type: 3, code: 1) })
    }

    // MARK: TCP

    @Test(.enabled(if: isPrivileged || mustBePrivileged))
    func tcpConnectedRefusedAndTimedOut() async throws {
        var config = EchoServer.Configuration()
        config.tcpPort = 0
        config.udpPort = nil
        let server = try EchoServer(config)
        try server.start()
        defer { server.stop() }
        let open = server.tcpPort!
        let closed = try Self.unusedPort()
        let dropped: UInt16 = 9
        let table = "waddleperf_test_drop"
        try nft("add table inet \(table)")
        defer { try? nft("delete table inet \(table)") }
        try nft("add chain inet \(table) out { type filter hook output priority 0 ; }")
        try nft("add rule inet \(table) out ip daddr 127.0.0.1 tcp dport \(dropped) drop")

        let before = Self.openSockets()
        var s = settings(count: 4, interval: 5_000_000, timeout: 300_000_000)
        s.size = 16
        s.expectBytes = 16
        let t = try await targets(["127.0.0.1:\(open)", "127.0.0.1:\(closed)", "127.0.0.1:\(dropped)"])
        let (report, results) = try await run(TCPConnectProbe.self, t, s)
        #expect(await Self.socketsSettle(atMost: before), "no socket leaked")
        let (ok, refused, timeout) = (report.summaries[0], report.summaries[1], report.summaries[2])
        #expect(ok.sent == 4 && ok.received == 4)
        #expect(ok.secondaryPhases.count == 2 && ok.secondaryPhases[0].count == 4, "ttfb measured for the echo round trip")
        #expect(refused.refused == 4 && refused.received == 0)
        #expect(timeout.timeouts == 4 && timeout.received == 0)
        for r in results where r.target == 0 {
            let (connect, ttfb, total) = (r.phases.0!, r.phases.1!, r.phases.2!)
            #expect(connect > 0 && ttfb > 0 && total >= connect + ttfb)
        }
    }

    @Test(.enabled(if: isPrivileged || mustBePrivileged))
    func tcpTenThousandInFlight() async throws {
        var config = EchoServer.Configuration()
        config.bind = IPAddress("0.0.0.0")!
        config.tcpPort = 0
        config.udpPort = nil
        let server = try EchoServer(config)
        try server.start()
        defer { server.stop() }
        let before = Self.openSockets()
        var s = settings(count: 1, timeout: 10_000_000_000)
        s.concurrency = 10_000
        // 10,000 distinct loopback addresses, all started before any answer is needed.
        let t = Array(try await targets(["127.4.0.0/18"], port: server.tcpPort!).prefix(10_000))
        let (report, _) = try await run(TCPConnectProbe.self, t, s)
        #expect(report.total.sent == 10_000 && report.total.received == 10_000)
        #expect(await Self.socketsSettle(atMost: before), "no socket leaked")
        print("tcp: 10,000 connects with 10,000 in flight: \(Double(report.wallNanoseconds) / 1e6) ms, peak RSS \(peakRSSKilobytes()) KiB")
    }

    // MARK: UDP

    @Test func udpEchoWithKnownLoss() async throws {
        var config = EchoServer.Configuration()
        config.tcpPort = nil
        config.udpPort = 0
        config.udpDropEvery = 4
        let server = try EchoServer(config)
        try server.start()
        defer { server.stop() }
        var s = settings(count: 100, interval: 1_000_000, timeout: 200_000_000)
        s.size = 64
        let (report, results) = try await run(UDPEchoProbe.self, try await targets(["127.0.0.1:\(server.udpPort!)"]), s)
        let total = report.total
        #expect(total.sent == 100 && total.received == 75 && total.lost == 25 && total.timeouts == 25)
        #expect(total.duplicates == 0 && total.reordered == 0)
        #expect(server.udpDropped.load(ordering: .relaxed) == 25)
        // The responder drops datagrams 4, 8, 12, ...: sequences 3, 7, 11, ... time out.
        let lostSequences = results.filter { $0.outcome == .timeout }.map(\.sequence).sorted()
        #expect(lostSequences == Array(stride(from: UInt32(3), to: 100, by: 4)))
    }

    /// fping's way: a name that does not resolve is reported and the other targets are probed.
    /// Each of its probes is an `unresolved` outcome: loss, never latency. Both a datagram kind
    /// and a connection kind, and a run whose only target does not resolve.
    @Test func anUnresolvableNameIsAnOutcomeAndTheOthersRun() async throws {
        var config = EchoServer.Configuration()
        config.tcpPort = 0
        config.udpPort = 0
        let server = try EchoServer(config)
        try server.start()
        defer { server.stop() }
        for (kind, port) in [(UDPEchoProbe.self as any ProbeKind.Type, server.udpPort!), (TCPConnectProbe.self, server.tcpPort!)] {
            let list = try await targets(["127.0.0.1:\(port)", "nosuchhost.invalid:\(port)"])
            #expect(list.count == 2 && list[0].isResolved && !list[1].isResolved)
            #expect(list[1].resolutionFailure?.isEmpty == false)
            let (report, results) = try await run(kind, list, settings(count: 4))
            let (good, bad) = (report.summaries[0], report.summaries[1])
            #expect(good.sent == 4 && good.received == 4 && good.unresolved == 0, "\(kind.name)")
            #expect(bad.sent == 4 && bad.received == 0 && bad.unresolved == 4 && bad.lossPercent == 100, "\(kind.name)")
            #expect(bad.latency.count == 0)
            #expect(results.filter { $0.target == 1 }.allSatisfy { $0.outcome == .unresolved && $0.latency == nil })
            #expect(report.total.unresolved == 4 && report.total.received == 4)
        }
        let alone = try await targets(["nosuchhost.invalid:9"])
        let (report, _) = try await run(UDPEchoProbe.self, alone, settings(count: 2))
        #expect(report.total.sent == 2 && report.total.unresolved == 2)
    }

    @Test func aSecondEchoServerCannotTakeTheUDPPort() async throws {
        var config = EchoServer.Configuration()
        config.tcpPort = nil
        config.udpPort = 0
        let first = try EchoServer(config)
        try first.start()
        defer { first.stop() }
        // With SO_REUSEADDR on UDP the second bind would succeed and quietly
        // take the first one's datagrams.
        config.udpPort = first.udpPort
        let second = try EchoServer(config)
        #expect(throws: SystemError.self) { try second.start() }
        // And stop returns promptly: the blocking receive is woken.
        let before = LoopbackProbeTests.openSockets()
        let third = try EchoServer({ var c = config; c.udpPort = 0; return c }())
        try third.start()
        third.stop()
        #expect(await LoopbackProbeTests.socketsSettle(atMost: before))
    }

    @Test func udpPortUnreachableIsRefused() async throws {
        let closed = try Self.unusedPort(udp: true)
        let (report, _) = try await run(UDPEchoProbe.self, try await targets(["127.0.0.1:\(closed)"]), settings(count: 3))
        #expect(report.total.refused == 3 && report.total.received == 0)
    }

    // MARK: helpers

    /// The in-process echo server closes its side once it sees each RST:
    /// give it a moment before comparing socket counts. A leak leaves more
    /// sockets than before the run; fewer is an earlier test's socket closing
    /// meanwhile (servers close theirs on their own threads), not this run's.
    static func socketsSettle(atMost expected: Int) async -> Bool {
        for _ in 0..<100 {
            if openSockets() <= expected { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return openSockets() <= expected
    }

    static func unusedPort(udp: Bool = false) throws -> UInt16 {
        var c = EchoServer.Configuration()
        c.tcpPort = udp ? nil : 0
        c.udpPort = udp ? 0 : nil
        let s = try EchoServer(c)
        try s.start()
        let port = udp ? s.udpPort! : s.tcpPort!
        s.stop()
        return port
    }
}

func nft(_ command: String) throws {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/sbin/nft")
    p.arguments = [command]
    try p.run()
    p.waitUntilExit()
    if p.terminationStatus != 0 { throw SystemError("nft \(command)", errno: EINVAL) }
}

func peakRSSKilobytes() -> Int {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return usage.ru_maxrss
}
