import Foundation

public enum AgentInfo {
    public static let version = "0.5.0"
}

/// Who the agent says it is when it enrols: a stable serial, a name, its OS.
public struct AgentIdentity: Sendable, Equatable {
    public var serial: String
    public var name: String
    public var os: String
    public var osVersion: String

    public init(serial: String, name: String, os: String, osVersion: String) {
        self.serial = serial
        self.name = name
        self.os = os
        self.osVersion = osVersion
    }

    /// `serial`: given, else the machine id (`/etc/machine-id`); `name`: given, else the host name.
    public static func current(serial: String? = nil, name: String? = nil) throws -> AgentIdentity {
        var uts = utsname()
        uname(&uts)
        func text<T>(_ field: T) -> String {
            withUnsafeBytes(of: field) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        }
        let machineID = ["/etc/machine-id", "/var/lib/dbus/machine-id"].lazy
            .compactMap { try? String(contentsOfFile: $0, encoding: .utf8) }
            .map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
            .first { !$0.isEmpty }
        guard let serial = serial ?? machineID else {
            throw AgentError("no --serial given and no /etc/machine-id to take one from")
        }
        return AgentIdentity(serial: serial, name: name ?? text(uts.nodename), os: text(uts.sysname), osVersion: text(uts.release))
    }
}

/// What the agent keeps between starts, in its state directory: the device token (mode 0600)
/// and the server it belongs to.
public struct AgentCredentials: Codable, Sendable, Equatable {
    public var server: String
    public var deviceID: Int64
    public var token: String

    enum CodingKeys: String, CodingKey {
        case server
        case deviceID = "device_id"
        case token
    }

    static func path(in directory: String) -> String { directory + "/device.json" }

    public static func load(from directory: String) throws -> AgentCredentials? {
        let path = Self.path(in: directory)
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        do {
            return try JSONDecoder().decode(AgentCredentials.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw AgentError("\(path) is unreadable (\(error)); remove it and enrol again")
        }
    }

    /// Written to a temporary file created 0600, then renamed over the old one.
    public func save(in directory: String) throws {
        let path = Self.path(in: directory)
        let temporary = path + ".tmp"
        let data = try JSONEncoder().encode(self)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw AgentError("cannot write \(temporary): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        fchmod(fd, 0o600)
        let written = data.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == data.count, fsync(fd) == 0 else { throw AgentError("cannot write \(temporary): \(String(cString: strerror(errno)))") }
        guard rename(temporary, path) == 0 else { throw AgentError("cannot rename \(temporary): \(String(cString: strerror(errno)))") }
    }
}

public struct AgentError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The agent's state as its heartbeat reports it (`Schemas.agentStatus` on the server).
public struct AgentStatus: Codable, Sendable, Equatable {
    public var version = AgentInfo.version
    public var checksConfigured = 0
    public var checksRunning = 0
    public var runs: Int64 = 0
    public var skippedRuns: Int64 = 0
    public var bufferResults: Int64 = 0
    public var bufferBytes: Int64 = 0
    public var bufferOldestMS: Int64?
    public var droppedResults: Int64 = 0
    public var lastUploadAt: Int64?
    public var configError: String?

    public init() {}

    enum CodingKeys: String, CodingKey {
        case version
        case checksConfigured = "checks_configured"
        case checksRunning = "checks_running"
        case runs
        case skippedRuns = "skipped_runs"
        case bufferResults = "buffer_results"
        case bufferBytes = "buffer_bytes"
        case bufferOldestMS = "buffer_oldest_ms"
        case droppedResults = "dropped_results"
        case lastUploadAt = "last_upload_at"
        case configError = "config_error"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(version, forKey: .version)
        try c.encode(checksConfigured, forKey: .checksConfigured)
        try c.encode(checksRunning, forKey: .checksRunning)
        try c.encode(runs, forKey: .runs)
        try c.encode(skippedRuns, forKey: .skippedRuns)
        try c.encode(bufferResults, forKey: .bufferResults)
        try c.encode(bufferBytes, forKey: .bufferBytes)
        try c.encode(bufferOldestMS, forKey: .bufferOldestMS)
        try c.encode(droppedResults, forKey: .droppedResults)
        try c.encode(lastUploadAt, forKey: .lastUploadAt)
        try c.encode(configError.map { String($0.prefix(1024)) }, forKey: .configError)
    }
}
