@testable import Control
import Engine
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import ProbeModel
import Testing
import TestSupport

/// Findings 4 and 5 of the security issue: the lockout cannot keep an account's owner out, and
/// behind a trusted reverse proxy the throttle counts clients, not the proxy.
@Suite("Throttles and lockout")
struct ThrottleTests {
    static let password = "Sturdy-Walrus-17"

    @Test("a locked account still lets in its owner from an address that has not failed", arguments: TestStores.backends)
    func lockoutIsNotADenialOfService(kind: String) async throws {
        try await APIHarness.run(kind) { c in
            let admin = try await c.adminToken()
            _ = try await c.createUser("besieged", role: .user, ou: nil, token: admin)
            let login = c.services.login
            let attacker = "198.51.100.7", owner = "198.51.100.80"
            for guess in 0..<5 {
                await #expect(throws: APIError.self) {
                    _ = try await login.checkPassword(username: "besieged", password: "Guess-\(guess)-Walrus", mfaCode: nil, source: attacker, allowMFA: true)
                }
            }
            let stored = try await c.services.store.user(username: "besieged")
            #expect((stored?.lockedUntil ?? 0) > WallClock.nowMillis(), "five failures lock the account")
            // The attacker's address is refused even with the right password (throttled or locked).
            await #expect(throws: APIError.self) {
                _ = try await login.checkPassword(username: "besieged", password: Self.password, mfaCode: nil, source: attacker, allowMFA: true)
            }
            // A new address that guesses wrong has failed now: the lock holds against it too.
            let second = "198.51.100.9"
            await #expect(throws: APIError.self) {
                _ = try await login.checkPassword(username: "besieged", password: "Guess-9-Walrus", mfaCode: nil, source: second, allowMFA: true)
            }
            await #expect(throws: APIError.self) {
                _ = try await login.checkPassword(username: "besieged", password: Self.password, mfaCode: nil, source: second, allowMFA: true)
            }
            // The owner, elsewhere, gets in (this was a 401 for up to an hour); that success ends the lock.
            let user = try await login.checkPassword(username: "besieged", password: Self.password, mfaCode: nil, source: owner, allowMFA: true)
            #expect(user.username == "besieged")
        }
    }

    @Test("client addresses behind trusted proxies: right to left, untrusted hops end the walk")
    func clientAddressResolution() throws {
        let trusted = [IPNetwork("10.0.0.0/8")!, IPNetwork("fd00::/8")!, IPNetwork("127.0.0.1")!]
        func resolve(_ peer: String, _ fields: [(String, String)]) -> String {
            var headers = HTTPFields()
            for (name, value) in fields { headers.append(HTTPField(name: HTTPField.Name(name)!, value: value)) }
            return ClientAddress.resolve(peer: peer, headers: headers, trustedProxies: trusted)
        }
        // An untrusted peer is the client whatever it claims.
        #expect(resolve("203.0.113.5", [("X-Forwarded-For", "198.51.100.1")]) == "203.0.113.5")
        #expect(resolve("10.1.2.3", [("X-Forwarded-For", "198.51.100.1")]) == "198.51.100.1")
        // A client's own prefix stops at the first untrusted hop from the right.
        #expect(resolve("10.1.2.3", [("X-Forwarded-For", "6.6.6.6, 198.51.100.1, 10.9.9.9")]) == "198.51.100.1")
        #expect(resolve("10.1.2.3", [("X-Forwarded-For", "6.6.6.6"), ("X-Forwarded-For", "198.51.100.1")]) == "198.51.100.1")
        #expect(resolve("10.1.2.3", [("X-Forwarded-For", "10.0.0.1, 10.0.0.2")]) == "10.0.0.1", "all trusted: the farthest")
        #expect(resolve("10.1.2.3", [("X-Forwarded-For", "unknown")]) == "10.1.2.3", "not an address: the last proxy")
        #expect(resolve("10.1.2.3", []) == "10.1.2.3")
        // RFC 7239, with ports, quotes and brackets; it wins over X-Forwarded-For.
        #expect(resolve("::ffff:10.1.2.3", [("Forwarded", "for=\"[2001:db8:cafe::17]:4711\";proto=https, for=10.2.2.2"),
                                            ("X-Forwarded-For", "192.0.2.99")]) == "2001:db8:cafe::17")
        #expect(resolve("fd00::1", [("Forwarded", "for=192.0.2.43:8080;by=10.0.0.1")]) == "192.0.2.43")
        #expect(resolve("127.0.0.1", [("Forwarded", "for=_hidden")]) == "127.0.0.1")
        // Networks and the throttle's IPv6 grouping.
        #expect(IPNetwork("10.0.0.0/33") == nil && IPNetwork("fd00::/129") == nil && IPNetwork("example.com") == nil)
        #expect(IPNetwork("192.168.1.77/24")?.description == "192.168.1.0/24")
        #expect(ClientAddress.throttleKey("2001:db8:1:2:aaaa::1") == ClientAddress.throttleKey("2001:db8:1:2:bbbb::9"))
        #expect(ClientAddress.throttleKey("2001:db8:1:2::1") != ClientAddress.throttleKey("2001:db8:1:3::1"))
        #expect(ClientAddress.throttleKey("192.0.2.1") != ClientAddress.throttleKey("192.0.2.2"))
        // Configuration: a comma list or a JSON array; a bad entry is named.
        var configuration = ControlConfiguration()
        try configuration.apply(["trusted_proxies": "10.0.0.0/8, ::1"])
        #expect(configuration.trustedProxies.map(\.description) == ["10.0.0.0/8", "::1/128"])
        try configuration.apply(["trusted_proxies": "(\n    \"192.0.2.0/24\"\n)"])
        #expect(configuration.trustedProxies.map(\.description) == ["192.0.2.0/24"])
        #expect(throws: ConfigurationError.self) { try configuration.apply(["trusted_proxies": "10.0.0.0/8,proxy.local"]) }
    }

    /// Over a real socket (the peer is 127.0.0.1, the proxy): five bad logins from one client
    /// throttle that client only. Without the setting, the same requests share the proxy's count.
    @Test("behind a trusted proxy the throttle counts each client; an untrusted peer's header is ignored")
    func throttleBehindATrustedProxy() async throws {
        @Sendable func attempt(_ c: APIHarness.Client, from client: String, password: String) async throws -> Int {
            try await c.call(.post, "/api/v1/auth/login", headers: [HTTPField.Name("X-Forwarded-For")!: client],
                             json: ["username": "proxied", "password": password]).status
        }
        try await APIHarness.run(testing: .live, configure: { $0.trustedProxies = [IPNetwork("127.0.0.1/32")!] }) { c in
            let admin = try await c.adminToken()
            _ = try await c.createUser("proxied", role: .user, ou: nil, token: admin)
            for guess in 0..<5 { #expect(try await attempt(c, from: "203.0.113.9", password: "Guess-\(guess)-Walrus") == 401) }
            #expect(try await attempt(c, from: "203.0.113.9", password: Self.password) == 429)
            // A client cannot shed its count by prefixing another address: the proxy appends the real one.
            #expect(try await attempt(c, from: "203.0.113.10, 203.0.113.9", password: Self.password) == 429)
            #expect(try await attempt(c, from: "203.0.113.10", password: Self.password) == 200, "another client behind the proxy")
            let sources = try await c.services.store.auditEntries(limit: 50).filter { $0.action == "login" }.map(\.sourceAddress)
            #expect(sources.contains("203.0.113.9") && sources.contains("203.0.113.10"), "the audit names the clients: \(sources)")
        }
        try await APIHarness.run(testing: .live) { c in
            let admin = try await c.adminToken()
            _ = try await c.createUser("proxied", role: .user, ou: nil, token: admin)
            for guess in 0..<5 { #expect(try await attempt(c, from: "203.0.113.9", password: "Guess-\(guess)-Walrus") == 401) }
            #expect(try await attempt(c, from: "203.0.113.10", password: Self.password) == 429, "no trusted proxy: one peer, one count")
        }
    }

    /// Finding 10: Basic authentication cost one bcrypt per request.
    @Test("Basic credentials cost bcrypt once, not per request; a wrong password always goes through the policy", arguments: TestStores.backends)
    func basicAuthenticationIsRemembered(kind: String) async throws {
        try await APIHarness.run(kind) { c in
            let admin = try await c.adminToken()
            _ = try await c.createUser("basic-user", role: .user, ou: nil, token: admin)
            let good = "Basic " + Data("basic-user:\(Self.password)".utf8).base64EncodedString()
            let before = c.services.hasher.verifications
            for _ in 0..<20 { #expect(try await c.call(.get, "/api/v1/auth/whoami", token: good).status == 200) }
            #expect(c.services.hasher.verifications - before == 1, "\(c.services.hasher.verifications - before) bcrypt checks for 20 requests")
            let bad = "Basic " + Data("basic-user:Wrong-Walrus-99".utf8).base64EncodedString()
            for _ in 0..<3 { #expect(try await c.call(.get, "/api/v1/auth/whoami", token: bad).status == 401) }
            #expect(c.services.hasher.verifications - before == 4, "every wrong password is checked")
            // A password change ends the remembered success at once.
            let token = try await c.token("basic-user", Self.password)
            #expect(try await c.call(.post, "/api/v1/auth/password", token: token,
                                     json: ["current_password": Self.password, "new_password": "Changed-Walrus-21"]).status == 200)
            #expect(try await c.call(.get, "/api/v1/auth/whoami", token: good).status == 401)
        }
    }

    /// A raw TCP client: sends `chunks` with `gap` between them, then reads until the server
    /// closes or answers. Returns what was read ("" when the server closed without a word).
    static func rawExchange(port: Int, chunks: [String], gap: Duration, readTimeout: Int = 10) async throws -> String {
        let fd = try connectLoopback(port: port, receiveTimeoutSeconds: readTimeout)
        defer { close(fd) }
        for (index, chunk) in chunks.enumerated() {
            if index > 0 { try await Task.sleep(for: gap) }
            _ = chunk.withCString { send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
        }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            received += buffer[0..<n]
            if String(decoding: received, as: UTF8.self).contains("\r\n\r\n") { break }
        }
        return String(decoding: received, as: UTF8.self)
    }

    /// Finding 10: no idle or read timeout (slowloris).
    @Test("a connection that sends half a request is closed; a body trickled past its deadline is a 408")
    func slowClientsAreCut() async throws {
        try await APIHarness.run(testing: .live, configure: { $0.idleTimeout = .seconds(3); $0.bodyTimeout = .milliseconds(1500) }) { c in
            let port = try #require(c.client.port)
            // Headers that never end: closed after the idle timeout, with no answer.
            let started = ContinuousClock.now
            let half = try await Self.rawExchange(port: port, chunks: ["POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\n"], gap: .zero)
            #expect(half.isEmpty && ContinuousClock.now - started < .seconds(8), "\(half)")
            // A body one byte every 400 ms, slower in all than the body deadline (1.5 s, before the
            // idle timeout): answered 408.
            let head = "POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 64\r\n\r\n"
            let trickle = try await Self.rawExchange(port: port, chunks: [head] + Array(repeating: " ", count: 10), gap: .milliseconds(400))
            #expect(trickle.hasPrefix("HTTP/1.1 408"), "\(trickle)")
        }
    }
}
