import ArgumentParser
import Control
import Engine
import Foundation
import Logging
import ServiceLifecycle

/// Options shared by `control` and `serve`; every one can also come from a JSON file
/// (`--config`) or a `WADDLEPERF_*` environment variable (see docs/control-plane.md).
struct ControlOptions: ParsableArguments {
    @Option(help: "JSON configuration file.")
    var config: String?

    @Option(help: "Address to listen on (default 127.0.0.1).")
    var host: String?

    @Option(help: "Port to listen on (default 8080; 0 picks a free one).")
    var port: Int?

    @Option(help: "sqlite://PATH (embedded, default sqlite://waddleperf.db) or mariadb://user:password@host:port/database.")
    var database: String?

    @Flag(help: "Development mode: allow a missing JWT secret (a random one per start).")
    var dev = false

    func configuration(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> ControlConfiguration {
        var configuration = ControlConfiguration()
        try configuration.load(file: config, environment: environment)
        var overrides: [String: String] = [:]
        if let host { overrides["host"] = host }
        if let port { overrides["port"] = String(port) }
        if let database { overrides["database"] = database }
        if dev { overrides["dev"] = "true" }
        try configuration.apply(overrides)
        return configuration
    }
}

/// `clients(plane, port)`: services that talk to the running server (the embedded agent); `port`
/// yields the bound port once the server listens.
func runControlPlane(_ configuration: ControlConfiguration, label: String, with extra: [any Service] = [],
                     clients: (ControlPlane, AsyncStream<Int>) -> [any Service] = { _, _ in [] }) async throws {
    var logger = Logger(label: label)
    logger.logLevel = .info
    let (port, listening) = AsyncStream<Int>.makeStream(bufferingPolicy: .bufferingNewest(1))
    let plane = try await buildApplication(configuration, logger: logger) { port in
        print("waddleperf: control plane listening on http://\(configuration.host):\(port) (store: \(configuration.store.summary))")
        fflush(nil)  // every stream: the line must reach a pipe now, not at exit
        listening.yield(port)
        listening.finish()
    }
    // Until SIGTERM/SIGINT; then the server stops taking requests and what is queued is committed.
    try await plane.run(with: extra, clients: clients(plane, port))
    print("waddleperf: stopped; \(plane.services.writer.statistics.committedRows) results committed this run")
}

extension StoreBackend {
    var summary: String {
        switch self {
        case .embedded(let path): "embedded sqlite \(path)"
        case .mariadb(let c): "mariadb \(c.user)@\(c.socket ?? "\(c.host):\(c.port)")/\(c.database)"
        }
    }
}

struct ControlCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "control",
        abstract: "Run the control plane (REST API, auth, storage)."
    )

    @OptionGroup var options: ControlOptions

    mutating func run() async throws {
        try await runControlPlane(try options.configuration(), label: "waddleperf.control")
    }
}

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "All in one: the control plane on the embedded store plus the TCP/UDP echo responder."
    )

    @OptionGroup var options: ControlOptions

    @Option(name: .customLong("echo-port"), help: "TCP and UDP echo port ('off' for none).")
    var echoPort: String = "7007"

    @Option(name: .customLong("secret-file"), help: "Where a generated JWT secret is kept when none is configured (mode 0600).")
    var secretFile: String = "waddleperf.secret"

    @Option(help: "The embedded agent ('on' or 'off'): a local device that checks this server's echo responder, /health and 127.0.0.1 every 10 s; its checks are the config of the OU 'local'.")
    var agent: String = "on"

    @Option(name: .customLong("agent-state"), help: "The embedded agent's result buffer (default: waddleperf-agent beside the database).")
    var agentState: String?

    mutating func run() async throws {
        var configuration = try options.configuration()
        if configuration.jwtSecret == nil && !configuration.development {
            configuration.jwtSecret = try Self.loadOrCreateSecret(secretFile)
        }
        var extra: [any Service] = []
        var echo: EchoServer?
        if echoPort != "off" {
            guard let port = UInt16(echoPort) else { throw ConfigurationError(field: "echo-port", "must be 0-65535 or 'off', got '\(echoPort)'") }
            var c = EchoServer.Configuration()
            guard let bind = IPAddress(configuration.host) else {
                throw ConfigurationError(field: "host", "the echo responder binds an IP address, got '\(configuration.host)' (or pass --echo-port off)")
            }
            c.bind = bind
            c.tcpPort = port
            c.udpPort = port
            let server = try EchoServer(c)
            try server.start()
            print("waddleperf: echo responder on tcp/udp \(c.bind):\(server.tcpPort ?? port)")
            extra.append(EchoService(server: server))
            echo = server
        }
        guard agent == "on" || agent == "off" else { throw ConfigurationError(field: "agent", "must be on or off, got '\(agent)'") }
        let echoPort = echo?.tcpPort
        let host = configuration.host
        let state = agentState ?? Self.defaultAgentState(configuration.store)
        let runsAgent = agent == "on"
        do {
            try await runControlPlane(configuration, label: "waddleperf.serve", with: extra) { plane, port in
                runsAgent ? [EmbeddedAgent(plane: plane, port: port, host: host, echoPort: echoPort, stateDirectory: state)] : []
            }
        } catch {
            // The control plane did not start (or its group failed): the responder started above
            // stops too (stopping twice is harmless).
            echo?.stop()
            throw error
        }
    }

    static func defaultAgentState(_ store: StoreBackend) -> String {
        if case .embedded(let path) = store {
            return URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent("waddleperf-agent").path
        }
        return "waddleperf-agent"
    }

    /// A random secret generated on first start and kept in a 0600 file, so a zero-setup install
    /// has a real secret that survives restarts without ever having a built-in default.
    static func loadOrCreateSecret(_ path: String) throws -> String {
        if let data = FileManager.default.contents(atPath: path) {
            let secret = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard secret.utf8.count >= 32 else { throw ConfigurationError(field: "secret-file", "\(path) holds fewer than 32 bytes") }
            return secret
        }
        let secret = ControlConfiguration.generateSecret()
        guard FileManager.default.createFile(atPath: path, contents: Data((secret + "\n").utf8), attributes: [.posixPermissions: 0o600]) else {
            throw ConfigurationError(field: "secret-file", "cannot create \(path)")
        }
        return secret
    }
}

/// The echo responder as a service of the server's group: it stops when the group shuts down.
struct EchoService: Service {
    let server: EchoServer

    func run() async throws {
        try? await gracefulShutdown()
        server.stop()
    }
}
