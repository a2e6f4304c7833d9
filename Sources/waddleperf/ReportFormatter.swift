import Engine
import Foundation

/// Renders reports for people (table) and machines (JSON, NDJSON, CSV). Field
/// names come from the kind's declared phases.
enum ReportFormatter {
    /// The report as the bytes to print (JSON never becomes a String: a
    /// /16 sweep's report is 20 MB).
    static func render(_ report: ProbeReport, kind: any ProbeKind.Type, format: OutputFormat) -> [UInt8] {
        switch format {
        case .table: return Array(table(report, kind: kind).utf8)
        case .json:
            var w = jsonWriter(report, kind: kind)
            w.newline()
            return w.bytes
        case .ndjson: return Array(ndjsonSummaries(report, kind: kind).utf8)
        case .csv: return Array(csv(report, kind: kind).utf8)
        }
    }

    // MARK: Table

    static func table(_ report: ProbeReport, kind: any ProbeKind.Type) -> String {
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
            + "refused \(total.refused), unreachable \(total.unreachable), errors \(total.errors); "
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

    static func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s : s + String(repeating: " ", count: width - s.count)
    }

    // MARK: Documents

    /// Writes one target's summary: the same keys as `targetFields`, without
    /// intermediate values (this runs 65,534 times for a /16 sweep).
    static func writeTarget(_ t: ProbeTarget, _ s: ProbeSummary, kind: any ProbeKind.Type, type: String?,
                            into w: inout JSONWriter) {
        w.beginObject()
        if let type { w.field("type", type) }
        w.field("target", t.name)
        w.key("address")
        w.bytes.append(UInt8(ascii: "\""))
        t.address.appendText(to: &w.bytes)
        w.bytes.append(UInt8(ascii: "\""))
        w.valueWritten()
        if t.port != 0 { w.field("port", Int(t.port)) }
        writeSummaryFields(s, kind: kind, into: &w)
        w.endObject()
    }

    /// The counters and latency objects shared by target and run documents.
    static func writeSummaryFields(_ s: ProbeSummary, kind: any ProbeKind.Type, into w: inout JSONWriter) {
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
        writeLatency(kind.phases[0].name, s.latency, into: &w)
        for (i, p) in s.secondaryPhases.enumerated() where i + 1 < kind.phases.count {
            writeLatency(kind.phases[i + 1].name, p, into: &w)
        }
        if s.lastTTL >= 0 { w.field("ttl", Int(s.lastTTL)) }
    }

    /// Run-level fields: what ran, how long, and the merged summary.
    static func writeRunFields(_ report: ProbeReport, kind: any ProbeKind.Type, into w: inout JSONWriter) {
        w.field("kind", report.kind)
        w.field("wall_ns", report.wallNanoseconds)
        w.field("peak_rss_kb", peakResidentKilobytes())
        w.field("notes", JSONValue.array(report.notes.map { .string($0) }))
        writeSummaryFields(report.total, kind: kind, into: &w)
    }

    static func writeLatency(_ name: String, _ l: LatencyStatistics, into w: inout JSONWriter) {
        w.key(name)
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

    private static func jsonWriter(_ report: ProbeReport, kind: any ProbeKind.Type) -> JSONWriter {
        var w = JSONWriter(capacity: report.targets.count * 400 + 1024)
        w.beginObject()
        writeRunFields(report, kind: kind, into: &w)
        w.key("targets")
        w.raw("[")
        for (k, chunk) in targetChunks(report, kind: kind).enumerated() where !chunk.isEmpty {
            if k > 0 { w.raw(",") }
            w.bytes += chunk
        }
        w.raw("]")
        w.endObject()
        return w
    }

    /// The targets' objects, comma-separated, in contiguous chunks written in
    /// parallel (one per core) once a report is big: a /16 sweep's 65,534
    /// objects are most of the time between its last reply and its exit.
    private static func targetChunks(_ report: ProbeReport, kind: any ProbeKind.Type) -> [[UInt8]] {
        let n = report.targets.count
        let parts = n >= 4096 ? max(1, min(ProcessInfo.processInfo.activeProcessorCount, 8)) : 1
        var chunks = [[UInt8]](repeating: [], count: parts)
        chunks.withUnsafeMutableBufferPointer { buffer in
            nonisolated(unsafe) let out = buffer
            nonisolated(unsafe) let (report, kind) = (report, kind)
            DispatchQueue.concurrentPerform(iterations: parts) { p in
                let range = (p * n / parts)..<((p + 1) * n / parts)
                var w = JSONWriter(capacity: range.count * 400)
                for i in range { writeTarget(report.targets[i], report.summaries[i], kind: kind, type: nil, into: &w) }
                out[p] = w.bytes
            }
        }
        return chunks
    }

    static func ndjsonSummaries(_ report: ProbeReport, kind: any ProbeKind.Type) -> String {
        var w = JSONWriter(capacity: report.targets.count * 400 + 1024)
        for (i, t) in report.targets.enumerated() {
            writeTarget(t, report.summaries[i], kind: kind, type: "summary", into: &w)
            w.newline()
        }
        w.beginObject()
        w.field("type", "run")
        writeRunFields(report, kind: kind, into: &w)
        w.endObject()
        w.newline()
        return w.text
    }

    static func resultLine(_ r: ProbeResult, kind: any ProbeKind.Type, targets: [ProbeTarget]) -> String {
        let t = targets[Int(r.target)]
        var d: [(String, JSONValue)] = [
            ("type", .string("result")), ("target", .string(t.name)), ("address", .string(t.address.description)),
        ]
        if t.port != 0 { d.append(("port", .int(Int64(t.port)))) }
        d += [("seq", .uint(UInt64(r.sequence))), ("outcome", .string(r.outcome.name)), ("clock", .string(r.clock.name))]
        switch r.outcome {
        case .unreachable(let type, let code): d += [("icmp_type", .int(Int64(type))), ("icmp_code", .int(Int64(code)))]
        case .error(let e): d.append(("errno", .int(Int64(e))))
        default: break
        }
        let phases = [r.phases.0, r.phases.1, r.phases.2]
        for (i, field) in kind.phases.enumerated() { if let v = phases[i] { d.append((field.name + "_ns", .uint(v))) } }
        if r.ttl >= 0 { d.append(("ttl", .int(Int64(r.ttl)))) }
        return JSONValue.object(d).text
    }

    // MARK: CSV

    static func csv(_ report: ProbeReport, kind: any ProbeKind.Type) -> String {
        let p = kind.phases[0].name
        var out = "target,address,port,sent,received,lost,loss_percent,duplicates,reordered,timeouts,refused,unreachable,errors,"
            + "\(p)_min_ns,\(p)_p50_ns,\(p)_mean_ns,\(p)_p90_ns,\(p)_p99_ns,\(p)_max_ns,\(p)_stddev_ns,jitter_rfc3550_ns,jitter_mean_abs_diff_ns,ttl\n"
        for (i, t) in report.targets.enumerated() {
            let s = report.summaries[i], l = s.latency
            func o<T>(_ v: T?) -> String { v.map { "\($0)" } ?? "" }
            func f(_ v: Double?) -> String { v.map { String(($0 * 10).rounded() / 10) } ?? "" }
            let name = t.name.contains(",") ? "\"\(t.name)\"" : t.name
            out += [name, t.address.description, t.port == 0 ? "" : "\(t.port)", "\(s.sent)", "\(s.received)", "\(s.lost)",
                    percentText(s.lossPercent, decimals: 3), "\(s.duplicates)", "\(s.reordered)", "\(s.timeouts)",
                    "\(s.refused)", "\(s.unreachable)", "\(s.errors)", o(l.min), o(l.percentile(50)), f(l.mean),
                    o(l.percentile(90)), o(l.percentile(99)), o(l.max), f(l.standardDeviation),
                    f(l.jitterRFC3550), f(l.jitterMeanAbsoluteDifference), s.lastTTL >= 0 ? "\(s.lastTTL)" : ""]
                .joined(separator: ",") + "\n"
        }
        return out
    }
}

/// Peak resident set size of this process, KiB.
func peakResidentKilobytes() -> Int {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return usage.ru_maxrss
}
