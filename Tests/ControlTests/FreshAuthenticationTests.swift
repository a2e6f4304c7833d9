@testable import Control
import Foundation
import Testing

/// Findings 2 (second half), 3 and 12 of the security issue: what a stolen token must not do
/// (mint a key, change the password, enrol an authenticator) needs the current password and TOTP;
/// admins change their own credentials only through those routes; managing a user needs a role
/// above theirs, except to contain them. On both stores.
@Suite("Fresh authentication and takeover")
struct FreshAuthenticationTests {
    static let password = "Sturdy-Walrus-17"

    /// The current TOTP step, so codes can be made for steps around it.
    static func step() -> Int64 { Int64(Date().timeIntervalSince1970) / 30 }

    /// Turns on MFA for the holder of `token` with a code for the current step. One more code is
    /// then always usable: `step() + 1`, made when needed, is above the step used here and within
    /// the ±1 window even if a step boundary passes before it is checked. Returns the TOTP secret.
    static func enableMFA(_ c: APIHarness.Client, token: String, password: String = password) async throws -> String {
        let setup = try await c.call(.post, "/api/v1/auth/mfa/setup", token: token, json: ["password": password])
        #expect(setup.status == 200, "\(setup.text)")
        let secret = String(decoding: Secrets.base32Decode(setup.json["secret"] as? String ?? "") ?? [], as: UTF8.self)
        let verify = try await c.call(.post, "/api/v1/auth/mfa/verify", token: token,
                                      json: ["code": TOTPAuthenticator.code(secret: secret, step: step())])
        #expect(verify.status == 200, "\(verify.text)")
        return secret
    }

    static func refusedField(_ reply: APIHarness.Reply) -> String? { (reply.json["fields"] as? [String: String])?.keys.first }

    @Test("an API key needs the current password, and a TOTP code when MFA is on", arguments: TestStores.backends)
    func apiKeysNeedFreshAuthentication(kind: String) async throws {
        try await APIHarness.run(kind) { c in
            let admin = try await c.adminToken()
            let id = try await c.createUser("minter", role: .user, ou: nil, token: admin)
            let token = try await c.token("minter", Self.password)
            let path = "/api/v1/users/\(id)/api-keys"
            // A bare token used to be enough.
            let bare = try await c.call(.post, path, token: token, json: ["name": "k"])
            #expect(bare.status == 400 && Self.refusedField(bare) == "password", "\(bare.text)")
            let wrong = try await c.call(.post, path, token: token, json: ["name": "k", "password": "Not-The-Password-1"])
            #expect(wrong.status == 403 && Self.refusedField(wrong) == "password", "\(wrong.text)")
            #expect(try await c.call(.post, path, token: token, json: ["name": "k", "password": Self.password]).status == 201)

            let secret = try await Self.enableMFA(c, token: token)
            let noCode = try await c.call(.post, path, token: token, json: ["name": "k", "password": Self.password])
            #expect(noCode.status == 403 && Self.refusedField(noCode) == "mfa_code", "\(noCode.text)")
            let code = TOTPAuthenticator.code(secret: secret, step: Self.step() + 1)
            #expect(try await c.call(.post, path, token: token, json: ["name": "k", "password": Self.password, "mfa_code": code]).status == 201)
            let replay = try await c.call(.post, path, token: token, json: ["name": "k", "password": Self.password, "mfa_code": code])
            #expect(replay.status == 403 && Self.refusedField(replay) == "mfa_code", "a code is used once: \(replay.text)")

            // An admin minting a key for another user proves herself, not the user.
            let forUser = try await c.call(.post, path, token: admin, json: ["name": "ops", "password": Self.password])
            #expect(forUser.status == 403 && Self.refusedField(forUser) == "password", "\(forUser.text)")
            #expect(try await c.call(.post, path, token: admin, json: ["name": "ops", "password": APIHarness.adminPassword]).status == 201)

            let failures = try await c.services.store.auditEntries(limit: 200).filter { $0.action == "api_key.create" && $0.outcome == "failure" }
            #expect(failures.count == 3, "every wrong proof is audited: \(failures.map(\.detail))")
        }
    }

    @Test("MFA setup needs the password; the password change needs TOTP when it is on", arguments: TestStores.backends)
    func selfServiceNeedsTheCurrentPassword(kind: String) async throws {
        try await APIHarness.run(kind) { c in
            let admin = try await c.adminToken()
            _ = try await c.createUser("owner", role: .user, ou: nil, token: admin)
            let token = try await c.token("owner", Self.password)
            // A stolen token cannot enrol the thief's authenticator.
            #expect(try await c.call(.post, "/api/v1/auth/mfa/setup", token: token).status == 400)
            let wrong = try await c.call(.post, "/api/v1/auth/mfa/setup", token: token, json: ["password": "Thiefs-Guess-99"])
            #expect(wrong.status == 403 && Self.refusedField(wrong) == "password", "\(wrong.text)")
            #expect(try await c.services.store.user(username: "owner")?.mfaPendingSecret == nil, "nothing was set up")

            let secret = try await Self.enableMFA(c, token: token)
            let change: [String: Any] = ["current_password": Self.password, "new_password": "Another-Walrus-18"]
            let noCode = try await c.call(.post, "/api/v1/auth/password", token: token, json: change)
            #expect(noCode.status == 403 && Self.refusedField(noCode) == "mfa_code", "\(noCode.text)")
            var withCode = change
            withCode["mfa_code"] = TOTPAuthenticator.code(secret: secret, step: Self.step() + 1)
            let changed = try await c.call(.post, "/api/v1/auth/password", token: token, json: withCode)
            #expect(changed.status == 200, "\(changed.text)")
            // The new password is the one now (the login stops only at the MFA step).
            #expect(try await c.login("owner", "Another-Walrus-18").json["error"] as? String == "mfa_required")
            #expect(try await c.login("owner", Self.password).json["error"] as? String == "invalid_credentials")
        }
    }

    @Test("the password and MFA routes are throttled like login: no password oracle for a token's thief", arguments: TestStores.backends)
    func reauthenticationIsThrottled(kind: String) async throws {
        try await APIHarness.run(kind) { c in
            let admin = try await c.adminToken()
            let id = try await c.createUser("oracle", role: .user, ou: nil, token: admin)
            let token = try await c.token("oracle", Self.password)
            var statuses: [Int] = []
            for guess in 0..<6 {
                let route = ["/api/v1/auth/password", "/api/v1/auth/mfa/setup", "/api/v1/users/\(id)/api-keys"][guess % 3]
                let body: [String: Any] = ["current_password": "Guess-\(guess)-Walrus", "new_password": "Another-Walrus-18",
                                           "password": "Guess-\(guess)-Walrus", "name": "k"]
                var fields = body
                switch route {
                case "/api/v1/auth/password": fields = ["current_password": body["current_password"]!, "new_password": body["new_password"]!]
                case "/api/v1/auth/mfa/setup": fields = ["password": body["password"]!]
                default: fields = ["password": body["password"]!, "name": "k"]
                }
                statuses.append(try await c.call(.post, route, token: token, json: fields).status)
            }
            #expect(statuses.prefix(5).allSatisfy { $0 == 403 } && statuses.last == 429, "\(statuses)")
            #expect(try await c.services.store.user(id: id)?.lockedUntil ?? 0 == 0, "a holder of the token is not locked out of the account")
        }
    }

    @Test("admins change their own password and MFA only with proof; another user's MFA reset is audited", arguments: TestStores.backends)
    func adminsUseTheSelfServiceRoutes(kind: String) async throws {
        try await APIHarness.run(kind) { c in
            let admin = try await c.adminToken()
            let own = try await c.call(.put, "/api/v1/users/1/password", token: admin, json: ["password": "Hijacked-Pass-42"])
            #expect(own.status == 403 && own.text.contains("/api/v1/auth/password"), "\(own.text)")
            #expect(try await c.login("admin", APIHarness.adminPassword).status == 200, "the password did not change")
            #expect(try await c.call(.delete, "/api/v1/users/1/mfa", token: admin).status == 403)

            let id = try await c.createUser("lost-phone", role: .user, ou: nil, token: admin)
            let secret = try await Self.enableMFA(c, token: try await c.token("lost-phone", Self.password))
            #expect(try await c.login("lost-phone", Self.password).json["error"] as? String == "mfa_required")
            let reset = try await c.call(.delete, "/api/v1/users/\(id)/mfa", token: admin)
            #expect(reset.status == 204, "\(reset.text)")
            #expect(try await c.login("lost-phone", Self.password).status == 200, "MFA is off")
            #expect(try await c.call(.delete, "/api/v1/users/\(id)/mfa", token: admin).status == 409, "nothing left to reset")
            let stored = try await c.services.store.user(id: id)
            #expect(stored?.mfaEnabled == false && stored?.mfaSecret == nil && !secret.isEmpty)
            let entries = try await c.services.store.auditEntries(limit: 100)
            #expect(entries.contains { $0.action == "user.mfa.reset" && $0.subject == "user:lost-phone" && $0.actor == "user:admin" })
        }
    }

    @Test("peers contain peers but do not take them over; a higher role does", arguments: TestStores.backends)
    func peersDoNotManagePeers(kind: String) async throws {
        try await APIHarness.run(kind) { c in
            let admin = try await c.adminToken()
            let root = try await c.createOU("peer-root", parent: nil, token: admin)
            let child = try await c.createOU("peer-child", parent: root, token: admin)
            let peerAdmin = try await c.createUser("peer-global", role: .globalAdmin, ou: nil, token: admin)
            let ouAdmin = try await c.createUser("peer-ou", role: .ouAdmin, ou: root, token: admin)
            let childAdmin = try await c.createUser("peer-ou-child", role: .ouAdmin, ou: child, token: admin)
            let childUser = try await c.createUser("peer-user", role: .user, ou: child, token: admin)
            let ou = try await c.token("peer-ou", Self.password)

            // Takeover of an equal: refused, for global and OU admins alike.
            for (token, target) in [(admin, peerAdmin), (ou, childAdmin)] {
                let password = try await c.call(.put, "/api/v1/users/\(target)/password", token: token, json: ["password": "Taken-Over-Pass-1"])
                #expect(password.status == 403, "\(password.text)")
                let proof = token == admin ? APIHarness.adminPassword : Self.password
                let key = try await c.call(.post, "/api/v1/users/\(target)/api-keys", token: token, json: ["name": "k", "password": proof])
                #expect(key.status == 403, "\(key.text)")
                #expect(try await c.call(.patch, "/api/v1/users/\(target)", token: token, json: ["email": "thief@example.com"]).status == 403)
                #expect(try await c.call(.delete, "/api/v1/users/\(target)", token: token).status == 403)
                // Containment of an equal: allowed and audited.
                let revoke = try await c.call(.post, "/api/v1/users/\(target)/revoke-tokens", token: token)
                #expect(revoke.status == 200, "\(revoke.text)")
                #expect(try await c.call(.patch, "/api/v1/users/\(target)", token: token, json: ["active": false]).status == 200)
                #expect(try await c.call(.patch, "/api/v1/users/\(target)", token: token, json: ["active": true]).status == 403,
                        "reactivating is not containment")
            }
            // Below one's role, everything.
            #expect(try await c.call(.put, "/api/v1/users/\(childUser)/password", token: ou, json: ["password": "Reset-By-Admin-2"]).status == 200)
            #expect(try await c.call(.put, "/api/v1/users/\(ouAdmin)/password", token: admin, json: ["password": "Reset-By-Admin-3"]).status == 200)
            let audit = try await c.services.store.auditEntries(limit: 200)
            #expect(audit.contains { $0.action == "user.tokens.revoke" && $0.subject == "user:peer-global" && $0.actor == "user:admin" })
        }
    }

    /// Finding 11: the generated first admin's password, printed once in the log, opens only the
    /// password change.
    @Test("the first admin's one-time password must be changed before anything else", arguments: TestStores.backends)
    func oneTimePasswordMustBeChanged(kind: String) async throws {
        let (logger, lines) = CapturingLogHandler.logger()
        try await APIHarness.run(kind, configure: { $0.adminPassword = nil }, logger: logger) { c in
            let line = lines.withLock { $0.first { $0.contains("one-time password: ") } } ?? ""
            let oneTime = String(line.components(separatedBy: "one-time password: ").last?.split(separator: " ").first ?? "")
            #expect(oneTime.count == 24, "\(line)")
            let login = try await c.login("admin", oneTime)
            #expect(login.status == 200 && login.json["password_change_required"] as? Bool == true, "\(login.text)")
            let token = login.json["token"] as? String ?? ""
            let refused = try await c.call(.get, "/api/v1/users", token: token)
            #expect(refused.status == 403 && refused.json["error"] as? String == "password_change_required", "\(refused.text)")
            #expect(try await c.call(.post, "/api/v1/users/1/api-keys", token: token, json: ["name": "k", "password": oneTime]).status == 403)
            #expect(try await c.call(.get, "/api/v1/auth/whoami", token: token).status == 200)
            let changed = try await c.call(.post, "/api/v1/auth/password", token: token,
                                           json: ["current_password": oneTime, "new_password": "Chosen-By-Owner-7"])
            #expect(changed.status == 200, "\(changed.text)")
            let again = try await c.login("admin", "Chosen-By-Owner-7")
            #expect(again.json["password_change_required"] as? Bool == false)
            #expect(try await c.call(.get, "/api/v1/users", token: again.json["token"] as? String).status == 200)
        }
        // A password the operator configured is theirs already.
        try await APIHarness.run(kind) { c in
            let login = try await c.login("admin", APIHarness.adminPassword)
            #expect(login.json["password_change_required"] as? Bool == false)
        }
    }
}
