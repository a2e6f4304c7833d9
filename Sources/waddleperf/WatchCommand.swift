import ArgumentParser
import Engine
@preconcurrency import Foundation
import Synchronization

/// The main job until the control plane exists: a continuous watch of
/// ICMP, TCP and UDP targets, printing a live per-target summary.
struct WatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Continuously probe targets and print a live summary until interrupted."
    )

    @Option(help: "ICMP target (repeatable).")
    var icmp: [String] = []

    @Option(help: "TCP target host:port (repeatable).")
    var tcp: [String] = []

    @Option(help: "UDP echo target host:port (repeatable).")
    var udp: [String] = []

    @Option(name: .customLong("report-every"), help: "Summary period, e.g. 5s.")
    var reportEvery: String = "5s"

    @Option(help: "Stop after this long (default: until interrupted).")
    var duration: String?

    @OptionGroup var options: ProbeOptions

    mutating func run() async throws {
        let period = try DurationParser.nanoseconds(reportEvery, field: "report-every")
        guard period >= 100_000_000 else { throw ConfigurationError(field: "report-every", "must be at least 100ms") }
        let stopAfter = try duration.map { try DurationParser.nanoseconds($0, field: "duration") }
        var runs: [(any ProbeKind.Type, ProbeRun)] = []
        for (kind, texts) in [(ICMPEchoProbe.self as any ProbeKind.Type, icmp), (TCPConnectProbe.self, tcp), (UDPEchoProbe.self, udp)]
        where !texts.isEmpty {
            let settings = try options.settings(kind: kind, continuous: true)
            let targets = try await parseTargets(texts, kind: kind, family: options.family)
            runs.append((kind, try ProbeRun(kind: kind, targets: targets, settings: settings)))
        }
        guard !runs.isEmpty else { throw ConfigurationError(field: "target", "give at least one --icmp, --tcp or --udp target") }

        let live = runs.map { LiveSummary(kind: $0.0, targets: $0.1.targets) }
        let finalRuns = runs
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (i, (_, run)) in finalRuns.enumerated() {
                let sink = live[i]
                group.addTask { _ = try await run.run(observer: { sink.record($0) }) }
            }
            group.addTask {
                let started = ContinuousClock.now
                while !Task.isCancelled {
                    try await Task.sleep(for: .nanoseconds(Int64(period)))
                    print(WatchCommand.render(live, elapsed: started.duration(to: .now)))
                    FileHandle.standardOutput.synchronizeFile()
                    if let stopAfter, started.duration(to: .now) >= .nanoseconds(Int64(stopAfter)) {
                        for (_, run) in finalRuns { run.cancel() }
                        return
                    }
                }
            }
            group.addTask {
                await waitForTerminationSignal()
                for (_, run) in finalRuns { run.cancel() }
            }
            // Runs end only when cancelled; the first finished task decides.
            _ = try await group.next()
            for (_, run) in finalRuns { run.cancel() }
            group.cancelAll()
            while let _ = try await group.next() {}
        }
        print(WatchCommand.render(live, elapsed: nil))
    }

    static func render(_ live: [LiveSummary], elapsed: Duration?) -> String {
        var out = elapsed.map { "== \(String(format: "%.0f", Double($0.components.seconds))) s\n" } ?? "== final\n"
        for l in live {
            let (targets, summaries) = l.snapshot()
            out += "[\(l.kind.name)] target  sent  recv  loss%  \(l.kind.phases[0].name) ms: last     p50     p99     max  jitMAD\n"
            for (t, s) in zip(targets, summaries) {
                func ms(_ v: UInt64?) -> String { v.map { String(format: "%7.3f", Double($0) / 1e6) } ?? "      -" }
                let jit = s.summary.latency.jitterMeanAbsoluteDifference.map { String(format: "%7.3f", $0 / 1e6) } ?? "      -"
                out += "  \(t.endpoint)  " + String(format: "%4llu  %4llu  %5.1f", s.summary.sent, s.summary.received, s.summary.lossPercent)
                    + "   " + [ms(s.last), ms(s.summary.latency.percentile(50)), ms(s.summary.latency.percentile(99)),
                               ms(s.summary.latency.max), jit].joined(separator: " ") + "\n"
            }
        }
        return out
    }
}

/// Per-target statistics fed from ring threads, read by the printer.
final class LiveSummary: Sendable {
    struct Entry: Sendable {
        var summary = ProbeSummary()
        var last: UInt64? = nil
    }

    let kind: any ProbeKind.Type
    let targets: [ProbeTarget]
    private let entries: Mutex<[Entry]>

    init(kind: any ProbeKind.Type, targets: [ProbeTarget]) {
        self.kind = kind
        self.targets = targets
        entries = Mutex(Array(repeating: Entry(), count: targets.count))
    }

    func record(_ batch: [ProbeResult]) {
        entries.withLock { e in
            for r in batch {
                e[Int(r.target)].summary.record(r)
                e[Int(r.target)].last = r.latency
            }
        }
    }

    func snapshot() -> ([ProbeTarget], [Entry]) { (targets, entries.withLock { $0 }) }
}
