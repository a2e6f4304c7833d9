import Engine
import Foundation

/// Renders a probe kind's run for people (table) and machines (JSON, NDJSON,
/// CSV). Field names come from the kind's declared phases.
public enum ProbeReportFormatter {
    /// Writes the report to `output`.
    public static func write(_ report: ProbeReport, kind: any ProbeKind.Type, format: OutputFormat, to output: some ReportOutput) {
        switch format {
        case .table: output.write(table(report, kind: kind))
        case .json: streamJSON(report, kind: kind, to: output)
        case .ndjson: output.write(ndjsonSummaries(report, kind: kind))
        case .csv: output.write(csv(report, kind: kind))
        }
    }

    // MARK: Table

    public static func table(_ report: ProbeReport, kind: any ProbeKind.Type) -> String {
        let phase = kind.phases[0].name
        let width = max(12, report.targets.map { $0.endpoint.count }.max() ?? 0)
        var out = ""
        for note in report.notes { out += "# \(note)\n" }
        out += pad("target", width) + "  sent  recv  loss%   \(phase) ms: min     p50    mean     p90     p99     max  stddev  jit3550  jitMAD  ttl\n"
        for (i, t) in report.targets.enumerated() {
            out += row(pad(t.endpoint, width), report.summaries[i]) + "\n"
        }
        let total = report.total
        if report.targets.count > 1 {
            out += row(pad("(all)", width), total) + "\n"
        }
        out += "# \(total.sent) sent, \(total.received) received, \(percentText(total.lossPercent, decimals: 3))% loss, "
            + "\(total.duplicates) duplicates, \(total.reordered) reordered in "
            + "\(millisecondsText(Double(report.wallNanoseconds) / 1000, width: 1)) s; timeouts \(total.timeouts), "
            + "refused \(total.refused), unreachable \(total.unreachable), errors \(total.errors), "
            + "unresolved \(total.unresolved); "
            + "peak RSS \(peakResidentKilobytes() / 1024) MiB\n"
        return out
    }

    private static func row(_ label: String, _ s: ProbeSummary) -> String {
        let l = s.latency
        func ms(_ v: UInt64?) -> String { millisecondsText(v.map { Double($0) }) }
        var line = label + "  " + rightAligned(String(s.sent), 4) + "  " + rightAligned(String(s.received), 4)
            + "  " + rightAligned(percentText(s.lossPercent), 5) + "   "
        line += [ms(l.min), ms(l.percentile(50)), millisecondsText(l.mean), ms(l.percentile(90)), ms(l.percentile(99)),
                 ms(l.max), millisecondsText(l.standardDeviation), " " + millisecondsText(l.jitterRFC3550),
                 millisecondsText(l.jitterMeanAbsoluteDifference)].joined(separator: " ")
        return line + (s.lastTTL >= 0 ? "  " + rightAligned(String(s.lastTTL), 3) : "    -")
    }

    public static func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s : s + String(repeating: " ", count: width - s.count)
    }

    // MARK: Documents

    /// Writes one target's summary: the same keys as `targetFields`, without
    /// intermediate values (this runs 65,534 times for a /16 sweep).
    static func writeTarget(_ t: ProbeTarget, _ s: ProbeSummary, phases: [String], type: StaticString?,
                            into w: inout JSONBuffer) {
        w.beginObject()
        if let type { w.field("type", type.description) }
        w.field("target", t.name)
        if let failure = t.resolutionFailure {
            w.field("address", nil as String?)
            w.field("resolution_error", failure)
        } else {
            w.field("address", t.address)
        }
        if t.port != 0 { w.field("port", Int(t.port)) }
        writeSummaryFields(s, phases: phases, into: &w)
        w.endObject()
    }

    /// The counters and latency objects shared by target and run documents.
    static func writeSummaryFields(_ s: ProbeSummary, phases: [String], into w: inout JSONBuffer) {
        w.field("sent", s.sent)
        w.field("received", s.received)
        w.field("lost", s.lost)
        w.field("loss_percent", s.lossPercent)
        w.field("duplicates", s.duplicates)
        w.field("reordered", s.reordered)
        w.field("timeouts", s.timeouts)
        w.field("refused", s.refused)
        w.field("unreachable", s.unreachable)
        w.field("errors", s.errors)
        w.field("unresolved", s.unresolved)
        writeLatency(phases[0], s.latency, into: &w)
        for (i, p) in s.secondaryPhases.enumerated() where i + 1 < phases.count {
            writeLatency(phases[i + 1], p, into: &w)
        }
        if s.lastTTL >= 0 { w.field("ttl", Int(s.lastTTL)) }
    }

    /// Run-level fields: what ran, how long, and the merged summary.
    static func writeRunFields(_ report: ProbeReport, kind: any ProbeKind.Type, into w: inout JSONBuffer) {
        w.field("kind", report.kind)
        w.field("wall_ns", report.wallNanoseconds)
        w.field("threads", report.threads)
        w.field("peak_rss_kb", peakResidentKilobytes())
        w.field("notes", JSONValue.array(report.notes.map { .string($0) }))
        writeSummaryFields(report.total, phases: kind.phases.map(\.name), into: &w)
    }

    static func writeLatency(_ name: String, _ l: LatencyStatistics, into w: inout JSONBuffer) {
        w.key(dynamic: name)
        w.beginObject()
        w.field("count", l.count)
        if l.count > 0 {
            w.field("min_ns", l.min!)
            w.field("max_ns", l.max!)
            w.field("mean_ns", l.mean!)
            w.field("p50_ns", l.percentile(50)!)
            w.field("p90_ns", l.percentile(90)!)
            w.field("p99_ns", l.percentile(99)!)
            w.field("stddev_ns", l.standardDeviation!)
            if let j = l.jitterRFC3550 { w.field("jitter_rfc3550_ns", j) }
            if let j = l.jitterMeanAbsoluteDifference { w.field("jitter_mean_abs_diff_ns", j) }
        }
        w.endObject()
    }

    /// Targets per chunk of a streamed JSON report (about 600 KB).
    static let targetsPerChunk = 2048

    /// JSON straight to `output` as it is made: the run fields, then the targets' objects in
    /// chunks rendered on every core and written in order while later chunks render. A /16
    /// sweep's report is 20 MB; rendering it whole before writing it was most of the time
    /// between its last reply and its exit.
    public static func streamJSON(_ report: ProbeReport, kind: any ProbeKind.Type, to output: some ReportOutput) {
        var head = JSONBuffer(capacity: 4096)
        head.beginObject()
        writeRunFields(report, kind: kind, into: &head)
        head.key("targets")
        head.raw("[")
        output.write(head.bytes)
        let n = report.targets.count, per = targetsPerChunk
        let chunks = (n + per - 1) / per
        let phases = kind.phases.map(\.name)
        /// Chunk `c`'s objects, comma-separated (and led by a comma after the first chunk).
        @Sendable func render(_ c: Int, into w: inout JSONBuffer) {
            if c > 0 { w.raw(",") }
            for i in (c * per)..<min(n, (c + 1) * per) {
                writeTarget(report.targets[i], report.summaries[i], phases: phases, type: nil, into: &w)
            }
        }
        if chunks <= 1 {
            var w = JSONBuffer(capacity: n * 320)
            if chunks == 1 { render(0, into: &w) }
            output.write(w.bytes)
        } else {
            let board = ChunkBoard(count: chunks)
            for _ in 0..<min(ProcessInfo.processInfo.activeProcessorCount, chunks) {
                Thread {
                    var w = JSONBuffer(capacity: per * 320)
                    while let c = board.claim() {
                        w.reset()
                        render(c, into: &w)
                        board.deliver(c, w.bytes)
                    }
                }.start()
            }
            for c in 0..<chunks { output.write(board.take(c)) }
        }
        output.write(Array("]}\n".utf8))
    }

    public static func ndjsonSummaries(_ report: ProbeReport, kind: any ProbeKind.Type) -> String {
        var w = JSONBuffer(capacity: report.targets.count * 320 + 1024)
        let phases = kind.phases.map(\.name)
        for (i, t) in report.targets.enumerated() {
            writeTarget(t, report.summaries[i], phases: phases, type: "summary", into: &w)
            w.newline()
        }
        w.beginObject()
        w.field("type", "run")
        writeRunFields(report, kind: kind, into: &w)
        w.endObject()
        w.newline()
        return w.text
    }

    public static func resultLine(_ r: ProbeResult, kind: any ProbeKind.Type, targets: [ProbeTarget]) -> String {
        let t = targets[Int(r.target)]
        var d: [(String, JSONValue)] = [
            ("type", .string("result")), ("target", .string(t.name)),
            ("address", t.isResolved ? .string(t.address.description) : .null),
        ]
        if t.port != 0 { d.append(("port", .int(Int64(t.port)))) }
        d += [("seq", .uint(UInt64(r.sequence))), ("outcome", .string(r.outcome.name)), ("clock", .string(r.clock.name))]
        switch r.outcome {
        case .unreachable(let type, let code): d += [("icmp_type", .int(Int64(type))), ("icmp_code", .int(Int64(code)))]
        case .error(let e): d.append(("errno", .int(Int64(e))))
        case .unresolved: d.append(("message", .string(t.resolutionFailure ?? "")))
        default: break
        }
        let phases = [r.phases.0, r.phases.1, r.phases.2]
        for (i, field) in kind.phases.enumerated() { if let v = phases[i] { d.append((field.name + "_ns", .uint(v))) } }
        if r.ttl >= 0 { d.append(("ttl", .int(Int64(r.ttl)))) }
        return JSONValue.object(d).text
    }

    // MARK: CSV

    public static func csv(_ report: ProbeReport, kind: any ProbeKind.Type) -> String {
        let p = kind.phases[0].name
        var out = "target,address,port,sent,received,lost,loss_percent,duplicates,reordered,timeouts,refused,unreachable,errors,unresolved,"
            + "\(p)_min_ns,\(p)_p50_ns,\(p)_mean_ns,\(p)_p90_ns,\(p)_p99_ns,\(p)_max_ns,\(p)_stddev_ns,jitter_rfc3550_ns,jitter_mean_abs_diff_ns,ttl\n"
        for (i, t) in report.targets.enumerated() {
            let s = report.summaries[i], l = s.latency
            func o<T>(_ v: T?) -> String { v.map { "\($0)" } ?? "" }
            func f(_ v: Double?) -> String { v.map { String(($0 * 10).rounded() / 10) } ?? "" }
            let name = t.name.contains(",") ? "\"\(t.name)\"" : t.name
            out += [name, t.isResolved ? t.address.description : "", t.port == 0 ? "" : "\(t.port)", "\(s.sent)", "\(s.received)", "\(s.lost)",
                    percentText(s.lossPercent, decimals: 3), "\(s.duplicates)", "\(s.reordered)", "\(s.timeouts)",
                    "\(s.refused)", "\(s.unreachable)", "\(s.errors)", "\(s.unresolved)", o(l.min), o(l.percentile(50)), f(l.mean),
                    o(l.percentile(90)), o(l.percentile(99)), o(l.max), f(l.standardDeviation),
                    f(l.jitterRFC3550), f(l.jitterMeanAbsoluteDifference), s.lastTTL >= 0 ? "\(s.lastTTL)" : ""]
                .joined(separator: ",") + "\n"
        }
        return out
    }
}

/// Peak resident set size of this process, KiB.
public func peakResidentKilobytes() -> Int {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return usage.ru_maxrss
}

/// Chunks of a report: claimed by workers in order, delivered in any order, taken in order.
private final class ChunkBoard: @unchecked Sendable {
    private let condition = NSCondition()
    private var next = 0
    private var ready: [[UInt8]?]

    init(count: Int) { ready = Array(repeating: nil, count: count) }

    func claim() -> Int? {
        condition.lock()
        defer { condition.unlock() }
        guard next < ready.count else { return nil }
        next += 1
        return next - 1
    }

    func deliver(_ c: Int, _ bytes: [UInt8]) {
        condition.lock()
        ready[c] = bytes
        condition.broadcast()
        condition.unlock()
    }

    func take(_ c: Int) -> [UInt8] {
        condition.lock()
        defer { condition.unlock() }
        while ready[c] == nil { condition.wait() }
        defer { ready[c] = nil }
        return ready[c]!
    }
}
