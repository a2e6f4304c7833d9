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
