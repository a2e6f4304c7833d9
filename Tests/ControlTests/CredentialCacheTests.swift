@testable import Control
import Foundation
import HTTPTypes
import Testing

@Suite("Credential cache")
struct CredentialCacheTests {
    static func entry(epoch: UInt64, expiresAt: Int64 = .max) -> CredentialCache.Entry {
        CredentialCache.Entry(principal: Principal(user: nil, credential: .serverKey(id: 1), scope: Scope(ouIDs: [])), expiresAt: expiresAt, epoch: epoch)
    }

    @Test("an entry is served only under the epoch it was read in, within its age and its credential's expiry")
    func epochsAndAges() {
        let cache = CredentialCache(capacity: 8, maxAge: .seconds(10))
        let key = CredentialCache.Key(scheme: 4, "token-a")
        cache.insert(key, Self.entry(epoch: 7, expiresAt: 5_000), now: 1_000, current: 7)
        #expect(cache.lookup(key, epoch: 7, now: 1_001) != nil)
        // A later change (the store's epoch moved on) retires it, even if the epoch is read again.
        #expect(cache.lookup(key, epoch: 8, now: 1_001) == nil)
        #expect(cache.lookup(key, epoch: 7, now: 1_001) == nil)
        // The credential's own expiry bounds the entry, and so does the cache's age.
        cache.insert(key, Self.entry(epoch: 8, expiresAt: 5_000), now: 1_000, current: 8)
        #expect(cache.lookup(key, epoch: 8, now: 5_000) == nil)
        cache.insert(key, Self.entry(epoch: 8), now: 1_000, current: 8)
        #expect(cache.lookup(key, epoch: 8, now: 10_999) != nil)
        #expect(cache.lookup(key, epoch: 8, now: 11_000) == nil)
        // Another credential's text is another key; the same text under another scheme too.
        #expect(CredentialCache.Key(scheme: 4, "token-a") == key)
        #expect(CredentialCache.Key(scheme: 3, "token-a") != key && CredentialCache.Key(scheme: 4, "token-b") != key)
        // What a lookup read before a change (an older epoch than the store's now) is not kept.
        let raced = CredentialCache.Key(scheme: 4, "token-raced")
        cache.insert(raced, Self.entry(epoch: 8), now: 1_000, current: 9)
        #expect(cache.lookup(raced, epoch: 8, now: 1_001) == nil && cache.lookup(raced, epoch: 9, now: 1_001) == nil)
    }

    @Test("the cache holds at most its capacity")
    func bounded() {
        let cache = CredentialCache(capacity: 4, maxAge: .seconds(10))
        for i in 0..<10 { cache.insert(CredentialCache.Key(scheme: 1, Substring("k\(i)")), Self.entry(epoch: 1), now: 0, current: 1) }
        #expect(cache.count <= 4 && cache.count >= 2, "full: stale entries go, then half, not all")
        let off = CredentialCache(capacity: 4, maxAge: .zero)
        off.insert(CredentialCache.Key(scheme: 1, "k"), Self.entry(epoch: 1), now: 0, current: 1)
        #expect(off.count == 0 && !off.enabled)
    }

    /// Through the API, on both stores: a credential that was just used (and so is cached) stops
    /// working the moment it is revoked, and a change of role or scope shows on the next request.
    @Test("revocation and changes are seen at once by cached credentials", arguments: TestStores.backends)
    func revocationIsImmediate(kind: String) async throws {
        try await APIHarness.run(kind) { c in
            let admin = try await c.adminToken()
            let root = try await c.createOU("cache-root", parent: nil, token: admin)
            let userID = try await c.createUser("cache-ouadmin", role: .ouAdmin, ou: root, token: admin)
            let token = try await c.token("cache-ouadmin", "Sturdy-Walrus-17")
            let key = try await c.call(.post, "/api/v1/users/\(userID)/api-keys", token: token, json: ["name": "k", "password": "Sturdy-Walrus-17"]).json["key"] as? String ?? ""
            for credential in [token, "ApiKey \(key)"] {
                #expect(try await c.call(.get, "/api/v1/auth/whoami", token: credential).status == 200)
                #expect(try await c.call(.get, "/api/v1/auth/whoami", token: credential).status == 200)
            }
            #expect(c.services.credentials.count >= 2, "the repeated requests were served from the cache")

            // A unit created under the OU admin's root is in their scope on the very next request.
            let child = try await c.createOU("cache-child", parent: root, token: admin)
            #expect(try await c.call(.get, "/api/v1/ous/\(child)", token: token).status == 200)
            // A role change shows at once: an ou_reporter may not create users.
            #expect(try await c.call(.patch, "/api/v1/users/\(userID)", token: admin, json: ["role": "ou_reporter"]).status == 200)
            let create = try await c.call(.post, "/api/v1/users", token: token, json: ["username": "cache-x", "password": "Sturdy-Walrus-17", "ou_id": root])
            #expect(create.status == 403, "\(create.text)")

            // Revoking the key ends the cached key.
            let keys = try await c.call(.get, "/api/v1/users/\(userID)/api-keys", token: admin).json["api_keys"] as? [[String: Any]] ?? []
            let keyID = (keys.first?["id"] as? NSNumber)?.int64Value ?? 0
            #expect(try await c.call(.get, "/api/v1/auth/whoami", token: "ApiKey \(key)").status == 200)
            #expect(try await c.call(.delete, "/api/v1/users/\(userID)/api-keys/\(keyID)", token: admin).status == 204)
            #expect(try await c.call(.get, "/api/v1/auth/whoami", token: "ApiKey \(key)").status == 401)
            // Revoking the user's tokens ends the cached JWT on the next request.
            #expect(try await c.call(.get, "/api/v1/auth/whoami", token: token).status == 200)
            #expect(try await c.call(.post, "/api/v1/users/\(userID)/revoke-tokens", token: admin).status == 200)
            #expect(try await c.call(.get, "/api/v1/auth/whoami", token: token).status == 401)
        }
    }

    @Test("an undeclared method on a known path is a 405 that says which are allowed")
    func methodNotAllowed() async throws {
        try await APIHarness.run { c in
            let admin = try await c.adminToken()
            let put = try await c.call(.put, "/api/v1/ous", token: admin, json: [:])
            #expect(put.status == 405 && put.json["error"] as? String == "method_not_allowed", "\(put.text)")
            #expect(put.headers[.allow] == "GET, HEAD, POST")
            let delete = try await c.call(.delete, "/api/v1/users/1/password", token: admin)
            #expect(delete.status == 405 && delete.headers[.allow] == "PUT")
            // An unknown path is still a 404, and HEAD answers where GET does.
            #expect(try await c.call(.get, "/api/v1/nowhere", token: admin).status == 404)
            #expect(try await c.call(.head, "/api/v1/ous", token: admin).status == 200)
        }
    }
}
