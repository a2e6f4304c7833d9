import ArgumentParser
import Engine
import Reports
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
        let finalRuns = runs.map(\.1)
        // SIGINT or SIGTERM stops sending; what was measured is still summarised, exit 0.
        let signals = SignalCancellation { for run in finalRuns { run.cancel() } }
        defer { signals.cancel() }
        let printer = Task {
            let started = ContinuousClock.now
            while true {
                do { try await Task.sleep(for: .nanoseconds(Int64(period))) } catch { return }
                print(LiveSummary.render(live, elapsed: started.duration(to: .now)), terminator: "")
                fflush(stdout)
                if let stopAfter, started.duration(to: .now) >= .nanoseconds(Int64(stopAfter)) {
                    for run in finalRuns { run.cancel() }
                    return
                }
            }
        }
        // The runs end only when cancelled: by a signal or by --duration.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (i, run) in finalRuns.enumerated() {
                let sink = live[i]
                group.addTask { _ = try await run.run(observer: { sink.record($0) }) }
            }
            try await group.waitForAll()
        }
        printer.cancel()
        await printer.value
        print(LiveSummary.render(live, elapsed: nil), terminator: "")
    }
}
