@testable import Control
import Foundation
import HTTPTypes
import Hummingbird
import ProbeModel
import Testing

/// What the agent relies on from the server: idempotent uploads, scheduled checks in client
/// configurations, a conditional config GET, heartbeats carrying the agent's state, and the
/// embedded agent's local device. On both stores.
@Suite("Agent-facing API")
struct AgentAPITests {
    static let idempotencyKey = HTTPField.Name("Idempotency-Key")!

    static func upload(_ targets: [String]) -> [String: Any] {
        ["results": targets.map { ["test_type": "tcp", "target": $0, "outcome": "success", "success": true, "latency_ms": 1.5] }]
    }

    @Test("an upload retried with its Idempotency-Key is stored once; the key with another body is 422", arguments: TestStores.backends)
    func idempotentUpload(_ kind: String) async throws {
        try await APIHarness.run(kind) { c in
            let admin = try await c.adminToken()
            let ou = try await c.createOU("agents", parent: nil, token: admin)
            let device = try await c.enroll(secret: try await c.enrollmentSecret(ou: ou, token: admin).secret, serial: "idem-1")
            // A retry sends the same bytes (a dictionary serialised twice may not be).
            let body = String(decoding: try JSONSerialization.data(withJSONObject: Self.upload(["idem-a", "idem-b", "idem-c"])), as: UTF8.self)
            let first = try await c.call(.post, "/api/v1/results", token: device.token, headers: [Self.idempotencyKey: "batch-1"], raw: body)
            #expect(first.status == 201, "\(first.text)")
            let again = try await c.call(.post, "/api/v1/results", token: device.token, headers: [Self.idempotencyKey: "batch-1"], raw: body)
            #expect(again.status == 200, "\(again.text)")
            #expect(again.headers[HTTPField.Name("Idempotent-Replayed")!] == "true")
            #expect(again.json["last_id"] as? NSNumber == first.json["last_id"] as? NSNumber && again.json["accepted"] as? NSNumber == 3)
            let stored = try await c.call(.get, "/api/v1/results?device_id=\(device.id)&limit=100", token: admin)
            #expect((stored.json["results"] as? [Any])?.count == 3, "\(stored.text)")
            // The same key for other results: refused, nothing stored.
            let other = try await c.call(.post, "/api/v1/results", token: device.token, headers: [Self.idempotencyKey: "batch-1"],
                                         json: Self.upload(["idem-d"]))
            #expect(other.status == 422 && other.json["error"] as? String == "idempotency_key_reused", "\(other.text)")
            // Keys are per sender: another device's batch-1 is its own.
            let second = try await c.enroll(secret: try await c.enrollmentSecret(ou: ou, token: admin).secret, serial: "idem-2")
            #expect(try await c.call(.post, "/api/v1/results", token: second.token, headers: [Self.idempotencyKey: "batch-1"],
                                     json: Self.upload(["idem-e"])).status == 201)
            // A malformed key is a 400 naming the header; without a key every upload is stored.
            let bad = try await c.call(.post, "/api/v1/results", token: device.token, headers: [Self.idempotencyKey: "no spaces"], raw: body)
            #expect(bad.status == 400 && bad.text.contains("Idempotency-Key"), "\(bad.text)")
            for _ in 0..<2 { #expect(try await c.call(.post, "/api/v1/results", token: device.token, json: Self.upload(["idem-f"])).status == 201) }
            let all = try await c.call(.get, "/api/v1/results?device_id=\(device.id)&limit=100", token: admin)
            #expect((all.json["results"] as? [Any])?.count == 5, "\(all.text)")
            // Retention forgets old keys: after the window the key is free again.
            let forgotten = try await c.services.store.deleteUploadKeys(olderThan: Int64(Date().timeIntervalSince1970 * 1000) + 1000)
            #expect(forgotten == 2)
        }
    }

    @Test("a config's checks are validated as a whole; the device's config answers an ETag and 304", arguments: TestStores.backends)
    func scheduledChecksAndETag(_ kind: String) async throws {
        try await APIHarness.run(kind) { c in
            let admin = try await c.adminToken()
            let ou = try await c.createOU("sched", parent: nil, token: admin)
            let device = try await c.enroll(secret: try await c.enrollmentSecret(ou: ou, token: admin).secret, serial: "sched-1")
            func put(_ checks: [[String: Any]]) async throws -> APIHarness.Reply {
                try await c.call(.put, "/api/v1/ous/\(ou)/config", token: admin, json: ["name": "s", "config": ["interval_seconds": 60, "checks": checks]])
            }
            let tcp: [String: Any] = ["kind": "tcp", "target": "192.0.2.1:80", "name": "web", "every_s": 5]
            // A run longer than its interval; two checks of one name; another kind's parameters.
            let long = try await put([tcp.merging(["count": 10, "interval_ms": 1000]) { $1 }])
            #expect(long.status == 422 && long.text.contains("config.checks[0].every_s"), "\(long.text)")
            let twice = try await put([tcp, tcp])
            #expect(twice.status == 422 && twice.text.contains("config.checks[1].name"), "\(twice.text)")
            let foreign = try await put([tcp.merging(["icmp": ["ttl": 3]]) { $1 }])
            #expect(foreign.status == 422, "\(foreign.text)")
            #expect(try await c.call(.get, "/api/v1/ous/\(ou)/config", token: admin).status == 404, "nothing was stored")

            #expect(try await put([tcp, ["kind": "icmp", "target": "192.0.2.1", "every_s": 10, "enabled": false]]).status == 200)
            let config = try await c.call(.get, "/api/v1/device/config", token: device.token)
            let etag = try #require(config.headers[.eTag])
            let checks = ((config.json["config"] as? [String: Any])?["checks"] as? [[String: Any]]) ?? []
            #expect(checks.count == 2 && checks[0]["every_s"] as? NSNumber == 5 && checks[1]["enabled"] as? Bool == false, "\(config.text)")
            let unchanged = try await c.call(.get, "/api/v1/device/config", token: device.token, headers: [.ifNoneMatch: etag])
            #expect(unchanged.status == 304 && unchanged.text.isEmpty && unchanged.headers[.eTag] == etag)
            #expect(try await put([tcp]).status == 200)
            let changed = try await c.call(.get, "/api/v1/device/config", token: device.token, headers: [.ifNoneMatch: etag])
            #expect(changed.status == 200 && changed.headers[.eTag] != etag)
        }
    }

    @Test("a heartbeat carries the agent's state, shown on the device; an empty one still counts", arguments: TestStores.backends)
    func heartbeatStatus(_ kind: String) async throws {
        try await APIHarness.run(kind) { c in
            let admin = try await c.adminToken()
            let ou = try await c.createOU("hb", parent: nil, token: admin)
            let device = try await c.enroll(secret: try await c.enrollmentSecret(ou: ou, token: admin).secret, serial: "hb-1")
            #expect(try await c.call(.post, "/api/v1/device/heartbeat", token: device.token).status == 200)
            #expect(try await c.call(.get, "/api/v1/devices/\(device.id)", token: admin).json["agent"] is NSNull)
            let status: [String: Any] = ["version": "0.5.0", "checks_configured": 12, "checks_running": 2, "runs": 340, "skipped_runs": 1,
                                         "buffer_results": 17, "buffer_bytes": 9000, "buffer_oldest_ms": 4000, "dropped_results": 3,
                                         "last_upload_at": 1_796_000_000_000, "config_error": NSNull()]
            #expect(try await c.call(.post, "/api/v1/device/heartbeat", token: device.token, json: status).status == 200)
            let shown = try await c.call(.get, "/api/v1/devices/\(device.id)", token: admin)
            let agent = shown.json["agent"] as? [String: Any] ?? [:]
            #expect(agent["dropped_results"] as? NSNumber == 3 && agent["checks_configured"] as? NSNumber == 12 && shown.json["status"] as? String == "online",
                    "\(shown.text)")
            // And in the server's /metrics, by device.
            let metrics = try await c.call(.get, "/metrics", token: admin)
            #expect(metrics.text.contains("waddleperf_agent_dropped_results{device=\"\(device.id)\"} 3"), "\(metrics.text.suffix(2000))")
            #expect(metrics.text.contains("# HELP waddleperf_agent_buffer_results "))
            let bad = try await c.call(.post, "/api/v1/device/heartbeat", token: device.token, json: ["dropped_results": -1])
            #expect(bad.status == 400 && bad.text.contains("dropped_results"), "\(bad.text)")
        }
    }

    @Test("the embedded agent's device: its own OU and config, kept as edited, a new token each start", arguments: TestStores.backends)
    func localDevice(_ kind: String) async throws {
        try await APIHarness.run(kind) { c in
            let checks = [ScheduledCheck(ProbeSpec(kind: "tcp", target: "127.0.0.1:7", name: "echo"), everySeconds: 10)]
            let first = try await c.services.provisionLocalDevice(serial: "local-test", hostname: "test", defaultChecks: checks)
            let admin = try await c.adminToken()
            #expect(try await c.call(.post, "/api/v1/device/heartbeat", token: first.token).status == 200)
            let config = try await c.call(.get, "/api/v1/ous/\(first.ouID)/config", token: admin)
            #expect(config.status == 200 && config.text.contains("127.0.0.1:7"), "\(config.text)")
            // Edited through the API, then a restart: the edit stays, the old token stops working.
            #expect(try await c.call(.put, "/api/v1/ous/\(first.ouID)/config", token: admin,
                                     json: ["name": "mine", "config": ["interval_seconds": 60, "checks": [] as [Any]]]).status == 200)
            let second = try await c.services.provisionLocalDevice(serial: "local-test", hostname: "test", defaultChecks: checks)
            #expect(second.deviceID == first.deviceID && second.ouID == first.ouID)
            #expect(try await c.call(.post, "/api/v1/device/heartbeat", token: first.token).status == 401)
            #expect(try await c.call(.post, "/api/v1/device/heartbeat", token: second.token).status == 200)
            #expect(try await c.call(.get, "/api/v1/ous/\(first.ouID)/config", token: admin).json["name"] as? String == "mine")
        }
    }
}
