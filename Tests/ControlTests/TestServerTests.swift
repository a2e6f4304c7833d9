@testable import Control
import Engine
import Foundation
import HTTPTypes
import Testing
import TestSupport

/// The test server against real processes on loopback: the live control plane on a socket,
/// WebSocket streams read by a real client, an echo responder for TCP and UDP, ICMP to
/// 127.0.0.1, and HTTP to the server's own /health.
@Suite("test server", .serialized)
struct TestServerTests {
    /// A running echo responder (TCP and UDP) on free loopback ports.
    static func echo() throws -> EchoServer {
        var c = EchoServer.Configuration()
        c.tcpPort = 0
        c.udpPort = 0
        let server = try EchoServer(c)
        try server.start()
        return server
    }

    static func number(_ any: Any?) -> Double? { (any as? NSNumber)?.doubleValue }

    /// Polls GET /api/v1/tests/{id} until the test is over.
    static func waitFinished(_ c: APIHarness.Client, _ id: String, token: String) async throws -> [String: Any] {
        for _ in 0..<400 {
            let reply = try await c.call(.get, "/api/v1/tests/\(id)", token: token)
            if reply.json["status"] as? String != "running" { return reply.json }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("test \(id) still running")
        return [:]
    }

    /// Reads a whole stream: JSON frames, then the close.
    static func watch(port: Int, id: String, token: String) async throws -> (frames: [[String: Any]], close: UInt16) {
        let messages = try await offPool {
            let ws = try WebSocketTestClient(port: port, path: "/api/v1/tests/\(id)/stream", headers: ["Authorization": "Bearer \(token)"])
            guard ws.status == 101 else { throw WebSocketTestClient.Failure("upgrade refused: \(ws.status) \(ws.refusal)") }
            return try ws.receiveAll()
        }
        var frames: [[String: Any]] = []
        var close: UInt16 = 0
        for m in messages {
            switch m {
            case .text(let t): frames.append((try? JSONSerialization.jsonObject(with: Data(t.utf8))) as? [String: Any] ?? [:])
            case .close(let code, _): close = code
            }
        }
        return (frames, close)
    }

    @Test("each kind runs through POST /api/v1/tests, streams until its result, and is stored", arguments: TestStores.backends)
    func eachKindRunsStreamsAndIsStored(store: String) async throws {
        let echo = try Self.echo()
        defer { echo.stop() }
        try await APIHarness.run(store, testing: .live) { c in
            let admin = try await c.adminToken()
            let checks: [[String: Any]] = [
                ["kind": "icmp", "target": "127.0.0.1", "count": 8, "interval_ms": 150],
                ["kind": "tcp", "target": "127.0.0.1:\(echo.tcpPort!)", "count": 8, "interval_ms": 150],
                ["kind": "udp", "target": "127.0.0.1:\(echo.udpPort!)", "count": 8, "interval_ms": 150],
                ["kind": "http", "target": "http://127.0.0.1:\(c.port)/health", "count": 8, "interval_ms": 150],
            ]
            for check in checks {
                let kind = check["kind"] as! String
                let created = try await c.call(.post, "/api/v1/tests", token: admin, json: check)
                #expect(created.status == 202, "\(kind): \(created.text)")
                let id = created.json["id"] as? String ?? ""
                #expect(created.headers[.location] == "/api/v1/tests/\(id)")
                let (frames, close) = try await Self.watch(port: c.port, id: id, token: admin)
                #expect(close == 1000)
                let probes = frames.filter { $0["type"] as? String == "probe" }
                let summaries = frames.filter { $0["type"] as? String == "summary" }
                // The stream may open after the first probes went: those are replayed to it
                // first, so it lists all 8, each once; none was dropped.
                #expect(probes.count == 8, "\(kind): \(probes.count) probe frames")
                #expect(probes.allSatisfy { $0["success"] as? Bool == true && Self.number($0["latency_ms"]) != nil }, "\(kind): \(probes)")
                #expect(Set(probes.compactMap { $0["seq"] as? Int }).count == probes.count)
                #expect(summaries.count >= 1)
                let last = frames.last ?? [:]
                #expect(last["type"] as? String == "result" && last["dropped"] as? Int == 0)
                let test = last["test"] as? [String: Any] ?? [:]
                #expect(test["status"] as? String == "completed" && test["stored"] as? Bool == true, "\(kind): \(test)")
                let result = test["result"] as? [String: Any] ?? [:]
                #expect(result["test_type"] as? String == kind && result["success"] as? Bool == true)
                #expect(Self.number(result["sent"]) == 8 && Self.number(result["received"]) == 8, "\(kind): \(result)")
                // Stored like an upload, attributed to the caller.
                let listed = try await c.call(.get, "/api/v1/results?test_type=\(kind)&limit=10", token: admin)
                let rows = listed.json["results"] as? [[String: Any]] ?? []
                #expect(rows.count == 1, "\(kind): \(listed.text)")
                #expect(rows.first?["user_id"] as? Int == 1 && Self.number(rows.first?["received"]) == 8)
                #expect(Self.number(rows.first?["latency_ms"]) == Self.number(result["latency_ms"]))
            }
            let list = try await c.call(.get, "/api/v1/tests?status=completed", token: admin)
            #expect((list.json["tests"] as? [Any])?.count == 4, "\(list.text)")
        }
    }

    @Test("a viewer who joins late is sent the probes so far first, flagged replayed, then the rest as they come")
    func lateViewerGetsReplay() async throws {
        try await APIHarness.run(testing: .live) { c in
            let admin = try await c.adminToken()
            let created = try await c.call(.post, "/api/v1/tests", token: admin,
                                           json: ["kind": "icmp", "target": "127.0.0.1", "count": 20, "interval_ms": 100])
            let id = created.json["id"] as? String ?? ""
            // Join once half the probes have gone.
            for _ in 0..<100 {
                let progress = try await c.call(.get, "/api/v1/tests/\(id)", token: admin).json["progress"] as? [String: Any]
                if (progress?["received"] as? Int ?? 0) >= 10 { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            let (frames, close) = try await Self.watch(port: c.port, id: id, token: admin)
            #expect(close == 1000)
            let probes = frames.filter { $0["type"] as? String == "probe" }
            let replayed = probes.prefix { $0["replayed"] as? Bool == true }
            #expect(probes.count == 20 && Set(probes.compactMap { $0["seq"] as? Int }).count == 20, "\(probes.count) probe frames")
            // The replayed ones come first, in order; the live ones after them carry no flag.
            #expect(replayed.count >= 10 && replayed.count < 20, "\(replayed.count) replayed")
            #expect(probes.dropFirst(replayed.count).allSatisfy { $0["replayed"] == nil })
            #expect(probes.compactMap { $0["seq"] as? Int } == probes.compactMap { $0["seq"] as? Int }.sorted())
        }
    }

    @Test("a slow stream reader loses events, counted; the engine and the other viewers keep their pace")
    func slowReaderDropsEvents() async throws {
        // More frames (about 16 MB) than the kernel's socket buffers hold (tcp_wmem's 4 MB at most),
        // so the server's own buffer must drop; bench bounds raised to allow them at once.
        try await APIHarness.run(testing: .live, configure: {
            $0.testLimits.bench = .init(probes: 100_000, rate: 100_000, duration: .seconds(600))
            $0.testLimits.rate = 1_000_000
        }) { c in
            let admin = try await c.adminToken()
            let count = 80_000
            let created = try await c.call(.post, "/api/v1/tests", token: admin,
                                           json: ["kind": "icmp", "target": "127.0.0.1", "count": count, "interval_ms": 0, "timeout_ms": 5000])
            #expect(created.status == 202, "\(created.text)")
            let id = created.json["id"] as? String ?? ""
            // A viewer that never reads until the test is over (its socket buffer small, so the
            // server's writes stall), and one that reads everything as it comes.
            let port = c.port
            let slow = try await offPool {
                try WebSocketTestClient(port: port, path: "/api/v1/tests/\(id)/stream", headers: ["Authorization": "Bearer \(admin)"],
                                        receiveBuffer: 4096)
            }
            #expect(slow.status == 101)
            let fast = try await Self.watch(port: port, id: id, token: admin)
            // The test finished while the slow viewer read nothing: the engine did not wait for it.
            let finished = try await Self.waitFinished(c, id, token: admin)
            #expect(finished["status"] as? String == "completed")
            #expect((finished["progress"] as? [String: Any])?["sent"] as? Int == count)
            let messages = try await offPool { try slow.receiveAll() }
            let frames = messages.compactMap { m -> [String: Any]? in
                guard case .text(let t) = m else { return nil }
                return (try? JSONSerialization.jsonObject(with: Data(t.utf8))) as? [String: Any]
            }
            let probes = frames.filter { $0["type"] as? String == "probe" }.count
            let dropped = frames.last?["dropped"] as? Int ?? -1
            #expect(frames.last?["type"] as? String == "result")
            #expect(dropped > 0, "the slow viewer lost nothing: \(probes) probe frames")
            // Every event was either delivered or counted (the viewer joined before the first probe
            // or missed a few at the start: never more than were sent).
            // Every probe that completed after the viewer joined (its first frame, a summary, says
            // how many had before) was delivered or counted as dropped.
            let before = frames.first?["type"] as? String == "summary" ? frames.first?["sent"] as? Int ?? count : count
            #expect(probes + dropped <= count && probes + dropped >= count - before, "\(probes) + \(dropped), \(before) before joining")
            // The one that read as it came joined later (the burst had begun): what it saw and what
            // it lost add up to no more than was sent, and it got its result.
            let fastProbes = fast.frames.filter { $0["type"] as? String == "probe" }.count
            let fastDropped = fast.frames.last?["dropped"] as? Int ?? -1
            #expect(fast.frames.last?["type"] as? String == "result" && fastDropped >= 0 && fastProbes + fastDropped <= count,
                    "\(fastProbes) + \(fastDropped)")
            print("slow viewer: \(probes) probe frames, \(dropped) dropped; fast viewer: \(fastProbes), \(fastDropped) dropped")
        }
    }

    @Test("the target policy: protected ranges for non-admins, names resolved first, deny rules for everyone, redirect hops")
    func targetPolicy() async throws {
        let redirector = try Redirector(bind: "127.0.0.2")
        defer { redirector.stop() }
        try await APIHarness.run(testing: .live, configure: {
            $0.allowTargets = [try! TargetPolicy.Rule(parsing: "127.0.0.2/32", name: "allow_targets[0]")]
            $0.denyTargets = [try! TargetPolicy.Rule(parsing: "127.0.0.3/32", name: "deny_targets[0]")]
        }) { c in
            let admin = try await c.adminToken()
            let ou = try await c.createOU("lab", parent: nil, token: admin)
            _ = try await c.createUser("plain", role: .user, ou: ou, token: admin)
            _ = try await c.createUser("labadmin", role: .ouAdmin, ou: ou, token: admin)
            let user = try await c.token("plain", "Sturdy-Walrus-17")
            let ouAdmin = try await c.token("labadmin", "Sturdy-Walrus-17")

            for (who, token) in [("user", user), ("ou_admin", ouAdmin)] {
                for target in ["127.0.0.1", "localhost", "10.1.2.3", "169.254.169.254", "192.168.1.1"] {
                    let r = try await c.call(.post, "/api/v1/tests", token: token, json: ["kind": "icmp", "target": target])
                    #expect(r.status == 403 && r.json["error"] as? String == "target_refused", "\(who) \(target): \(r.text)")
                    let rule = (r.json["fields"] as? [String: String])?["rule"]
                    let expected = target.hasPrefix("169.") ? "link-local" : target.hasPrefix("1") && !target.hasPrefix("127") ? "private" : "loopback"
                    #expect(rule == expected, "\(who) \(target): \(r.text)")
                }
                // An HTTP URL whose name resolves to loopback.
                let named = try await c.call(.post, "/api/v1/tests", token: token,
                                             json: ["kind": "http", "target": "http://localhost:\(c.port)/health"])
                #expect(named.status == 403 && (named.json["fields"] as? [String: String])?["rule"] == "loopback", "\(named.text)")
            }
            // The allowed address runs, and its redirect to loopback is refused at the hop.
            let hop = try await c.call(.post, "/api/v1/tests", token: user,
                                       json: ["kind": "http", "target": "http://127.0.0.2:\(redirector.port)/go", "count": 1])
            #expect(hop.status == 202, "\(hop.text)")
            let finished = try await Self.waitFinished(c, hop.json["id"] as? String ?? "", token: user)
            let result = finished["result"] as? [String: Any] ?? [:]
            #expect(result["outcome"] as? String == "denied" && result["success"] as? Bool == false, "\(finished)")
            let message = (result["raw"] as? [String: Any]).flatMap { ($0["details"] as? [String: Any])?["message"] as? String } ?? ""
            #expect(message.contains("rule loopback"), "\(message)")
            #expect(redirector.requests.withLock { $0 } == 1)
            // Global administrators reach loopback; a deny rule refuses even them.
            let mine = try await c.call(.post, "/api/v1/tests", token: admin, json: ["kind": "icmp", "target": "127.0.0.1"])
            #expect(mine.status == 202, "\(mine.text)")
            let denied = try await c.call(.post, "/api/v1/tests", token: admin, json: ["kind": "icmp", "target": "127.0.0.3"])
            #expect(denied.status == 403 && (denied.json["fields"] as? [String: String])?["rule"] == "deny_targets[0]", "\(denied.text)")
            // A name that does not resolve is a result, not an error.
            let nowhere = try await c.call(.post, "/api/v1/tests", token: user, json: ["kind": "tcp", "target": "no-such-host.invalid:80"])
            #expect(nowhere.status == 202, "\(nowhere.text)")
            let unresolved = try await Self.waitFinished(c, nowhere.json["id"] as? String ?? "", token: user)
            #expect((unresolved["result"] as? [String: Any])?["outcome"] as? String == "unresolved", "\(unresolved)")
        }
    }

    @Test("limits: load tests need tests:bench, bench limits are 422, running tests 429 with Retry-After; cancel keeps what was measured")
    func limits() async throws {
        try await APIHarness.run(testing: .live, configure: {
            $0.testLimits.runningPerUser = 1
            $0.allowTargets = [try! TargetPolicy.Rule(parsing: "127.0.0.0/8", name: "allow_targets[0]")]
        }) { c in
            let admin = try await c.adminToken()
            _ = try await c.createUser("plain", role: .user, ou: nil, token: admin)
            let user = try await c.token("plain", "Sturdy-Walrus-17")
            let big = try await c.call(.post, "/api/v1/tests", token: user, json: ["kind": "icmp", "target": "127.0.0.1", "count": 2000])
            #expect(big.status == 403 && big.text.contains("tests:bench"), "\(big.text)")
            let fast = try await c.call(.post, "/api/v1/tests", token: user, json: ["kind": "icmp", "target": "127.0.0.1", "interval_ms": 10])
            #expect(fast.status == 403 && (fast.json["fields"] as? [String: String])?["interval_ms"] != nil, "\(fast.text)")
            let huge = try await c.call(.post, "/api/v1/tests", token: admin,
                                        json: ["kind": "icmp", "target": "127.0.0.1", "count": 100_000, "interval_ms": 0])
            #expect(huge.status == 422 && huge.json["error"] as? String == "limit_exceeded", "\(huge.text)")
            let wrong = try await c.call(.post, "/api/v1/tests", token: user, json: ["kind": "icmp", "target": "127.0.0.1:80"])
            #expect(wrong.status == 422 && (wrong.json["fields"] as? [String: String])?["target"] != nil, "\(wrong.text)")
            let typo = try await c.call(.post, "/api/v1/tests", token: user, json: ["kind": "icmp", "target": "127.0.0.1", "icmp": ["sise": 1]])
            #expect(typo.status == 400, "\(typo.text)")

            let long = try await c.call(.post, "/api/v1/tests", token: user,
                                        json: ["kind": "icmp", "target": "127.0.0.1", "count": 100, "interval_ms": 200])
            #expect(long.status == 202, "\(long.text)")
            let second = try await c.call(.post, "/api/v1/tests", token: user, json: ["kind": "icmp", "target": "127.0.0.1"])
            #expect(second.status == 429 && second.json["error"] as? String == "too_many_tests", "\(second.text)")
            #expect(Int(second.headers[.retryAfter] ?? "") ?? 0 >= 1)
            // Another user is not held up by this one's test.
            let other = try await c.call(.post, "/api/v1/tests", token: admin, json: ["kind": "icmp", "target": "127.0.0.1"])
            #expect(other.status == 202)
            try await Task.sleep(for: .milliseconds(700))
            let id = long.json["id"] as? String ?? ""
            // Someone else's test is not theirs to see or cancel.
            _ = try await c.createUser("other", role: .user, ou: nil, token: admin)
            let stranger = try await c.token("other", "Sturdy-Walrus-17")
            #expect(try await c.call(.get, "/api/v1/tests/\(id)", token: stranger).status == 404)
            #expect(try await c.call(.delete, "/api/v1/tests/\(id)", token: stranger).status == 404)
            let cancelled = try await c.call(.delete, "/api/v1/tests/\(id)", token: user)
            #expect(cancelled.status == 200, "\(cancelled.text)")
            // Answered with the test as it ended; then it is gone, its result stored.
            let done = cancelled.json
            #expect(try await c.call(.get, "/api/v1/tests/\(id)", token: user).status == 404)
            let kept = try await c.call(.get, "/api/v1/results?test_type=icmp&limit=10", token: user)
            #expect((kept.json["results"] as? [[String: Any]])?.contains { Self.number($0["sent"]) == Self.number((done["result"] as? [String: Any])?["sent"]) } == true)
            #expect(done["status"] as? String == "cancelled" && done["cancelled_by"] as? String == "user:plain", "\(done)")
            let sent = Self.number((done["result"] as? [String: Any])?["sent"]) ?? 0
            #expect(sent >= 2 && sent < 100, "sent \(sent)")
            #expect(done["stored"] as? Bool == true)
            let again = try await c.call(.post, "/api/v1/tests", token: user, json: ["kind": "icmp", "target": "127.0.0.1"])
            #expect(again.status == 202, "\(again.text)")
        }
    }

    @Test("the original's /api/v1/test/{kind} bodies, answered with its field names; missing kinds are 501")
    func legacyRoutes() async throws {
        let echo = try Self.echo()
        defer { echo.stop() }
        try await APIHarness.run(testing: .live) { c in
            let admin = try await c.adminToken()
            let device = ["device_serial": "SN-1", "device_hostname": "lab-1", "device_os": "linux", "device_os_version": "6.1"]
            let icmp = try await c.call(.post, "/api/v1/test/icmp", token: admin,
                                        json: ["target": "127.0.0.1", "protocol": "ping", "count": 2, "timeout": 5].merging(device) { $1 })
            #expect(icmp.status == 200, "\(icmp.text)")
            #expect(icmp.json["packets_sent"] as? Int == 2 && icmp.json["packets_received"] as? Int == 2)
            #expect(Self.number(icmp.json["packet_loss_percent"]) == 0 && icmp.json["hops"] as? [Any] != nil)
            #expect(Self.number(icmp.json["latency_ms"]) ?? 0 > 0 && icmp.json["success"] as? Bool == true)
            for key in ["min_latency_ms", "max_latency_ms", "jitter_ms", "error", "target", "protocol"] {
                #expect(icmp.json.keys.contains(key), "icmp lacks \(key)")
            }
            let tcp = try await c.call(.post, "/api/v1/test/tcp", token: admin,
                                       json: ["target": "127.0.0.1", "protocol": "raw", "port": Int(echo.tcpPort!), "timeout": 10])
            #expect(tcp.status == 200 && tcp.json["connected"] as? Bool == true && Self.number(tcp.json["handshake_ms"]) != nil, "\(tcp.text)")
            #expect(tcp.json["remote_addr"] as? String == "127.0.0.1:\(echo.tcpPort!)")
            let udp = try await c.call(.post, "/api/v1/test/udp", token: admin,
                                       json: ["target": "127.0.0.1", "protocol": "raw", "port": Int(echo.udpPort!), "count": 3])
            #expect(udp.status == 200 && udp.json["response"] as? String == "3 of 3 datagrams echoed", "\(udp.text)")
            let http = try await c.call(.post, "/api/v1/test/http", token: admin,
                                        json: ["target": "http://127.0.0.1:\(c.port)/health", "protocol": "http1", "method": "GET", "count": 2])
            #expect(http.status == 200 && http.json["status_code"] as? Int == 200 && http.json["connected_proto"] as? String == "http/1.1", "\(http.text)")
            #expect(Self.number(http.json["ttfb_ms"]) != nil && Self.number(http.json["total_time_ms"]) != nil)
            // What this engine has no kind for yet.
            for (path, body) in [("/api/v1/test/traceroute", ["target": "127.0.0.1"]), ("/api/v1/test/udp", ["target": "127.0.0.1"]),
                                 ("/api/v1/test/tcp", ["target": "127.0.0.1", "protocol": "tls"]),
                                 ("/api/v1/test/icmp", ["target": "127.0.0.1", "protocol": "traceroute"])] {
                let r = try await c.call(.post, path, token: admin, json: body)
                #expect(r.status == 501 && r.json["error"] as? String == "not_implemented", "\(path) \(body): \(r.text)")
            }
            #expect(try await c.call(.post, "/api/v1/test/smtp", token: admin, json: ["target": "x"]).status == 404)
            let bad = try await c.call(.post, "/api/v1/test/http", token: admin, json: ["target": "127.0.0.1", "protocol": "gopher"])
            #expect(bad.status == 422 && (bad.json["fields"] as? [String: String])?["protocol"] != nil, "\(bad.text)")
            // Every one of these was stored, attributed to the caller.
            let results = try await c.call(.get, "/api/v1/results?limit=50", token: admin)
            #expect((results.json["results"] as? [Any])?.count == 4, "\(results.text)")
        }
    }

    @Test("streams: authentication, scope, a plain GET, and a cookie session's Origin")
    func streamAccess() async throws {
        try await APIHarness.run(testing: .live) { c in
            let admin = try await c.adminToken()
            _ = try await c.createUser("plain", role: .user, ou: nil, token: admin)
            let user = try await c.token("plain", "Sturdy-Walrus-17")
            let created = try await c.call(.post, "/api/v1/tests", token: admin,
                                           json: ["kind": "icmp", "target": "127.0.0.1", "count": 50, "interval_ms": 100])
            let id = created.json["id"] as? String ?? ""
            let port = c.port
            // A refusal: upgraded, then closed at once with 4000 + the HTTP status and the reason.
            @Sendable func refusal(_ headers: [String: String]) async throws -> (Int, WebSocketTestClient.Message?) {
                try await offPool {
                    let ws = try WebSocketTestClient(port: port, path: "/api/v1/tests/\(id)/stream", headers: headers)
                    return (ws.status, ws.status == 101 ? try ws.receive() : nil)
                }
            }
            let anonymous = try await refusal([:])
            #expect(anonymous.0 == 101 && anonymous.1 == .close(code: 4401, reason: "authentication required"), "\(anonymous)")
            let stranger = try await refusal(["Authorization": "Bearer \(user)"])
            #expect(stranger.0 == 101 && stranger.1 == .close(code: 4404, reason: "test \(id) not found"), "\(stranger)")
            let plain = try await c.call(.get, "/api/v1/tests/\(id)/stream", token: admin)
            #expect(plain.status == 426, "\(plain.text)")
            // A cookie session from another site's page is refused; from ours it streams.
            let login = try await c.call(.post, "/api/v1/auth/login", json: ["username": "admin", "password": APIHarness.adminPassword, "session": true])
            let cookie = (login.headers[.setCookie] ?? "").split(separator: ";").first.map(String.init) ?? ""
            let foreign = try await refusal(["Cookie": cookie, "Origin": "https://evil.example"])
            guard case .close(4403, _)? = foreign.1 else { Issue.record("\(foreign)"); return }
            let ours = try await offPool {
                let ws = try WebSocketTestClient(port: port, path: "/api/v1/tests/\(id)/stream", headers: ["Cookie": cookie, "Origin": "http://127.0.0.1:\(port)"])
                return try ws.receive()
            }
            guard case .text(let first) = ours, first.contains("\"type\":\"summary\"") else { Issue.record("\(ours)"); return }
            _ = try await c.call(.delete, "/api/v1/tests/\(id)", token: admin)
        }
    }

    @Test("shutdown cancels running tests and stores what they measured", arguments: TestStores.backends)
    func shutdownStoresPartialResults(store: String) async throws {
        try await APIHarness.run(store, testing: .live) { c in
            let admin = try await c.adminToken()
            let created = try await c.call(.post, "/api/v1/tests", token: admin,
                                           json: ["kind": "icmp", "target": "127.0.0.1", "count": 500, "interval_ms": 100])
            let id = created.json["id"] as? String ?? ""
            try await Task.sleep(for: .milliseconds(600))
            await c.tests.stop()
            let test = try #require(c.tests.test(id))
            let s = test.snapshot()
            #expect(s.status == .cancelled && s.cancelledBy == "shutdown" && s.stored)
            #expect((s.document?.sent ?? 0) >= 3 && (s.document?.sent ?? 0) < 500)
            let rows = try await c.call(.get, "/api/v1/results?test_type=icmp", token: admin)
            #expect((rows.json["results"] as? [Any])?.count == 1, "\(rows.text)")
            let refused = try await c.call(.post, "/api/v1/tests", token: admin, json: ["kind": "icmp", "target": "127.0.0.1"])
            #expect(refused.status == 503)
        }
    }
}

/// An HTTP server on `bind` that answers every request with a redirect to loopback.
final class Redirector: @unchecked Sendable {
    let fd: Int32
    let port: Int
    let requests = Locked(0)

    init(bind: String) throws {
        let sock = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        fd = sock
        var on: Int32 = 1
        setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr(bind)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(sock, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(sock, 16) == 0 else { throw WebSocketTestClient.Failure("bind \(bind): errno \(errno)") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(sock, $0, &length) } }
        port = Int(UInt16(bigEndian: address.sin_port))
        let requests = self.requests
        let thread = Thread {
            while true {
                let client = accept(sock, nil, nil)
                if client < 0 { return }
                var buffer = [UInt8](repeating: 0, count: 4096)
                _ = buffer.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
                requests.withLock { $0 += 1 }
                let reply = "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:9/metadata\r\nContent-Length: 0\r\n\r\n"
                _ = reply.withCString { send(client, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
                Glibc.close(client)
            }
        }
        thread.start()
    }

    func stop() {
        shutdown(fd, Int32(SHUT_RDWR))
        Glibc.close(fd)
    }
}
