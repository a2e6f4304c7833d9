import Engine
import Foundation
import Histogram
import ProbeModel

/// Renders HTTP probe and load reports for people (tables) and machines
/// (JSON, NDJSON, CSV). Phase names are the result fields: dns, connect,
/// tls (or quic_handshake for HTTP/3), ttfb, transfer, total.
public enum HTTPReportFormatter {
    public static let phases = KindDeclaration.http.phases.map(\.name)

    // MARK: Probe

    public static func table(_ report: HTTPProbeReport) -> String {
        let width = max(20, report.targets.map { $0.request.url.description.count }.max() ?? 0)
        var out = ProbeReportFormatter.pad("url", width) + "  sent    ok  loss%  status     "
            + "cold p50 ms: dns connect     tls    ttfb    total | warm p50 ms: ttfb   total\n"
        for (i, t) in report.targets.enumerated() {
            let s = report.summaries[i]
            func p50(_ l: LatencyStatistics?) -> String { millisecondsText(l?.percentile(50).map { Double($0) }) }
            let statuses = s.statuses.sorted { $0.key < $1.key }.map { "\($0.key)×\($0.value)" }.joined(separator: ",")
            out += ProbeReportFormatter.pad(t.request.url.description, width) + "  " + rightAligned(String(s.sent), 4) + "  "
                + rightAligned(String(s.succeeded), 4) + "  " + rightAligned(percentText(s.lossPercent), 5) + "  "
                + ProbeReportFormatter.pad(statuses.isEmpty ? "-" : statuses, 9) + "  "
                + [p50(s.cold.dns), p50(s.cold.connect), p50(s.cold.tls.count > 0 ? s.cold.tls : s.cold.quicHandshake),
                   p50(s.cold.ttfb), p50(s.cold.total)].joined(separator: " ")
                + " | " + [p50(s.warm.ttfb), p50(s.warm.total)].joined(separator: " ") + "\n"
            let failures = s.outcomes.filter { $0.key != "success" }.sorted { $0.key < $1.key }
            if !failures.isEmpty {
                out += "  failures: " + failures.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
                    + (s.lastMessage.map { " (\($0))" } ?? "") + "\n"
            }
            if let d = s.lastTLS {
                out += "  tls: \(d.version) \(d.cipher) alpn=\(d.alpn ?? "-") verified=\(d.verified) "
                    + "subject=\(d.subject) issuer=\(d.issuer) expires in \(d.daysToExpiry) days\n"
            }
        }
        if report.summaries.contains(where: { $0.cold.quicHandshake.count > 0 }) {
            out += "# HTTP/3: the tls column is the QUIC handshake (connection and TLS in one; no connect)\n"
        }
        out += "# \(report.summaries.reduce(0) { $0 + $1.sent }) probes in "
            + "\(millisecondsText(Double(report.wallNanoseconds) / 1000, width: 1)) s; cold = new connection, warm = reused\n"
        return out
    }

    public static func json(_ report: HTTPProbeReport) -> String {
        var w = JSONBuffer(capacity: 4096)
        w.beginObject()
        w.field("kind", "http")
        w.field("wall_ns", report.wallNanoseconds)
        w.key("targets")
        w.raw("[")
        for (i, t) in report.targets.enumerated() { writeTarget(t, report.summaries[i], type: nil, into: &w) }
        w.raw("]")
        w.endObject()
        return w.text
    }

    public static func summaryLines(_ report: HTTPProbeReport) -> String {
        var w = JSONBuffer(capacity: 4096)
        for (i, t) in report.targets.enumerated() {
            writeTarget(t, report.summaries[i], type: "target", into: &w)
            w.newline()
        }
        return w.text
    }

    private static func writeTarget(_ t: HTTPProbeTarget, _ s: HTTPProbeSummary, type: String?, into w: inout JSONBuffer) {
        w.beginObject()
        if let type { w.field("type", type) }
        w.field("url", t.request.url.description)
        w.field("address", t.address.description)
        w.field("sent", s.sent)
        w.field("succeeded", s.succeeded)
        w.field("loss_percent", s.lossPercent)
        w.field("outcomes", JSONValue.object(s.outcomes.sorted { $0.key < $1.key }.map { ($0.key, .int(Int64($0.value))) }))
        w.field("statuses", JSONValue.object(s.statuses.sorted { $0.key < $1.key }.map { (String($0.key), .int(Int64($0.value))) }))
        for (name, stats) in [("cold", s.cold), ("warm", s.warm)] {
            w.key(dynamic: name)
            w.beginObject()
            for p in phases { ProbeReportFormatter.writeLatency(p, stats[p]!, into: &w) }
            w.endObject()
        }
        if let d = s.lastTLS { w.field("tls", tlsValue(d)) }
        w.endObject()
    }

    static func tlsValue(_ d: TLSDetails) -> JSONValue {
        .object([("version", .string(d.version)), ("cipher", .string(d.cipher)),
                 ("alpn", d.alpn.map { .string($0) } ?? .null), ("subject", .string(d.subject)),
                 ("issuer", .string(d.issuer)), ("san", .string(d.subjectAlternativeNames)),
                 ("not_after", .int(d.notAfter)), ("days_to_expiry", .int(Int64(d.daysToExpiry))),
                 ("verified", .bool(d.verified))])
    }

    /// One result as an NDJSON line.
    public static func resultLine(_ r: HTTPResult) -> String {
        var w = JSONBuffer(capacity: 512)
        w.beginObject()
        w.field("type", "result")
        w.field("target", Int(r.target))
        w.field("seq", Int(r.sequence))
        w.field("url", r.url)
        w.field("outcome", r.outcome.name)
        if let p = r.failedPhase { w.field("failed_phase", p.rawValue) }
        if let m = r.message { w.field("message", m) }
        if r.status > 0 { w.field("status", r.status) }
        w.field("protocol", r.protocolName)
        w.field("reused", JSONValue.bool(r.reused))
        if !r.remote.isEmpty { w.field("remote", r.remote) }
        for name in phases {
            if let v = r[phase: name] { w.field(dynamic: name + "_ns", v) }
        }
        if let retry = r.quicRetry { w.field("quic_retry", JSONValue.bool(retry)) }
        w.field("header_bytes_in", r.headerBytesIn)
        w.field("body_bytes_in", r.bodyBytesIn)
        w.field("header_bytes_out", r.headerBytesOut)
        w.field("body_bytes_out", r.bodyBytesOut)
        if let t = r.throughput { w.field("throughput_bytes_per_s", t) }
        if let d = r.tlsDetails { w.field("tls", tlsValue(d)) }
        if !r.redirects.isEmpty {
            w.field("redirects", JSONValue.array(r.redirects.map {
                .object([("url", .string($0.url)), ("status", .int(Int64($0.status))),
                         ("total_ns", .uint($0.total)), ("reused", .bool($0.reused))])
            }))
        }
        w.endObject()
        return w.text
    }

    public static let csvHeader = (["target", "seq", "url", "outcome", "failed_phase", "status", "protocol", "reused"]
        + phases.map { $0 + "_ns" } + ["header_bytes_in", "body_bytes_in", "redirects"]).joined(separator: ",")

    public static func csvLine(_ r: HTTPResult) -> String {
        func o(_ v: UInt64?) -> String { v.map(String.init) ?? "" }
        let url = r.url.contains(",") || r.url.contains("\"") ? "\"" + r.url.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : r.url
        return (["\(r.target)", "\(r.sequence)", url, r.outcome.name, r.failedPhase?.rawValue ?? "",
                r.status > 0 ? "\(r.status)" : "", r.protocolName, r.reused ? "1" : "0"]
            + phases.map { o(r[phase: $0]) } + ["\(r.headerBytesIn)", "\(r.bodyBytesIn)", "\(r.redirects.count)"]).joined(separator: ",")
    }

    // MARK: Bench

    static let benchPercentiles: [(String, Double)] = [("p50", 50), ("p90", 90), ("p99", 99), ("p99.9", 99.9)]

    public static func benchTable(_ r: HTTPBenchReport) -> String {
        let s = r.settings
        var out = "\(r.url)  \(r.protocolName), \(s.connections) connections, \(s.threads) thread(s), "
            + (s.rate.map { "open loop at \(Int($0)) req/s" } ?? "closed loop")
            + ", \(millisecondsText(Double(r.wallNanoseconds) / 1000, width: 1)) s\n"
        out += String(format: "  %d requests, %.0f req/s, %.2f MB/s in; %d connections opened\n",
                      r.requests, r.requestsPerSecond, r.bytesPerSecond / 1e6, r.connectionsOpened)
        out += "  phase (ms)       count     p50     p90     p99   p99.9     max\n"
        for name in HTTPBenchHistograms.phaseNames {
            let h = r.histograms[name]
            guard h.totalCount > 0 else { continue }
            out += "  " + ProbeReportFormatter.pad(name, 12) + rightAligned(String(h.totalCount), 10) + " "
                + benchPercentiles.map { millisecondsText(Double(h.valueAtPercentile($0.1))) }.joined(separator: " ")
                + " " + millisecondsText(Double(h.max)) + "\n"
        }
        out += "  status: " + zip(1...5, r.statusClasses).filter { $0.1 > 0 }.map { "\($0.0)xx \($0.1)" }.joined(separator: ", ")
        out += r.errors.isEmpty ? "; no errors\n"
            : "; errors: " + r.errors.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ") + "\n"
        if s.rate != nil { out += "  latency measured from each request's intended send time (coordinated omission corrected)\n" }
        return out
    }

    public static func benchJSON(_ r: HTTPBenchReport) -> String {
        var w = JSONBuffer(capacity: 64 * 1024)
        w.beginObject()
        w.field("kind", "http")
        w.field("url", r.url)
        w.field("protocol", r.protocolName)
        w.field("connections", r.settings.connections)
        w.field("threads", r.settings.threads)
        w.field("mode", r.settings.rate == nil ? "closed" : "open")
        if let rate = r.settings.rate { w.field("target_rate", rate) }
        w.field("wall_ns", r.wallNanoseconds)
        w.field("requests", r.requests)
        w.field("requests_per_second", r.requestsPerSecond)
        w.field("bytes_in", r.bytesIn)
        w.field("bytes_out", r.bytesOut)
        w.field("bytes_in_per_second", r.bytesPerSecond)
        w.field("connections_opened", r.connectionsOpened)
        w.field("status_classes", JSONValue.object(zip(1...5, r.statusClasses).map { ("\($0.0)xx", .int(Int64($0.1))) }))
        w.field("errors", JSONValue.object(r.errors.sorted { $0.key < $1.key }.map { ($0.key, .int(Int64($0.value))) }))
        w.key("phases")
        w.beginObject()
        for name in HTTPBenchHistograms.phaseNames {
            let h = r.histograms[name]
            w.key(dynamic: name)
            w.beginObject()
            w.field("count", h.totalCount)
            if h.totalCount > 0 {
                w.field("min_ns", h.min)
                w.field("mean_ns", h.mean)
                for (label, p) in benchPercentiles { w.field(dynamic: label + "_ns", h.valueAtPercentile(p)) }
                w.field("max_ns", h.max)
                // The full histogram: [value_ns, count] for every recorded bucket.
                w.field("histogram", JSONValue.array(h.recordedValues().map {
                    .array([.uint($0.value), .uint($0.count)])
                }))
            }
            w.endObject()
        }
        w.endObject()
        w.endObject()
        return w.text
    }
}
