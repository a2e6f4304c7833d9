import Engine
import Foundation

/// Renders reports for people (table) and machines (JSON, NDJSON, CSV). Field
/// names come from the kind's declared phases.
enum ReportFormatter {
    static func render(_ report: ProbeReport, kind: any ProbeKind.Type, format: OutputFormat) -> String {
        switch format {
        case .table: return table(report, kind: kind)
        case .json: return json(document(report, kind: kind)) + "\n"
        case .ndjson:
            var out = ""
            for (i, t) in report.targets.enumerated() {
                var d = targetDocument(t, report.summaries[i], kind: kind)
                d["type"] = "summary"
                out += json(d) + "\n"
            }
            var total = runDocument(report, kind: kind)
            total["type"] = "run"
            return out + json(total) + "\n"
        case .csv: return csv(report, kind: kind)
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
        if report.targets.count > 1 {
            out += row(pad("(all)", width), report.total) + "\n"
        }
        let total = report.total
        out += String(format: "# %llu sent, %llu received, %.2f%% loss, %llu duplicates, %llu reordered in %.3f s; timeouts %llu, refused %llu, unreachable %llu, errors %llu; peak RSS %.1f MiB\n",
                      total.sent, total.received, total.lossPercent, total.duplicates, total.reordered,
                      Double(report.wallNanoseconds) / 1e9, total.timeouts, total.refused, total.unreachable,
                      total.errors, Double(peakResidentKilobytes()) / 1024)
        return out
    }

    private static func row(_ label: String, _ s: ProbeSummary) -> String {
        let l = s.latency
        func ms(_ v: UInt64?) -> String { v.map { String(format: "%7.3f", Double($0) / 1e6) } ?? "      -" }
        func msd(_ v: Double?) -> String { v.map { String(format: "%7.3f", $0 / 1e6) } ?? "      -" }
        return label + String(format: "  %4llu  %4llu  %5.1f", s.sent, s.received, s.lossPercent)
            + "   " + [ms(l.min), ms(l.percentile(50)), msd(l.mean), ms(l.percentile(90)), ms(l.percentile(99)),
                      ms(l.max), msd(l.standardDeviation), " " + msd(l.jitterRFC3550), msd(l.jitterMeanAbsoluteDifference)]
                .joined(separator: " ")
            + (s.lastTTL >= 0 ? String(format: "  %3d", s.lastTTL) : "    -")
    }

    private static func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s : s + String(repeating: " ", count: width - s.count)
    }

    // MARK: Documents

    static func latencyDocument(_ l: LatencyStatistics) -> [String: Any] {
        guard l.count > 0 else { return ["count": 0] }
        var d: [String: Any] = [
            "count": l.count, "min_ns": l.min!, "max_ns": l.max!, "mean_ns": l.mean!,
            "p50_ns": l.percentile(50)!, "p90_ns": l.percentile(90)!, "p99_ns": l.percentile(99)!,
            "stddev_ns": l.standardDeviation!,
        ]
        if let j = l.jitterRFC3550 { d["jitter_rfc3550_ns"] = j }
        if let j = l.jitterMeanAbsoluteDifference { d["jitter_mean_abs_diff_ns"] = j }
        return d
    }

    static func summaryDocument(_ s: ProbeSummary, kind: any ProbeKind.Type) -> [String: Any] {
        var d: [String: Any] = [
            "sent": s.sent, "received": s.received, "lost": s.lost, "loss_percent": s.lossPercent,
            "duplicates": s.duplicates, "reordered": s.reordered, "timeouts": s.timeouts,
            "refused": s.refused, "unreachable": s.unreachable, "errors": s.errors,
            kind.phases[0].name: latencyDocument(s.latency),
        ]
        for (i, p) in s.secondaryPhases.enumerated() where i + 1 < kind.phases.count {
            d[kind.phases[i + 1].name] = latencyDocument(p)
        }
        if s.lastTTL >= 0 { d["ttl"] = Int(s.lastTTL) }
        return d
    }

    static func targetDocument(_ t: ProbeTarget, _ s: ProbeSummary, kind: any ProbeKind.Type) -> [String: Any] {
        var d = summaryDocument(s, kind: kind)
        d["target"] = t.name
        d["address"] = t.address.description
        if t.port != 0 { d["port"] = Int(t.port) }
        return d
    }

    static func runDocument(_ report: ProbeReport, kind: any ProbeKind.Type) -> [String: Any] {
        var d = summaryDocument(report.total, kind: kind)
        d["kind"] = report.kind
        d["wall_ns"] = report.wallNanoseconds
        d["peak_rss_kb"] = peakResidentKilobytes()
        d["notes"] = report.notes
        return d
    }

    static func document(_ report: ProbeReport, kind: any ProbeKind.Type) -> [String: Any] {
        var d = runDocument(report, kind: kind)
        d["targets"] = report.targets.enumerated().map { targetDocument($1, report.summaries[$0], kind: kind) }
        return d
    }

    static func resultLine(_ r: ProbeResult, kind: any ProbeKind.Type, targets: [ProbeTarget]) -> String {
        let t = targets[Int(r.target)]
        var d: [String: Any] = [
            "type": "result", "target": t.name, "address": t.address.description, "seq": r.sequence,
            "outcome": r.outcome.name, "clock": r.clock.name,
        ]
        if t.port != 0 { d["port"] = Int(t.port) }
        switch r.outcome {
        case .unreachable(let type, let code): d["icmp_type"] = Int(type); d["icmp_code"] = Int(code)
        case .error(let e): d["errno"] = Int(e)
        default: break
        }
        let phases = [r.phases.0, r.phases.1, r.phases.2]
        for (i, field) in kind.phases.enumerated() { if let v = phases[i] { d[field.name + "_ns"] = v } }
        if r.ttl >= 0 { d["ttl"] = Int(r.ttl) }
        return json(d)
    }

    static func json(_ object: Any) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    // MARK: CSV

    static func csv(_ report: ProbeReport, kind: any ProbeKind.Type) -> String {
        let p = kind.phases[0].name
        var out = "target,address,port,sent,received,lost,loss_percent,duplicates,reordered,timeouts,refused,unreachable,errors,"
            + "\(p)_min_ns,\(p)_p50_ns,\(p)_mean_ns,\(p)_p90_ns,\(p)_p99_ns,\(p)_max_ns,\(p)_stddev_ns,jitter_rfc3550_ns,jitter_mean_abs_diff_ns,ttl\n"
        for (i, t) in report.targets.enumerated() {
            let s = report.summaries[i], l = s.latency
            func o<T>(_ v: T?) -> String { v.map { "\($0)" } ?? "" }
            func f(_ v: Double?) -> String { v.map { String(format: "%.1f", $0) } ?? "" }
            let name = t.name.contains(",") ? "\"\(t.name)\"" : t.name
            out += [name, t.address.description, t.port == 0 ? "" : "\(t.port)", "\(s.sent)", "\(s.received)", "\(s.lost)",
                    String(format: "%.3f", s.lossPercent), "\(s.duplicates)", "\(s.reordered)", "\(s.timeouts)",
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
