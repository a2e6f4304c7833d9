import Engine
import Foundation
import Testing
import TestSupport

let isPrivileged = getuid() == 0
let mustBePrivileged = ProcessInfo.processInfo.environment["WADDLEPERF_REQUIRE_PRIVILEGED"] != nil

/// The built `waddleperf` binary, run as a user would. scripts/test.sh runs this target in a
/// process of its own (the child processes' pipes would land in the engine suites' descriptor
/// counts) and sets WADDLEPERF_REQUIRE_CLI, which turns a missing binary into a failure
/// rather than a skip.
let cliBinary = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent(".build/debug/waddleperf")
/// The tests run when the binary is built, and when it must be (then they fail, saying so).
let available = FileManager.default.isExecutableFile(atPath: cliBinary.path)
    || ProcessInfo.processInfo.environment["WADDLEPERF_REQUIRE_CLI"] != nil

@Suite(.serialized) struct CommandLineTests {
    static let binary = cliBinary

    init() throws {
        if mustBePrivileged && !isPrivileged { Issue.record("WADDLEPERF_REQUIRE_PRIVILEGED is set but not running as root") }
        try #require(FileManager.default.isExecutableFile(atPath: Self.binary.path),
                     "WADDLEPERF_REQUIRE_CLI is set but \(Self.binary.path) is not built (swift build first)")
    }

    func run(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        try Self.run(arguments)
    }

    static func run(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let p = Process()
        p.executableURL = binary
        p.arguments = arguments
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        // Closed here, not whenever the handles are released: suites that count this process's
        // descriptors may run next.
        try? out.fileHandleForReading.close()
        try? err.fileHandleForReading.close()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    @Test(.enabled(if: available), arguments: [
        (["probe", "bogus", "127.0.0.1"], "kind"),
        (["probe", "tcp", "127.0.0.0/33:80"], "target '127.0.0.0/33:80'"),
        (["probe", "tcp", "127.0.0.1:0"], "target '127.0.0.1:0'"),
        (["probe", "tcp", "127.0.0.1:65536"], "target '127.0.0.1:65536'"),
        (["probe", "icmp", "127.0.0.1", "--count", "0"], "count"),
        (["probe", "icmp", "127.0.0.1", "--interval", "-1s"], "interval"),
        (["probe", "icmp", "127.0.0.1", "--format", "xml"], "format"),
        (["probe", "icmp", "127.0.0.1:80"], "target '127.0.0.1:80'"),
        (["probe", "icmp", "127.0.0.1", "--count", "many"], "count"),
    ])
    func badInputExitsTwoNamingTheField(arguments: [String], field: String) throws {
        let r = try run(arguments)
        #expect(r.status == 2, "\(arguments): \(r.stderr)")
        #expect(r.stderr.hasPrefix("waddleperf: error: "), "\(r.stderr)")
        #expect(r.stderr.contains(field), "\(r.stderr)")
        #expect(r.stdout.isEmpty)
    }

    @Test(.enabled(if: available && (isPrivileged || mustBePrivileged)))
    func jsonOutputIsParseable() throws {
        let r = try run(["probe", "icmp", "127.0.0.1", "::1", "-c", "2", "-i", "10ms", "-f", "json"])
        #expect(r.status == 0, "\(r.stderr)")
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(doc["sent"] as? Int == 4 && doc["received"] as? Int == 4)
        let targets = try #require(doc["targets"] as? [[String: Any]])
        #expect(targets.count == 2 && (targets[0]["rtt"] as? [String: Any])?["p50_ns"] != nil)
        // Written byte by byte (strings copied whole, integers as digits):
        // the values read back as what they are.
        #expect(targets.map { $0["target"] as? String } == ["127.0.0.1", "::1"])
        for t in targets {
            let rtt = try #require(t["rtt"] as? [String: Any])
            let (low, mid, high) = (rtt["min_ns"] as? Int ?? -1, rtt["p50_ns"] as? Int ?? -1, rtt["max_ns"] as? Int ?? -1)
            #expect(low > 0 && low <= mid && mid <= high && high < 1_000_000_000, "\(rtt)")
            #expect(t["sent"] as? Int == 2 && t["lost"] as? Int == 0 && t["ttl"] as? Int == 64)
        }
        #expect(r.stdout.hasSuffix("}\n"))
        #expect(doc["threads"] as? Int == 1)
    }

    /// As fping does: a name that does not resolve is reported on stderr and as its own
    /// outcome, and every other target is probed (this used to exit 2 with no results).
    @Test(.enabled(if: available))
    func anUnresolvableTargetDoesNotStopTheRun() throws {
        let r = try run(["probe", "tcp", "127.0.0.1:1", "nosuchhost.invalid:80", "-c", "2", "-i", "10ms", "-f", "json"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("waddleperf: warning: target 'nosuchhost.invalid': cannot resolve"), "\(r.stderr)")
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let targets = try #require(doc["targets"] as? [[String: Any]])
        #expect(targets.count == 2)
        #expect(targets[0]["refused"] as? Int == 2 && targets[0]["unresolved"] as? Int == 0)
        #expect(targets[1]["target"] as? String == "nosuchhost.invalid" && targets[1]["address"] is NSNull)
        #expect(targets[1]["unresolved"] as? Int == 2 && targets[1]["sent"] as? Int == 2 && targets[1]["received"] as? Int == 0)
        #expect(targets[1]["resolution_error"] as? String != nil)
        #expect(doc["unresolved"] as? Int == 2 && doc["loss_percent"] as? Double == 100)
        let table = try run(["probe", "tcp", "127.0.0.1:1", "nosuchhost.invalid:80", "-c", "1"])
        #expect(table.status == 0 && table.stdout.contains("nosuchhost.invalid:80") && table.stdout.contains("unresolved 1"))
    }

    /// A sweep big enough for more than one ring thread gets one per core by default; its
    /// report, streamed in chunks from several threads, is one valid document in target order.
    @Test(.enabled(if: available && (isPrivileged || mustBePrivileged)))
    func bigSweepsUseEveryCoreAndStreamOneDocument() throws {
        let r = try run(["probe", "icmp", "127.6.0.0/18", "-c", "1", "-t", "2s", "-f", "json"])
        #expect(r.status == 0, "\(r.stderr)")
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(doc["threads"] as? Int == ProbeSettings.automaticThreads(targets: 16382))
        #expect(ProbeSettings.automaticThreads(targets: 16382) == min(ProcessInfo.processInfo.activeProcessorCount, 3))
        #expect(doc["sent"] as? Int == 16382 && doc["received"] as? Int == 16382)
        let targets = try #require(doc["targets"] as? [[String: Any]])
        #expect(targets.count == 16382)
        #expect(targets.map { $0["target"] as? String } == (1...16382).map { "127.6.\($0 >> 8).\($0 & 255)" })
        // Asked for one thread, or a per-thread in-flight bound: one thread.
        for flags in [["--threads", "1"], ["--concurrency", "5000"]] {
            let one = try run(["probe", "icmp", "127.6.0.0/18", "-c", "1", "-t", "2s", "-f", "json"] + flags)
            #expect((try JSONSerialization.jsonObject(with: Data(one.stdout.utf8)) as? [String: Any])?["threads"] as? Int == 1, "\(flags)")
        }
    }
}

extension CommandLineTests {
    /// A soft open-file limit of 256 (a stock host has 1024) does not cut a run with a
    /// thousand probes in flight short: the CLI raises it to the hard limit first.
    @Test(.enabled(if: available))
    func aLowOpenFileLimitIsRaised() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", "ulimit -Sn 256 && exec \"$0\" \"$@\"", Self.binary.path,
                       "probe", "tcp", "127.7.0.0/22:1", "-c", "1", "--concurrency", "1000", "-t", "2s", "-f", "json"]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        try? out.fileHandleForReading.close()
        let doc = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        // Port 1 on loopback is closed: every probe is refused, none fails to get a socket.
        #expect(doc["sent"] as? Int == 1022 && doc["refused"] as? Int == 1022 && doc["errors"] as? Int == 0, "\(doc.filter { $0.key != "targets" })")
    }
}

@Suite struct AutomaticThreadsTests {
    @Test func oneThreadPerCoreOnceThereAreTargetsToShare() {
        #expect(ProbeSettings.automaticThreads(targets: 1, cores: 2) == 1)
        #expect(ProbeSettings.automaticThreads(targets: 8191, cores: 2) == 1)
        #expect(ProbeSettings.automaticThreads(targets: 8192, cores: 2) == 2)
        #expect(ProbeSettings.automaticThreads(targets: 65_534, cores: 2) == 2)
        #expect(ProbeSettings.automaticThreads(targets: 65_534, cores: 64) == 8)
        #expect(ProbeSettings.automaticThreads(targets: 0, cores: 4) == 1)
    }
}

extension CommandLineTests {
    /// Against the real HTTP peers (scripts/http-peers.sh).
    @Test(.enabled(if: available && HTTPPeers.available))
    func probeTableSaysWhatItsTLSColumnHoldsForHTTP3() throws {
        let peers = try #require(HTTPPeers.current, "WADDLEPERF_REQUIRE_HTTP_PEERS is set but no peers.env")
        let h3 = try run(["probe", "http", peers.url("H3PEER", "/small", secure: true), "--h3", "--ca-file", peers.ca,
                                           "-c", "1", "--format", "table"])
        #expect(h3.status == 0 && h3.stdout.contains("# HTTP/3: the tls column is the QUIC handshake"), "\(h3)")
        let h2 = try run(["probe", "http", peers.url("TLS", "/hello.txt", secure: true), "--h2", "--ca-file", peers.ca,
                                           "-c", "1", "--format", "table"])
        #expect(h2.status == 0 && !h2.stdout.contains("QUIC") && h2.stdout.contains("# 1 probes in"), "\(h2)")
    }
}

extension CommandLineTests {
    /// `waddleperf run` reads a mixed list from YAML or JSON and prints one document per check;
    /// a bad file is refused before anything is sent, naming the field by its place.
    @Test(.enabled(if: available))
    func runReadsAMixedListAndNamesABadField() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wp-run-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let yaml = dir.appendingPathComponent("checks.yaml")
        try """
            checks:
              - {kind: tcp, target: "127.0.0.1:1", count: 2, interval_ms: 5}
              - {kind: udp, target: "nosuchhost.invalid:7", count: 1}
              - kind: tcp
                name: with payload
                target: 127.0.0.1:1
                tcp: {send: 8, expect: 8}
            """.write(to: yaml, atomically: true, encoding: .utf8)
        let r = try run(["run", yaml.path, "-f", "ndjson"])
        #expect(r.status == 0, "\(r.stderr)")
        let docs = try r.stdout.split(separator: "\n").map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        #expect(docs.count == 3)
        #expect(docs.map { $0["test_type"] as? String } == ["tcp", "udp", "tcp"])
        #expect(docs[0]["outcome"] as? String == "refused" && docs[0]["sent"] as? Int == 2 && docs[0]["loss_percent"] as? Double == 100)
        #expect(docs[1]["outcome"] as? String == "unresolved")
        let table = try run(["run", yaml.path])
        #expect(table.status == 0 && table.stdout.contains("with payload") && table.stdout.contains("# 3 checks, 3 failed"))

        let json = dir.appendingPathComponent("bad.json")
        try #"[{"kind": "tcp", "target": "127.0.0.1:1"}, {"kind": "http", "target": "http://127.0.0.1/", "http": {"metod": "GET"}}]"#
            .write(to: json, atomically: true, encoding: .utf8)
        let bad = try run(["run", json.path])
        #expect(bad.status == 2 && bad.stderr.hasPrefix("waddleperf: error: checks[1].http"), "\(bad.stderr)")
        #expect(bad.stderr.contains("metod") && bad.stdout.isEmpty)
        let zero = dir.appendingPathComponent("zero.yaml")
        try "- {kind: icmp, target: 127.0.0.1, count: 0}\n".write(to: zero, atomically: true, encoding: .utf8)
        let z = try run(["run", zero.path])
        #expect(z.status == 2 && z.stderr.contains("checks[0].count"), "\(z.stderr)")
    }
}

extension CommandLineTests {
    /// `watch` stops on SIGINT or SIGTERM with a final summary and exit status 0 (it used to
    /// print `Error: CancellationError()` and exit 1).
    @Test(.enabled(if: available), arguments: [SIGINT, SIGTERM])
    func watchStopsCleanlyOnASignal(_ signal: Int32) throws {
        let p = Process()
        p.executableURL = Self.binary
        p.arguments = ["watch", "--tcp", "127.0.0.1:1", "--tcp", "nosuchhost.invalid:1", "--report-every", "100ms", "-i", "20ms"]
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        Thread.sleep(forTimeInterval: 0.5)
        kill(p.processIdentifier, signal)
        let o = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let e = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        try? out.fileHandleForReading.close()
        try? err.fileHandleForReading.close()
        #expect(p.terminationStatus == 0, "\(e)")
        #expect(!e.contains("Error") && !e.contains("CancellationError"), "\(e)")
        #expect(o.contains("== final"), "\(o)")
        // The final block has both targets, the unresolved one marked.
        let final = o[o.range(of: "== final")!.lowerBound...]
        #expect(final.contains("127.0.0.1:1") && final.contains("nosuchhost.invalid:1") && final.contains("unresolved"))
    }
}
