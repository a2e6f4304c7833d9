@testable import Control
import Foundation
import Testing

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

    @Test("organisation units: hierarchy, no cycles, only empty units deleted", arguments: TestStores.backends)
    func organisationUnits(kind: String) async throws {
        let store = try await TestStores.open(kind)
        defer { store.close() }
        let root = try await store.createOU(name: "root", description: "", parentID: nil)
        let child = try await store.createOU(name: "child", description: "", parentID: root.id)
        let grandchild = try await store.createOU(name: "grandchild", description: "", parentID: child.id)
        await #expect(throws: StoreError.self) { try await store.createOU(name: "orphan", description: "", parentID: 9999) }
        await #expect(throws: StoreError.invalid(field: "parent_id", message: "a unit cannot be moved under itself or its descendants")) {
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
        try await store.setPassword(alice.id, hash: "h2")
        #expect(try await !store.tokenIsActive(jti: "j1", now: WallClock.nowMillis()))   // revoked with the password

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
        let acknowledged = try await withThrowingTaskGroup(of: Int.self) { group in
            for u in 0..<uploaders {
                group.addTask {
                    var count = 0
                    for b in 0..<batches {
                        let rows = (0..<rowsPerBatch).map { i in
                            var row = ResultRow(createdAt: Int64(u * 1_000_000 + b * 1000 + i), source: "client", testType: "icmp",
                                                target: "10.0.\(u).\(b)", outcome: "success", success: true)
                            row.latencyMs = Double(i) / 10
                            row.rawJSON = #"{"u":\#(u)}"#
                            return row
                        }
                        let lastID = try await writer.write(rows)
                        #expect(lastID > 0)
                        count += rows.count
                    }
                    return count
                }
            }
            return try await group.reduce(0, +)
        }
        #expect(acknowledged == uploaders * batches * rowsPerBatch)
        #expect(try await store.countResults() == Int64(acknowledged))
        let stats = writer.statistics
        #expect(stats.committedRows == Int64(acknowledged))
        // Batching happened: far fewer transactions than submissions.
        #expect(stats.committedBatches < Int64(uploaders * batches))
        writer.shutdown()
        await #expect(throws: ResultWriterError.self) { try await writer.write([ResultRow(createdAt: 0, source: "client", testType: "x", target: "t", outcome: "success", success: true)]) }
    }

    @Test("retention deletes old results in bounded chunks and nothing newer", arguments: TestStores.backends)
    func retention(kind: String) async throws {
        let store = try await TestStores.open(kind)
        defer { store.close() }
        let writer = ResultWriter(store: store)
        defer { writer.shutdown() }
        let rows = (0..<2_500).map { i in ResultRow(createdAt: i < 2_000 ? 1_000 : WallClock.nowMillis(), source: "client", testType: "tcp", target: "t", outcome: "success", success: true) }
        try await writer.write(rows)
        #expect(try await store.deleteResults(olderThan: 10_000, chunk: 300) == 2_000)
        #expect(try await store.countResults() == 500)
    }

    @Test("scoped result queries with cursor paging", arguments: TestStores.backends)
    func resultQueries(kind: String) async throws {
        let store = try await TestStores.open(kind)
        defer { store.close() }
        let writer = ResultWriter(store: store)
        defer { writer.shutdown() }
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
    }
}
