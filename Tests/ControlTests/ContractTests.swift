@testable import Control
import Foundation
import HTTPTypes
import Testing

/// What the OpenAPI document promises is what the server does (schemathesis checks the same
/// from outside in scripts/test.sh; these pin the cases it found).
@Suite("API contract")
struct ContractTests {
    @Test("query parameters are checked against their declarations before the handler runs")
    func queryParametersFollowTheirDeclarations() async throws {
        try await APIHarness.run { c in
            let admin = try await c.adminToken()
            for (path, field) in [("/api/v1/devices?ou_id=0", "ou_id"), ("/api/v1/users?offset=2147483648", "offset"),
                                  ("/api/v1/audit?cursor=", "cursor"), ("/api/v1/audit?cursor=\(String(repeating: "0", count: 1025))", "cursor"),
                                  ("/api/v1/results?test_type=\(String(repeating: "x", count: 33))", "test_type"),
                                  ("/api/v1/results?limit=1&limit=2", "limit"), ("/api/v1/devices?active=yes", "active"),
                                  ("/api/v1/statistics?since=9000000000000000", "since")] {
                let reply = try await c.call(.get, path, token: admin)
                #expect(reply.status == 400 && (reply.json["fields"] as? [String: String])?[field] != nil, "\(path): \(reply.text)")
            }
            // Within the declared bounds: answered.
            #expect(try await c.call(.get, "/api/v1/users?offset=2147483647", token: admin).status == 200)
            #expect(try await c.call(.get, "/api/v1/audit?cursor=1", token: admin).status == 200)
        }
    }

    @Test("a stale credential does not stop a public route; a route that needs one says why it was refused")
    func publicRoutesIgnoreStaleCredentials() async throws {
        try await APIHarness.run { c in
            let stale = "Bearer not.a.token"
            #expect(try await c.call(.get, "/health", headers: [.authorization: stale]).status == 200)
            let login = try await c.call(.post, "/api/v1/auth/login", headers: [.authorization: stale],
                                         json: ["username": "admin", "password": APIHarness.adminPassword])
            #expect(login.status == 200, "\(login.text)")
            let refused = try await c.call(.get, "/api/v1/auth/whoami", headers: [.authorization: stale])
            #expect(refused.status == 401 && refused.json["message"] as? String == "invalid or expired token")
        }
    }

    @Test("throttled Basic credentials are a 401 with Retry-After, not a 429")
    func basicThrottleIsUnauthorized() async throws {
        try await APIHarness.run { c in
            let bad = "Basic " + Data("admin:wrong-password-1".utf8).base64EncodedString()
            var last = 0
            var retryAfter: String?
            for _ in 0..<8 {
                let reply = try await c.call(.get, "/api/v1/auth/whoami", headers: [.authorization: bad])
                last = reply.status
                retryAfter = reply.headers[.retryAfter]
            }
            #expect(last == 401 && retryAfter != nil)
        }
    }

    @Test("TRACE on a known path is a 405 too; an empty results array and unknown references are refused as declared")
    func methodsAndBodies() async throws {
        try await APIHarness.run { c in
            let admin = try await c.adminToken()
            let trace = try await c.call(.trace, "/api/v1/users", token: admin)
            #expect(trace.status == 405 && trace.headers[.allow] == "GET, HEAD, POST")
            // Any method, even one the router has never heard of; a literal path beats a parameter.
            let query = try await c.call(HTTPRequest.Method("QUERY")!, "/api/v1/ous/tree", token: admin)
            #expect(query.status == 405 && query.headers[.allow] == "GET, HEAD", "\(query.headers)")
            let empty = try await c.call(.post, "/api/v1/results", token: admin, json: ["results": [Any]()])
            #expect(empty.status == 400 && (empty.json["fields"] as? [String: String])?["results"] == "must not be empty")
            let orphan = try await c.call(.post, "/api/v1/ous", token: admin, json: ["name": "orphan", "parent_id": 424242])
            #expect(orphan.status == 409 && (orphan.json["fields"] as? [String: String])?["parent_id"] != nil, "\(orphan.text)")
            let user = try await c.call(.post, "/api/v1/users", token: admin,
                                        json: ["username": "nowhere", "password": "Sturdy-Walrus-17", "role": "ou_admin", "ou_id": 424242])
            #expect(user.status == 409, "\(user.text)")
            let big = try await c.call(.get, "/api/v1/users/9000000000000000", token: admin)
            #expect(big.status == 400, "\(big.text)")
        }
    }

    @Test("the document declares the bounds and statuses the server enforces")
    func documentStatesBounds() throws {
        let document = try #require(try JSONSerialization.jsonObject(with: OpenAPIDocument.data()) as? [String: Any])
        let paths = try #require(document["paths"] as? [String: [String: Any]])
        let getUser = try #require(paths["/api/v1/users/{id}"]?["get"] as? [String: Any])
        let id = try #require((getUser["parameters"] as? [[String: Any]])?.first?["schema"] as? [String: Any])
        #expect(id["maximum"] as? Int64 == JSONSchema.integerLimit && id["minimum"] as? Int == 1)
        let enroll = try #require(paths["/api/v1/enrollment/enroll"]?["post"] as? [String: Any])
        let statuses = Set((enroll["responses"] as? [String: Any] ?? [:]).keys)
        #expect(statuses.isSuperset(of: ["200", "201", "401", "403", "409", "415"]))
        let schemas = try #require((document["components"] as? [String: Any])?["schemas"] as? [String: Any])
        let upload = try #require((schemas["ResultUpload"] as? [String: Any])?["properties"] as? [String: Any])
        #expect((upload["results"] as? [String: Any])?["minItems"] as? Int == 1)
    }
}

extension ContractTests {
    /// ICU's `$` matches before a final newline; the patterns are anchored at the text's end.
    @Test("a pattern does not accept a trailing newline")
    func patternsAnchorAtTheEnd() {
        #expect(Patterns.matches("admin", "[A-Za-z0-9._@+-]+"))
        #expect(!Patterns.matches("admin\n", "[A-Za-z0-9._@+-]+"))
        #expect(!Patterns.matches("\nadmin", "[A-Za-z0-9._@+-]+"))
    }

    /// Logins and enrollments of new devices change no credential, so they do not empty the
    /// cache; a re-enrollment (a token replaced) does.
    @Test("only changes a credential check reads move the authentication epoch")
    func epochMovesOnlyForCredentialChanges() async throws {
        try await APIHarness.run { c in
            let admin = try await c.adminToken()
            let store = c.services.store
            let ou = try await c.createOU("epoch-ou", parent: nil, token: admin)
            let secret = try await c.enrollmentSecret(ou: ou, token: admin)
            let before = store.authenticationEpoch
            _ = try await c.adminToken()
            let first = try await c.enroll(secret: secret.secret, serial: "epoch-1")
            #expect(store.authenticationEpoch == before)
            _ = try await c.enroll(secret: secret.secret, serial: "epoch-1", currentToken: first.token, expect: 200)
            #expect(store.authenticationEpoch > before)
        }
    }
}
