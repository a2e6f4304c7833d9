@testable import Control
import SQLDatabase
import Foundation
import Testing

/// Finding 10 of the security issue: four heavy statistics calls took every database thread and
/// stalled authentication for everyone; the queue for a thread had no bound and no timeout.
@Suite("Resource limits")
struct ResourceLimitTests {
    @Test("the gate admits its permits, holds a bounded number of waiters for a bounded time, refuses the rest")
    func admissionGate() async throws {
        let gate = AdmissionGate(permits: 1, maxWaiting: 1, timeout: .milliseconds(300), name: "test")
        let release = AsyncStream<Void>.makeStream()
        let holder = Task { try await gate.run { for await _ in release.stream {} } }
        while gate.load.inside == 0 { try await Task.sleep(for: .milliseconds(5)) }
        let waiter = Task { try await gate.run { "waited" } }
        while gate.load.waiting == 0 { try await Task.sleep(for: .milliseconds(5)) }
        await #expect(throws: ResourceBusy.self, "a second waiter is refused at once") { try await gate.run { 0 } }
        await #expect(throws: ResourceBusy.self, "the waiter gives up after its timeout") { try await waiter.value }
        // Once the holder leaves, the next caller goes straight in.
        release.continuation.finish()
        try await holder.value
        #expect(try await gate.run { 42 } == 42)
        #expect(gate.load.inside == 0 && gate.load.waiting == 0)
    }

    @Test("a blocking pool's queue is bounded, and a job that waited past the timeout is failed, not run late")
    func blockingPoolQueue() async throws {
        let pool = BlockingPool<Void>(size: 1, name: "test pool", maxQueued: 1, queueTimeout: .milliseconds(200), factory: {})
        defer { pool.close() }
        let blocker = DispatchSemaphore(value: 0)
        let started = Locked(false)
        let busy = Task { try await pool.run { _ in started.withLock { $0 = true }; blocker.wait() } }
        // Polled, not slept for: on a loaded machine a task can take longer than any fixed wait
        // to start, and a third job queued behind the blocker would wait for ever.
        while !started.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(5)) }
        let queued = Task { try await pool.run { _ in "ran" } }
        while pool.queuedJobs < 1 { try await Task.sleep(for: .milliseconds(5)) }
        await #expect(throws: ResourceBusy.self, "the queue holds one") { try await pool.run { _ in 0 } }
        try await Task.sleep(for: .milliseconds(300))
        blocker.signal()
        try await busy.value
        await #expect(throws: ResourceBusy.self, "it waited 350 ms of a 200 ms timeout") { try await queued.value }
        #expect(try await pool.run { _ in 7 } == 7)
    }

    @Test("heavy reads never hold every database thread: credentials are still checked; past the bound, 503", arguments: TestStores.backends)
    func heavyReadsLeaveAThread(kind: String) async throws {
        try await APIHarness.run(kind, configure: { $0.databaseConnections = 2; $0.databaseLimits.maxHeavyWaiting = 0 }) { c in
            let admin = try await c.adminToken()
            let store = c.services.store
            // A heavy read that takes as long as the test wants (the only heavy permit of two threads).
            let blocker = DispatchSemaphore(value: 0)
            let heavy = Task { try await store.pool.withHeavyConnection { _ in blocker.wait() } }
            while store.pool.heavy.load.inside == 0 { try await Task.sleep(for: .milliseconds(5)) }
            // A second one would take the last thread: refused instead (it used to take it, and every
            // credential check after it waited).
            await #expect(throws: ResourceBusy.self) { try await store.pool.withHeavyConnection { _ in blocker.wait() } }
            // A login (password check and token write) and an uncached credential check go through.
            let login = try await c.login("admin", APIHarness.adminPassword)
            #expect(login.status == 200)
            #expect(try await c.call(.get, "/api/v1/auth/whoami", token: login.json["token"] as? String).status == 200)
            // Another heavy read has no thread and no room to wait: 503 with Retry-After.
            let statistics = try await c.call(.get, "/api/v1/statistics", token: admin)
            #expect(statistics.status == 503 && statistics.json["error"] as? String == "busy" && statistics.headers[.retryAfter] == "2",
                    "\(statistics.text)")
            #expect(try await c.call(.get, "/api/v1/results?limit=5", token: admin).status == 503)
            blocker.signal()
            try await heavy.value
            #expect(try await c.call(.get, "/api/v1/statistics", token: admin).status == 200)
        }
    }

    @Test("a page of large documents ends at the response cap with a cursor; following it returns every row once", arguments: TestStores.backends)
    func responsesAreCapped(kind: String) async throws {
        try await APIHarness.run(kind, configure: { $0.maxResponseBytes = 65_536 }) { c in
            let admin = try await c.adminToken()
            let blob = String(repeating: "x", count: 20_000)
            let results: [[String: Any]] = (0..<10).map { i in
                ["test_type": "http", "target": "https://big.example/\(i)", "outcome": "success", "success": true, "raw": ["blob": blob, "i": i]]
            }
            #expect(try await c.call(.post, "/api/v1/results", token: admin, json: ["results": results]).status == 201)
            var seen: [String] = []
            var path = "/api/v1/results?limit=1000"
            var pages = 0
            while true {
                let page = try await c.call(.get, path, token: admin)
                #expect(page.status == 200 && page.text.utf8.count < 65_536 + 25_000, "\(page.text.utf8.count) bytes")
                seen += (page.json["results"] as? [[String: Any]] ?? []).compactMap { $0["target"] as? String }
                pages += 1
                guard let cursor = page.json["next_cursor"] as? String, pages < 20 else { break }
                path = "/api/v1/results?limit=1000&cursor=\(cursor)"
            }
            #expect(pages >= 3, "ten 20 kB documents do not fit one 64 kB page")
            #expect(seen.count == 10 && Set(seen).count == 10, "\(seen)")
        }
    }

    @Test("each principal has its own request rate: past it, 429 with Retry-After for that principal only")
    func perPrincipalRate() async throws {
        // One request every 100 s after a burst of 5: however slowly the suite runs, no refill.
        try await APIHarness.run(configure: { $0.rateLimit = 0.01; $0.rateBurst = 5 }) { c in
            let admin = try await c.adminToken()
            _ = try await c.createUser("rate-other", role: .user, ou: nil, token: admin)
            var statuses: [Int] = []
            for _ in 0..<6 { statuses.append(try await c.call(.get, "/api/v1/auth/whoami", token: admin).status) }
            // The burst of 5 went to createUser and the first four whoamis.
            #expect(statuses == [200, 200, 200, 200, 429, 429], "\(statuses)")
            let limited = try await c.call(.get, "/api/v1/auth/whoami", token: admin)
            #expect(limited.status == 429 && limited.json["error"] as? String == "rate_limited" && limited.headers[.retryAfter] != nil)
            // Another user is not held back by the first; the login (public) is not counted.
            let other = try await c.token("rate-other", "Sturdy-Walrus-17")
            #expect(try await c.call(.get, "/api/v1/auth/whoami", token: other).status == 200)
        }
        // Unit level: refill at the rate.
        let quotas = PrincipalQuotas(rate: 10, burst: 2, queuedRowShare: 100)
        let t0 = ContinuousClock.now
        #expect(quotas.admitRequest("u1", now: t0) == nil && quotas.admitRequest("u1", now: t0) == nil)
        #expect(quotas.admitRequest("u1", now: t0) == 1)
        #expect(quotas.admitRequest("u1", now: t0 + .milliseconds(150)) == nil, "0.15 s at 10/s refills one")
    }

    @Test("one uploader fills only its share of the result queue; others still get in", arguments: TestStores.backends)
    func uploadShare(kind: String) async throws {
        try await APIHarness.run(kind, configure: {
            $0.writer.maxQueuedRows = 1000; $0.uploadSharePercent = 10
            // Rows wait in the queue until the batch deadline: the uploads below overlap.
            $0.writer.maxDelay = .milliseconds(1500); $0.writer.maxBatchRows = 100_000
        }) { c in
            let admin = try await c.adminToken()
            _ = try await c.createUser("share-other", role: .user, ou: nil, token: admin)
            let other = try await c.token("share-other", "Sturdy-Walrus-17")
            func rows(_ n: Int) -> [[String: Any]] {
                (0..<n).map { _ in ["test_type": "tcp", "target": "192.0.2.7:22", "outcome": "success", "success": true] }
            }
            let client = c
            let first = Task { try await client.call(.post, "/api/v1/results", token: admin, json: ["results": rows(80)]).status }
            try await Task.sleep(for: .milliseconds(300))
            let second = try await c.call(.post, "/api/v1/results", token: admin, json: ["results": rows(80)])
            #expect(second.status == 429 && second.json["error"] as? String == "upload_share" && second.headers[.retryAfter] == "1",
                    "\(second.text)")
            #expect(try await c.call(.post, "/api/v1/results", token: other, json: ["results": rows(80)]).status == 201)
            #expect(try await first.value == 201)
            // Once acknowledged, the share is free again.
            #expect(try await c.call(.post, "/api/v1/results", token: admin, json: ["results": rows(80)]).status == 201)
        }
    }
}
