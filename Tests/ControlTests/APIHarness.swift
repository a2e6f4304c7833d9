@testable import Control
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Testing

/// A control plane on a fresh store, driven through Hummingbird's test client.
struct APIHarness {
    static let jwtSecret = "test-secret-0123456789abcdef0123456789abcdef"
    static let adminPassword = "Root-Secret-Pass-42"

    static func configuration(_ backend: StoreBackend) -> ControlConfiguration {
        var configuration = ControlConfiguration()
        configuration.store = backend
        configuration.jwtSecret = jwtSecret
        configuration.bcryptCost = 4          // production is 12; the policy code paths are the same
        configuration.adminPassword = adminPassword
        configuration.port = 0
        return configuration
    }

    /// `testing: .live` serves on a real loopback socket (the peer address is 127.0.0.1, as the
    /// proxy tests need); the default drives the router in process.
    static func run(_ kind: String = "sqlite", testing: TestingSetup = .router, configure: (inout ControlConfiguration) -> Void = { _ in },
                    logger: Logger? = nil, _ body: @escaping @Sendable (Client) async throws -> Void) async throws {
        var configuration = configuration(try TestStores.backend(kind))
        configure(&configuration)
        let logger = logger ?? {
            var logger = Logger(label: "test")
            logger.logLevel = .error
            return logger
        }()
        let plane = try await buildApplication(configuration, logger: logger)
        do {
            try await plane.application.test(testing) { client in
                try await body(Client(client: client, services: plane.services, tests: plane.tests))
            }
        } catch {
            await plane.tests.stop()
            await plane.services.shutdown()
            throw error
        }
        await plane.tests.stop()
        await plane.services.shutdown()
    }

    /// A valid client config body for PUT /configs/... .
    static let sampleConfig: [String: any Sendable] = [
        "name": "probe set",
        "config": ["interval_seconds": 60, "tests": [["type": "icmp", "target": "127.0.0.1"] as [String: any Sendable]] as [any Sendable]] as [String: any Sendable],
    ]

    struct Reply: @unchecked Sendable {
        var status: Int
        var json: [String: Any]
        var text: String
        var headers: HTTPFields
    }

    struct Client: Sendable {
        let client: any TestClientProtocol
        let services: ControlServices
        let tests: TestRunner

        /// The live server's port (`testing: .live`).
        var port: Int { client.port ?? 0 }

        @discardableResult
        func call(_ method: HTTPRequest.Method, _ path: String, token: String? = nil, headers extra: HTTPFields = [:],
                  json: Any? = nil, raw: String? = nil) async throws -> Reply {
            var headers = extra
            if let token { headers[.authorization] = token.contains(" ") ? token : "Bearer \(token)" }
            var body: ByteBuffer?
            if let json {
                body = ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: json))
                headers[.contentType] = "application/json"
            } else if let raw {
                body = ByteBuffer(string: raw)
                headers[.contentType] = "application/json"
            }
            return try await client.execute(uri: path, method: method, headers: headers, body: body) { response in
                let text = String(buffer: response.body)
                let json = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
                return Reply(status: Int(response.status.code), json: json, text: text, headers: response.headers)
            }
        }

        func login(_ username: String, _ password: String, mfa: String? = nil) async throws -> Reply {
            var body: [String: Any] = ["username": username, "password": password]
            if let mfa { body["mfa_code"] = mfa }
            return try await call(.post, "/api/v1/auth/login", json: body)
        }

        func token(_ username: String, _ password: String) async throws -> String {
            let reply = try await login(username, password)
            guard let token = reply.json["token"] as? String else {
                Issue.record("login \(username) failed: \(reply.status) \(reply.text)")
                return ""
            }
            return token
        }

        func adminToken() async throws -> String { try await token("admin", APIHarness.adminPassword) }

        func createOU(_ name: String, parent: Int64?, token: String) async throws -> Int64 {
            var body: [String: Any] = ["name": name]
            if let parent { body["parent_id"] = parent }
            let reply = try await call(.post, "/api/v1/ous", token: token, json: body)
            #expect(reply.status == 201, "\(reply.text)")
            return (reply.json["id"] as? NSNumber)?.int64Value ?? 0
        }

        func enrollmentSecret(ou: Int64, token: String, maxUses: Int? = nil) async throws -> (id: Int64, secret: String) {
            var body: [String: Any] = ["ou_id": ou, "name": "rollout"]
            if let maxUses { body["max_uses"] = maxUses }
            let reply = try await call(.post, "/api/v1/enrollment/secrets", token: token, json: body)
            #expect(reply.status == 201, "\(reply.text)")
            return ((reply.json["id"] as? NSNumber)?.int64Value ?? 0, reply.json["secret"] as? String ?? "")
        }

        /// Enrolls a device; returns its id and token.
        func enroll(secret: String, serial: String, currentToken: String? = nil, expect status: Int = 201) async throws -> (id: Int64, token: String) {
            var body = ["secret": secret, "serial": serial, "hostname": "host-\(serial)", "os": "linux"]
            if let currentToken { body["current_token"] = currentToken }
            let reply = try await call(.post, "/api/v1/enrollment/enroll", json: body)
            #expect(reply.status == status, "\(reply.text)")
            let device = reply.json["device"] as? [String: Any] ?? [:]
            return ((device["id"] as? NSNumber)?.int64Value ?? 0, reply.json["token"] as? String ?? "")
        }

        func putConfig(_ path: String, token: String, body: [String: any Sendable] = APIHarness.sampleConfig) async throws {
            let reply = try await call(.put, path, token: token, json: body as [String: Any])
            #expect(reply.status == 200, "\(reply.text)")
        }

        func createUser(_ username: String, role: Role, ou: Int64?, token: String, password: String = "Sturdy-Walrus-17") async throws -> Int64 {
            var body: [String: Any] = ["username": username, "password": password, "role": role.rawValue]
            if let ou { body["ou_id"] = ou }
            let reply = try await call(.post, "/api/v1/users", token: token, json: body)
            #expect(reply.status == 201, "\(reply.text)")
            return (reply.json["id"] as? NSNumber)?.int64Value ?? 0
        }
    }
}

/// Keeps every log line (message and metadata) so a test can search them.
struct CapturingLogHandler: LogHandler {
    typealias Lines = Locked<[String]>

    let lines: Lines
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = self.metadata.merging(event.metadata ?? [:]) { $1 }
        lines.withLock { $0.append("\(event.level) \(event.message) \(merged.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: " "))") }
    }

    static func logger() -> (Logger, Lines) {
        let lines = Lines([])
        var logger = Logger(label: "capture") { _ in CapturingLogHandler(lines: lines) }
        logger.logLevel = .trace
        return (logger, lines)
    }
}
