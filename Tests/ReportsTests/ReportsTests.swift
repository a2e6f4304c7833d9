@testable import Engine
import Foundation
import ProbeModel
@testable import Reports
import Testing

/// A kind that exists only here: its declared phases must become the reports' columns.
enum TestOnlyProbe: ProbeKind {
    static let declaration = KindDeclaration(
        name: "testkind", summary: "only in the report tests", defaultPort: 9,
        phases: [ResultField("wait", .nanoseconds, "w"), ResultField("answer", .nanoseconds, "a")])
    static func makeDriver(_ context: DriverContext) throws -> any ProbeDriver {
        throw ConfigurationError(field: "kind", "testkind only renders")
    }
}

/// Rendering, without a run: what the CLI prints comes from the declarations and lines up.
@Suite struct ReportsTests {
    static func summary(_ latencies: [UInt64], second: [UInt64] = [], lost: Int = 0) -> ProbeSummary {
        var s = ProbeSummary()
        for (i, v) in latencies.enumerated() {
            s.record(ProbeResult(target: 0, sequence: UInt32(i), outcome: .success,
                                 phases: (v, i < second.count ? second[i] : nil, nil)))
        }
        for i in 0..<lost { s.record(ProbeResult(target: 0, sequence: UInt32(latencies.count + i), outcome: .timeout)) }
        return s
    }

    static func report(_ kind: any ProbeKind.Type, _ targets: [(String, UInt16)]) -> ProbeReport {
        ProbeReport(kind: kind.name, targets: targets.map { ProbeTarget(name: $0.0, address: IPAddress($0.0)!, port: $0.1) },
                    summaries: targets.map { _ in summary([1_000_000, 2_000_000], second: [500_000, 700_000], lost: 1) },
                    wallNanoseconds: 1_000_000_000, notes: [])
    }

    @Test func aTestOnlyKindsPhasesBecomeTheCSVAndJSONColumns() throws {
        let r = Self.report(TestOnlyProbe.self, [("127.0.0.1", 9)])
        let csv = ProbeReportFormatter.csv(r, kind: TestOnlyProbe.self)
        #expect(csv.hasPrefix("target,") && csv.contains(",wait_min_ns,wait_p50_ns,"))
        let ndjson = ProbeReportFormatter.ndjsonSummaries(r, kind: TestOnlyProbe.self)
        let first = try #require(try JSONSerialization.jsonObject(with: Data(ndjson.split(separator: "\n")[0].utf8)) as? [String: Any])
        #expect((first["wait"] as? [String: Any])?["count"] as? Int == 2)
        #expect((first["answer"] as? [String: Any])?["p50_ns"] as? Int == 500_000)
        let table = ProbeReportFormatter.table(r, kind: TestOnlyProbe.self)
        #expect(table.contains("wait ms:"))
    }

    @Test func httpColumnsAreTheDeclaredPhases() {
        let header = HTTPReportFormatter.csvHeader.split(separator: ",").map(String.init)
        let phases = KindDeclaration.http.phases.map { $0.name + "_ns" }
        #expect(header.filter { $0.hasSuffix("_ns") } == phases)
        #expect(HTTPReportFormatter.phases == KindDeclaration.http.phases.map(\.name))
    }

    @Test func checkDocumentsBecomeCSVColumnsInCatalogOrder() {
        var a = ResultDocument(testType: "tcp", target: "a:1", outcome: "success", success: true)
        a.metrics = ["loss_percent": 0, "latency_ms": 1, "connect_ms": 1, "total_ms": 2]
        var b = ResultDocument(testType: "http", target: "http://b/", outcome: "status", success: false)
        b.metrics = ["loss_percent": 100, "quic_handshake_ms": 3]
        let report = CheckReport(checks: [ProbeSpec(kind: "tcp", target: "a:1"), ProbeSpec(kind: "http", target: "http://b/")],
                                 documents: [a, b], wallNanoseconds: 1, threads: 1)
        let header = CheckReportFormatter.csv(report).split(separator: "\n")[0]
        #expect(header == "check,kind,target,resolved_address,outcome,success,sent,received,loss_percent,latency_ms,connect_ms,total_ms,quic_handshake_ms")
    }

    /// Column positions, by the end of each header word, must hold in every row however long
    /// the target (watch used to shift its columns for `127.0.0.1:17007`).
    @Test func tablesStayAlignedWithLongTargets() {
        func ends(_ line: Substring, of words: [String]) -> [Int] {
            words.compactMap { w in line.range(of: w).map { line.distance(from: line.startIndex, to: $0.upperBound) } }
        }
        func valueEnds(_ line: Substring) -> [Int] {
            // The end of each whitespace-separated field.
            var out: [Int] = []
            var i = 0
            var inField = false
            for c in line {
                if c == " " { if inField { out.append(i) }; inField = false } else { inField = true }
                i += 1
            }
            if inField { out.append(i) }
            return out
        }
        let targets = [("127.0.0.1", UInt16(17007)), ("::1", UInt16(7)), ("10.200.200.200", UInt16(65535))]
        let live = LiveSummary(kind: TCPConnectProbe.self,
                               targets: targets.map { ProbeTarget(name: $0.0, address: IPAddress($0.0)!, port: $0.1) })
        live.record([ProbeResult(target: 0, sequence: 0, outcome: .success, phases: (1_234_567, nil, nil))])
        let other = LiveSummary(kind: ICMPEchoProbe.self, targets: [ProbeTarget(name: "::1", address: IPAddress("::1")!)])
        let lines = LiveSummary.render([live, other], elapsed: .seconds(5)).split(separator: "\n")
        let header = lines[1]
        let sentEnd = ends(header, of: ["sent"])[0], recvEnd = ends(header, of: ["recv"])[0], lossEnd = ends(header, of: ["loss%"])[0]
        for row in lines where row.hasPrefix("  ") {
            let fields = valueEnds(row)
            #expect(fields.count >= 4 && fields[1] == sentEnd && fields[2] == recvEnd && fields[3] == lossEnd, "\(row)")
        }
        let table = ProbeReportFormatter.table(Self.report(TCPConnectProbe.self, targets), kind: TCPConnectProbe.self)
            .split(separator: "\n")
        let tableSent = ends(table[0], of: ["sent"])[0]
        for row in table where !row.hasPrefix("#") && !row.hasPrefix("target") {
            #expect(valueEnds(row)[1] == tableSent, "\(row)")
        }
    }
}
