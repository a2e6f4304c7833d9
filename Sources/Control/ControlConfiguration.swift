import Engine
import Foundation
import Logging
import Synchronization

/// Settings of the control plane. Read from a JSON file and `WADDLEPERF_*` environment variables
/// (environment wins); see docs/control-plane.md.
public struct ControlConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    public var store: StoreBackend = .embedded(path: "waddleperf.db")
    /// HS256 key for access tokens and the key from which secrets at rest are sealed. Required
    /// unless `development` is set (then a random one is generated per start).
    public var jwtSecret: String?
    public var tokenLifetime: Duration = .seconds(24 * 3600)
    public var sessionLifetime: Duration = .seconds(12 * 3600)
    public var bcryptCost: UInt8 = 12
    public var bcryptThreads = max(1, ProcessInfo.processInfo.activeProcessorCount)
    public var databaseConnections = 4
    /// Bounds on waiting for a database thread (see `DatabasePool`).
    public var databaseLimits = DatabasePool.Limits()
    public var development = false
    /// Set the cookie's Secure flag (serve over HTTPS, e.g. behind a proxy).
    public var secureCookies = false
    /// Reverse proxies whose `Forwarded` / `X-Forwarded-For` headers name the client (see
    /// `ClientAddress`); empty: the socket peer is the client.
    public var trustedProxies: [IPNetwork] = []
    /// A connection with no request for this long is closed (nil: never).
    public var idleTimeout: Duration? = .seconds(60)
    /// A request body must arrive within this (else 408).
    public var bodyTimeout: Duration = .seconds(30)
    /// Statistics cover this much before `until` unless `since` is given, and never more than the maximum.
    /// A result page ends once its JSON passes this many bytes (fewer rows than `limit`, with a
    /// `next_cursor`), so large raw documents cannot make a response of tens of megabytes.
    public var maxResponseBytes = 4 << 20
    /// Requests a second per principal (user, device or server key), bursts of `rateBurst`; nil: unlimited.
    public var rateLimit: Double? = 1000
    public var rateBurst: Double = 2000
    /// The share of the result writer's queue (`writer.maxQueuedRows`) one principal may fill, in percent.
    public var uploadSharePercent = 25
    public var statisticsWindow: Duration = .seconds(24 * 3600)
    public var statisticsMaxWindow: Duration = .seconds(92 * 24 * 3600)
    /// First global admin, created on first start when no user exists. Without a password a
    /// one-time password is generated and printed once to the log.
    public var adminUsername = "admin"
    public var adminPassword: String?
    /// Results older than this are deleted by the retention task (nil keeps everything).
    public var resultRetention: Duration? = .seconds(90 * 24 * 3600)
    public var retentionInterval: Duration = .seconds(3600)
    /// Audit entries older than this are deleted by the retention task (nil keeps them all).
    public var auditRetention: Duration? = .seconds(400 * 24 * 3600)
    /// How long an upload's Idempotency-Key is remembered: a batch retried within it is
    /// stored once. Agents retry for as long as they buffer, so keep it above their buffer's age.
    public var idempotencyWindow: Duration = .seconds(7 * 24 * 3600)
    /// The web UI's directory (`scripts/build-web.sh`'s output); nil: `WebUIFiles.defaultDirectory()`;
    /// "off": no UI.
    public var webRoot: String?
    /// How often alert rules are evaluated.
    public var alertInterval: Duration = .seconds(15)
    /// Webhook deliveries: attempts before a notification is dead, and the first retry's delay
    /// (doubling, at most 10 min).
    public var webhookAttempts = 8
    public var webhookRetry: Duration = .seconds(2)
    /// The browser speed test's bounds (`speedtest_*`).
    public var speedTest = SpeedTestLimits()
    /// Expired tokens and sessions are deleted this long after they expire.
    public var expiredCredentialGrace: Duration = .seconds(7 * 24 * 3600)
    public var writer = ResultWriter.Configuration()
    /// How long a checked credential is remembered (see `CredentialCache`); 0 checks every request
    /// against the store. Changes made through this server take effect at once whatever the value;
    /// it bounds how late one made through another server of a cluster is seen here.
    public var authCacheTTL: Duration = .seconds(10)
    /// How long a rendered page of the result listing is served again (see `ResultPageCache`); 0
    /// renders every request. Results committed through this server show at once whatever the
    /// value; it bounds how late one committed through another server of a cluster is seen here.
    public var resultsCacheTTL: Duration = .seconds(1)
    /// Targets tests run by this server may reach beyond the defaults (`allow_targets`), and may
    /// never reach (`deny_targets`); see `TargetPolicy`.
    public var allowTargets: [TargetPolicy.Rule] = []
    public var denyTargets: [TargetPolicy.Rule] = []
    /// What tests run by this server may be and how many run at once.
    public var testLimits = TestLimits()
    /// `/probe`'s modules (`probe_modules`: a blackbox_exporter module file; else the defaults).
    public var probeModules = ProbeModule.defaults
    /// Who may call `/probe`: `loopback` (anyone from this host, others with a credential),
    /// `authenticated` (a credential always) or `open` (anyone).
    public var probeAccess = ProbeAccess.loopback

    public enum ProbeAccess: String, Sendable { case loopback, authenticated, open }

    public init() {}

    /// The target policy of tests run here (the caller's exemption is set per test).
    public var targetPolicy: TargetPolicy { TargetPolicy(allow: allowTargets, deny: denyTargets) }

    public static let environmentPrefix = "WADDLEPERF_"

    /// Overlays a JSON configuration file (keys as in the environment, lowercase without the
    /// prefix: `{"port": 8080, "database": "mariadb://..."}`) and then the environment.
    public mutating func load(file: String?, environment: [String: String]) throws {
        var settings: [String: String] = [:]
        if let file {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw ConfigurationError(field: "config", "cannot read \(file)")
            }
            guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw ConfigurationError(field: "config", "\(file) is not a JSON object")
            }
            for (key, value) in object { settings[key.lowercased()] = "\(value)" }
        }
        for (key, value) in environment where key.hasPrefix(Self.environmentPrefix) {
            settings[String(key.dropFirst(Self.environmentPrefix.count)).lowercased()] = value
        }
        try apply(settings)
    }

    /// A new random secret (32 bytes as hex) for `jwt_secret`.
    public static func generateSecret() -> String { Secrets.randomHex(bytes: 32) }

    /// Applies settings named by their file keys (`port`, `database`, ...), checking each.
    public mutating func apply(_ settings: [String: String]) throws {
        func int(_ key: String, _ range: ClosedRange<Int>) throws -> Int? {
            guard let text = settings[key] else { return nil }
            guard let value = Int(text), range.contains(value) else {
                throw ConfigurationError(field: key, "expected an integer in \(range.lowerBound)...\(range.upperBound), got '\(text)'")
            }
            return value
        }
        func duration(_ key: String) throws -> Duration? {
            guard let text = settings[key] else { return nil }
            return .nanoseconds(Int64(try DurationParser.nanoseconds(text, field: key)))
        }
        let known: Set<String> = ["host", "port", "database", "jwt_secret", "token_lifetime", "session_lifetime", "bcrypt_cost",
                                  "db_connections", "dev", "secure_cookies", "admin_username", "admin_password", "retention",
                                  "retention_interval", "batch_rows", "batch_delay", "auth_cache_ttl", "results_cache_ttl", "audit_retention",
                                  "trusted_proxies", "idle_timeout", "body_timeout", "statistics_window", "statistics_max_window",
                                  "db_queue_limit", "db_queue_timeout", "max_response_bytes",
                                  "rate_limit", "rate_burst", "upload_share", "allow_targets", "deny_targets",
                                  "tests_max_running", "tests_max_running_per_user", "tests_max_rate", "tests_max_rate_per_user",
                                  "test_max_probes", "test_max_rate", "test_max_duration",
                                  "bench_max_probes", "bench_max_rate", "bench_max_duration", "probe_modules", "probe_access",
                                  "idempotency_window", "alert_interval", "webhook_attempts", "webhook_retry", "web_root",
                                  "speedtest_max_bytes", "speedtest_streams", "speedtest_streams_per_user"]
        for key in settings.keys where !known.contains(key) {
            throw ConfigurationError(field: key, "unknown setting (known: \(known.sorted().joined(separator: ", ")))")
        }
        if let v = settings["host"] { host = v }
        if let v = try int("port", 0...65535) { port = v }
        if let v = settings["database"] {
            if v.hasPrefix("mariadb://") || v.hasPrefix("mysql://") {
                store = .mariadb(try MariaDBConfiguration(url: v))
            } else if v.hasPrefix("sqlite://") {
                store = .embedded(path: String(v.dropFirst("sqlite://".count)))
            } else {
                throw ConfigurationError(field: "database", "expected sqlite://PATH or mariadb://user:password@host:port/database")
            }
        }
        if let v = settings["jwt_secret"] {
            guard v.utf8.count >= 32 else { throw ConfigurationError(field: "jwt_secret", "must be at least 32 bytes") }
            jwtSecret = v
        }
        if let v = try duration("token_lifetime") { tokenLifetime = v }
        if let v = try duration("session_lifetime") { sessionLifetime = v }
        if let v = try int("bcrypt_cost", 4...16) { bcryptCost = UInt8(v) }
        if let v = try int("db_connections", 1...64) { databaseConnections = v }
        if let v = settings["dev"] { development = ["1", "true", "yes"].contains(v.lowercased()) }
        if let v = settings["secure_cookies"] { secureCookies = ["1", "true", "yes"].contains(v.lowercased()) }
        if let v = settings["admin_username"] { adminUsername = v }
        if let v = settings["admin_password"] { adminPassword = v }
        if let v = settings["retention"] { resultRetention = v == "off" ? nil : try duration("retention") }
        if let v = try duration("retention_interval") { retentionInterval = v }
        if let v = try duration("idempotency_window") { idempotencyWindow = v }
        if let v = try duration("alert_interval") { alertInterval = v }
        if let v = settings["web_root"] { webRoot = v }
        if let v = try int("webhook_attempts", 1...100) { webhookAttempts = v }
        if let v = try duration("webhook_retry") { webhookRetry = v }
        if let v = try int("speedtest_max_bytes", 1...(1 << 28)) { speedTest.maxBytes = v }
        if let v = try int("speedtest_streams", 1...10_000) { speedTest.streams = v }
        if let v = try int("speedtest_streams_per_user", 1...10_000) { speedTest.streamsPerCaller = v }
        if let v = settings["audit_retention"] { auditRetention = v == "off" ? nil : try duration("audit_retention") }
        if let v = try int("batch_rows", 1...100_000) { writer.maxBatchRows = v }
        if let v = try duration("batch_delay") { writer.maxDelay = v }
        if let v = try duration("auth_cache_ttl") { authCacheTTL = v }
        if let v = try duration("results_cache_ttl") { resultsCacheTTL = v }
        if let v = settings["idle_timeout"] { idleTimeout = v == "off" ? nil : try duration("idle_timeout") }
        if let v = try duration("body_timeout") { bodyTimeout = v }
        if let v = try int("db_queue_limit", 1...1_000_000) { databaseLimits.maxQueued = v }
        if let v = try int("max_response_bytes", 65_536...(1 << 30)) { maxResponseBytes = v }
        if let v = settings["rate_limit"] { rateLimit = v == "off" ? nil : Double(try int("rate_limit", 1...10_000_000) ?? 0) }
        if let v = try int("rate_burst", 1...10_000_000) { rateBurst = Double(v) }
        if let v = try int("upload_share", 1...100) { uploadSharePercent = v }
        if let v = try duration("db_queue_timeout") { databaseLimits.queueTimeout = v }
        if let v = try duration("statistics_window") { statisticsWindow = v }
        if let v = try duration("statistics_max_window") { statisticsMaxWindow = v }
        if statisticsWindow > statisticsMaxWindow {
            throw ConfigurationError(field: "statistics_window", "must not exceed statistics_max_window")
        }
        for (key, list) in [("allow_targets", \ControlConfiguration.allowTargets), ("deny_targets", \.denyTargets)] {
            guard let v = settings[key] else { continue }
            // Comma- or space-separated; a JSON array in the file arrives as its description.
            let items = v.split(whereSeparator: { ",()\" \n\t".contains($0) }).map(String.init)
            self[keyPath: list] = try items.enumerated().map { i, item throws(ConfigurationError) in
                try TargetPolicy.Rule(parsing: item, name: "\(key)[\(i)]")
            }
        }
        if let v = settings["probe_modules"] { probeModules = try ProbeModule.load(path: v) }
        if let v = settings["probe_access"] {
            guard let access = ProbeAccess(rawValue: v) else { throw ConfigurationError(field: "probe_access", "must be loopback, authenticated or open") }
            probeAccess = access
        }
        if let v = try int("tests_max_running", 1...100_000) { testLimits.running = v }
        if let v = try int("tests_max_running_per_user", 1...100_000) { testLimits.runningPerUser = v }
        if let v = try int("tests_max_rate", 1...10_000_000) { testLimits.rate = Double(v) }
        if let v = try int("tests_max_rate_per_user", 1...10_000_000) { testLimits.ratePerUser = Double(v) }
        if let v = try int("test_max_probes", 1...100_000) { testLimits.ordinary.probes = v }
        if let v = try int("test_max_rate", 1...10_000_000) { testLimits.ordinary.rate = Double(v) }
        if let v = try duration("test_max_duration") { testLimits.ordinary.duration = v }
        if let v = try int("bench_max_probes", 1...100_000) { testLimits.bench.probes = v }
        if let v = try int("bench_max_rate", 1...10_000_000) { testLimits.bench.rate = Double(v) }
        if let v = try duration("bench_max_duration") { testLimits.bench.duration = v }
        if let v = settings["trusted_proxies"] {
            // A comma-separated list in the environment; a JSON array in the file arrives as its
            // description, "(\n    \"10.0.0.0/8\"\n)", so brackets, quotes and spaces go too.
            let items = v.split(whereSeparator: { ",()[]\" \n\t".contains($0) }).map(String.init)
            trustedProxies = try items.map { item in
                guard let network = IPNetwork(item) else {
                    throw ConfigurationError(field: "trusted_proxies", "'\(item)' is not an address or CIDR network (10.0.0.0/8, fd00::/8)")
                }
                return network
            }
        }
    }
}

/// Bounds on the browser speed test's transfers.
public struct SpeedTestLimits: Sendable {
    /// Bytes one download may ask for, and one upload may send (at most 256 MiB, the bound the
    /// OpenAPI document declares).
    public var maxBytes = 256 << 20
    /// Transfers in flight on the server.
    public var streams = 64
    /// Transfers in flight for one caller.
    public var streamsPerCaller = 16
    public init() {}
}
