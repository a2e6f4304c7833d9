@testable import Control
import Foundation
import HTTPTypes
import Hummingbird
import Testing

/// Every route × every role × inside/outside the caller's OU subtree, generated from
/// `API.operations`: a declared route without a case here fails the suite.
@Suite("RBAC matrix")
struct RBACMatrixTests {
    /// OU "a" (with child "a1") holds every OU-scoped caller; "b" is outside their subtree.
    struct World: Sendable {
        var admin: String
        var a: Int64, a1: Int64, b: Int64
        var callers: [Role: (username: String, id: Int64)]
    }

    struct Case: Sendable {
        var method: HTTPRequest.Method
        var path: String
        var body: [String: any Sendable]?
        /// Status for an OU-scoped caller when the target is outside their subtree (nil: not scoped).
        var outside: Int?
        /// Overrides the permission-derived expectation.
        var expect: (@Sendable (Role, Bool) -> Int)?
    }

    typealias Fixture = @Sendable (APIHarness.Client, World, _ inside: Bool, _ caller: (username: String, id: Int64)) async throws -> Case

    static let password = "Sturdy-Walrus-17"

    /// A fresh user to act on, inside (OU a1) or outside (OU b).
    static func target(_ c: APIHarness.Client, _ w: World, _ inside: Bool) async throws -> Int64 {
        try await c.createUser("t\(UInt32.random(in: 0...UInt32.max))", role: .user, ou: inside ? w.a1 : w.b, token: w.admin)
    }

    static let fixtures: [String: Fixture] = [
        "health": { _, _, _, _ in Case(method: .get, path: "/health") },
        "ready": { _, _, _, _ in Case(method: .get, path: "/ready") },
        "openapi": { _, _, _, _ in Case(method: .get, path: "/api/v1/openapi.json") },
        "login": { _, _, _, caller in Case(method: .post, path: "/api/v1/auth/login", body: ["username": caller.username, "password": password]) },
        "logout": { _, _, _, _ in Case(method: .post, path: "/api/v1/auth/logout") },
        "whoami": { _, _, _, _ in Case(method: .get, path: "/api/v1/auth/whoami") },
        "changePassword": { _, _, _, _ in Case(method: .post, path: "/api/v1/auth/password", body: ["current_password": password, "new_password": "Another-Sturdy-2"]) },
        "mfaSetup": { _, _, _, _ in Case(method: .post, path: "/api/v1/auth/mfa/setup", body: ["password": password]) },
        // mfaSetup ran first (declaration order), so a setup is pending and a wrong code is a 400.
        "mfaVerify": { _, _, _, _ in Case(method: .post, path: "/api/v1/auth/mfa/verify", body: ["code": "000000"], expect: { _, _ in 403 }) },
        "mfaDisable": { _, _, _, _ in Case(method: .post, path: "/api/v1/auth/mfa/disable", body: ["password": password, "code": "123456"], expect: { _, _ in 409 }) },
        "listUsers": { _, _, _, _ in Case(method: .get, path: "/api/v1/users") },
        "createUser": { _, w, inside, _ in
            Case(method: .post, path: "/api/v1/users",
                 body: ["username": "n\(UInt32.random(in: 0...UInt32.max))", "password": password, "role": "user", "ou_id": inside ? w.a1 : w.b], outside: 403)
        },
        "getUser": { c, w, inside, _ in Case(method: .get, path: "/api/v1/users/\(try await target(c, w, inside))", outside: 404) },
        "updateUser": { c, w, inside, _ in Case(method: .patch, path: "/api/v1/users/\(try await target(c, w, inside))", body: ["email": "x\(UInt32.random(in: 0...UInt32.max))@example.com"], outside: 404) },
        "deleteUser": { c, w, inside, _ in Case(method: .delete, path: "/api/v1/users/\(try await target(c, w, inside))", outside: 404) },
        "setUserPassword": { c, w, inside, _ in Case(method: .put, path: "/api/v1/users/\(try await target(c, w, inside))/password", body: ["password": "Brand-New-Pass-3"], outside: 404) },
        "resetUserMFA": { c, w, inside, _ in
            let id = try await target(c, w, inside)
            try await c.services.store.setPendingMFASecret(id, sealed: try c.services.secretBox.seal(Array("JBSWY3DPEHPK3PXP".utf8)))
            return Case(method: .delete, path: "/api/v1/users/\(id)/mfa", outside: 404)
        },
        "revokeUserTokens": { c, w, inside, _ in Case(method: .post, path: "/api/v1/users/\(try await target(c, w, inside))/revoke-tokens", outside: 404) },
        "listAPIKeys": { c, w, inside, _ in
            Case(method: .get, path: "/api/v1/users/\(try await target(c, w, inside))/api-keys", outside: 404, expect: Self.othersKeys(success: 200))
        },
        "createAPIKey": { c, w, inside, _ in
            Case(method: .post, path: "/api/v1/users/\(try await target(c, w, inside))/api-keys", body: ["name": "k", "password": password], outside: 404, expect: Self.othersKeys(success: 201))
        },
        "revokeAPIKey": { c, w, inside, _ in
            let id = try await target(c, w, inside)
            let key = try await c.call(.post, "/api/v1/users/\(id)/api-keys", token: w.admin, json: ["name": "k", "password": APIHarness.adminPassword] as [String: String])
            let keyID = (key.json["id"] as? NSNumber)?.int64Value ?? 0
            return Case(method: .delete, path: "/api/v1/users/\(id)/api-keys/\(keyID)", outside: 404, expect: Self.othersKeys(success: 204))
        },
        "listOUs": { _, _, _, _ in Case(method: .get, path: "/api/v1/ous") },
        "ouTree": { _, _, _, _ in Case(method: .get, path: "/api/v1/ous/tree") },
        "createOU": { _, w, inside, _ in Case(method: .post, path: "/api/v1/ous", body: ["name": "new", "parent_id": inside ? w.a1 : w.b], outside: 403) },
        "getOU": { _, w, inside, _ in Case(method: .get, path: "/api/v1/ous/\(inside ? w.a1 : w.b)", outside: 404) },
        "updateOU": { _, w, inside, _ in Case(method: .patch, path: "/api/v1/ous/\(inside ? w.a1 : w.b)", body: ["description": "changed"], outside: 404) },
        "deleteOU": { c, w, inside, _ in
            let unit = try await c.createOU("doomed", parent: inside ? w.a1 : w.b, token: w.admin)
            return Case(method: .delete, path: "/api/v1/ous/\(unit)", outside: 404)
        },
        "uploadResults": { _, _, _, _ in
            Case(method: .post, path: "/api/v1/results", body: ["results": [["test_type": "icmp", "target": "127.0.0.1", "outcome": "success", "success": true] as [String: any Sendable]] as [any Sendable]])
        },
        "listResults": { _, _, _, _ in Case(method: .get, path: "/api/v1/results") },
        "listSeries": { _, _, _, _ in Case(method: .get, path: "/api/v1/series") },
        // Tests probe 192.0.2.1 (TEST-NET-1: outside every protected range, so any role may).
        "createTest": { _, _, _, _ in Case(method: .post, path: "/api/v1/tests", body: quickTest) },
        "listTests": { _, _, _, _ in Case(method: .get, path: "/api/v1/tests") },
        "speedDownload": { _, _, _, _ in Case(method: .get, path: "/api/v1/speedtest/download?bytes=16") },
        "speedUpload": { _, _, _, _ in Case(method: .post, path: "/api/v1/speedtest/upload", body: ["any": "bytes"]) },
        "speedPing": { _, _, _, _ in Case(method: .get, path: "/api/v1/speedtest/ping") },
        "getTest": { c, w, inside, caller in
            Case(method: .get, path: "/api/v1/tests/\(try await test(c, w, inside, caller, body: quickTest))", expect: testAccess(success: 200, cancel: false))
        },
        "cancelTest": { c, w, inside, caller in
            Case(method: .delete, path: "/api/v1/tests/\(try await test(c, w, inside, caller, body: longTest))", expect: testAccess(success: 200, cancel: true))
        },
        // The router-driven harness cannot upgrade: a GET the upgrade would accept is told to (426).
        "streamTest": { c, w, inside, caller in
            Case(method: .get, path: "/api/v1/tests/\(try await test(c, w, inside, caller, body: quickTest))/stream",
                 expect: testAccess(success: 426, cancel: false))
        },
        // Without a loopback peer (the in-process harness) /probe and /metrics want a credential;
        // loopback is a protected target for all but global administrators.
        "probe": { _, _, _, _ in
            Case(method: .get, path: "/probe?module=icmp&target=127.0.0.1", expect: { role, _ in role == .globalAdmin ? 200 : 403 })
        },
        "metrics": { _, _, _, _ in Case(method: .get, path: "/metrics", expect: { role, _ in role.isGlobal ? 200 : 403 }) },
        "legacyTest": { _, _, _, _ in Case(method: .post, path: "/api/v1/test/traceroute", body: ["target": "192.0.2.1"], expect: { _, _ in 501 }) },
        "listAudit": { _, _, _, _ in Case(method: .get, path: "/api/v1/audit") },
        "createServerKey": { _, _, _, _ in Case(method: .post, path: "/api/v1/server-keys", body: ["name": "probe-server"]) },
        "listServerKeys": { _, _, _, _ in Case(method: .get, path: "/api/v1/server-keys") },
        "revokeServerKey": { c, w, _, _ in
            let key = try await c.call(.post, "/api/v1/server-keys", token: w.admin, json: ["name": "doomed"])
            return Case(method: .delete, path: "/api/v1/server-keys/\((key.json["id"] as? NSNumber)?.int64Value ?? 0)")
        },
        "statistics": { _, _, _, _ in Case(method: .get, path: "/api/v1/statistics?group_by=target") },
        "listDevices": { _, _, _, _ in Case(method: .get, path: "/api/v1/devices") },
        "deviceSummary": { _, _, _, _ in Case(method: .get, path: "/api/v1/devices/summary") },
        "getDevice": { c, w, inside, _ in Case(method: .get, path: "/api/v1/devices/\(try await device(c, w, inside))", outside: 404) },
        "deactivateDevice": { c, w, inside, _ in Case(method: .post, path: "/api/v1/devices/\(try await device(c, w, inside))/deactivate", outside: 404) },
        "resetDeviceEnrollment": { c, w, inside, _ in Case(method: .post, path: "/api/v1/devices/\(try await device(c, w, inside))/reset-enrollment", outside: 404) },
        "reactivateDevice": { c, w, inside, _ in Case(method: .post, path: "/api/v1/devices/\(try await device(c, w, inside))/reactivate", outside: 404) },
        "listEnrollmentSecrets": { _, _, _, _ in Case(method: .get, path: "/api/v1/enrollment/secrets") },
        "createEnrollmentSecret": { _, w, inside, _ in
            Case(method: .post, path: "/api/v1/enrollment/secrets", body: ["ou_id": inside ? w.a1 : w.b, "name": "rollout"], outside: 403)
        },
        "revokeEnrollmentSecret": { c, w, inside, _ in
            let secret = try await c.enrollmentSecret(ou: inside ? w.a1 : w.b, token: w.admin)
            return Case(method: .delete, path: "/api/v1/enrollment/secrets/\(secret.id)", outside: 404)
        },
        "enroll": { c, w, inside, _ in
            let secret = try await c.enrollmentSecret(ou: inside ? w.a1 : w.b, token: w.admin)
            return Case(method: .post, path: "/api/v1/enrollment/enroll", body: ["secret": secret.secret, "serial": "sn-\(UInt32.random(in: 0...UInt32.max))"])
        },
        // Only enrolled devices hold `device`: every user role is refused whatever its rank.
        "deviceConfig": { _, _, _, _ in Case(method: .get, path: "/api/v1/device/config") },
        "deviceHeartbeat": { _, _, _, _ in Case(method: .post, path: "/api/v1/device/heartbeat") },
        "listConfigs": { _, _, _, _ in Case(method: .get, path: "/api/v1/configs") },
        "getDefaultConfig": { c, w, _, _ in
            try await c.putConfig("/api/v1/configs/default", token: w.admin)
            return Case(method: .get, path: "/api/v1/configs/default")
        },
        "putDefaultConfig": { _, _, _, _ in
            // configs:write within an OU does not reach the default: global administrators only.
            Case(method: .put, path: "/api/v1/configs/default", body: APIHarness.sampleConfig, expect: { role, _ in role == .globalAdmin ? 200 : 403 })
        },
        "getOUConfig": { c, w, inside, _ in
            let path = "/api/v1/ous/\(inside ? w.a1 : w.b)/config"
            try await c.putConfig(path, token: w.admin)
            return Case(method: .get, path: path, outside: 404)
        },
        "putOUConfig": { _, w, inside, _ in Case(method: .put, path: "/api/v1/ous/\(inside ? w.a1 : w.b)/config", body: APIHarness.sampleConfig, outside: 404) },
        "deleteOUConfig": { c, w, inside, _ in
            let path = "/api/v1/ous/\(inside ? w.a1 : w.b)/config"
            try await c.putConfig(path, token: w.admin)
            return Case(method: .delete, path: path, outside: 404)
        },
        "listAlertRules": { _, _, _, _ in Case(method: .get, path: "/api/v1/alert-rules") },
        "createAlertRule": { _, w, inside, _ in Case(method: .post, path: "/api/v1/alert-rules", body: alertRule(ou: inside ? w.a1 : w.b), outside: 403) },
        "getAlertRule": { c, w, inside, _ in Case(method: .get, path: "/api/v1/alert-rules/\(try await rule(c, w, inside))", outside: 404) },
        "replaceAlertRule": { c, w, inside, _ in
            Case(method: .put, path: "/api/v1/alert-rules/\(try await rule(c, w, inside))", body: alertRule(ou: inside ? w.a1 : w.b), outside: 404)
        },
        "deleteAlertRule": { c, w, inside, _ in Case(method: .delete, path: "/api/v1/alert-rules/\(try await rule(c, w, inside))", outside: 404) },
        "listAlertTransitions": { c, w, inside, _ in
            Case(method: .get, path: "/api/v1/alert-rules/\(try await rule(c, w, inside))/transitions", outside: 404)
        },
        "listAlerts": { _, _, _, _ in Case(method: .get, path: "/api/v1/alerts") },
        "listAlertNotifications": { _, _, _, _ in Case(method: .get, path: "/api/v1/alert-notifications") },
    ]

    static func alertRule(ou: Int64) -> [String: any Sendable] {
        ["name": "loss", "ou_id": ou, "metric": "loss_percent", "window_s": 60, "comparison": ">", "threshold": 50]
    }

    /// An alert rule of OU a1 (inside) or b (outside), made by the global admin; its id.
    static func rule(_ c: APIHarness.Client, _ w: World, _ inside: Bool) async throws -> Int64 {
        let reply = try await c.call(.post, "/api/v1/alert-rules", token: w.admin, json: alertRule(ou: inside ? w.a1 : w.b) as [String: Any])
        return (reply.json["id"] as? NSNumber)?.int64Value ?? 0
    }

    static let quickTest: [String: any Sendable] = ["kind": "icmp", "target": "192.0.2.1", "timeout_ms": 1]
    static let longTest: [String: any Sendable] = ["kind": "icmp", "target": "192.0.2.1", "count": 100, "interval_ms": 1000]

    /// A test started by the caller (inside) or by a plain user of OU b (outside); its id.
    static func test(_ c: APIHarness.Client, _ w: World, _ inside: Bool, _ caller: (username: String, id: Int64),
                     body: [String: any Sendable]) async throws -> String {
        let token: String
        if inside {
            token = try await c.token(caller.username, password)
        } else {
            let name = "o\(UInt32.random(in: 0...UInt32.max))"
            _ = try await c.createUser(name, role: .user, ou: w.b, token: w.admin)
            token = try await c.token(name, password)
        }
        let reply = try await c.call(.post, "/api/v1/tests", token: token, json: body as [String: Any])
        #expect(reply.status == 202, "\(reply.text)")
        return reply.json["id"] as? String ?? ""
    }

    /// One's own test answers; another's only to global roles (reading) and administrators over
    /// its unit (cancelling): OU b is outside every OU caller's subtree.
    static func testAccess(success: Int, cancel: Bool) -> @Sendable (Role, Bool) -> Int {
        { role, inside in
            if inside { return success }
            switch role {
            case .globalAdmin: return success
            case .globalReporter: return cancel ? 403 : success
            default: return 404
            }
        }
    }

    /// A freshly enrolled device, inside (OU a1) or outside (OU b).
    static func device(_ c: APIHarness.Client, _ w: World, _ inside: Bool) async throws -> Int64 {
        let secret = try await c.enrollmentSecret(ou: inside ? w.a1 : w.b, token: w.admin)
        return try await c.enroll(secret: secret.secret, serial: "sn-\(UInt32.random(in: 0...UInt32.max))").id
    }

    /// Another user's API keys: admins within scope only; everyone else is refused.
    static func othersKeys(success: Int) -> @Sendable (Role, Bool) -> Int {
        { role, inside in
            switch role {
            case .globalAdmin: success
            case .ouAdmin: inside ? success : 404
            case .globalReporter: 403
            case .ouReporter: inside ? 403 : 404
            case .user: 404
            }
        }
    }

    static func expected(_ operation: APIOperation, _ fixture: Case, role: Role, inside: Bool) -> Int {
        if let expect = fixture.expect { return expect(role, inside) }
        if operation.permission == .none { return operation.successStatus }
        if !Permission.granted(to: role).contains(operation.permission) { return 403 }
        if let outside = fixture.outside, !inside, !role.isGlobal { return outside }
        return operation.successStatus
    }

    /// OUs a (with a1) and b, and a caller of every role in a (global roles in none).
    static func world(_ c: APIHarness.Client) async throws -> World {
        let admin = try await c.adminToken()
        let a = try await c.createOU("a", parent: nil, token: admin)
        let a1 = try await c.createOU("a1", parent: a, token: admin)
        let b = try await c.createOU("b", parent: nil, token: admin)
        var world = World(admin: admin, a: a, a1: a1, b: b, callers: [:])
        for role in Role.allCases {
            let name = "caller.\(role.rawValue.replacingOccurrences(of: "_", with: "-"))"
            world.callers[role] = (name, try await c.createUser(name, role: role, ou: role.isGlobal ? nil : a, token: admin))
        }
        return world
    }

    @Test("every declared operation has a matrix case")
    func coverage() {
        #expect(Set(Self.fixtures.keys) == Set(API.operations.map(\.id)))
    }

    @Test("every route × role × inside/outside gives the declared status", arguments: TestStores.backends)
    func matrix(store: String) async throws {
        try await APIHarness.run(store) { c in
            let world = try await Self.world(c)
            var failures: [String] = []
            for operation in API.operations {
                guard let fixture = Self.fixtures[operation.id] else { continue }
                for role in Role.allCases {
                    for inside in [true, false] {
                        let caller = world.callers[role]!
                        // A fresh token per case: some operations (password change, logout) revoke it.
                        let token = try await c.token(caller.username, Self.password)
                        let request = try await fixture(c, world, inside, caller)
                        let reply = try await c.call(request.method, request.path, token: operation.permission == .none ? nil : token,
                                                     json: request.body.map { $0 as [String: Any] })
                        let want = Self.expected(operation, request, role: role, inside: inside)
                        if reply.status != want {
                            failures.append("\(operation.id) as \(role.rawValue) \(inside ? "inside" : "outside"): \(reply.status), want \(want): \(reply.text.prefix(160))")
                        }
                        if operation.id == "changePassword" && reply.status == 200 {
                            // Straight to the store: an admin resets only users below her role.
                            _ = try await c.services.store.setPassword(caller.id, hash: try await c.services.hasher.hash(Self.password))
                        }
                    }
                }
            }
            #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
            // Without credentials every protected route is a 401.
            for operation in API.operations where operation.permission != .none {
                let path = operation.path.replacingOccurrences(of: "{id}", with: "1").replacingOccurrences(of: "{key_id}", with: "1")
                let reply = try await c.call(operation.method, path)
                #expect(reply.status == 401, "\(operation.id) without credentials: \(reply.status)")
            }
        }
    }

    /// How a caller proves who they are, for the credential-kind matrix.
    enum CredentialKind: String, CaseIterable, Sendable { case apiKey = "API key", session = "cookie session" }

    /// Every route × role with an API key and with a cookie session (CSRF token on writes): the
    /// same answers as with a JWT, since permissions follow the user, not the credential; only
    /// logout differs for keys (they are revoked, not logged out).
    @Test("every route × role gives the same status with an API key and with a cookie session",
          arguments: CredentialKind.allCases, TestStores.backends)
    func credentialKinds(kind: CredentialKind, store: String) async throws {
        try await APIHarness.run(store) { c in
            let world = try await Self.world(c)
            var failures: [String] = []
            for operation in API.operations {
                guard let fixture = Self.fixtures[operation.id] else { continue }
                for role in Role.allCases {
                    let caller = world.callers[role]!
                    var headers = HTTPFields()
                    switch kind {
                    case .apiKey:
                        let key = APIKeys.generate()
                        _ = try await c.services.store.createAPIKey(userID: caller.id, name: "matrix", prefix: APIKeys.prefix(key), hash: Secrets.sha256Hex(key))
                        headers[.authorization] = "ApiKey \(key)"
                    case .session:
                        let login = try await c.call(.post, "/api/v1/auth/login", json: ["username": caller.username, "password": Self.password, "session": true])
                        let cookie = (login.headers[.setCookie] ?? "").split(separator: ";").first.map(String.init) ?? ""
                        headers[.cookie] = cookie
                        headers[AuthenticationMiddleware.csrfHeader] = login.json["csrf_token"] as? String ?? ""
                    }
                    let request = try await fixture(c, world, true, caller)
                    let reply = try await c.call(request.method, request.path, headers: operation.permission == .none ? [:] : headers,
                                                 json: request.body.map { $0 as [String: Any] })
                    var want = Self.expected(operation, request, role: role, inside: true)
                    if operation.id == "logout" && kind == .apiKey { want = 403 }
                    if reply.status != want {
                        failures.append("\(operation.id) as \(role.rawValue) with \(kind.rawValue): \(reply.status), want \(want): \(reply.text.prefix(160))")
                    }
                    if operation.id == "changePassword" && reply.status == 200 {
                        _ = try await c.services.store.setPassword(caller.id, hash: try await c.services.hasher.hash(Self.password))
                    }
                }
            }
            #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
            // A cookie session's write without its CSRF token is refused, whatever the role.
            if kind == .session {
                let login = try await c.call(.post, "/api/v1/auth/login", json: ["username": "admin", "password": APIHarness.adminPassword, "session": true])
                let cookie = (login.headers[.setCookie] ?? "").split(separator: ";").first.map(String.init) ?? ""
                let forged = try await c.call(.post, "/api/v1/ous", headers: [.cookie: cookie], json: ["name": "csrf"])
                #expect(forged.status == 403 && forged.json["error"] as? String == "csrf", "\(forged.text)")
            }
        }
    }

    /// Devices and server keys hold a few permissions each, whatever route they try.
    @Test("a device token and a server key reach only their own routes", arguments: TestStores.backends)
    func machineCredentials(store: String) async throws {
        try await APIHarness.run(store) { c in
            let world = try await Self.world(c)
            let serverKey = try await c.call(.post, "/api/v1/server-keys", token: world.admin, json: ["name": "matrix"]).json["key"] as? String ?? ""
            var failures: [String] = []
            for operation in API.operations {
                guard let fixture = Self.fixtures[operation.id] else { continue }
                let caller = world.callers[.user]!
                for (name, granted) in [("device token", Permission.enrolledDevice), ("server key", Permission.serverKey)] {
                    var headers = HTTPFields()
                    if name == "server key" {
                        headers[HTTPField.Name("X-Manager-Key")!] = serverKey
                    } else {
                        let secret = try await c.enrollmentSecret(ou: world.a1, token: world.admin)
                        headers[.authorization] = "Bearer \(try await c.enroll(secret: secret.secret, serial: "matrix-\(UInt32.random(in: 0...UInt32.max))").token)"
                    }
                    let request = try await fixture(c, world, true, caller)
                    let reply = try await c.call(request.method, request.path, headers: operation.permission == .none ? [:] : headers,
                                                 json: request.body.map { $0 as [String: Any] })
                    let want = operation.permission == .none ? Self.expected(operation, request, role: .user, inside: true)
                        : granted.contains(operation.permission) ? operation.successStatus : 403
                    if reply.status != want {
                        failures.append("\(operation.id) with a \(name): \(reply.status), want \(want): \(reply.text.prefix(160))")
                    }
                }
            }
            #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
        }
    }

    /// Finding 12: managing a user of one's own rank (or above) was allowed. Targets of equal and
    /// of higher rank, for the two roles that manage users.
    @Test("targets of equal rank can be contained, not taken over; targets above are out of reach", arguments: TestStores.backends)
    func equalAndHigherRank(store: String) async throws {
        // (operation, method, path suffix, body, status for an equal target)
        let cases: [(String, HTTPRequest.Method, String, [String: String]?, Int)] = [
            ("getUser", .get, "", nil, 200), ("updateUser", .patch, "", ["email": "taken@example.com"], 403),
            ("deleteUser", .delete, "", nil, 403), ("setUserPassword", .put, "/password", ["password": "Taken-Over-Pass-9"], 403),
            ("revokeUserTokens", .post, "/revoke-tokens", nil, 200), ("listAPIKeys", .get, "/api-keys", nil, 200),
            ("createAPIKey", .post, "/api-keys", ["name": "k", "password": Self.password], 403), ("resetUserMFA", .delete, "/mfa", nil, 403),
        ]
        try await APIHarness.run(store) { c in
            let world = try await Self.world(c)
            let ouAdmin = try await c.token(world.callers[.ouAdmin]!.username, Self.password)
            let globalAdmin = try await c.token(world.callers[.globalAdmin]!.username, Self.password)
            var failures: [String] = []
            for (caller, token, equalRole, equalOU) in [("ou_admin", ouAdmin, Role.ouAdmin, Optional(world.a1)), ("global_admin", globalAdmin, .globalAdmin, nil)] {
                for (operation, method, suffix, body, equalStatus) in cases {
                    let equal = try await c.createUser("eq\(UInt32.random(in: 0...UInt32.max))", role: equalRole, ou: equalOU, token: world.admin)
                    if operation == "resetUserMFA" {
                        try await c.services.store.setPendingMFASecret(equal, sealed: try c.services.secretBox.seal(Array("JBSWY3DPEHPK3PXP".utf8)))
                    }
                    let reply = try await c.call(method, "/api/v1/users/\(equal)\(suffix)", token: token, json: body)
                    if reply.status != equalStatus { failures.append("\(operation) by \(caller) on an equal: \(reply.status), want \(equalStatus): \(reply.text.prefix(120))") }
                    // Above an ou_admin: global roles, outside every OU scope: not found, as any user out of reach.
                    if caller == "ou_admin" {
                        let higher = try await c.createUser("hi\(UInt32.random(in: 0...UInt32.max))", role: .globalAdmin, ou: nil, token: world.admin)
                        let above = try await c.call(method, "/api/v1/users/\(higher)\(suffix)", token: token, json: body)
                        if above.status != 404 { failures.append("\(operation) by ou_admin on a global_admin: \(above.status), want 404") }
                    }
                }
            }
            // Revoking an equal's key: allowed (containment).
            let peer = try await c.createUser("eq-key", role: .ouAdmin, ou: world.a1, token: world.admin)
            let key = APIKeys.generate()
            let record = try await c.services.store.createAPIKey(userID: peer, name: "k", prefix: APIKeys.prefix(key), hash: Secrets.sha256Hex(key))
            let revoke = try await c.call(.delete, "/api/v1/users/\(peer)/api-keys/\(record.id)", token: ouAdmin)
            if revoke.status != 204 { failures.append("revokeAPIKey by ou_admin on an equal: \(revoke.status), want 204") }
            #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
        }
    }

    @Test("the OpenAPI document lists exactly the declared routes, with their permissions")
    func openAPI() async throws {
        try await APIHarness.run { c in
            let reply = try await c.call(.get, "/api/v1/openapi.json")
            #expect(reply.status == 200)
            let paths = reply.json["paths"] as? [String: [String: Any]] ?? [:]
            var documented: Set<String> = []
            for (path, methods) in paths {
                for (method, entry) in methods {
                    documented.insert("\(method.uppercased()) \(path)")
                    let id = (entry as? [String: Any])?["operationId"] as? String
                    let permission = (entry as? [String: Any])?["x-permission"] as? String
                    #expect(id.flatMap { API.byID[$0]?.permission.rawValue } == permission)
                }
            }
            #expect(documented == Set(API.operations.map { "\($0.method.rawValue) \($0.path)" }))
            // And nothing answers outside the declarations.
            #expect(try await c.call(.get, "/api/v1/undeclared").status == 404)
        }
    }
}
