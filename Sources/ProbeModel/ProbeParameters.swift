/// Each kind's own parameters, typed. One case per kind that has any.
public enum ProbeParameters: Sendable, Hashable {
    case icmp(ICMPParameters)
    case tcp(TCPParameters)
    case udp(UDPParameters)
    case http(HTTPParameters)
    /// A kind without parameters of its own.
    case none

    public static func defaults(for kind: String) -> ProbeParameters? {
        switch kind {
        case "icmp": .icmp(.init())
        case "tcp": .tcp(.init())
        case "udp": .udp(.init())
        case "http": .http(.init())
        default: nil
        }
    }

    func validate(path: String) throws(ConfigurationError) {
        switch self {
        case .icmp(let p): try p.validate(path: path)
        case .tcp(let p): try p.validate(path: path)
        case .udp(let p): try p.validate(path: path)
        case .http(let p): try p.validate(path: path)
        case .none: break
        }
    }
}

public struct ICMPParameters: Sendable, Hashable, Codable {
    /// Payload bytes after the ICMP header.
    public var size = 56
    /// TTL / hop limit of the requests; nil: the system's.
    public var ttl: Int?

    public init(size: Int = 56, ttl: Int? = nil) {
        self.size = size
        self.ttl = ttl
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case size, ttl }

    public init(from decoder: any Decoder) throws {
        try RefuseUnknownKeys.check(decoder, allowed: CodingKeys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        size = try c.decodeIfPresent(Int.self, forKey: .size) ?? 56
        ttl = try c.decodeIfPresent(Int.self, forKey: .ttl)
    }

    func validate(path: String) throws(ConfigurationError) {
        guard (16...65_000).contains(size) else { throw ConfigurationError(field: path + "size", "must be 16-65000, got \(size)") }
        if let ttl, !(1...255).contains(ttl) { throw ConfigurationError(field: path + "ttl", "must be 1-255, got \(ttl)") }
    }
}

public struct TCPParameters: Sendable, Hashable, Codable {
    /// Bytes sent once connected (0: connect only).
    public var send = 0
    /// Reply bytes to read before the probe counts as answered (0: none).
    public var expect = 0

    public init(send: Int = 0, expect: Int = 0) {
        self.send = send
        self.expect = expect
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case send, expect }

    public init(from decoder: any Decoder) throws {
        try RefuseUnknownKeys.check(decoder, allowed: CodingKeys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        send = try c.decodeIfPresent(Int.self, forKey: .send) ?? 0
        expect = try c.decodeIfPresent(Int.self, forKey: .expect) ?? 0
    }

    func validate(path: String) throws(ConfigurationError) {
        guard (0...65_000).contains(send) else { throw ConfigurationError(field: path + "send", "must be 0-65000, got \(send)") }
        guard (0...65_000).contains(expect) else { throw ConfigurationError(field: path + "expect", "must be 0-65000, got \(expect)") }
    }
}

public struct UDPParameters: Sendable, Hashable, Codable {
    /// Datagram payload bytes (the probe's tag takes the first 16).
    public var size = 56

    public init(size: Int = 56) { self.size = size }

    enum CodingKeys: String, CodingKey, CaseIterable { case size }

    public init(from decoder: any Decoder) throws {
        try RefuseUnknownKeys.check(decoder, allowed: CodingKeys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        size = try c.decodeIfPresent(Int.self, forKey: .size) ?? 56
    }

    func validate(path: String) throws(ConfigurationError) {
        guard (16...65_000).contains(size) else { throw ConfigurationError(field: path + "size", "must be 16-65000, got \(size)") }
    }
}

public struct HTTPParameters: Sendable, Hashable, Codable {
    public enum Version: String, Sendable, Hashable, Codable, CaseIterable {
        case http1 = "1.1", http2 = "2", http3 = "3", auto
    }

    public var method = "GET"
    public var headers: [String: String] = [:]
    public var body: String? = nil
    /// Statuses that count as success, as an inclusive range [low, high].
    public var expectStatus = [200, 399]
    public var version = Version.http1
    /// Redirects followed at most (0: report the 3xx as is).
    public var maximumRedirects = 10
    /// Accept any certificate (the details still report whether it verified).
    public var insecure = false
    /// PEM bundle of the CAs to trust instead of the system's.
    public var caFile: String? = nil

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case method, headers, body, version, insecure
        case caFile = "ca_file"
        case expectStatus = "expect_status"
        case maximumRedirects = "max_redirects"
    }

    public init(from decoder: any Decoder) throws {
        try RefuseUnknownKeys.check(decoder, allowed: CodingKeys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        method = try c.decodeIfPresent(String.self, forKey: .method) ?? "GET"
        headers = try c.decodeIfPresent([String: String].self, forKey: .headers) ?? [:]
        body = try c.decodeIfPresent(String.self, forKey: .body)
        expectStatus = try c.decodeIfPresent([Int].self, forKey: .expectStatus) ?? [200, 399]
        version = try c.decodeIfPresent(Version.self, forKey: .version) ?? .http1
        maximumRedirects = try c.decodeIfPresent(Int.self, forKey: .maximumRedirects) ?? 10
        insecure = try c.decodeIfPresent(Bool.self, forKey: .insecure) ?? false
        caFile = try c.decodeIfPresent(String.self, forKey: .caFile)
    }

    func validate(path: String) throws(ConfigurationError) {
        let token = method.utf8.allSatisfy { $0 > 32 && $0 < 127 && !"()<>@,;:\\\"/[]?={}".utf8.contains($0) }
        guard !method.isEmpty, method.utf8.count <= 32, token else {
            throw ConfigurationError(field: path + "method", "must be an HTTP token of 1-32 characters, got '\(method)'")
        }
        for (name, value) in headers {
            guard !name.isEmpty, name.utf8.allSatisfy({ $0 > 32 && $0 < 127 && $0 != UInt8(ascii: ":") }) else {
                throw ConfigurationError(field: path + "headers", "'\(name)' is not a header name")
            }
            guard !value.utf8.contains(where: { $0 == 10 || $0 == 13 || $0 == 0 }) else {
                throw ConfigurationError(field: path + "headers.\(name)", "must not contain CR, LF or NUL")
            }
        }
        guard expectStatus.count == 2, (100...599).contains(expectStatus[0]), (100...599).contains(expectStatus[1]),
              expectStatus[0] <= expectStatus[1] else {
            throw ConfigurationError(field: path + "expect_status", "must be [low, high] with 100 <= low <= high <= 599")
        }
        guard (0...50).contains(maximumRedirects) else {
            throw ConfigurationError(field: path + "max_redirects", "must be 0-50, got \(maximumRedirects)")
        }
        if let body, body.utf8.count > 1 << 20 { throw ConfigurationError(field: path + "body", "must be at most 1 MiB") }
        if let caFile, caFile.isEmpty || caFile.utf8.count > 4096 { throw ConfigurationError(field: path + "ca_file", "must be a path") }
    }
}
