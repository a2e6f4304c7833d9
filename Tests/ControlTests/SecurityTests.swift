@testable import Control
import Foundation
import HTTPTypes
import Hummingbird
import Synchronization
import Testing

@Suite("Security and input handling")
struct SecurityTests {
    static func b64url(_ text: String) -> String {
        Data(text.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    @Test("tampered, alg:none, foreign-key, expired and revoked tokens are refused")
    func tokens() async throws {
        try await APIHarness.run { c in
            let token = try await c.adminToken()
            #expect(try await c.call(.get, "/api/v1/auth/whoami", token: token).status == 200)
            let parts = token.split(separator: ".").map(String.init)
            // Payload changed (sub 1 → 2), signature kept.
            let payload = String(data: Data(base64Encoded: parts[1].padding(toLength: (parts[1].count + 3) / 4 * 4, withPad: "=", startingAt: 0)
                .replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/"))!, encoding: .utf8)!
            let tampered = parts[0] + "." + Self.b64url(payload.replacingOccurrences(of: "\"sub\":\"1\"", with: "\"sub\":\"2\"")) + "." + parts[2]
            #expect(try await c.call(.get, "/api/v1/auth/whoami", token: tampered).status == 401)
            // alg: none with an empty signature.
            let none = Self.b64url(#"{"alg":"none","typ":"JWT"}"#) + "." + parts[1] + "."
            #expect(try await c.call(.get, "/api/v1/auth/whoami", token: none).status == 401)
            // Signed with another key.
            let other = await TokenIssuer(secret: "another-secret-another-secret-another-secret", lifetime: .seconds(60))
            #expect(try await c.call(.get, "/api/v1/auth/whoami", token: try await other.issue(userID: 1).token).status == 401)
            // Expired (valid signature, recorded jti).
            let issuer = await TokenIssuer(secret: APIHarness.jwtSecret, lifetime: .seconds(60))
            let old = try await issuer.issue(userID: 1, now: Date().addingTimeInterval(-3600))
            try await c.services.store.recordToken(jti: old.jti, userID: 1, issuedAt: old.issuedAt, expiresAt: old.expiresAt)
            #expect(try await c.call(.get, "/api/v1/auth/whoami", token: old.token).status == 401)
            // Valid signature but never recorded (not issued by login): refused.
            let unrecorded = try await issuer.issue(userID: 1)
            #expect(try await c.call(.get, "/api/v1/auth/whoami", token: unrecorded.token).status == 401)
            // Logout revokes at once.
            #expect(try await c.call(.post, "/api/v1/auth/logout", token: token).status == 200)
            #expect(try await c.call(.get, "/api/v1/auth/whoami", token: token).status == 401)
        }
    }

    @Test("unknown user and wrong password answer alike; repeated failures lock out")
    func loginFailures() async throws {
        try await APIHarness.run { c in
            let admin = try await c.adminToken()
            _ = try await c.createUser("victim", role: .user, ou: nil, token: admin)
            let unknown = try await c.login("nobody", "Whatever-Thing-9")
            let wrong = try await c.login("victim", "Whatever-Thing-9")
            #expect(unknown.status == 401 && wrong.status == 401)
            #expect(unknown.text == wrong.text)
            for _ in 0..<5 { _ = try await c.login("victim", "Whatever-Thing-9") }
            // Locked (per account and per address): even the right password is refused now.
            let locked = try await c.login("victim", "Sturdy-Walrus-17")
            #expect(locked.status == 401 || locked.status == 429)
            if locked.status == 429 { #expect(locked.headers[.retryAfter] != nil) }
            let audit = try await c.call(.get, "/api/v1/audit?limit=100", token: admin)
            let failures = (audit.json["entries"] as? [[String: Any]] ?? []).filter { $0["action"] as? String == "login" && $0["outcome"] as? String == "failure" }
            #expect(failures.count >= 6)
        }
    }

    @Test("TOTP: enabled only after a verified code, required at login, a code cannot be replayed, secret never returned again")
    func totp() async throws {
        try await APIHarness.run { c in
            let admin = try await c.adminToken()
            _ = try await c.createUser("mfa.user", role: .user, ou: nil, token: admin)
            let token = try await c.token("mfa.user", "Sturdy-Walrus-17")
            let setup = try await c.call(.post, "/api/v1/auth/mfa/setup", token: token, json: ["password": "Sturdy-Walrus-17"])
            #expect(setup.status == 200)
            let display = setup.json["secret"] as? String ?? ""
            #expect((setup.json["otpauth_uri"] as? String ?? "").hasPrefix("otpauth://totp/"))
            let secret = String(decoding: Secrets.base32Decode(display) ?? [], as: UTF8.self)
            // Not enabled yet: login still works without a code.
            #expect(try await c.login("mfa.user", "Sturdy-Walrus-17").status == 200)
            let now = Int64(Date().timeIntervalSince1970) / 30
            #expect(try await c.call(.post, "/api/v1/auth/mfa/verify", token: token, json: ["code": TOTPAuthenticator.code(secret: secret, step: now)]).status == 200)
            // Now a code is required; the step used to enable cannot log in again.
            let missing = try await c.login("mfa.user", "Sturdy-Walrus-17")
            #expect(missing.status == 401 && missing.json["error"] as? String == "mfa_required")
            #expect(try await c.login("mfa.user", "Sturdy-Walrus-17", mfa: TOTPAuthenticator.code(secret: secret, step: now)).status == 401)
            let next = TOTPAuthenticator.code(secret: secret, step: now + 1)
            let ok = try await c.login("mfa.user", "Sturdy-Walrus-17", mfa: next)
            #expect(ok.status == 200)
            #expect(try await c.login("mfa.user", "Sturdy-Walrus-17", mfa: next).status == 401)   // replay
            // The secret never appears again: not in whoami, not in the user, not in the store in clear.
            let whoami = try await c.call(.get, "/api/v1/auth/whoami", token: ok.json["token"] as? String)
            #expect(!whoami.text.contains(display) && !whoami.text.contains(secret))
            let stored = try await c.services.store.user(username: "mfa.user")!
            #expect(stored.mfaEnabled)
            #expect(!String(decoding: stored.mfaSecret ?? [], as: UTF8.self).contains(secret))
        }
    }

    @Test("no escalation: OU admins cannot grant global roles, reach other OUs or promote themselves")
    func escalation() async throws {
        try await APIHarness.run { c in
            let admin = try await c.adminToken()
            let a = try await c.createOU("a", parent: nil, token: admin)
            let b = try await c.createOU("b", parent: nil, token: admin)
            let ouAdminID = try await c.createUser("ou.admin", role: .ouAdmin, ou: a, token: admin)
            let t = try await c.token("ou.admin", "Sturdy-Walrus-17")
            let grantGlobal = try await c.call(.post, "/api/v1/users", token: t, json: ["username": "esc1", "password": "Sturdy-Walrus-17", "role": "global_admin"])
            #expect(grantGlobal.status == 403)
            let otherOU = try await c.call(.post, "/api/v1/users", token: t, json: ["username": "esc2", "password": "Sturdy-Walrus-17", "role": "user", "ou_id": b])
            #expect(otherOU.status == 403)
            let selfPromote = try await c.call(.patch, "/api/v1/users/\(ouAdminID)", token: t, json: ["role": "global_admin"])
            #expect(selfPromote.status == 403)
            let moveOut = try await c.call(.patch, "/api/v1/ous/\(a)", token: t, json: ["parent_id": b])
            #expect(moveOut.status == 403)
            let user = try await c.call(.get, "/api/v1/users/\(ouAdminID)", token: admin)
            #expect(user.json["role"] as? String == "ou_admin")
        }
    }

    @Test("API keys: shown once, stored hashed, accepted as Bearer and ApiKey, revocable; secrets never in responses")
    func apiKeys() async throws {
        try await APIHarness.run { c in
            let admin = try await c.adminToken()
            let created = try await c.call(.post, "/api/v1/users/1/api-keys", token: admin, json: ["name": "ci", "password": APIHarness.adminPassword])
            #expect(created.status == 201)
            let key = created.json["key"] as? String ?? ""
            #expect(APIKeys.looksLikeKey(key))
            #expect(try await c.call(.get, "/api/v1/auth/whoami", token: key).status == 200)
            #expect(try await c.call(.get, "/api/v1/auth/whoami", token: "ApiKey \(key)").status == 200)
            let listed = try await c.call(.get, "/api/v1/users/1/api-keys", token: admin)
            #expect(!listed.text.contains(key) && !listed.text.contains(Secrets.sha256Hex(key)))
            let id = (created.json["id"] as? NSNumber)?.int64Value ?? 0
            #expect(try await c.call(.delete, "/api/v1/users/1/api-keys/\(id)", token: admin).status == 204)
            #expect(try await c.call(.get, "/api/v1/auth/whoami", token: key).status == 401)
            // Nothing that was returned anywhere carries a password hash.
            for path in ["/api/v1/users", "/api/v1/users/1", "/api/v1/auth/whoami", "/api/v1/audit"] {
                let reply = try await c.call(.get, path, token: admin)
                #expect(!reply.text.contains("$2b$") && !reply.text.contains("$2a$") && !reply.text.contains("password_hash"), "\(path)")
            }
            // Server keys work for upload only.
            let serverKey = try await c.call(.post, "/api/v1/server-keys", token: admin, json: ["name": "probe"]).json["key"] as? String ?? ""
            let upload = try await c.call(.post, "/api/v1/results", headers: [HTTPField.Name("X-Manager-Key")!: serverKey],
                                          json: ["results": [["test_type": "tcp", "target": "t", "outcome": "success", "success": true]]])
            #expect(upload.status == 201)
            #expect(try await c.call(.get, "/api/v1/users", headers: [HTTPField.Name("X-Manager-Key")!: serverKey]).status == 403)
        }
    }

    @Test("cookie sessions: HttpOnly SameSite cookie, CSRF token required on writes, logout ends the session")
    func cookieSession() async throws {
        try await APIHarness.run { c in
            let login = try await c.call(.post, "/api/v1/auth/login", json: ["username": "admin", "password": APIHarness.adminPassword, "session": true])
            #expect(login.status == 200)
            let setCookie = login.headers[.setCookie] ?? ""
            #expect(setCookie.contains("HttpOnly") && setCookie.contains("SameSite=Strict"))
            let session = String(setCookie.split(separator: ";")[0])   // wp_session=...
            let csrf = login.json["csrf_token"] as? String ?? ""
            #expect(!csrf.isEmpty)
            // The cookie is the credential: no bearer token beside it (script could read it, and
            // logging out would not end it).
            #expect(login.json["token"] == nil && login.json["token_type"] == nil, "\(login.text)")
            #expect((login.json["expires_in"] as? NSNumber)?.intValue == 12 * 3600)
            let cookie: HTTPFields = [.cookie: session]
            #expect(try await c.call(.get, "/api/v1/auth/whoami", headers: cookie).status == 200)
            // A state-changing request on the cookie alone (what a cross-site form would send) is refused.
            let forged = try await c.call(.post, "/api/v1/ous", headers: cookie, json: ["name": "forged"])
            #expect(forged.status == 403 && forged.json["error"] as? String == "csrf")
            var wrong = cookie
            wrong[AuthenticationMiddleware.csrfHeader] = String(repeating: "0", count: 64)
            #expect(try await c.call(.post, "/api/v1/ous", headers: wrong, json: ["name": "forged"]).status == 403)
            #expect(try await c.services.store.listOUs().isEmpty)
            var good = cookie
            good[AuthenticationMiddleware.csrfHeader] = csrf
            #expect(try await c.call(.post, "/api/v1/ous", headers: good, json: ["name": "real"]).status == 201)
            #expect(try await c.call(.post, "/api/v1/auth/logout", headers: good).status == 200)
            #expect(try await c.call(.get, "/api/v1/auth/whoami", headers: cookie).status == 401)
        }
    }

    @Test("bad input: clear 4xx naming the field, and no partial rows", arguments: TestStores.backends)
    func badInput(kind: String) async throws {
        try await APIHarness.run(kind) { c in
            let admin = try await c.adminToken()
            let malformed = try await c.call(.post, "/api/v1/results", token: admin, raw: #"{"results": [ {"#)
            #expect(malformed.status == 400 && malformed.json["error"] as? String == "invalid_json")
            let good: [String: Any] = ["test_type": "icmp", "target": "a", "outcome": "success", "success": true]
            let bad: [String: Any] = ["test_type": "icmp", "target": "b", "outcome": "success", "success": "yes", "latency_ms": -1]
            let mixed = try await c.call(.post, "/api/v1/results", token: admin, json: ["results": [good, good, bad]])
            #expect(mixed.status == 400)
            let fields = mixed.json["fields"] as? [String: String] ?? [:]
            #expect(fields["results[2].success"] == "must be true or false")
            #expect(fields["results[2].latency_ms"] == "must be at least 0.0")
            var bigRaw = good
            bigRaw["raw"] = ["output": String(repeating: "y", count: 70_000)]
            let tooBig = try await c.call(.post, "/api/v1/results", token: admin, json: ["results": [good, bigRaw]])
            #expect(tooBig.status == 400 && (tooBig.json["fields"] as? [String: String])?["results[1].raw"] != nil)
            let unknown = try await c.call(.post, "/api/v1/ous", token: admin, json: ["name": "x", "colour": "red"])
            #expect(unknown.status == 400 && (unknown.json["fields"] as? [String: String])?["colour"] == "unknown field")
            let wrongType = try await c.call(.post, "/api/v1/ous", token: admin, json: ["name": 5])
            #expect(wrongType.status == 400 && (wrongType.json["fields"] as? [String: String])?["name"] == "must be a string")
            let huge = String(repeating: "x", count: 70 << 10)
            let oversized = try await c.call(.post, "/api/v1/ous", token: admin, json: ["name": "x", "description": huge])
            #expect(oversized.status == 413)
            #expect(try await c.services.store.countResults() == 0)   // nothing of the mixed batch was written
            #expect(try await c.services.store.listOUs().isEmpty)
            let notFound = try await c.call(.get, "/api/v1/users/999", token: admin)
            #expect(notFound.status == 404 && notFound.json["error"] as? String == "not_found")
            let badID = try await c.call(.get, "/api/v1/users/abc", token: admin)
            #expect(badID.status == 400 && (badID.json["fields"] as? [String: String])?["id"] != nil)
        }
    }

    @Test("no secret appears in any log line (trace level) or audit entry: passwords, tokens, keys, TOTP, enrollment, sessions")
    func secretsNeverLogged() async throws {
        let (logger, lines) = CapturingLogHandler.logger()
        let secrets = Mutex<[String: String]>([:])
        let audit = Mutex<[String]>([])
        try await APIHarness.run(logger: logger) { c in
            let admin = try await c.adminToken()
            secrets.withLock { $0["admin password"] = APIHarness.adminPassword; $0["admin JWT"] = admin }
            _ = try await c.login("admin", "Wrong-Password-99")
            secrets.withLock { $0["wrong password"] = "Wrong-Password-99" }
            let ou = try await c.createOU("logs", parent: nil, token: admin)
            let userID = try await c.createUser("log.user", role: .user, ou: ou, token: admin, password: "Quiet-Heron-2024")
            let user = try await c.token("log.user", "Quiet-Heron-2024")
            let key = try await c.call(.post, "/api/v1/users/\(userID)/api-keys", token: user, json: ["name": "ci", "password": "Quiet-Heron-2024"]).json["key"] as? String ?? ""
            _ = try await c.call(.get, "/api/v1/results", token: key)
            _ = try await c.call(.get, "/api/v1/results", token: "ApiKey " + String(key.reversed()))
            let mfa = try await c.call(.post, "/api/v1/auth/mfa/setup", token: user, json: ["password": "Quiet-Heron-2024"]).json["secret"] as? String ?? ""
            _ = try await c.call(.put, "/api/v1/users/\(userID)/password", token: admin, json: ["password": "Fresh-Heron-2025"])
            let serverKey = try await c.call(.post, "/api/v1/server-keys", token: admin, json: ["name": "probe"]).json["key"] as? String ?? ""
            _ = try await c.call(.get, "/api/v1/results", headers: [HTTPField.Name("X-Manager-Key")!: serverKey])
            let enrollment = try await c.enrollmentSecret(ou: ou, token: admin)
            let device = try await c.enroll(secret: enrollment.secret, serial: "log-dev")
            _ = try await c.call(.get, "/api/v1/device/config", token: device.token)
            let session = try await c.call(.post, "/api/v1/auth/login", json: ["username": "admin", "password": APIHarness.adminPassword, "session": true])
            let cookie = String((session.headers[.setCookie] ?? "").split(separator: ";")[0].split(separator: "=", maxSplits: 1).last ?? "")
            secrets.withLock {
                $0["user password"] = "Quiet-Heron-2024"; $0["new password"] = "Fresh-Heron-2025"; $0["user JWT"] = user
                $0["API key"] = key; $0["TOTP secret"] = mfa; $0["server key"] = serverKey; $0["enrollment secret"] = enrollment.secret
                $0["device token"] = device.token; $0["session cookie"] = cookie; $0["CSRF token"] = session.json["csrf_token"] as? String ?? ""
            }
            // The audit log is a log too.
            let entries = try await c.services.store.auditEntries(limit: 1000)
            audit.withLock { $0 = entries.map { "\($0.actor) \($0.action) \($0.subject) \($0.detail)" } }
        }
        let captured = lines.withLock { $0 } + audit.withLock { $0 }
        #expect(captured.filter { $0.contains("hb.request.path=") }.count >= 16, "one access-log line per request")
        for (name, secret) in secrets.withLock({ $0 }) {
            #expect(secret.count >= 12, "\(name) was not captured")
            let leaks = captured.filter { $0.contains(secret) }
            #expect(leaks.isEmpty, "\(name) appears in the log: \(leaks.first ?? "")")
        }
    }
}
