import ArgumentParser
import Engine
import Foundation

/// Options shared by `probe` and `watch`.
struct ProbeOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: "Probes per target (>= 1).")
    var count: Int = 3

    @Option(name: [.short, .long], help: "Per-target interval between probes (fping -p), e.g. 1s, 250ms.")
    var interval: String = "1s"

    @Option(name: .shortAndLong, help: "Per-probe timeout, e.g. 1s, 500ms (default 1s; http: 5s).")
    var timeout: String?

    @Option(help: "Probes in flight at most, per thread (1-65536; default 10000).")
    var concurrency: Int?

    @Option(name: .shortAndLong, help: "Global probes per second across all targets (default: unlimited).")
    var rate: Double?

    @Option(name: .shortAndLong, help: "Payload bytes (ICMP/UDP; TCP: bytes sent after connecting).")
    var size: Int?

    @Option(help: "TTL / hop limit of outgoing probes (1-255).")
    var ttl: Int?

    @Option(help: "TCP: reply bytes to read after sending --size bytes (default: --size when --size is given).")
    var expect: Int?

    @Option(help: "Ring threads, each with its own sockets and share of the targets (default: one; a probe run of icmp, tcp or udp without --concurrency takes one per core once there are 4096 targets per thread).")
    var threads: Int?

    @Option(name: .customLong("icmp-socket"), help: "ICMP socket kind: ping or raw (default: ping if permitted, else raw).")
    var icmpSocket: String?

    @Flag(name: .customLong("no-tx-timestamps"), help: "Do not use kernel TX timestamps (RTT from user send time).")
    var noTransmitTimestamps = false

    @Flag(name: .customShort("4"), help: "IPv4 only.")
    var ipv4Only = false

    @Flag(name: .customShort("6"), help: "IPv6 only.")
    var ipv6Only = false

    var family: AddressFamilyPreference { ipv4Only ? .ipv4 : ipv6Only ? .ipv6 : .any }

    func settings(kind: any ProbeKind.Type, continuous: Bool) throws -> ProbeSettings {
        var s = ProbeSettings()
        if !continuous {
            guard count >= 1 else { throw ConfigurationError(field: "count", "must be at least 1, got \(count)") }
            s.count = count
        } else {
            s.count = nil
        }
        s.interval = try DurationParser.nanoseconds(interval, field: "interval")
        s.timeout = try DurationParser.nanoseconds(timeout ?? "1s", field: "timeout")
        s.concurrency = concurrency ?? 10_000
        s.rate = rate
        if kind == TCPConnectProbe.self {
            s.size = size ?? 0
            s.expectBytes = expect ?? s.size
        } else {
            s.size = size ?? 56
            if expect != nil { throw ConfigurationError(field: "expect", "applies to tcp probes only") }
        }
        s.ttl = ttl
        s.threads = threads ?? 1
        if let icmpSocket {
            guard let k = ICMPSocketKind(rawValue: icmpSocket) else {
                throw ConfigurationError(field: "icmp-socket", "must be 'ping' or 'raw', got '\(icmpSocket)'")
            }
            s.icmpSocket = k
        }
        s.kernelTransmitTimestamps = !noTransmitTimestamps
        if ipv4Only && ipv6Only { throw ConfigurationError(field: "-4/-6", "choose at most one") }
        try s.validate()
        return s
    }
}

/// Parses target arguments for `kind`, naming the bad one.
func parseTargets(_ texts: [String], kind: any ProbeKind.Type, family: AddressFamilyPreference) async throws -> [ProbeTarget] {
    guard !texts.isEmpty else { throw ConfigurationError(field: "target", "give at least one target") }
    let specs = try texts.map { text throws(ConfigurationError) in try TargetSpecification(parsing: text) }
    if kind.defaultPort == nil {
        for (text, spec) in zip(texts, specs) {
            switch spec {
            case .address(_, let p?), .host(_, let p?), .network(_, _, let p?):
                _ = p
                throw ConfigurationError(field: "target '\(text)'", "\(kind.name) probes take no port")
            default: break
            }
        }
    }
    let targets = try await TargetResolver.resolve(specs, defaultPort: kind.defaultPort ?? 0, family: family)
    // As fping does: say so, and probe the others (each of its probes is an `unresolved` outcome).
    for t in targets { if let failure = t.resolutionFailure { warn("target '\(t.name)': cannot resolve: \(failure)") } }
    return targets
}

/// One line on stderr, prefixed like the CLI's errors.
func warn(_ message: String) {
    FileHandle.standardError.write(Data("waddleperf: warning: \(message)\n".utf8))
}
