@testable import Control
import Engine
import Foundation
import NIOCore
import Testing

/// `ResultPageCache`: a rendered page of `GET /api/v1/results` is sent again only while no result
/// has been committed or deleted since, and only to a caller whose query (scope included) is the
/// same.
@Suite("Result page cache")
struct ResultPageCacheTests {
    static func key(limit: Int = 50, ouIDs: [Int64]? = nil) -> ResultPageCache.Key {
        var filter = ResultFilter()
        filter.limit = limit
        filter.ouIDs = ouIDs
        return ResultPageCache.Key(filter)
    }

    @Test("a page is served only under the generation it was rendered in, and within its age")
    func generationsAndAges() {
        let cache = ResultPageCache(maxAge: .seconds(1))
        let page = ByteBuffer(string: "{\"results\":[]}")
        cache.insert(Self.key(), page, generation: 3, current: 3, now: 1_000)
        #expect(cache.lookup(Self.key(), generation: 3, now: 1_999) == page)
        #expect(cache.lookup(Self.key(), generation: 4, now: 1_001) == nil, "a commit since retires the page")
        #expect(cache.lookup(Self.key(), generation: 3, now: 2_000) == nil, "so does its age")
        // Another scope, limit or order of the same OUs.
        cache.insert(Self.key(ouIDs: [2, 1]), page, generation: 3, current: 3, now: 1_000)
        #expect(cache.lookup(Self.key(ouIDs: [1, 2]), generation: 3, now: 1_001) == page)
        #expect(cache.lookup(Self.key(ouIDs: [1]), generation: 3, now: 1_001) == nil)
        #expect(cache.lookup(Self.key(limit: 49, ouIDs: [1, 2]), generation: 3, now: 1_001) == nil)
        // A render that raced a commit (the store moved on while it ran) is not kept.
        cache.insert(Self.key(limit: 7), page, generation: 3, current: 4, now: 1_000)
        #expect(cache.lookup(Self.key(limit: 7), generation: 3, now: 1_001) == nil)
        #expect(cache.lookup(Self.key(limit: 7), generation: 4, now: 1_001) == nil)
    }

    @Test("the cache holds at most its entries and bytes; a zero age turns it off")
    func bounded() {
        let cache = ResultPageCache(maxAge: .seconds(10), maxEntries: 4, maxBytes: 8 * 100)
        let page = ByteBuffer(repeating: 0x20, count: 100)
        for limit in 1...10 { cache.insert(Self.key(limit: limit), page, generation: 1, current: 1, now: 0) }
        let kept = (1...10).filter { cache.lookup(Self.key(limit: $0), generation: 1, now: 1) != nil }
        #expect(kept.count <= 4 && kept.count >= 2, "full: old generations go, then half, not all (\(kept))")
        #expect(kept.contains(10), "the newest page is kept")
        // A page over an eighth of the byte bound is not kept at all.
        cache.insert(Self.key(limit: 99), ByteBuffer(repeating: 0x20, count: 101), generation: 1, current: 1, now: 0)
        #expect(cache.lookup(Self.key(limit: 99), generation: 1, now: 1) == nil)
        let off = ResultPageCache(maxAge: .zero)
        off.insert(Self.key(), page, generation: 1, current: 1, now: 0)
        #expect(!off.enabled && off.lookup(Self.key(), generation: 1, now: 1) == nil)
    }

    static func upload(_ prefix: String, _ count: Int) -> [String: Any] {
        ["results": (0..<count).map { ["test_type": "tcp", "target": "\(prefix)-\($0)", "outcome": "success", "success": true, "latency_ms": 1.5] }]
    }

    static func targets(_ reply: APIHarness.Reply) -> [String] {
        (reply.json["results"] as? [[String: Any]] ?? []).compactMap { $0["target"] as? String }
    }

    /// Through the API, on both stores: repeated reads are served from the cache, an upload that
    /// was acknowledged is on the very next page, a retention delete too, and a caller with
    /// another scope never gets a page rendered for someone else.
    @Test("cached pages follow commits, deletes and scope", arguments: TestStores.backends)
    func throughTheAPI(kind: String) async throws {
        try await APIHarness.run(kind) { c in
            let admin = try await c.adminToken()
            let ou = try await c.createOU("pages", parent: nil, token: admin)
            _ = try await c.createUser("pages-user", role: .user, ou: ou, token: admin)
            let user = try await c.token("pages-user", "Sturdy-Walrus-17")
            #expect(try await c.call(.post, "/api/v1/results", token: admin, json: Self.upload("admin", 3)).status == 201)
            #expect(try await c.call(.post, "/api/v1/results", token: user, json: Self.upload("user", 2)).status == 201)

            let path = "/api/v1/results?limit=50"
            let first = try await c.call(.get, path, token: admin)
            let before = c.services.resultPages.counts.hits
            let again = try await c.call(.get, path, token: admin)
            #expect(c.services.resultPages.counts.hits == before + 1, "the repeated page came from the cache")
            #expect(again.text == first.text && Self.targets(again).count == 5)

            // The same URL for a caller of another scope is their own page.
            let mine = try await c.call(.get, path, token: user)
            #expect(Set(Self.targets(mine)) == ["user-0", "user-1"], "\(mine.text)")

            // An acknowledged upload is on the next page, for both.
            #expect(try await c.call(.post, "/api/v1/results", token: user, json: Self.upload("later", 1)).status == 201)
            #expect(Self.targets(try await c.call(.get, path, token: user)).first == "later-0")
            #expect(Self.targets(try await c.call(.get, path, token: admin)).count == 6)

            // Deleted results are gone from the next page.
            #expect(try await c.services.store.deleteResults(olderThan: Int64(Date().timeIntervalSince1970 * 1000) + 60_000) == 6)
            #expect(Self.targets(try await c.call(.get, path, token: admin)).isEmpty)
        }
    }

    @Test("results_cache_ttl 0 renders every request")
    func turnedOff() async throws {
        try await APIHarness.run(configure: { $0.resultsCacheTTL = .zero }) { c in
            let admin = try await c.adminToken()
            for _ in 0..<3 { #expect(try await c.call(.get, "/api/v1/results", token: admin).status == 200) }
            #expect(c.services.resultPages.counts.hits == 0)
        }
        var configuration = ControlConfiguration()
        try configuration.apply(["results_cache_ttl": "0"])
        #expect(configuration.resultsCacheTTL == .zero)
        #expect(throws: ConfigurationError.self) { try configuration.apply(["results_cache_ttl": "soon"]) }
    }
}
