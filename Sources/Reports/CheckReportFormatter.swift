import Engine
import Foundation
import ProbeModel

/// Renders a run of checks: one result document per check. JSON and NDJSON
/// are the documents themselves (the shape `POST /api/v1/results` takes);
/// the table and CSV show the common columns and each kind's stored phases.
public enum CheckReportFormatter {
    /// Throws only when a document cannot be encoded (a non-finite number): nothing is written then.
    public static func write(_ report: CheckReport, format: OutputFormat, to output: some ReportOutput) throws {
        switch format {
        case .table: output.write(table(report))
        case .json: output.write(try json(report))
        case .ndjson: output.write(try ndjson(report))
        case .csv: output.write(csv(report))
        }
    }

    static func encoder() -> JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        return e
    }

    /// `{"threads": N, "wall_ns": N, "results": [document, ...]}`.
    public static func json(_ report: CheckReport) throws -> String {
        let documents = String(decoding: try encoder().encode(report.documents), as: UTF8.self)
        return "{\"threads\":\(report.threads),\"wall_ns\":\(report.wallNanoseconds),\"results\":\(documents)}\n"
    }

    /// One document per line.
    public static func ndjson(_ report: CheckReport) throws -> String {
        let e = encoder()
        return try report.documents.map { d in String(decoding: try e.encode(d), as: UTF8.self) + "\n" }.joined()
    }

    /// The columns of a table or CSV: the common ones, then every stored metric any listed
    /// kind declares (derived from the declarations, in catalog order).
    static func metricColumns(_ report: CheckReport) -> [StoredMetric] {
        let present = Set(report.documents.flatMap(\.metrics.keys))
        return KindCatalog.builtIn.storedMetrics.filter { present.contains($0.name) && $0.name != "loss_percent" }
    }

    public static func table(_ report: CheckReport) -> String {
        let labels = report.checks.map(\.label)
        let width = max(12, labels.map(\.count).max() ?? 0)
        let outcomeWidth = max(8, report.documents.map(\.outcome.count).max() ?? 0)
        let metrics = metricColumns(report).filter { $0.unit == .milliseconds }
        let headers = metrics.map { String($0.name.dropLast(3)) }
        let columnWidth = max(8, (headers.map(\.count).max() ?? 0) + 1)
        var out = ProbeReportFormatter.pad("check", width) + "  kind  " + ProbeReportFormatter.pad("outcome", outcomeWidth)
            + "  sent  recv  loss%  ms:" + headers.map { rightAligned($0, columnWidth) }.joined() + "\n"
        for (i, d) in report.documents.enumerated() {
            var line = ProbeReportFormatter.pad(labels[i], width) + "  " + ProbeReportFormatter.pad(d.testType, 4) + "  "
            line += ProbeReportFormatter.pad(d.outcome, outcomeWidth) + "  " + rightAligned(d.sent.map(String.init) ?? "-", 4)
            line += "  " + rightAligned(d.received.map(String.init) ?? "-", 4) + "  "
            line += rightAligned(d.metrics["loss_percent"].map { percentText($0) } ?? "-", 5) + "     "
            for m in metrics {
                let value: Double? = d.metrics[m.name].map { $0 * 1e6 }
                line += rightAligned(millisecondsText(value, width: columnWidth - 1), columnWidth)
            }
            out += line + "\n"
        }
        let failed = report.documents.filter { !$0.success }.count
        out += "# \(report.documents.count) checks, \(failed) failed, in "
            + "\(millisecondsText(Double(report.wallNanoseconds) / 1000, width: 1)) s on \(report.threads) thread(s)\n"
        return out
    }

    public static func csv(_ report: CheckReport) -> String {
        let metrics = metricColumns(report)
        func quoted(_ s: String) -> String {
            s.contains(",") || s.contains("\"") || s.contains("\n") ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
        }
        var out = (["check", "kind", "target", "resolved_address", "outcome", "success", "sent", "received", "loss_percent"]
            + metrics.map(\.name)).joined(separator: ",") + "\n"
        for (i, d) in report.documents.enumerated() {
            func number(_ v: Double?) -> String { v.map { "\($0)" } ?? "" }
            var row: [String] = [quoted(report.checks[i].label), d.testType, quoted(d.target), d.resolvedAddress ?? ""]
            row += [d.outcome, d.success ? "1" : "0", d.sent.map(String.init) ?? "", d.received.map(String.init) ?? ""]
            row.append(number(d.metrics["loss_percent"]))
            row += metrics.map { number(d.metrics[$0.name]) }
            out += row.joined(separator: ",") + "\n"
        }
        return out
    }
}
