/// An agent's state as its heartbeat reports it (`POST /api/v1/device/heartbeat`): what the
/// agent sends and what the server stores and shows as the device's `agent`. Every field may be
/// absent.
public struct AgentStatus: Codable, Sendable, Hashable {
    public var version: String?
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

    public enum CodingKeys: String, CodingKey, CaseIterable {
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

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        version = try c.decodeIfPresent(String.self, forKey: .version)
        checksConfigured = try c.decodeIfPresent(Int.self, forKey: .checksConfigured) ?? 0
        checksRunning = try c.decodeIfPresent(Int.self, forKey: .checksRunning) ?? 0
        runs = try c.decodeIfPresent(Int64.self, forKey: .runs) ?? 0
        skippedRuns = try c.decodeIfPresent(Int64.self, forKey: .skippedRuns) ?? 0
        bufferResults = try c.decodeIfPresent(Int64.self, forKey: .bufferResults) ?? 0
        bufferBytes = try c.decodeIfPresent(Int64.self, forKey: .bufferBytes) ?? 0
        bufferOldestMS = try c.decodeIfPresent(Int64.self, forKey: .bufferOldestMS)
        droppedResults = try c.decodeIfPresent(Int64.self, forKey: .droppedResults) ?? 0
        lastUploadAt = try c.decodeIfPresent(Int64.self, forKey: .lastUploadAt)
        configError = try c.decodeIfPresent(String.self, forKey: .configError)
    }

    /// Every field, absent values as null.
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
