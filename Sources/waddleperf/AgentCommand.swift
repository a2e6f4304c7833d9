import Agent
import ArgumentParser
import Engine
import Foundation
import Logging
import ProbeModel
import ServiceLifecycle
import UnixSignals
import Yams

/// `waddleperf agent`: scheduled checks from the server's configuration and/or a local file,
/// results buffered on disk and uploaded exactly once.
struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Run checks on a schedule and upload the results to a server (or print them).",
        discussion: """
            Enrol once:   waddleperf agent --server https://wp.example.org --enroll SECRET
            Later starts: waddleperf agent --server https://wp.example.org
            Local checks: waddleperf agent --config checks.yaml [--server URL]

            A checks file holds a list of checks (or an object with a `checks` list); each is a check \
            as `waddleperf run` takes it plus `every_s` (seconds between runs):

              checks:
                - {name: web, kind: http, target: "https://example.org/", every_s: 30}
                - {name: gw, kind: icmp, target: 192.0.2.1, count: 5, interval_ms: 200, every_s: 10}

            See docs/agent.md.
            """
    )

    @Option(help: "The control plane's URL (http:// or https://). Without it the local checks run and their results are printed (NDJSON).")
    var server: String?

    @Option(help: "Enrollment secret: enrols with the server when the state directory holds no device token for it.")
    var enroll: String?

    @Option(help: "Local checks file (YAML or JSON), run alongside the server's checks.")
    var config: String?

    @Option(name: .customLong("state-dir"), help: "Where the device token and the result buffer live (default /var/lib/waddleperf/agent as root, else ~/.local/state/waddleperf/agent).")
    var stateDirectory: String?

    @Option(help: "The device's serial when enrolling (default: /etc/machine-id).")
    var serial: String?

    @Option(help: "The device's name when enrolling (default: the host name).")
    var name: String?

    @Option(name: .customLong("ca-file"), help: "PEM bundle of CAs to trust for the server's certificate.")
    var caFile: String?

    @Option(help: "How often the configuration is fetched (default 30s).")
    var poll: String = "30s"

    @Option(help: "How often a heartbeat is sent (default 30s).")
    var heartbeat: String = "30s"

    @Option(name: .customLong("buffer-max-bytes"), help: "Bound of the on-disk buffer (default 256MiB); beyond it the oldest results are dropped, and counted.")
    var bufferMaxBytes: String = "256MiB"

    @Option(name: .customLong("buffer-max-age"), help: "Buffered results older than this are dropped, and counted (default 7d).")
    var bufferMaxAge: String = "7d"

    @Option(name: .customLong("upload-batch"), help: "Results per upload, 1-10000 (default 10000).")
    var uploadBatch: Int = 10_000

    @Option(help: "On SIGTERM: how long runs in progress may take, then how long to flush (default 10s).")
    var grace: String = "10s"

    @Option(name: .customLong("batch-window"), help: "Checks due within one window start together, in one run (default 25ms, at most 1s): wider costs less CPU per check, and a check starts up to the window early.")
    var batchWindow: String = "25ms"

    @Option(name: .customLong("log-level"), help: "trace, debug, info (default), warning or error.")
    var logLevel: String = "info"

    mutating func run() async throws {
        let server = try server.map { text -> URL in
            guard let url = URL(string: text), ["http", "https"].contains(url.scheme ?? ""), url.host != nil else {
                throw ConfigurationError(field: "server", "must be an http:// or https:// URL, got '\(text)'")
            }
            return url
        }
        guard server != nil || config != nil else {
            throw ConfigurationError(field: "server", "give --server URL, --config FILE, or both")
        }
        if enroll != nil && server == nil { throw ConfigurationError(field: "enroll", "needs --server") }
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw ConfigurationError(field: "log-level", "must be trace, debug, info, warning or error, got '\(logLevel)'")
        }
        let identity: AgentIdentity
        do { identity = try AgentIdentity.current(serial: serial, name: name) } catch { throw ConfigurationError(field: "serial", "\(error)") }
        var options = AgentOptions(server: server, stateDirectory: stateDirectory ?? Self.defaultStateDirectory(), identity: identity)
        options.enrollSecret = enroll
        options.caFile = caFile
        options.localChecks = try config.map(Self.loadChecks) ?? []
        options.pollInterval = try Self.duration(poll, field: "poll")
        options.heartbeatInterval = try Self.duration(heartbeat, field: "heartbeat")
        options.grace = try Self.duration(grace, field: "grace")
        options.batchWindow = try Self.duration(batchWindow, field: "batch-window")
        guard options.batchWindow <= .seconds(1) else { throw ConfigurationError(field: "batch-window", "must be at most 1s, got '\(batchWindow)'") }
        guard (1...10_000).contains(uploadBatch) else { throw ConfigurationError(field: "upload-batch", "must be 1-10000, got \(uploadBatch)") }
        options.uploadBatch = uploadBatch
        options.buffer.maxBytes = try Self.bytes(bufferMaxBytes, field: "buffer-max-bytes")
        options.buffer.maxAgeMilliseconds = Int64(try DurationParser.nanoseconds(bufferMaxAge, field: "buffer-max-age") / 1_000_000)

        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "waddleperf.agent")
        let agent: Agent
        do { agent = try Agent(options: options, logger: logger) } catch let error as ConfigurationError { throw error }
        let group = ServiceGroup(configuration: .init(services: [.init(service: agent)], gracefulShutdownSignals: [.sigterm, .sigint],
                                                      logger: logger))
        try await group.run()
    }

    static func defaultStateDirectory() -> String {
        if getuid() == 0 { return "/var/lib/waddleperf/agent" }
        let home = ProcessInfo.processInfo.environment["XDG_STATE_HOME"] ?? (NSHomeDirectory() + "/.local/state")
        return home + "/waddleperf/agent"
    }

    static func duration(_ text: String, field: String) throws -> Duration {
        let ns = try DurationParser.nanoseconds(text, field: field)
        guard ns >= 1_000_000 else { throw ConfigurationError(field: field, "must be at least 1ms, got '\(text)'") }
        return .nanoseconds(Int64(ns))
    }

    /// `64MiB`, `1GiB`, `500MB`, or a number of bytes.
    static func bytes(_ text: String, field: String) throws -> Int64 {
        let units: [(String, Double)] = [("KiB", 1024), ("MiB", 1_048_576), ("GiB", 1_073_741_824), ("KB", 1e3), ("MB", 1e6), ("GB", 1e9), ("B", 1)]
        var number = Substring(text), scale = 1.0
        for (suffix, s) in units where text.hasSuffix(suffix) {
            number = text.dropLast(suffix.count)
            scale = s
            break
        }
        guard let value = Double(number), value.isFinite, value * scale >= 65_536, value * scale < 1e15 else {
            throw ConfigurationError(field: field, "must be a size of at least 64KiB (e.g. 256MiB), got '\(text)'")
        }
        return Int64(value * scale)
    }

    /// A list of scheduled checks, or an object with a `checks` list, in YAML or JSON; every
    /// check validated, the error naming its field (`checks[2].every_s`).
    static func loadChecks(_ path: String) throws -> [ScheduledCheck] {
        guard let data = FileManager.default.contents(atPath: path) else { throw ConfigurationError(field: "config", "cannot read '\(path)'") }
        let text = String(decoding: data, as: UTF8.self)
        struct File: Decodable { var checks: [ScheduledCheck] }
        let checks: [ScheduledCheck]
        do {
            do { checks = try YAMLDecoder().decode([ScheduledCheck].self, from: text) } catch DecodingError.typeMismatch(_, let c)
                where c.codingPath.isEmpty { checks = try YAMLDecoder().decode(File.self, from: text).checks }
        } catch let error as DecodingError {
            throw ConfigurationError(decoding: error)
        } catch let error as YamlError {
            throw ConfigurationError(field: "config", "not valid YAML: \(error)")
        }
        try ScheduledCheck.validate(checks)
        return checks
    }
}
