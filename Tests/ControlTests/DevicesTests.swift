@testable import Control
import Foundation
import HTTPTypes
import Hummingbird
import Testing

/// Enrollment, device tokens, device status, client configs and SQL statistics, through the REST
/// API on both stores.
@Suite("Devices, configs and statistics")
struct DevicesTests {
    static func int(_ value: Any?) -> Int64? { (value as? NSNumber)?.int64Value }

    /// Finding 6 of the security issue: any secret of an OU used to re-enroll any serial of it and
    /// cut the real device off.
    @Test("re-enrolling a live device needs its token or an admin's reset; another OU learns nothing", arguments: TestStores.backends)
    func reenrollmentCannotTakeOver(_ kind: String) async throws {
        try await APIHarness.run(kind) { c in
            let admin = try await c.adminToken()
            let a = try await c.createOU("take-a", parent: nil, token: admin)
            let b = try await c.createOU("take-b", parent: nil, token: admin)
            let rollout = try await c.enrollmentSecret(ou: a, token: admin)
            let real = try await c.enroll(secret: rollout.secret, serial: "victim-1")
            let insider = try await c.enrollmentSecret(ou: a, token: admin)
            func attempt(_ secret: String, token: String?) async throws -> APIHarness.Reply {
                var body = ["secret": secret, "serial": "victim-1"]
                if let token { body["current_token"] = token }
                return try await c.call(.post, "/api/v1/enrollment/enroll", json: body)
            }
            let bare = try await attempt(insider.secret, token: nil)
            #expect(bare.status == 409 && bare.json["error"] as? String == "serial_taken", "\(bare.text)")
            #expect(try await attempt(insider.secret, token: "wpd_" + String(repeating: "0", count: 64)).status == 409)
            #expect(try await c.call(.post, "/api/v1/device/heartbeat", token: real.token).status == 200, "the real device keeps its token")
            // Another OU's secret gets the very same answer: no oracle for where a serial lives.
            let foreign = try await attempt(try await c.enrollmentSecret(ou: b, token: admin).secret, token: nil)
            #expect(foreign.status == 409 && foreign.text == bare.text)
            // With its token the device renews itself.
            let renewed = try await attempt(insider.secret, token: real.token)
            #expect(renewed.status == 200, "\(renewed.text)")
            let token = renewed.json["token"] as? String ?? ""
            // An administrator's reset ends the token; the serial then enrolls without one.
            let id = ((renewed.json["device"] as? [String: Any])?["id"] as? NSNumber)?.int64Value ?? 0
            #expect(try await c.call(.post, "/api/v1/devices/\(id)/reset-enrollment", token: admin).status == 200)
            #expect(try await c.call(.post, "/api/v1/device/heartbeat", token: token).status == 401)
            let replaced = try await attempt(insider.secret, token: nil)
            #expect(replaced.status == 200 && Self.int((replaced.json["device"] as? [String: Any])?["id"]) == id, "\(replaced.text)")
            let audit = try await c.services.store.auditEntries(limit: 100)
            #expect(audit.contains { $0.action == "device.enrollment.reset" && $0.subject == "device:\(id)" })
            #expect(audit.filter { $0.action == "device.enroll" && $0.outcome == "failure" && $0.detail == "serial_taken" }.count == 3)
        }
    }

    @Test("enrollment: secret shown once and hashed, use limits, re-enrollment, OU pinning, deactivation", arguments: TestStores.backends)
    func enrollment(_ kind: String) async throws {
        try await APIHarness.run(kind) { c in
            let admin = try await c.adminToken()
            let a = try await c.createOU("a", parent: nil, token: admin)
            let b = try await c.createOU("b", parent: nil, token: admin)
            let secret = try await c.enrollmentSecret(ou: a, token: admin, maxUses: 2)
            #expect(secret.secret.count == 64)

            // The list never carries the secret, and the store holds only its hash.
            let list = try await c.call(.get, "/api/v1/enrollment/secrets", token: admin)
            #expect(!list.text.contains(secret.secret))
            let stored = try await c.services.store.pool.withConnection { try $0.query("SELECT secret_hash FROM enrollment_secrets") }
            #expect(stored.map { $0.string("secret_hash") } == [Secrets.sha256Hex(secret.secret)])

            let first = try await c.enroll(secret: secret.secret, serial: "sn-1")
            #expect(first.token.hasPrefix("wpd_") && first.token.count == 68)
            let device = try await c.call(.get, "/api/v1/devices/\(first.id)", token: admin)
            #expect(Self.int(device.json["ou_id"]) == a)
            #expect(device.json["status"] as? String == "online")
            #expect(!device.text.contains(first.token))

            // The device token authenticates the device, not a user.
            #expect(try await c.call(.post, "/api/v1/device/heartbeat", token: first.token).status == 200)
            #expect(try await c.call(.get, "/api/v1/users", token: first.token).status == 403)
            #expect(try await c.call(.get, "/api/v1/device/config", token: "wpd_" + String(repeating: "0", count: 64)).status == 401)

            // Re-enrolling the same serial with its token: 200, a new token, the old one dead, OU unchanged.
            let again = try await c.enroll(secret: secret.secret, serial: "sn-1", currentToken: first.token, expect: 200)
            #expect(again.id == first.id && again.token != first.token)
            #expect(try await c.call(.post, "/api/v1/device/heartbeat", token: first.token).status == 401)
            #expect(try await c.call(.post, "/api/v1/device/heartbeat", token: again.token).status == 200)

            // max_uses = 2 is spent; a wrong secret is a 401 and counts against the address.
            _ = try await c.enroll(secret: secret.secret, serial: "sn-2", expect: 401)
            _ = try await c.enroll(secret: String(repeating: "f", count: 64), serial: "sn-3", expect: 401)

            // A secret of another OU cannot take over a device.
            let other = try await c.enrollmentSecret(ou: b, token: admin)
            _ = try await c.enroll(secret: other.secret, serial: "sn-1", expect: 409)

            // Deactivation kills the token at once; re-enrolling is refused until reactivated.
            #expect(try await c.call(.post, "/api/v1/devices/\(first.id)/deactivate", token: admin).json["active"] as? Bool == false)
            #expect(try await c.call(.post, "/api/v1/device/heartbeat", token: again.token).status == 401)
            let more = try await c.enrollmentSecret(ou: a, token: admin)
            _ = try await c.enroll(secret: more.secret, serial: "sn-1", expect: 403)
            #expect(try await c.call(.post, "/api/v1/devices/\(first.id)/reactivate", token: admin).status == 200)
            let back = try await c.enroll(secret: more.secret, serial: "sn-1", expect: 200)
            #expect(try await c.call(.post, "/api/v1/device/heartbeat", token: back.token).status == 200)

            // A revoked secret enrolls nothing; bad bodies name the field.
            #expect(try await c.call(.delete, "/api/v1/enrollment/secrets/\(more.id)", token: admin).status == 204)
            _ = try await c.enroll(secret: more.secret, serial: "sn-4", expect: 401)
            let bad = try await c.call(.post, "/api/v1/enrollment/enroll", json: ["secret": "x", "serial": "has space"])
            #expect(bad.status == 400 && (bad.json["fields"] as? [String: String])?["serial"] != nil)
            let count = try await c.services.store.pool.withConnection { try $0.scalar("SELECT COUNT(*) FROM devices") }
            #expect(count == 1)

            // Expired secrets, at the store level (the API's minimum lifetime is a minute).
            let expired = try await c.services.store.createEnrollmentSecret(ouID: a, name: "old", prefix: "deadbeef", hash: Secrets.sha256Hex("old-secret"),
                                                                            createdBy: nil, expiresAt: WallClock.nowMillis() - 1, maxUses: nil)
            #expect(expired.id > 0)
            _ = try await c.enroll(secret: "old-secret", serial: "sn-5", expect: 401)
        }
    }

    @Test("device results are attributed from the token; users cannot claim devices", arguments: TestStores.backends)
    func deviceUploads(_ kind: String) async throws {
        try await APIHarness.run(kind) { c in
            let admin = try await c.adminToken()
            let a = try await c.createOU("a", parent: nil, token: admin)
            let secret = try await c.enrollmentSecret(ou: a, token: admin)
            let one = try await c.enroll(secret: secret.secret, serial: "dev-1")
            let two = try await c.enroll(secret: secret.secret, serial: "dev-2")
            let result: [String: Any] = ["test_type": "icmp", "target": "127.0.0.1", "outcome": "success", "success": true, "latency_ms": 0.2,
                                         "raw": ["rtts": [0.2, 0.25], "note": "quote \" é"]]
            #expect(try await c.call(.post, "/api/v1/results", token: one.token, json: ["results": [result]]).status == 201)
            var claimed = result
            claimed["device_id"] = two.id
            let spoof = try await c.call(.post, "/api/v1/results", token: one.token, json: ["results": [result, claimed]])
            // Well-formed, but not the caller's to claim: 403 naming the field, and nothing stored.
            #expect(spoof.status == 403 && (spoof.json["fields"] as? [String: String])?["results[1].device_id"] != nil)
            let userClaim = try await c.call(.post, "/api/v1/results", token: admin, json: ["results": [claimed]])
            #expect(userClaim.status == 403)
            let page = try await c.call(.get, "/api/v1/results", token: admin).json
            let rows = page["results"] as? [[String: Any]] ?? []
            #expect(rows.count == 1 && page["next_cursor"] is NSNull)
            // A full page names where the next one starts.
            let first = try await c.call(.get, "/api/v1/results?limit=1", token: admin).json
            #expect(first["next_cursor"] as? String == rows.first.flatMap { Self.int($0["id"]) }.map(String.init))
            // Filters: by the device, and a device id that cannot be one.
            let byDevice = try await c.call(.get, "/api/v1/results?device_id=\(one.id)", token: admin).json
            #expect((byDevice["results"] as? [[String: Any]])?.count == 1)
            let noDevice = try await c.call(.get, "/api/v1/results?device_id=0", token: admin)
            #expect(noDevice.status == 400 && (noDevice.json["fields"] as? [String: String])?["device_id"] != nil)
            #expect((rows.first?["resolved_address"]) is NSNull && rows.first?["protocol_detail"] as? String == "" && rows.first?["min_ms"] is NSNull)
            #expect(Self.int(rows.first?["device_id"]) == one.id && Self.int(rows.first?["ou_id"]) == a && rows.first?["user_id"] is NSNull)
            // The stored document comes back as it went in, embedded in the listing.
            let raw = rows.first?["raw"] as? [String: Any]
            #expect(raw?["note"] as? String == "quote \" é" && (raw?["rtts"] as? [NSNumber])?.map(\.doubleValue) == [0.2, 0.25])
            #expect(rows.first?["success"] as? Bool == true && (rows.first?["latency_ms"] as? NSNumber)?.doubleValue == 0.2)
        }
    }

    @Test("status online/recent/offline/stale from last contact; filters and summary", arguments: TestStores.backends)
    func statuses(_ kind: String) async throws {
        try await APIHarness.run(kind) { c in
            let admin = try await c.adminToken()
            let a = try await c.createOU("a", parent: nil, token: admin)
            let b = try await c.createOU("b", parent: nil, token: admin)
            let secretA = try await c.enrollmentSecret(ou: a, token: admin)
            let secretB = try await c.enrollmentSecret(ou: b, token: admin)
            let now = WallClock.nowMillis()
            let ages: [(String, Int64?)] = [("online", 60_000), ("recent", 30 * 60_000), ("offline", 5 * 3_600_000), ("stale", 3 * 86_400_000), ("never", nil)]
            var ids: [String: Int64] = [:]
            for (name, age) in ages {
                let id = try await c.enroll(secret: secretA.secret, serial: "box-\(name)").id
                ids[name] = id
                try await c.services.store.pool.withConnection { conn in
                    _ = try conn.execute("UPDATE devices SET last_seen_at = ? WHERE id = ?", [age.map { .int(now - $0) } ?? .null, .int(id)])
                }
            }
            _ = try await c.enroll(secret: secretB.secret, serial: "elsewhere")
            for status in ["online", "recent", "offline"] {
                let list = try await c.call(.get, "/api/v1/devices?status=\(status)&ou_id=\(a)", token: admin)
                let found = (list.json["devices"] as? [[String: Any]] ?? []).compactMap { Self.int($0["id"]) }
                #expect(found == [ids[status]!], "\(status): \(list.text)")
            }
            let stale = try await c.call(.get, "/api/v1/devices?status=stale", token: admin)
            #expect(Set((stale.json["devices"] as? [[String: Any]] ?? []).compactMap { Self.int($0["id"]) }) == [ids["stale"]!, ids["never"]!])
            let summary = try await c.call(.get, "/api/v1/devices/summary", token: admin).json
            #expect(Self.int(summary["total"]) == 6 && Self.int(summary["online"]) == 2 && Self.int(summary["stale"]) == 2)
            // Search, paging, and an OU admin sees only their unit.
            let search = try await c.call(.get, "/api/v1/devices?search=box-&limit=2&offset=1", token: admin).json
            #expect(Self.int(search["total"]) == 5 && (search["devices"] as? [Any])?.count == 2)
            _ = try await c.createUser("bob.admin", role: .ouAdmin, ou: b, token: admin)
            let bob = try await c.token("bob.admin", "Sturdy-Walrus-17")
            #expect(Self.int(try await c.call(.get, "/api/v1/devices", token: bob).json["total"]) == 1)
            #expect(try await c.call(.get, "/api/v1/devices/\(ids["online"]!)", token: bob).status == 404)
            #expect(try await c.call(.get, "/api/v1/devices?status=sleepy", token: admin).status == 400)
        }
    }

    @Test("client configs: validated, inherited down the OU tree, default as the fallback, device pull", arguments: TestStores.backends)
    func configs(_ kind: String) async throws {
        try await APIHarness.run(kind) { c in
            let admin = try await c.adminToken()
            let a = try await c.createOU("a", parent: nil, token: admin)
            let a1 = try await c.createOU("a1", parent: a, token: admin)
            let secret = try await c.enrollmentSecret(ou: a1, token: admin)
            let device = try await c.enroll(secret: secret.secret, serial: "cfg-1")

            // No config anywhere yet.
            var pull = try await c.call(.get, "/api/v1/device/config", token: device.token)
            #expect(pull.status == 200 && pull.json["config"] is NSNull)

            let defaults: [String: Any] = ["name": "default", "config": ["interval_seconds": 300, "jitter_percent": 10, "checkin_seconds": 600,
                                                                         "tests": [["type": "icmp", "target": "192.0.2.1"]]]]
            #expect(try await c.call(.put, "/api/v1/configs/default", token: admin, json: defaults).status == 200)
            pull = try await c.call(.get, "/api/v1/device/config", token: device.token)
            #expect(pull.json["name"] as? String == "default" && pull.json["source_ou_id"] is NSNull)
            let next = Self.int(pull.json["next_checkin_seconds"]) ?? 0
            #expect((540...660).contains(next))

            let forA: [String: Any] = ["name": "for a", "config": ["interval_seconds": 60, "tests": [["type": "tcp", "target": "10.0.0.1", "port": 443]]]]
            #expect(try await c.call(.put, "/api/v1/ous/\(a)/config", token: admin, json: forA).status == 200)
            pull = try await c.call(.get, "/api/v1/device/config", token: device.token)
            #expect(pull.json["name"] as? String == "for a" && Self.int(pull.json["source_ou_id"]) == a)
            #expect(((pull.json["config"] as? [String: Any])?["tests"] as? [[String: Any]])?.first?["port"] as? Int == 443)

            // Replacing is idempotent; deleting the OU's config falls back to the default.
            #expect(try await c.call(.put, "/api/v1/ous/\(a)/config", token: admin, json: forA).status == 200)
            #expect(try await c.call(.delete, "/api/v1/ous/\(a)/config", token: admin).status == 204)
            #expect(try await c.call(.get, "/api/v1/ous/\(a)/config", token: admin).status == 404)
            pull = try await c.call(.get, "/api/v1/device/config", token: device.token)
            #expect(pull.json["name"] as? String == "default")
            #expect(((try await c.call(.get, "/api/v1/configs", token: admin)).json["configs"] as? [Any])?.count == 1)

            // Validation names the field inside the document; nothing is written.
            let bad: [String: Any] = ["name": "bad", "config": ["interval_seconds": 5, "tests": [["type": "gopher", "target": "x"]], "colour": "red"]]
            let refused = try await c.call(.put, "/api/v1/ous/\(a1)/config", token: admin, json: bad)
            let fields = refused.json["fields"] as? [String: String] ?? [:]
            #expect(refused.status == 400)
            #expect(fields["config.interval_seconds"] != nil && fields["config.tests[0].type"] != nil && fields["config.colour"] != nil, "\(fields)")
            #expect(try await c.call(.get, "/api/v1/ous/\(a1)/config", token: admin).status == 404)
        }
    }

    @Test("statistics in SQL: counts, success rate, nearest-rank percentiles, groups and time buckets", arguments: TestStores.backends)
    func statistics(_ kind: String) async throws {
        try await APIHarness.run(kind) { c in
            let admin = try await c.adminToken()
            // Two days ago on the hour: well inside the 90-day retention that runs at start-up.
            let twoDaysAgo = WallClock.nowMillis() - 2 * 86_400_000
            let base = twoDaysAgo - twoDaysAgo % 3_600_000
            var results: [[String: Any]] = []
            // icmp: latencies 1...100 ms, every 10th a failure; an hour apart in two buckets.
            for i in 1...100 {
                results.append(["test_type": "icmp", "target": "a.example", "outcome": i % 10 == 0 ? "timeout" : "success", "success": i % 10 != 0,
                                "latency_ms": Double(i), "loss_percent": i % 10 == 0 ? 100.0 : 0.0, "created_at": base + (i <= 60 ? 0 : 3_600_000) + Int64(i)])
            }
            // tcp: four samples and two rows without the metric (refused before any timing).
            for (i, v) in [4.0, 1.0, 3.0, 2.0].enumerated() {
                results.append(["test_type": "tcp", "target": "b.example", "outcome": "success", "success": true, "latency_ms": v, "created_at": base + Int64(i)])
            }
            for _ in 0..<2 { results.append(["test_type": "tcp", "target": "b.example", "outcome": "refused", "success": false, "created_at": base]) }
            #expect(try await c.call(.post, "/api/v1/results", token: admin, json: ["results": results]).status == 201)

            // The default window is the last 24 hours: two days ago is outside it, and the answer says so.
            let recent = try await c.call(.get, "/api/v1/statistics", token: admin)
            #expect((recent.json["groups"] as? [Any])?.isEmpty == true, "\(recent.text)")
            let until = (recent.json["until"] as? NSNumber)?.int64Value ?? 0, since = (recent.json["since"] as? NSNumber)?.int64Value ?? 0
            #expect(until - since == 86_400_000 && abs(until - WallClock.nowMillis()) < 60_000)
            // At most 92 days at once (the dashboards' 90-day range): a longer window is narrowed to its end, and says so.
            let wide = try await c.call(.get, "/api/v1/statistics?since=0", token: admin)
            let wideSince = (wide.json["since"] as? NSNumber)?.int64Value ?? 0, wideUntil = (wide.json["until"] as? NSNumber)?.int64Value ?? 0
            #expect(wide.status == 200 && wideUntil - wideSince == 92 * 86_400_000, "\(wide.text)")
            #expect((wide.json["groups"] as? [Any])?.count == 2, "two days ago is inside the last 92 days")
            let empty = try await c.call(.get, "/api/v1/statistics?since=2000&until=1000", token: admin)
            #expect(empty.status == 200 && (empty.json["groups"] as? [Any])?.isEmpty == true)
            let window = "since=\(base - 1)"
            let byType = try await c.call(.get, "/api/v1/statistics?\(window)", token: admin)
            let groups = Dictionary(uniqueKeysWithValues: (byType.json["groups"] as? [[String: Any]] ?? []).map { ($0["key"] as? String ?? "", $0) })
            let icmp = groups["icmp"] ?? [:], tcp = groups["tcp"] ?? [:]
            #expect(Self.int(icmp["count"]) == 100 && Self.int(icmp["successes"]) == 90)
            #expect((icmp["success_rate"] as? Double).map { abs($0 - 0.9) < 1e-9 } == true)
            #expect(icmp["p50"] as? Double == 50 && icmp["p90"] as? Double == 90 && icmp["p99"] as? Double == 99)
            // The distribution's lower quantiles (SmokePing-style charts): nearest rank of 1...100.
            #expect(icmp["p10"] as? Double == 10 && icmp["p25"] as? Double == 25 && icmp["p75"] as? Double == 75, "\(byType.text)")
            #expect(icmp["min"] as? Double == 1 && icmp["max"] as? Double == 100 && (icmp["mean"] as? Double).map { abs($0 - 50.5) < 1e-9 } == true)
            #expect((icmp["mean_loss_percent"] as? Double).map { abs($0 - 10) < 1e-9 } == true)
            #expect(Self.int(tcp["count"]) == 6 && Self.int(tcp["samples"]) == 4)
            #expect(tcp["p50"] as? Double == 2 && tcp["p90"] as? Double == 4 && tcp["p99"] as? Double == 4)

            let buckets = try await c.call(.get, "/api/v1/statistics?group_by=time&bucket=3600&test_type=icmp&\(window)", token: admin)
            let series = buckets.json["groups"] as? [[String: Any]] ?? []
            #expect(series.map { Self.int($0["count"]) } == [60, 40], "\(buckets.text)")
            #expect(series.first?["key"] as? String == String(base) && series.first?["p50"] as? Double == 30)

            let byTarget = try await c.call(.get, "/api/v1/statistics?group_by=target&metric=loss_percent&\(window)", token: admin)
            #expect((byTarget.json["groups"] as? [[String: Any]])?.first?["key"] as? String == "a.example")
            #expect(try await c.call(.get, "/api/v1/statistics?metric=password_hash", token: admin).status == 400)
            // `bucket` applies to time groups only; elsewhere it is ignored.
            let ignored = try await c.call(.get, "/api/v1/statistics?group_by=test_type&bucket=60", token: admin)
            #expect(ignored.status == 200 && ignored.json["group_by"] as? String == "test_type")

            // A plain user's statistics cover only their own results.
            _ = try await c.createUser("plain.user", role: .user, ou: nil, token: admin)
            let user = try await c.token("plain.user", "Sturdy-Walrus-17")
            #expect((try await c.call(.get, "/api/v1/statistics", token: user).json["groups"] as? [Any])?.isEmpty == true)

            // The series listing: read from the series table, in scope, filtered, ordered.
            let listing = try await c.call(.get, "/api/v1/series", token: admin)
            let entries = listing.json["series"] as? [[String: Any]] ?? []
            let listed = entries.map { entry -> String in
                let kind = entry["test_type"] as? String ?? "", target = entry["target"] as? String ?? ""
                return kind + "/" + target
            }
            #expect(listed == ["icmp/a.example", "tcp/b.example"], "\(listing.text)")
            #expect(entries.first.map { $0["device_id"] is NSNull } == true)
            let tcpOnly = try await c.call(.get, "/api/v1/series?test_type=tcp", token: admin)
            #expect((tcpOnly.json["series"] as? [Any])?.count == 1)
            #expect((try await c.call(.get, "/api/v1/series", token: user).json["series"] as? [Any])?.isEmpty == true)
        }
    }
}

/// Finding 7 of the security issue: server keys could not be listed or revoked, and uploaded to
/// any `ou_id` and `device_id`.
@Suite("Server keys")
struct ServerKeyTests {
    static let manager = HTTPField.Name("X-Manager-Key")!

    static func results(deviceID: Int64? = nil) -> [[String: Any]] {
        var row: [String: Any] = ["test_type": "tcp", "target": "192.0.2.1:443", "outcome": "success", "success": true]
        if let deviceID { row["device_id"] = deviceID }
        return [row]
    }

    @Test("server keys are listed and revoked; a bound key uploads only within its OU, for devices there", arguments: TestStores.backends)
    func serverKeysAreScoped(_ kind: String) async throws {
        try await APIHarness.run(kind) { c in
            let admin = try await c.adminToken()
            let a = try await c.createOU("keys-a", parent: nil, token: admin)
            let a1 = try await c.createOU("keys-a1", parent: a, token: admin)
            let b = try await c.createOU("keys-b", parent: nil, token: admin)
            let deviceA1 = try await c.enroll(secret: try await c.enrollmentSecret(ou: a1, token: admin).secret, serial: "keys-dev-a1").id
            let deviceB = try await c.enroll(secret: try await c.enrollmentSecret(ou: b, token: admin).secret, serial: "keys-dev-b").id

            let bound = try await c.call(.post, "/api/v1/server-keys", token: admin, json: ["name": "site-a", "ou_id": a])
            #expect(bound.status == 201 && (bound.json["ou_id"] as? NSNumber)?.int64Value == a, "\(bound.text)")
            let key = bound.json["key"] as? String ?? ""
            func upload(_ body: [String: Any], with key: String) async throws -> APIHarness.Reply {
                try await c.call(.post, "/api/v1/results", headers: [Self.manager: key], json: body)
            }
            // Its OU by default, any unit of its subtree by name, nothing outside.
            #expect(try await upload(["results": Self.results()], with: key).status == 201)
            #expect(try await upload(["results": Self.results(), "ou_id": a1], with: key).status == 201)
            let outside = try await upload(["results": Self.results(), "ou_id": b], with: key)
            #expect(outside.status == 403 && (outside.json["fields"] as? [String: String])?["ou_id"] != nil, "\(outside.text)")
            // Devices: only those within; one answer for "elsewhere" and "nowhere".
            let elsewhere = try await upload(["results": Self.results(deviceID: deviceB)], with: key)
            let nowhere = try await upload(["results": Self.results(deviceID: 987_654)], with: key)
            #expect(elsewhere.status == 409 && nowhere.status == 409, "\(elsewhere.text) \(nowhere.text)")
            #expect(elsewhere.text.replacingOccurrences(of: "\(deviceB)", with: "N") == nowhere.text.replacingOccurrences(of: "987654", with: "N"))
            // A device's rows take its OU; a named OU must be the device's.
            #expect(try await upload(["results": Self.results(deviceID: deviceA1)], with: key).status == 201)
            #expect(try await upload(["results": Self.results(deviceID: deviceA1), "ou_id": a], with: key).status == 409)
            let stored = try await c.services.store.pool.withConnection { try $0.query("SELECT ou_id FROM test_results WHERE device_id = ?", [.int(deviceA1)]) }
            #expect(stored.map { $0.int("ou_id") } == [a1])

            // An unbound key: any existing OU and device, nothing that does not exist.
            let global = try await c.call(.post, "/api/v1/server-keys", token: admin, json: ["name": "everywhere"]).json["key"] as? String ?? ""
            #expect(try await upload(["results": Self.results(deviceID: deviceB), "ou_id": b], with: global).status == 201)
            let ghost = try await upload(["results": Self.results(), "ou_id": 424_242], with: global)
            #expect(ghost.status == 409 && (ghost.json["fields"] as? [String: String])?["ou_id"] != nil, "\(ghost.text)")
            #expect(try await c.call(.post, "/api/v1/server-keys", token: admin, json: ["name": "x", "ou_id": 424_242]).status == 409)
            let before = try await c.services.store.pool.withConnection { try $0.scalar("SELECT COUNT(*) FROM test_results") }
            #expect(before == 4, "the refused uploads wrote nothing")

            // Listed without the secret; revoked, it stops at once (it was just used, so cached).
            let list = try await c.call(.get, "/api/v1/server-keys", token: admin)
            let keys = list.json["server_keys"] as? [[String: Any]] ?? []
            #expect(keys.count == 2 && !list.text.contains(key) && !list.text.contains(global))
            let id = (bound.json["id"] as? NSNumber)?.int64Value ?? 0
            #expect(try await c.call(.delete, "/api/v1/server-keys/\(id)", token: admin).status == 204)
            #expect(try await upload(["results": Self.results()], with: key).status == 401)
            #expect(try await c.call(.delete, "/api/v1/server-keys/\(id)", token: admin).status == 404, "already revoked")
            let revoked = try await c.call(.get, "/api/v1/server-keys", token: admin).json["server_keys"] as? [[String: Any]] ?? []
            #expect(revoked.contains { ($0["id"] as? NSNumber)?.int64Value == id && $0["revoked_at"] is String })
            let audit = try await c.services.store.auditEntries(limit: 100)
            #expect(audit.contains { $0.action == "server_key.revoke" && $0.subject == "server-key:\(id)" })
        }
    }
}
