@testable import Control
import Foundation
import Testing
import SQLDatabase

/// One suite, both backends.
@Suite("Store", .serialized)
struct StoreTests {
    @Test("migrations apply once and are recorded", arguments: TestStores.backends)
    func migrations(kind: String) async throws {
        let backend = try TestStores.backend(kind)
        let store = try await Store.open(backend)
        #expect(try await store.schemaVersion() == Schema.latestVersion)
        store.close()
        // Opening again finds nothing to do.
        let again = try await Store.open(backend)
        defer { again.close() }
        #expect(try await again.schemaVersion() == Schema.latestVersion)
        #expect(await again.ping())
    }

    @Test("text round-trips byte for byte (quotes, backslashes, unicode, SQL)", arguments: TestStores.backends)
    func escaping(kind: String) async throws {
        let store = try await TestStores.open(kind)
        defer { store.close() }
        let nasty = ["it's", "a\\'b", "\"; DROP TABLE users; --", "ünïcødé 🐧", "back\\\\slash", "100% _under_", "?", "multi\nline\ttab"]
        for (i, name) in nasty.enumerated() {
            let unit = try await store.createOU(name: name, description: "d\(i) ?", parentID: nil)
            #expect(try await store.ou(unit.id)?.name == name)
            #expect(try await store.ou(unit.id)?.description == "d\(i) ?")
        }
        #expect(try await store.listOUs().count == nasty.count)
    }

    /// Finding 14 of the security issue: the cycle check read the tree without a lock, so on
    /// MariaDB two concurrent moves (A under B, B under A) could both pass and make a cycle.
    @Test("concurrent opposite moves never make a cycle; a tree that has one is refused, not walked forever", arguments: TestStores.backends)
    func concurrentMovesMakeNoCycle(kind: String) async throws {
        let store = try await TestStores.open(kind)
        defer { store.close() }
        var bothMoved = 0, oneMoved = 0
        for round in 0..<40 {
            let a = try await store.createOU(name: "race-a-\(round)", description: "", parentID: nil)
            let b = try await store.createOU(name: "race-b-\(round)", description: "", parentID: nil)
            async let first: Bool = (try? await store.updateOU(a.id, name: nil, description: nil, parentID: .some(b.id))) != nil
            async let second: Bool = (try? await store.updateOU(b.id, name: nil, description: nil, parentID: .some(a.id))) != nil
            let (x, y) = await (first, second)
            if x && y { bothMoved += 1 } else if x || y { oneMoved += 1 }
        }
        #expect(bothMoved == 0, "\(bothMoved) of 40 rounds made a cycle")
        #expect(oneMoved == 40)
        // Every unit still reaches a root.
        let units = try await store.listOUs()
        let parent = Dictionary(uniqueKeysWithValues: units.map { ($0.id, $0.parentID) })
        for unit in units {
            var cursor: Int64? = unit.id, steps = 0
            while let current = cursor, steps <= units.count { cursor = parent[current] ?? nil; steps += 1 }
            #expect(cursor == nil, "unit \(unit.id) is on a cycle")
        }
        // A cycle written behind the store's back: a move under it is refused, and ends.
        let p = try await store.createOU(name: "cyc-p", description: "", parentID: nil)
        let q = try await store.createOU(name: "cyc-q", description: "", parentID: p.id)
        try await store.pool.withConnection { _ = try $0.execute("UPDATE organization_units SET parent_id = ? WHERE id = ?", [.int(q.id), .int(p.id)]) }
        let x = try await store.createOU(name: "cyc-x", description: "", parentID: nil)
        await #expect(throws: StoreError.self) { _ = try await store.updateOU(x.id, name: nil, description: nil, parentID: .some(q.id)) }
    }

    @Test("organisation units: hierarchy, no cycles, only empty units deleted", arguments: TestStores.backends)
    func organisationUnits(kind: String) async throws {
        let store = try await TestStores.open(kind)
        defer { store.close() }
        let root = try await store.createOU(name: "root", description: "", parentID: nil)
        let child = try await store.createOU(name: "child", description: "", parentID: root.id)
        let grandchild = try await store.createOU(name: "grandchild", description: "", parentID: child.id)
        await #expect(throws: StoreError.self) { try await store.createOU(name: "orphan", description: "", parentID: 9999) }
        await #expect(throws: StoreError.reference(field: "parent_id", message: "a unit cannot be moved under itself or its descendants")) {
            try await store.updateOU(root.id, name: nil, description: nil, parentID: .some(grandchild.id))
        }
        let units = try await store.listOUs()
        #expect(Scope.subtree(of: root.id, in: units) == [root.id, child.id, grandchild.id])
        #expect(Scope.subtree(of: child.id, in: units) == [child.id, grandchild.id])
        await #expect(throws: StoreError.conflict("organisation unit \(child.id) still has child units")) { try await store.deleteOU(child.id) }
        try await store.deleteOU(grandchild.id)
        try await store.deleteOU(child.id)
        #expect(try await store.ou(child.id) == nil)
    }

    @Test("users: unique names, scoped search, tokens revoked with the password", arguments: TestStores.backends)
    func users(kind: String) async throws {
        let store = try await TestStores.open(kind)
        defer { store.close() }
        let a = try await store.createOU(name: "a", description: "", parentID: nil)
        let b = try await store.createOU(name: "b", description: "", parentID: nil)
        let alice = try await store.createUser(NewUser(username: "alice", email: "alice@example.com", passwordHash: "h", role: .ouAdmin, ouID: a.id))
        _ = try await store.createUser(NewUser(username: "bob", email: nil, passwordHash: "h", role: .user, ouID: b.id))
        _ = try await store.createUser(NewUser(username: "al_x", email: nil, passwordHash: "h", role: .user, ouID: a.id))
        await #expect(throws: StoreError.conflict("a user with this username or email exists")) {
            try await store.createUser(NewUser(username: "alice", email: nil, passwordHash: "h", role: .user, ouID: nil))
        }
        var query = UserQuery()
        query.ouIDs = [a.id]
        #expect(try await store.listUsers(query).total == 2)
        query.search = "al_"   // '_' is literal, not a wildcard
        #expect(try await store.listUsers(query).users.map(\.username) == ["al_x"])

        try await store.recordToken(jti: "j1", userID: alice.id, issuedAt: 0, expiresAt: WallClock.nowMillis() + 60_000)
        try await store.recordToken(jti: "j2", userID: alice.id, issuedAt: 0, expiresAt: WallClock.nowMillis() - 1)
        #expect(try await store.tokenIsActive(jti: "j1", now: WallClock.nowMillis()))
        #expect(try await !store.tokenIsActive(jti: "j2", now: WallClock.nowMillis()))   // expired
        // The bearer check in one trip: active and its user, or not active and no user.
        let live = try await store.tokenUser(jti: "j1", userID: alice.id, now: WallClock.nowMillis())
        #expect(live.active && live.user?.username == alice.username)
        let expired = try await store.tokenUser(jti: "j2", userID: alice.id, now: WallClock.nowMillis())
        #expect(!expired.active && expired.user == nil)
        try await store.setPassword(alice.id, hash: "h2")
        #expect(try await !store.tokenIsActive(jti: "j1", now: WallClock.nowMillis()))   // revoked with the password
        #expect(try await !store.tokenUser(jti: "j1", userID: alice.id, now: WallClock.nowMillis()).active)

        // A TOTP step is accepted once; the same or an older step never again.
        #expect(try await store.consumeTOTPStep(alice.id, step: 100))
        #expect(try await !store.consumeTOTPStep(alice.id, step: 100))
        #expect(try await !store.consumeTOTPStep(alice.id, step: 99))
        #expect(try await store.consumeTOTPStep(alice.id, step: 101))
    }

    @Test("API keys are found by hash only while unrevoked", arguments: TestStores.backends)
    func apiKeys(kind: String) async throws {
        let store = try await TestStores.open(kind)
        defer { store.close() }
        let user = try await store.createUser(NewUser(username: "k", email: nil, passwordHash: "h", role: .user, ouID: nil))
        let key = APIKeys.generate()
        let record = try await store.createAPIKey(userID: user.id, name: "ci", prefix: APIKeys.prefix(key), hash: Secrets.sha256Hex(key))
        #expect(try await store.authenticateAPIKey(hash: Secrets.sha256Hex(key))?.1.id == user.id)
        #expect(try await store.apiKeys(userID: user.id).first?.lastUsedAt != nil)
        try await store.revokeAPIKey(id: record.id, userID: user.id)
        #expect(try await store.authenticateAPIKey(hash: Secrets.sha256Hex(key)) == nil)
    }

    @Test("batched writer: every acknowledged row is committed, in few transactions", arguments: TestStores.backends)
    func batchedWriter(kind: String) async throws {
        let store = try await TestStores.open(kind)
        defer { store.close() }
        var configuration = ResultWriter.Configuration()
        configuration.maxBatchRows = 2_000
        let writer = ResultWriter(store: store, configuration: configuration)
        let uploaders = 16, batches = 10, rowsPerBatch = 100
        let acks = Locked<[String: Int64]>([:])
        let acknowledged = try await withThrowingTaskGroup(of: Int.self) { group in
            for u in 0..<uploaders {
                group.addTask {
                    var count = 0
                    for b in 0..<batches {
                        let rows = (0..<rowsPerBatch).map { i in
                            var row = ResultRow(createdAt: Int64(u * 1_000_000 + b * 1000 + i), source: "client", testType: "icmp",
                                                target: "10.0.\(u).\(b)", outcome: "success", success: true)
                            row.metrics["latency_ms"] = Double(i) / 10
                            row.rawJSON = #"{"u":\#(u)}"#
                            return row
                        }
                        let lastID = try await writer.write(rows)
                        #expect(lastID > 0)
                        acks.withLock { $0["10.0.\(u).\(b)"] = lastID }
                        count += rows.count
                    }
                    return count
                }
            }
            return try await group.reduce(0, +)
        }
        #expect(acknowledged == uploaders * batches * rowsPerBatch)
        #expect(try await store.countResults() == Int64(acknowledged))
        // Each acknowledgement's last_id is a stored row at or above every row of that submission.
        let maxima = try await store.pool.withConnection { try $0.query("SELECT target, MAX(id) AS top FROM test_results GROUP BY target") }
        let acked = acks.withLock { $0 }
        #expect(maxima.count == uploaders * batches)
        for row in maxima {
            let target = row.string("target") ?? ""
            #expect((row.int("top") ?? .max) <= (acked[target] ?? 0), "\(target): rows above the acknowledged last_id")
        }
        let ids = Array(Set(acked.values))
        let existing = try await store.pool.withConnection { try $0.scalar("SELECT COUNT(*) FROM test_results WHERE id IN (\(placeholders(ids.count)))", ids.map(SQLValue.int)) }
        #expect(existing == Int64(ids.count))
        let stats = writer.statistics
        #expect(stats.committedRows == Int64(acknowledged))
        // Batching happened: far fewer transactions than submissions.
        #expect(stats.committedBatches < Int64(uploaders * batches))
        await writer.drain()
        await #expect(throws: ResultWriterError.self) { try await writer.write([ResultRow(createdAt: 0, source: "client", testType: "x", target: "t", outcome: "success", success: true)]) }
    }

    @Test("a row the database refuses fails its own submission only; the batch's others commit",
          arguments: TestStores.backends.filter { $0 == "mariadb" })
    func refusedRowsFailAlone(kind: String) async throws {
        let store = try await TestStores.open(kind)
        defer { store.close() }
        var configuration = ResultWriter.Configuration()
        configuration.maxDelay = .milliseconds(50)  // the three submissions share a batch
        let writer = ResultWriter(store: store, configuration: configuration)
        func row(_ target: String) -> ResultRow {
            ResultRow(createdAt: 1, source: "client", testType: "icmp", target: target, outcome: "success", success: true)
        }
        // target is VARCHAR(255) and the server is in strict mode: 300 characters are refused.
        async let good1 = writer.write([row("good-1"), row("good-1")])
        async let bad = writer.write([row("fine"), row(String(repeating: "x", count: 300))])
        async let good2 = writer.write([row("good-2")])
        #expect(try await good1 > 0)
        #expect(try await good2 > 0)
        do {
            _ = try await bad
            Issue.record("the refused submission was acknowledged")
        } catch let error as ResultWriterError {
            guard case .rejected(let reason) = error else { Issue.record("\(error)"); return }
            #expect(reason.contains("too long") || reason.contains("1406"), "\(reason)")
        }
        // Nothing of the refused submission is stored, all of the others is.
        let targets = try await store.pool.withConnection { try $0.query("SELECT target FROM test_results ORDER BY id") }.compactMap { $0.string("target") }
        #expect(targets.sorted() == ["good-1", "good-1", "good-2"])
        await writer.drain()
    }

    @Test("the writer stores every column exactly: text with quotes, backslashes and unicode, NULLs, doubles, JSON", arguments: TestStores.backends)
    func writerRoundTrip(kind: String) async throws {
        let store = try await TestStores.open(kind)
        defer { store.close() }
        let writer = ResultWriter(store: store)
        var full = ResultRow(createdAt: 1_234_567, source: "client", testType: "http", target: "it's a \\ \"target\" ✓ 🐧", outcome: "unreachable(3,1)", success: false)
        full.protocolDetail = "h2"; full.resolvedAddress = "2001:db8::1"; full.sent = 10; full.received = 7; full.metrics["loss_percent"] = 30
        full.metrics["latency_ms"] = 0.123456789; full.metrics["min_ms"] = 0; full.metrics["max_ms"] = 1e6; full.metrics["p50_ms"] = 1.5; full.metrics["p99_ms"] = 2.25; full.metrics["jitter_ms"] = 0.001
        full.metrics["stddev_ms"] = 0.5; full.metrics["throughput_mbps"] = 940.5; full.metrics["dns_ms"] = 1; full.metrics["connect_ms"] = 2; full.metrics["tls_ms"] = 3; full.metrics["ttfb_ms"] = 4
        full.metrics["transfer_ms"] = 5; full.metrics["total_ms"] = 15; full.metrics["quic_handshake_ms"] = 2.5; full.deviceID = nil; full.userID = nil; full.ouID = nil
        full.rawJSON = #"{"a":"b\\c","n":[1,2.5,null],"u":"é"}"#
        var sparse = ResultRow(createdAt: 7, source: "server", testType: "icmp", target: "", outcome: "timeout", success: false)
        sparse.metrics["latency_ms"] = nil
        try await writer.write([full, sparse, full])
        var filter = ResultFilter()
        filter.limit = 10
        let stored = try await store.results(filter).sorted { $0.id < $1.id }.map { row -> ResultRow in
            var row = row.row
            row.receivedAt = 0
            return row
        }
        #expect(stored == [full, sparse, full])
        // A batch in which most columns are NULL in every row (MariaDB leaves those out of the
        // statement): the rest must still land in their own columns.
        var gappy = ResultRow(createdAt: 9, source: "device", testType: "dns", target: "gaps", outcome: "success", success: true)
        gappy.metrics["ttfb_ms"] = 4.5; gappy.deviceID = 77; gappy.rawJSON = #"{"k":1}"#; gappy.received = 3
        try await writer.write([sparse, gappy, sparse])
        let later = try await store.results(filter).sorted { $0.id < $1.id }.suffix(3).map { row -> ResultRow in
            var row = row.row
            row.receivedAt = 0
            return row
        }
        #expect(Array(later) == [sparse, gappy, sparse])
        await writer.drain()
    }

    @Test("retention deletes old results in bounded chunks and nothing newer", arguments: TestStores.backends)
    func retention(kind: String) async throws {
        let store = try await TestStores.open(kind)
        defer { store.close() }
        let writer = ResultWriter(store: store)
        let rows = (0..<2_500).map { i in ResultRow(createdAt: i < 2_000 ? 1_000 : WallClock.nowMillis(), source: "client", testType: "tcp", target: "t", outcome: "success", success: true) }
        try await writer.write(rows)
        #expect(try await store.deleteResults(olderThan: 10_000, chunk: 300) == 2_000)
        #expect(try await store.countResults() == 500)
        await writer.drain()
    }

    @Test("results stored before series existed are found by every filter after the migration, and new ones join their series",
          arguments: TestStores.backends)
    func seriesMigration(kind: String) async throws {
        let backend = try TestStores.backend(kind)
        let old = try await Store.open(backend, connections: 1, through: 2)
        // Rows as version 2 wrote them: no series. 24 rows over 2 OUs (and none), 4 users, 2 devices (and none), 2 types, 3 targets.
        struct Old {
            let at: Int64, type: String, target: String, device: Int64?, user: Int64, ou: Int64?
            var key: String { "\(type)|\(target)|\(device ?? 0)|\(user)|\(ou ?? 0)" }
        }
        let rows: [Old] = (0..<24).map { (i: Int) -> Old in
            let device: Int64? = i % 3 == 0 ? nil : Int64(i % 3)
            let user = Int64(i % 4 == 3 ? 9 : i % 3 + 1)
            return Old(at: Int64(i), type: i % 2 == 0 ? "icmp" : "tcp", target: "t\(i % 3)", device: device, user: user, ou: i < 12 ? 1 : nil)
        }
        try await old.pool.withConnection { c in
            for row in rows {
                let binds: [SQLValue] = [.int(row.at), .int(row.at), .text(row.type), .text(row.target), .optional(row.device), .int(row.user), .optional(row.ou)]
                try c.execute("INSERT INTO test_results (created_at, received_at, source, test_type, target, outcome, success, device_id, user_id, ou_id) VALUES (?, ?, 'client', ?, ?, 'success', 1, ?, ?, ?)", binds)
            }
        }
        if kind == "mariadb" {
            // MariaDB commits DDL statement by statement: a migration that died half-way runs again.
            let statements = Schema.migrations.first { $0.version == 3 }!.statements
            try await old.pool.withConnection { c in
                for statement in statements.prefix(statements.count - 4) { try c.execute(Schema.expand(statement, for: .mariadb)) }
            }
        }
        old.close()
        let store = try await Store.open(backend, connections: 2)
        defer { store.close() }
        #expect(try await store.schemaVersion() == Schema.latestVersion)
        let unassigned = try await store.pool.withConnection { try $0.scalar("SELECT COUNT(*) FROM test_results WHERE series_id = 0") }
        #expect(unassigned == 0)
        func count(_ edit: (inout ResultFilter) -> Void) async throws -> Int {
            var filter = ResultFilter()
            filter.limit = 1000
            edit(&filter)
            return try await store.results(filter).count
        }
        func expected(_ predicate: (Old) -> Bool) -> Int { rows.filter(predicate).count }
        #expect(try await count { $0.target = "t1" } == expected { $0.target == "t1" })
        #expect(try await count { $0.testType = "tcp"; $0.target = "t2" } == expected { $0.type == "tcp" && $0.target == "t2" })
        #expect(try await count { $0.deviceID = 2 } == expected { $0.device == 2 })
        #expect(try await count { $0.userID = 9 } == expected { $0.user == 9 })
        #expect(try await count { $0.ouIDs = [1] } == 12)
        #expect(try await count { $0.ouIDs = [1]; $0.userID = 9 } == expected { $0.ou == 1 || $0.user == 9 })
        #expect(try await count { $0.ouIDs = [1]; $0.deviceID = 1; $0.since = 4 } == expected { $0.at >= 4 && $0.ou == 1 && $0.device == 1 })
        // A new result with an existing key joins its series; no new series is made for it.
        let seriesBefore = try await store.pool.withConnection { try $0.scalar("SELECT COUNT(*) FROM result_series") }
        #expect(seriesBefore == Int64(Set(rows.map(\.key)).count))
        let writer = ResultWriter(store: store)
        var again = ResultRow(createdAt: 100, source: "client", testType: "icmp", target: "t1", outcome: "success", success: true)
        again.deviceID = 1; again.userID = 2; again.ouID = 1  // row 4's key
        try await writer.write([again])
        #expect(try await store.pool.withConnection { try $0.scalar("SELECT COUNT(*) FROM result_series") } == seriesBefore)
        #expect(try await count { $0.target = "t1"; $0.deviceID = 1; $0.ouIDs = [1] } == expected { $0.target == "t1" && $0.device == 1 && $0.ou == 1 } + 1)
        // A row written without a series (a server of the older version, mid rolling upgrade)
        // gets one at the next start; reads through series find it.
        try await store.pool.withConnection { c in
            try c.execute("INSERT INTO test_results (created_at, received_at, source, test_type, target, outcome, success, ou_id) VALUES (7, 7, 'client', 'udp', 'late', 'success', 1, 1)")
        }
        let restarted = try await Store.open(backend, connections: 1)
        defer { restarted.close() }
        var late = ResultFilter()
        late.ouIDs = [1]
        late.target = "late"
        #expect(try await restarted.results(late).count == 1)
        #expect(try await restarted.pool.withConnection { try $0.scalar("SELECT COUNT(*) FROM test_results WHERE series_id = 0") } == 0)
        await writer.drain()
    }

    @Test("series keys compare texts by their bytes, as the database does, not by Unicode equivalence or case", arguments: TestStores.backends)
    func seriesKeysAreBytes(kind: String) async throws {
        let store = try await TestStores.open(kind)
        defer { store.close() }
        let writer = ResultWriter(store: store)
        let composed = "caf\u{E9}.example", decomposed = "cafe\u{301}.example"
        #expect(composed == decomposed)  // to Swift, one string
        func row(_ target: String) -> ResultRow {
            ResultRow(createdAt: 1, source: "client", testType: "http", target: target, outcome: "success", success: true)
        }
        try await writer.write([row(composed), row(decomposed), row(composed), row("Host.example")])
        try await writer.write([row(decomposed), row("host.example")])
        for (target, expected) in [(composed, 2), (decomposed, 2), ("Host.example", 1), ("host.example", 1)] {
            var filter = ResultFilter()
            filter.target = target
            let found = try await store.results(filter)
            #expect(found.count == expected)
            #expect(found.allSatisfy { $0.row.target.utf8.elementsEqual(target.utf8) })
        }
        await writer.drain()
    }

    @Test("the series cache keeps the series in use when it is full and forgets the others", arguments: TestStores.backends)
    func seriesCacheCapacity(kind: String) async throws {
        let store = try await TestStores.open(kind)
        defer { store.close() }
        let resolver = SeriesResolver(capacity: 4)  // two generations of two
        let connection = try store.makeConnection()
        var asked = false
        func ids(_ targets: [String]) throws -> [Int64] {
            asked = false
            let rows = targets.map { ResultRow(createdAt: 1, source: "client", testType: "dns", target: $0, outcome: "success", success: true) }
            return try resolver.ids(for: [rows]) { asked = true; return connection }
        }
        let first = try ids(["a", "b", "a"])
        #expect(first[0] == first[2] && first[0] != first[1] && asked)
        #expect(try ids(["a"]) == [first[0]] && !asked)
        let c = try ids(["c"])  // the first generation fills: a and b age
        #expect(asked && !first.contains(c[0]))
        #expect(try ids(["a"]) == [first[0]] && !asked)  // in use: back to the young generation
        _ = try ids(["d"])  // another turn: b, unused, is forgotten; a is kept
        #expect(try ids(["a"]) == [first[0]] && !asked)
        #expect(try ids(["b"]) == [first[1]] && asked)  // asked again, same id
        #expect(try connection.scalar("SELECT COUNT(*) FROM result_series") == 4)
        resolver.forget()
        #expect(try ids(["a"]) == [first[0]] && asked)
    }

    @Test("a filter matching more series than a query names by id: listings, paging and statistics stay exact",
          arguments: TestStores.backends)
    func manySeries(kind: String) async throws {
        let store = try await TestStores.open(kind)
        defer { store.close() }
        let writer = ResultWriter(store: store)
        let targets = Store.namedSeriesLimit + 100
        var rows: [ResultRow] = []
        for i in 0..<(targets * 2) {
            var row = ResultRow(createdAt: Int64(i), source: "device", testType: "tcp", target: "t\(i % targets)", outcome: "success", success: true)
            row.ouID = 1
            row.metrics["latency_ms"] = Double(i)
            rows.append(row)
        }
        var outside = ResultRow(createdAt: 5, source: "device", testType: "tcp", target: "t1", outcome: "success", success: true)
        outside.ouID = 2
        try await writer.write(rows + [outside])
        var filter = ResultFilter()
        filter.ouIDs = [1]
        filter.limit = 500
        var seen: [Int64] = []
        while true {
            let page = try await store.results(filter)
            #expect(page.allSatisfy { $0.row.ouID == 1 })
            seen += page.map(\.id)
            if page.count < filter.limit { break }
            filter.beforeID = page.last!.id
        }
        #expect(seen.count == targets * 2 && Set(seen).count == seen.count && seen == seen.sorted(by: >))
        var window = ResultFilter()
        window.ouIDs = [1]
        window.since = Int64(targets)
        var query = StatisticsQuery()
        query.grouping = .target
        query.filter = window
        query.limit = 10_000
        let stats = try await store.statistics(query)
        #expect(stats.count == targets && stats.allSatisfy { $0.count == 1 })
        #expect(stats.reduce(0) { $0 + $1.count } == Int64(targets))
        await writer.drain()
    }

    @Test("scoped result queries with cursor paging", arguments: TestStores.backends)
    func resultQueries(kind: String) async throws {
        let store = try await TestStores.open(kind)
        defer { store.close() }
        let writer = ResultWriter(store: store)
        var rows: [ResultRow] = []
        for i in 0..<30 {
            var row = ResultRow(createdAt: Int64(i), source: "client", testType: i % 2 == 0 ? "icmp" : "tcp", target: "t\(i % 3)", outcome: "success", success: true)
            row.ouID = i < 20 ? 1 : 2
            row.userID = Int64(i % 5)
            rows.append(row)
        }
        try await writer.write(rows)
        var filter = ResultFilter()
        filter.ouIDs = [1]
        filter.limit = 7
        var seen: [Int64] = []
        while true {
            let page = try await store.results(filter)
            seen += page.map(\.id)
            if page.count < filter.limit { break }
            filter.beforeID = page.last!.id
        }
        #expect(seen.count == 20)
        #expect(seen == seen.sorted(by: >))
        var own = ResultFilter()
        own.userID = 3
        #expect(try await store.results(own).allSatisfy { $0.row.userID == 3 })
        #expect(try await store.results(own).count == 6)
        var typed = ResultFilter()
        typed.testType = "tcp"
        typed.target = "t1"
        typed.limit = 100
        #expect(try await store.results(typed).allSatisfy { $0.row.testType == "tcp" && $0.row.target == "t1" })
        await writer.drain()
    }
}
