import Engine
import Foundation
import Testing

extension LoopbackProbeTests {
/// The built `waddleperf` binary: bad input exits 2 with one line naming the
/// field, before anything is sent. Nested in the serialized loopback suite: its child
/// processes' pipes would otherwise land in that suite's descriptor counts.
@Suite struct CommandLineTests {
    static let binary = PackagingTests.root.appendingPathComponent(".build/debug/waddleperf")

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

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: binary.path)), arguments: [
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

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: binary.path) && (isPrivileged || mustBePrivileged)))
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

    /// A sweep big enough for more than one ring thread gets one per core by default; its
    /// report, streamed in chunks from several threads, is one valid document in target order.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: binary.path) && (isPrivileged || mustBePrivileged)))
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
}

extension LoopbackProbeTests.CommandLineTests {
    /// A soft open-file limit of 256 (a stock host has 1024) does not cut a run with a
    /// thousand probes in flight short: the CLI raises it to the hard limit first.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: binary.path)))
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
