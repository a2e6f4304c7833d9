@testable import Control
import Engine
import Foundation
import ProbeModel
import Testing
import SQLDatabase

/// The kinds are declared once (ProbeModel's `KindCatalog`); every list the control plane and
/// the engine keep must be derived from those declarations. These tests fail when one of them
/// is written by hand again and drifts, and show that a new kind's fields reach every list.
@Suite("One result model")
struct ResultModelConsistencyTests {
    static let catalog = KindCatalog.builtIn

    @Test("every list the control plane keeps agrees with the declarations")
    func listsAgree() throws {
        let metrics = Self.catalog.storedMetrics.map(\.name)
        // Columns: the fixed ones around one per stored metric.
        #expect(ResultRow.columns == ResultRow.leadingColumns + metrics + ResultRow.trailingColumns)
        #expect(ResultRow.columnTypes.count == ResultRow.columns.count)
        // Upload schema (and so the OpenAPI document): every metric, bounded as declared.
        let uploadFields = Schemas.result.fields.map(\.name)
        for m in Self.catalog.storedMetrics {
            let field = try #require(Schemas.result.fields.first { $0.name == m.name }, "upload lacks \(m.name)")
            guard case .nullable(.number(let minimum, let maximum)) = field.schema else {
                Issue.record("\(m.name) is not a nullable number"); continue
            }
            #expect(minimum == 0 && maximum == m.maximum)
        }
        #expect(uploadFields.filter { $0.hasSuffix("_ms") || $0.hasSuffix("_percent") || $0.hasSuffix("_mbps") } == metrics)
        // Test types: the upload and the configuration's checks offer exactly the declared kinds.
        guard case .string(_, _, _, let uploadTypes?, _) = try #require(Schemas.result.fields.first { $0.name == "test_type" }).schema,
              case .string(_, _, _, let configTypes?, _) = try #require(Schemas.probeSpec.fields.first { $0.name == "type" }).schema
        else { Issue.record("test types are not an enumeration"); return }
        #expect(uploadTypes == Self.catalog.testTypes && configTypes == Self.catalog.testTypes)
        // Statistics: the metric parameter's values.
        #expect(StatisticsQuery.metrics == Self.catalog.statisticMetrics)
        let openapi = try #require(try JSONSerialization.jsonObject(with: OpenAPIDocument.data()) as? [String: Any])
        let schemas = try #require((openapi["components"] as? [String: Any])?["schemas"] as? [String: Any])
        let stored = try #require((schemas["TestResult"] as? [String: Any])?["properties"] as? [String: Any])
        #expect(Set(metrics).isSubset(of: Set(stored.keys)))
        // Engine: every kind it runs is declared, under the declaration's name and phases.
        for kind in ProbeRegistry.kinds {
            #expect(Self.catalog.kind(named: kind.name) == kind.declaration)
        }
        #expect(Self.catalog.kind(named: "http") == KindDeclaration.http)
    }

    @Test("the stored table has a column for every declared metric", arguments: TestStores.backends)
    func tableHasEveryDeclaredColumn(_ backend: String) async throws {
        let store = try await TestStores.open(backend)
        let columns = try await store.pool.withConnection { c in try Self.resultColumns(c) }
        #expect(Set(ResultRow.columns).isSubset(of: Set(columns)), "missing: \(Set(ResultRow.columns).subtracting(columns))")
    }

    @Test("a test-only kind's fields reach the columns, the upload schema, the statistics and the test types",
          arguments: TestStores.backends)
    func aNewKindReachesEveryList(_ backend: String) async throws {
        let probe = KindDeclaration(name: "testkind", summary: "only in this test", defaultPort: 9,
                                    phases: [ResultField("wait", .nanoseconds, "w"), ResultField("answer", .nanoseconds, "a")],
                                    metrics: [ResultField("answers_percent", .percent, "answered share")])
        let catalog = KindCatalog(KindCatalog.builtIn.kinds + [probe])
        let added = ["wait_ms", "answer_ms", "answers_percent"]
        #expect(Array(catalog.storedMetrics.map(\.name).suffix(3)) == added)
        #expect(catalog.statisticMetrics.contains("answer_ms") && catalog.testTypes.contains("testkind"))
        let upload = Schemas.result(metrics: catalog.storedMetrics, testTypes: catalog.testTypes)
        #expect(added.allSatisfy { name in upload.fields.contains { $0.name == name } })
        guard case .nullable(.number(_, let maximum)) = upload.fields.first(where: { $0.name == "answers_percent" })!.schema else {
            Issue.record("answers_percent is not a number"); return
        }
        #expect(maximum == 100)
        var rendered: [String: Any] = [:]
        _ = OpenAPIDocument.render(.object(upload), into: &rendered)
        let properties = try #require((rendered["TestResult"] as? [String: Any])?["properties"] as? [String: Any])
        #expect(added.allSatisfy { properties[$0] != nil })
        // The store adds the columns at start (here: asked directly), and a second time is a no-op.
        let store = try await TestStores.open(backend)
        let columns = try await store.pool.withConnection { c in
            try Schema.addDeclaredColumns(c, metrics: catalog.storedMetrics.map(\.name))
            try Schema.addDeclaredColumns(c, metrics: catalog.storedMetrics.map(\.name))
            return try Self.resultColumns(c)
        }
        #expect(added.allSatisfy(columns.contains))
    }

    static func resultColumns(_ c: any SQLConnection) throws -> [String] {
        switch c.dialect {
        case .sqlite: try c.query("SELECT name FROM pragma_table_info('test_results')").compactMap { $0.string("name") }
        case .mariadb: try c.query("""
            SELECT COLUMN_NAME AS name FROM information_schema.COLUMNS
            WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'test_results'
            """).compactMap { $0.string("name") }
        }
    }
}

extension ResultModelConsistencyTests {
    /// One shape: a result document as the engine makes it is what the upload takes, and what
    /// the listing returns decodes back into the same document (plus its id and owners).
    @Test("a result document round-trips through POST and GET /api/v1/results", arguments: TestStores.backends)
    func documentsRoundTripThroughTheAPI(_ backend: String) async throws {
        var tcp = ResultDocument(summary: {
            var s = ProbeSummary()
            for (i, v) in [UInt64(1_500_000), 2_500_000].enumerated() {
                s.record(ProbeResult(target: 0, sequence: UInt32(i), outcome: .success, phases: (v, 300_000, 2_000_000)))
            }
            s.record(ProbeResult(target: 0, sequence: 2, outcome: .timeout))
            return s
        }(), kind: .tcp, target: ProbeTarget(name: "db.example", address: .v4(0x7F00_0001), port: 5432), as: "db.example:5432")
        tcp.createdAt = 1_700_000_000_000
        var missing = ResultDocument(summary: {
            var s = ProbeSummary()
            s.record(ProbeResult(target: 0, sequence: 0, outcome: .unresolved))
            return s
        }(), kind: .icmp, target: .unresolved("nx.example", port: 0, reason: "Name or service not known"), as: "nx.example")
        missing.createdAt = 1_700_000_000_001
        #expect(tcp.success && tcp.outcome == "success" && tcp.metrics["loss_percent"].map { abs($0 - 100.0 / 3) < 1e-9 } == true)
        #expect(tcp.metrics["connect_ms"] == 2 && tcp.metrics["ttfb_ms"] == 0.3 && tcp.metrics["total_ms"] == 2)
        #expect(!missing.success && missing.outcome == "unresolved" && missing.resolvedAddress == nil)
        #expect(missing.details["resolution_error"] == .text("Name or service not known"))

        let (sent1, sent2) = (tcp, missing)
        try await APIHarness.run(backend) { c in
            let admin = try await c.adminToken()
            let body = try JSONSerialization.jsonObject(with: JSONEncoder().encode([sent1, sent2]))
            let posted = try await c.call(.post, "/api/v1/results", token: admin, json: ["results": body])
            #expect(posted.status == 201, "\(posted.text)")
            let listed = try await c.call(.get, "/api/v1/results", token: admin)
            struct Page: Decodable { var results: [ResultDocument] }
            let page = try JSONDecoder().decode(Page.self, from: Data(listed.text.utf8))
            #expect(page.results.count == 2)
            for (sent, got) in zip([sent2, sent1], page.results) {
                #expect(got.stored != nil && got.stored?.userID != nil)
                var back = got
                back.stored = nil
                #expect(back == sent, "\(back) != \(sent)")
            }
        }
    }
}

extension ResultModelConsistencyTests {
    /// The listing renders rows in place (`Store.resultArray`); it must write exactly what the
    /// row objects wrote: nulls, empty strings, escapes, unicode, booleans, raw documents.
    @Test("a listing rendered from the driver's rows is byte for byte the one rendered from row objects", arguments: TestStores.backends)
    func inPlaceListingMatchesRowObjects(_ backend: String) async throws {
        try await APIHarness.run(backend) { c in
            let admin = try await c.adminToken()
            let rows: [[String: Any]] = [
                ["test_type": "icmp", "target": "a.example", "outcome": "success", "success": true, "latency_ms": 0.213, "loss_percent": 0,
                 "sent": 3, "received": 3, "resolved_address": "192.0.2.1", "raw": ["details": ["note": "quote \" back\\slash é 🐧"]]],
                ["test_type": "tcp", "target": "b.example:80", "outcome": "refused", "success": false, "protocol_detail": "v4"],
                ["test_type": "http", "target": "https://x.example/ü?q=\"1\"", "outcome": "unreachable(3,1)", "success": false,
                 "latency_ms": 1e-7, "p99_ms": 123456.789, "created_at": 1_764_691_269_123],
            ]
            let upload = try await c.call(.post, "/api/v1/results", token: admin, json: ["results": rows])
            #expect(upload.status == 201, "\(upload.text)")
            var filter = ResultFilter()
            filter.limit = 10
            let objects = try await c.services.store.results(filter)
            var expected = JSONBuffer(capacity: 4096)
            expected.beginArray()
            for i in objects.indices { Self.write(objects[i], into: &expected) }
            expected.endArray()
            let page = try await c.services.store.resultArray(filter, capacity: 64) { row, columns, w in
                ResultsController.write(row, at: columns, into: &w)
            }
            #expect(page.count == 3 && page.lastID == objects.last?.id)
            #expect(String(decoding: page.json, as: UTF8.self) == String(decoding: expected.bytes, as: UTF8.self))
        }
    }
}

extension ResultModelConsistencyTests {
    /// The listing as it was written from row objects before rows were rendered in place: the
    /// reference the in-place writer must match byte for byte.
    static func write(_ stored: borrowing StoredResult, into w: inout JSONBuffer) {
        w.beginObject()
        w.field("id", stored.id)
        w.field("created_at", stored.row.createdAt)
        w.field("test_type", stored.row.testType)
        w.field("protocol_detail", stored.row.protocolDetail)
        w.field("target", stored.row.target)
        w.field("resolved_address", stored.row.resolvedAddress)
        w.field("outcome", stored.row.outcome)
        w.field("success", stored.row.success)
        w.field("sent", stored.row.sent)
        w.field("received", stored.row.received)
        w.field("device_id", stored.row.deviceID)
        w.field("user_id", stored.row.userID)
        w.field("ou_id", stored.row.ouID)
        for (index, key) in ResultsController.metricKeys.enumerated() { w.field(key, stored.row.metrics[index]) }
        if var raw = stored.row.rawJSON { raw.withUTF8 { w.field("raw", json: $0) } }
        w.endObject()
    }
}
