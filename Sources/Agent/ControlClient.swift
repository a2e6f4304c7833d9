import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import NIOSSL
import ProbeModel
import Synchronization

/// What the agent asks of the control plane, over HTTP(S): enrolment, its configuration
/// (conditional GET), result uploads with an idempotency key, heartbeats.
public final class ControlClient: Sendable {
    public let server: URL
    private let configuration: HTTPClient.Configuration
    /// Replaced after a request finds no server: AsyncHTTPClient's pool backs off new
    /// connections after failures (up to a minute), which would keep the agent away long after
    /// the server is back.
    private let http: Mutex<HTTPClient>
    private let timeout: TimeAmount

    /// What a request ended with, for the callers that retry.
    public enum Failure: Error, CustomStringConvertible, Sendable {
        /// No answer (refused, reset, timed out): retry.
        case unreachable(String)
        /// 429 or 5xx: retry, not before `retryAfter` seconds when the server said so.
        case busy(status: Int, retryAfter: Double?, message: String)
        /// Any other 4xx: retrying the same request will not help.
        case refused(status: Int, message: String)

        public var description: String {
            switch self {
            case .unreachable(let why): "server unreachable: \(why)"
            case .busy(let status, _, let message): "server busy (\(status)): \(message)"
            case .refused(let status, let message): "server refused (\(status)): \(message)"
            }
        }
    }

    /// `caFile`: a PEM bundle to trust instead of the system's (a private CA).
    public init(server: URL, caFile: String? = nil, timeout: Duration = .seconds(30)) throws {
        self.server = server
        var configuration = HTTPClient.Configuration()
        if let caFile {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .file(caFile)
            configuration.tlsConfiguration = tls
        }
        configuration.timeout = .init(connect: .seconds(5), read: .seconds(Int64(timeout.components.seconds)))
        configuration.redirectConfiguration = .disallow
        // Retries are the agent's (with back-off and jitter): a refused connection fails now.
        configuration.connectionPool.retryConnectionEstablishment = false
        self.configuration = configuration
        http = Mutex(HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration))
        self.timeout = .seconds(Int64(timeout.components.seconds))
    }

    public func shutdown() async {
        try? await http.withLock { $0 }.shutdown()
    }

    /// A new pool for the next request; the old one closes in the background.
    private func renew(_ failed: HTTPClient) {
        let replaced = http.withLock { client -> Bool in
            guard client === failed else { return false }
            client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            return true
        }
        if replaced { Task { try? await failed.shutdown() } }
    }

    // MARK: Requests

    public struct Enrollment: Decodable, Sendable {
        public struct Device: Decodable, Sendable {
            public var id: Int64
            public var ouID: Int64
            enum CodingKeys: String, CodingKey {
                case id
                case ouID = "ou_id"
            }
        }
        public var device: Device
        public var token: String
    }

    /// `POST /api/v1/enrollment/enroll`.
    public func enroll(secret: String, identity: AgentIdentity, currentToken: String? = nil) async throws -> Enrollment {
        var body: [String: String] = ["secret": secret, "serial": identity.serial, "hostname": identity.name, "os": identity.os,
                                      "os_version": identity.osVersion, "client_type": "waddleperf-agent", "client_version": AgentInfo.version]
        if let currentToken { body["current_token"] = currentToken }
        let (_, data) = try await send(.POST, "/api/v1/enrollment/enroll", json: try JSONEncoder().encode(body), accept: [200, 201])
        return try JSONDecoder().decode(Enrollment.self, from: data)
    }

    /// The device's configuration as the server has it now.
    public struct DeviceConfig: Sendable {
        public var etag: String?
        /// The checks of the config's `checks` list, not yet validated.
        public var checks: [ScheduledCheck]
        public var name: String?
    }

    /// `GET /api/v1/device/config`; nil when it has not changed since `etag`.
    public func config(token: String, etag: String?) async throws -> DeviceConfig? {
        var headers = HTTPHeaders()
        if let etag { headers.add(name: "If-None-Match", value: etag) }
        let (response, data) = try await send(.GET, "/api/v1/device/config", token: token, headers: headers, accept: [200, 304])
        if response.status == .notModified { return nil }
        struct Body: Decodable {
            struct Config: Decodable { var checks: [ScheduledCheck]? }
            var config: Config?
            var name: String?
        }
        let body = try JSONDecoder().decode(Body.self, from: data)
        return DeviceConfig(etag: response.headers.first(name: "ETag"), checks: body.config?.checks ?? [], name: body.name)
    }

    /// `POST /api/v1/results` with `Idempotency-Key`; true when the server had it already
    /// (the answer to an earlier attempt was lost).
    @discardableResult
    public func upload(_ batch: ResultBuffer.Batch, token: String) async throws -> Bool {
        var headers = HTTPHeaders()
        headers.add(name: "Idempotency-Key", value: batch.key)
        let (response, _) = try await send(.POST, "/api/v1/results", token: token, headers: headers, body: batch.body, accept: [200, 201])
        return response.headers.first(name: "Idempotent-Replayed") == "true"
    }

    /// Uploads one run's documents (`waddleperf probe/run --upload`), at most 10,000 per
    /// request, each request under its own key: retried (up to `attempts` times) while the
    /// server is away or busy, so a lost answer never stores a batch twice. Returns how many
    /// the server holds.
    public func upload(_ documents: [ResultDocument], token: String, attempts: Int = 4) async throws -> Int {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var stored = 0
        var start = 0
        while start < documents.count {
            let chunk = documents[start..<min(start + 10_000, documents.count)]
            var body = Array(#"{"results":"#.utf8)
            body += try encoder.encode(Array(chunk))
            body.append(UInt8(ascii: "}"))
            let batch = ResultBuffer.Batch(key: "cli-" + UUID().uuidString.lowercased(), firstSeq: 0, lastSeq: 0, count: chunk.count, body: body)
            var backoff = Backoff(maximum: .seconds(8))
            for attempt in 1...max(1, attempts) {
                do {
                    try await upload(batch, token: token)
                    break
                } catch let failure as Failure {
                    if case .refused = failure { throw failure }
                    if attempt == attempts { throw failure }
                    try await Task.sleep(for: backoff.next(after: failure))
                }
            }
            stored += chunk.count
            start += chunk.count
        }
        return stored
    }

    /// `POST /api/v1/device/heartbeat` with the agent's state.
    public func heartbeat(_ status: AgentStatus, token: String) async throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        _ = try await send(.POST, "/api/v1/device/heartbeat", token: token, json: try encoder.encode(status), accept: [200])
    }

    // MARK: Transport

    private func send(_ method: HTTPMethod, _ path: String, token: String? = nil, headers extra: HTTPHeaders = [:],
                      json: Data? = nil, body: [UInt8]? = nil, accept: Set<Int>) async throws -> (HTTPClientResponse, Data) {
        var request = HTTPClientRequest(url: server.absoluteString.trimmingSuffix("/") + path)
        request.method = method
        request.headers = extra
        request.headers.add(name: "User-Agent", value: "waddleperf-agent/\(AgentInfo.version)")
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let json {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(data: json))
        } else if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        let response: HTTPClientResponse
        let data: Data
        let client = http.withLock { $0 }
        do {
            response = try await client.execute(request, timeout: timeout)
            let collected = try await response.body.collect(upTo: 16 << 20)
            data = Data(buffer: collected)
        } catch {
            renew(client)
            throw Failure.unreachable("\(error)")
        }
        let status = Int(response.status.code)
        if accept.contains(status) { return (response, data) }
        let message = (try? JSONDecoder().decode([String: AnyDecodable].self, from: data))?["message"]?.text
            ?? String(decoding: data.prefix(512), as: UTF8.self)
        if status == 429 || status >= 500 {
            throw Failure.busy(status: status, retryAfter: response.headers.first(name: "Retry-After").flatMap(Double.init), message: message)
        }
        throw Failure.refused(status: status, message: message)
    }
}

/// Reads a message out of an error body whatever its other fields hold.
private struct AnyDecodable: Decodable {
    var text: String?
    init(from decoder: any Decoder) throws {
        text = try? decoder.singleValueContainer().decode(String.self)
    }
}

extension String {
    func trimmingSuffix(_ suffix: String) -> String {
        var s = self
        while s.hasSuffix(suffix) { s.removeLast(suffix.count) }
        return s
    }
}
