import ArgumentParser
import Engine
import Reports
@preconcurrency import Foundation
import Histogram
import Synchronization

/// Request and TLS options shared by `probe http` and `bench http`.
struct HTTPOptions: ParsableArguments {
    @Option(name: [.customShort("X"), .long], help: "HTTP: request method.")
    var method: String = "GET"

    @Option(name: [.customShort("H"), .long], help: "HTTP: extra header 'Name: value' (repeatable).")
    var header: [String] = []

    @Option(help: "HTTP: request body (sent with Content-Length).")
    var body: String?

    @Option(name: .customLong("body-file"), help: "HTTP: request body read from a file.")
    var bodyFile: String?

    @Flag(name: [.customShort("k"), .long], help: "TLS: do not verify the certificate chain or name.")
    var insecure = false

    @Option(name: .customLong("ca-file"), help: "TLS: PEM file of trusted CAs (default: the system store).")
    var caFile: String?

    @Option(name: .customLong("tls-min"), help: "TLS: lowest version, 1.2 or 1.3.")
    var tlsMin: String?

    @Option(name: .customLong("tls-max"), help: "TLS: highest version, 1.2 or 1.3.")
    var tlsMax: String?

    @Option(name: .customLong("server-name"), help: "TLS: SNI and verified name (default: the URL's host).")
    var serverName: String?

    @Option(name: .customLong("http"), help: "HTTP version: 1.1, 2 (h2 by ALPN over TLS, prior knowledge over plain TCP), 3 (QUIC), or auto (ALPN decides).")
    var httpVersion: String?

    @Flag(name: .customLong("h1"), help: "HTTP/1.1 (the default; same as --http 1.1).")
    var h1 = false

    @Flag(name: .customLong("h2"), help: "HTTP/2 (same as --http 2).")
    var h2 = false

    @Flag(name: .customLong("h3"), help: "HTTP/3 over QUIC, https only (same as --http 3).")
    var h3 = false

    @Option(name: .customLong("dns-server"), help: "DNS: ask this nameserver (IP or IP:PORT, [v6]:PORT) instead of /etc/resolv.conf's.")
    var dnsServer: String?

    /// /etc/resolv.conf, or the nameserver given with --dns-server.
    func resolverConfiguration() throws -> ResolverConfiguration {
        var configuration = ResolverConfiguration.load()
        guard let dnsServer else { return configuration }
        guard case .address(let address, let port)? = try? TargetSpecification(parsing: dnsServer) else {
            throw ConfigurationError(field: "dns-server", "'\(dnsServer)' is not an IP address (optionally with :PORT, [v6]:PORT)")
        }
        configuration.nameservers = [address]
        configuration.port = port ?? ResolverConfiguration.standardPort
        return configuration
    }

    func version() throws -> HTTPVersionChoice {
        if [httpVersion != nil, h1, h2, h3].filter({ $0 }).count > 1 {
            throw ConfigurationError(field: "http", "give one of --http, --h1, --h2, --h3")
        }
        if h2 { return .http2 }
        if h3 { return .http3 }
        guard let httpVersion else { return .http1 }
        guard let v = HTTPVersionChoice(rawValue: httpVersion) else {
            throw ConfigurationError(field: "http", "must be 1.1, 2, 3 or auto, got '\(httpVersion)'")
        }
        return v
    }

    func requests(_ urls: [String]) throws -> [HTTPRequestSpec] {
        guard !urls.isEmpty else { throw ConfigurationError(field: "url", "give at least one URL") }
        if body != nil && bodyFile != nil { throw ConfigurationError(field: "body", "give --body or --body-file, not both") }
        var bytes: [UInt8] = []
        if let body { bytes = Array(body.utf8) }
        if let bodyFile {
            guard let data = FileManager.default.contents(atPath: bodyFile) else {
                throw ConfigurationError(field: "body-file", "cannot read '\(bodyFile)'")
            }
            bytes = Array(data)
        }
        return try urls.map { text in
            let spec = HTTPRequestSpec(url: try HTTPURL(text, field: "url '\(text)'"), method: method,
                                       headers: header, body: bytes)
            try spec.validate()
            return spec
        }
    }

    func tls() throws -> TLSOptions {
        var t = TLSOptions()
        t.verify = !insecure
        t.caFile = caFile
        t.serverName = serverName
        func version(_ text: String?, _ field: String) throws -> TLSVersion? {
            guard let text else { return nil }
            guard let v = TLSVersion(rawValue: text) else { throw ConfigurationError(field: field, "must be 1.2 or 1.3, got '\(text)'") }
            return v
        }
        t.minimumVersion = try version(tlsMin, "tls-min")
        t.maximumVersion = try version(tlsMax, "tls-max")
        if let caFile, !FileManager.default.isReadableFile(atPath: caFile) {
            throw ConfigurationError(field: "ca-file", "cannot read '\(caFile)'")
        }
        return t
    }
}

/// Probe-only HTTP options.
struct HTTPProbeOptions: ParsableArguments {
    @Flag(name: .customLong("no-reuse"), help: "HTTP: a new connection for every probe (all cold).")
    var noReuse = false

    @Option(name: .customLong("max-redirects"), help: "HTTP: redirects followed at most (0: none).")
    var maxRedirects: Int = 10

    @Option(name: .customLong("expect-status"), help: "HTTP: statuses that count as success, e.g. 200-299 or 204.")
    var expectStatus: String = "200-399"

    @Flag(name: .customLong("h3-upgrade"), help: "HTTP: follow an Alt-Svc h3 advertisement (https): later probes use HTTP/3.")
    var h3Upgrade = false

    @Flag(name: .customLong("no-dns-cache"), help: "DNS: every probe that opens a connection resolves the host itself (its own dns phase).")
    var noDNSCache = false

    func range() throws -> ClosedRange<Int> {
        let parts = expectStatus.split(separator: "-", maxSplits: 1).map { Int($0) }
        guard parts.count >= 1, parts.allSatisfy({ $0 != nil && (100...599).contains($0!) }) else {
            throw ConfigurationError(field: "expect-status", "must be a status or a range like 200-299, got '\(expectStatus)'")
        }
        let low = parts[0]!, high = parts.count == 2 ? parts[1]! : low
        guard low <= high else { throw ConfigurationError(field: "expect-status", "range is reversed") }
        return low...high
    }
}

enum HTTPProbeCLI {
    @discardableResult
    static func run(urls: [String], options: ProbeOptions, http: HTTPOptions, probe: HTTPProbeOptions,
                    format: OutputFormat) async throws -> HTTPProbeReport {
        var settings = HTTPProbeSettings()
        settings.count = options.count
        settings.interval = try DurationParser.nanoseconds(options.interval, field: "interval")
        settings.timeout = try DurationParser.nanoseconds(options.timeout ?? "5s", field: "timeout")
        settings.reuse = !probe.noReuse
        settings.maximumRedirects = probe.maxRedirects
        settings.acceptedStatus = try probe.range()
        settings.tls = try http.tls()
        settings.version = try http.version()
        settings.threads = options.threads ?? 1
        settings.dnsCache = !probe.noDNSCache
        settings.h3Upgrade = probe.h3Upgrade
        settings.family = options.family
        let resolver = try http.resolverConfiguration()
        settings.resolver = resolver
        let requests = try http.requests(urls)
        // Without the cache every probe resolves for itself: nothing before the run.
        let targets = probe.noDNSCache ? requests.map(HTTPProbeTarget.unresolved)
            : try await HTTPProbeTarget.resolve(requests, family: options.family, configuration: resolver)
        for t in targets {
            if let failed = t.failedResolution {
                warn("url '\(t.request.url)': cannot resolve \(t.request.url.host): \(failed.failure?.description ?? "no address")")
            }
        }
        let run = try HTTPProbeRun(targets: targets, settings: settings)
        let output = OutputWriter()
        var observer: (@Sendable (HTTPResult) -> Void)? = nil
        if format == .ndjson || format == .csv {
            let csv = format == .csv
            if csv { output.write(HTTPReportFormatter.csvHeader + "\n") }
            observer = { r in output.write((csv ? HTTPReportFormatter.csvLine(r) : HTTPReportFormatter.resultLine(r)) + "\n") }
        }
        let signals = SignalCancellation { run.cancel() }
        defer { signals.cancel() }
        let report = try await run.run(observer: observer)
        switch format {
        case .table: output.write(HTTPReportFormatter.table(report))
        case .json: output.write(HTTPReportFormatter.json(report) + "\n")
        case .ndjson: output.write(HTTPReportFormatter.summaryLines(report))
        case .csv: break
        }
        return report
    }
}

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Load-test an HTTP server (closed loop, or open loop at --rate with coordinated-omission correction).",
        discussion: "KIND is http. URL is http:// or https://."
    )

    @Argument(help: "Load kind (http).")
    var kind: String

    @Argument(help: "URL.")
    var url: String

    @Option(name: .shortAndLong, help: "Connections in all.")
    var connections: Int = 10

    @Option(name: .shortAndLong, help: "Run length, e.g. 10s (default 10s unless --requests).")
    var duration: String?

    @Option(name: [.customShort("n"), .long], help: "Requests in all (instead of --duration).")
    var requests: Int?

    @Option(name: .shortAndLong, help: "Open loop: requests per second in all.")
    var rate: Double?

    @Option(name: .shortAndLong, help: "Ring threads, each with its own connections.")
    var threads: Int = 1

    @Option(help: "Per-request timeout, e.g. 10s.")
    var timeout: String = "10s"

    @Option(name: [.customShort("m"), .long], help: "HTTP/2 and HTTP/3: concurrent streams per connection.")
    var streams: Int = 1

    @Flag(name: .customLong("no-reuse"), help: "A new connection (and handshake) for every request: measures connection setup.")
    var noReuse = false

    @OptionGroup var http: HTTPOptions

    @Option(name: .shortAndLong, help: "Output: table or json (json carries the full histograms).")
    var format: String = "table"

    mutating func run() async throws {
        guard kind == "http" else { throw ConfigurationError(field: "kind", "unknown load kind '\(kind)' (known: http)") }
        guard format == "table" || format == "json" else {
            throw ConfigurationError(field: "format", "must be table or json, got '\(format)'")
        }
        var settings = HTTPBenchSettings()
        settings.connections = connections
        settings.requests = requests
        settings.duration = try duration.map { try DurationParser.nanoseconds($0, field: "duration") }
            ?? (requests == nil ? 10_000_000_000 : nil)
        settings.rate = rate
        settings.threads = threads
        settings.timeout = try DurationParser.nanoseconds(timeout, field: "timeout")
        settings.tls = try http.tls()
        settings.version = try http.version()
        settings.streams = streams
        settings.reuse = !noReuse
        try settings.validate()
        let request = try http.requests([url])[0]
        let target = try await HTTPProbeTarget.resolve([request], configuration: try http.resolverConfiguration())[0]
        if let failed = target.failedResolution {
            throw ConfigurationError(field: "url '\(url)'",
                                     "cannot resolve \(request.url.host): \(failed.failure?.description ?? "no address")")
        }
        let run = try HTTPBenchRun(request: request, address: target.address, settings: settings)
        let signals = SignalCancellation { run.cancel() }
        defer { signals.cancel() }
        // Requests done and the rate over the last half second.
        let last = Mutex<(requests: UInt64, seconds: Double)>((0, 0))
        let progress = ProgressLine(every: .milliseconds(500)) { elapsed in
            let done = run.completed.load(ordering: .relaxed)
            let rate = last.withLock { l -> Double in
                defer { l = (done, elapsed) }
                return elapsed > l.seconds ? Double(done - l.requests) / (elapsed - l.seconds) : 0
            }
            return String(format: "%llu requests, %.0f req/s, %.1fs", done, rate, elapsed)
        }
        progress.start()
        let report = try await run.run()
        await progress.stop()
        let text = format == "json" ? HTTPReportFormatter.benchJSON(report) + "\n" : HTTPReportFormatter.benchTable(report)
        FileHandle.standardOutput.write(Data(text.utf8))
    }
}
