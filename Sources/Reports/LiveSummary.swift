import Engine
import Foundation
import Synchronization

/// Per-target statistics of a continuous run, fed from its ring threads and
/// read by whoever prints (`waddleperf watch`).
public final class LiveSummary: Sendable {
    public struct Entry: Sendable {
        public var summary = ProbeSummary()
        /// The last probe's latency; nil when it failed.
        public var last: UInt64? = nil
    }

    public let kind: any ProbeKind.Type
    public let targets: [ProbeTarget]
    private let entries: Mutex<[Entry]>

    public init(kind: any ProbeKind.Type, targets: [ProbeTarget]) {
        self.kind = kind
        self.targets = targets
        entries = Mutex(Array(repeating: Entry(), count: targets.count))
    }

    /// A run's observer: records a batch of results (on a ring thread).
    public func record(_ batch: [ProbeResult]) {
        entries.withLock { e in
            for r in batch {
                e[Int(r.target)].summary.record(r)
                e[Int(r.target)].last = r.latency
            }
        }
    }

    public func snapshot() -> [Entry] { entries.withLock { $0 } }

    /// The live table of several runs: one block per kind, every column aligned across blocks
    /// however long the targets are. `elapsed` nil: the final summary.
    public static func render(_ live: [LiveSummary], elapsed: Duration?) -> String {
        var out = elapsed.map { "== \($0.components.seconds) s\n" } ?? "== final\n"
        let width = max(12, live.flatMap { $0.targets.map { $0.endpoint.count } }.max() ?? 0)
        for l in live {
            let entries = l.snapshot()
            out += ProbeReportFormatter.pad("[\(l.kind.name)]", width + 2)
                + "  sent  recv  loss%  \(ProbeReportFormatter.pad(l.kind.phases[0].name + " ms:", 12))"
                + "   last     p50     p99     max  jitMAD\n"
            for (t, e) in zip(l.targets, entries) {
                let s = e.summary
                func ms(_ v: UInt64?) -> String { millisecondsText(v.map { Double($0) }) }
                out += "  " + ProbeReportFormatter.pad(t.endpoint, width) + "  " + rightAligned(String(s.sent), 4) + "  "
                    + rightAligned(String(s.received), 4) + "  " + rightAligned(percentText(s.lossPercent), 5) + "  "
                    + String(repeating: " ", count: 12) + " "
                    + [ms(e.last), ms(s.latency.percentile(50)), ms(s.latency.percentile(99)), ms(s.latency.max),
                       millisecondsText(s.latency.jitterMeanAbsoluteDifference)].joined(separator: " ")
                    + (s.unresolved > 0 ? "  unresolved" : "") + "\n"
            }
        }
        return out
    }
}
