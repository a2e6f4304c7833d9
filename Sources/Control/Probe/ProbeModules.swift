import Engine
import Foundation
import Yams

/// `/probe`'s modules, read from a file in blackbox_exporter's format (its http, tcp and icmp
/// probers; a dns module is accepted and answers 501 until the engine has a DNS kind), plus
/// WaddlePerf's extensions: `icmp.count` / `icmp.interval` (several packets: loss, percentiles,
/// jitter) and `http.version` ("1.1", "2", "3", "auto": HTTP/3 works). docs/test-server.md.
///
///     modules:
///       http_2xx:
///         prober: http
///         timeout: 5s
///         http: {valid_status_codes: [], method: GET, preferred_ip_protocol: ip4}
///       icmp_loss:
///         prober: icmp
///         icmp: {count: 10, interval: 100ms}
public struct ProbeModule: Sendable, Equatable {
    public enum Prober: String, Sendable, Equatable { case http, tcp, icmp, dns }

    public var name: String
    public var prober: Prober
    /// 0: the scrape's own timeout (X-Prometheus-Scrape-Timeout-Seconds less half a second).
    public var timeout: Duration
    public var family: AddressFamilyPreference = .any
    // http
    public var method = "GET"
    public var headers: [String: String] = [:]
    public var body: String?
    /// Empty: any 2xx.
    public var validStatusCodes: [Int] = []
    /// Empty: any (`HTTP/1.1`, `HTTP/2.0`, `HTTP/3.0`).
    public var validHTTPVersions: [String] = []
    public var followRedirects = true
    public var failIfSSL = false
    public var failIfNotSSL = false
    public var insecure = false
    public var httpVersion = HTTPParameters.Version.auto
    // icmp
    public var payloadSize = 56
    public var ttl: Int?
    public var count = 1
    public var interval: Duration = .seconds(1)

    /// blackbox's http_2xx, tcp_connect and icmp, as Debian's /etc/prometheus/blackbox.yml has
    /// them, and `icmp_loss`: ten packets 100 ms apart.
    public static let defaults: [String: ProbeModule] = {
        var icmpLoss = ProbeModule(name: "icmp_loss", prober: .icmp, timeout: .seconds(5))
        icmpLoss.count = 10
        icmpLoss.interval = .milliseconds(100)
        return [
            "http_2xx": ProbeModule(name: "http_2xx", prober: .http, timeout: .seconds(5)),
            "tcp_connect": ProbeModule(name: "tcp_connect", prober: .tcp, timeout: .seconds(5)),
            "icmp": ProbeModule(name: "icmp", prober: .icmp, timeout: .seconds(5)),
            "icmp_loss": icmpLoss,
        ]
    }()

    /// Reads a module file; errors name the module and key (`modules.http_2xx.http.method`).
    public static func load(path: String) throws(ConfigurationError) -> [String: ProbeModule] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError(field: "probe_modules", "cannot read \(path)")
        }
        return try parse(String(decoding: data, as: UTF8.self))
    }

    public static func parse(_ text: String) throws(ConfigurationError) -> [String: ProbeModule] {
        let root: Any?
        do { root = try Yams.load(yaml: text) } catch { throw ConfigurationError(field: "probe_modules", "not valid YAML: \(error)") }
        guard let top = root as? [String: Any], let modules = top["modules"] as? [String: Any] else {
            throw ConfigurationError(field: "probe_modules", "expected a top-level `modules:` map")
        }
        var out: [String: ProbeModule] = [:]
        for (name, value) in modules {
            out[name] = try module(name, value)
        }
        return out
    }

    private static func module(_ name: String, _ value: Any) throws(ConfigurationError) -> ProbeModule {
        let at = "modules.\(name)"
        guard let m = value as? [String: Any] else { throw ConfigurationError(field: at, "must be a map") }
        try allow(m, ["prober", "timeout", "http", "tcp", "icmp", "dns"], at)
        guard let proberName = m["prober"] as? String, let prober = Prober(rawValue: proberName) else {
            throw ConfigurationError(field: at + ".prober", "must be http, tcp, icmp or dns (grpc is not supported)")
        }
        var module = ProbeModule(name: name, prober: prober, timeout: try duration(m["timeout"], at + ".timeout") ?? .zero)
        let settings = m[proberName] as? [String: Any] ?? [:]
        let here = "\(at).\(proberName)"
        for other in ["http", "tcp", "icmp", "dns"] where other != proberName && m[other] != nil {
            throw ConfigurationError(field: "\(at).\(other)", "settings of another prober than '\(proberName)'")
        }
        if let p = settings["preferred_ip_protocol"] {
            guard let text = p as? String, ["ip4", "ip6"].contains(text) else {
                throw ConfigurationError(field: here + ".preferred_ip_protocol", "must be ip4 or ip6")
            }
            let fallback = settings["ip_protocol_fallback"] as? Bool ?? true
            // With the fallback (blackbox's default) either family will do: the resolver's order decides.
            module.family = fallback ? .any : (text == "ip4" ? .ipv4 : .ipv6)
        }
        switch prober {
        case .http:
            try allow(settings, ["valid_status_codes", "valid_http_versions", "method", "headers", "body", "no_follow_redirects",
                                 "fail_if_ssl", "fail_if_not_ssl", "tls_config", "preferred_ip_protocol", "ip_protocol_fallback",
                                 "version"], here)
            if let v = settings["method"] { module.method = try string(v, here + ".method") }
            if let v = settings["headers"] {
                guard let h = v as? [String: Any] else { throw ConfigurationError(field: here + ".headers", "must be a map") }
                module.headers = h.mapValues { "\($0)" }
            }
            if let v = settings["body"] { module.body = try string(v, here + ".body") }
            if let v = settings["valid_status_codes"] {
                guard let codes = v as? [Int], codes.allSatisfy({ (100...599).contains($0) }) else {
                    throw ConfigurationError(field: here + ".valid_status_codes", "must be a list of HTTP statuses")
                }
                module.validStatusCodes = codes
            }
            if let v = settings["valid_http_versions"] {
                guard let versions = v as? [String] else { throw ConfigurationError(field: here + ".valid_http_versions", "must be a list") }
                module.validHTTPVersions = versions
            }
            module.followRedirects = !(settings["no_follow_redirects"] as? Bool ?? false)
            module.failIfSSL = settings["fail_if_ssl"] as? Bool ?? false
            module.failIfNotSSL = settings["fail_if_not_ssl"] as? Bool ?? false
            if let tls = settings["tls_config"] {
                guard let t = tls as? [String: Any] else { throw ConfigurationError(field: here + ".tls_config", "must be a map") }
                try allow(t, ["insecure_skip_verify"], here + ".tls_config")
                module.insecure = t["insecure_skip_verify"] as? Bool ?? false
            }
            if let v = settings["version"] {
                guard let version = HTTPParameters.Version(rawValue: "\(v)") else {
                    throw ConfigurationError(field: here + ".version", "must be 1.1, 2, 3 or auto")
                }
                module.httpVersion = version
            }
        case .tcp:
            try allow(settings, ["preferred_ip_protocol", "ip_protocol_fallback"], here)
            for unsupported in ["tls", "query_response", "tls_config"] where settings[unsupported] != nil {
                throw ConfigurationError(field: "\(here).\(unsupported)", "not supported yet (the engine has no TLS-over-TCP kind)")
            }
        case .icmp:
            try allow(settings, ["preferred_ip_protocol", "ip_protocol_fallback", "payload_size", "ttl", "dont_fragment", "count", "interval"], here)
            if let v = settings["payload_size"] { module.payloadSize = try int(v, here + ".payload_size", 16...65_000) }
            if let v = settings["ttl"] { module.ttl = try int(v, here + ".ttl", 1...255) }
            if let v = settings["count"] { module.count = try int(v, here + ".count", 1...1000) }
            if let v = try duration(settings["interval"], here + ".interval") { module.interval = v }
        case .dns:
            break  // accepted, answered 501 (`ProbeController`)
        }
        return module
    }

    private static func allow(_ map: [String: Any], _ keys: Set<String>, _ at: String) throws(ConfigurationError) {
        if let key = map.keys.sorted().first(where: { !keys.contains($0) }) {
            throw ConfigurationError(field: "\(at).\(key)", "unknown or unsupported key (known: \(keys.sorted().joined(separator: ", ")))")
        }
    }

    private static func string(_ v: Any, _ at: String) throws(ConfigurationError) -> String {
        guard let s = v as? String else { throw ConfigurationError(field: at, "must be a string") }
        return s
    }

    private static func int(_ v: Any, _ at: String, _ range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
        guard let i = v as? Int, range.contains(i) else { throw ConfigurationError(field: at, "must be an integer in \(range.lowerBound)...\(range.upperBound)") }
        return i
    }

    private static func duration(_ v: Any?, _ at: String) throws(ConfigurationError) -> Duration? {
        guard let v else { return nil }
        let text = "\(v)"
        return .nanoseconds(Int64(try DurationParser.nanoseconds(text, field: at)))
    }

    // MARK: The check a scrape runs

    /// The check this module runs against `target` within `timeout`. Errors name `target` or
    /// the module (a target of the wrong shape, a count that cannot fit the timeout).
    func check(target: String, timeout: Duration) throws(ConfigurationError) -> ProbeSpec {
        let ms = max(1, Int(timeout.milliseconds))
        switch prober {
        case .http:
            var p = HTTPParameters()
            p.method = method
            p.headers = headers
            p.body = body
            p.maximumRedirects = followRedirects ? 10 : 0
            p.insecure = insecure
            p.version = httpVersion
            // Every status reaches the document; the module's rule decides success.
            p.expectStatus = [100, 599]
            let url = target.contains("://") ? target : "http://" + target
            return ProbeSpec(kind: "http", target: url, count: 1, intervalMilliseconds: 0, timeoutMilliseconds: ms, parameters: .http(p))
        case .tcp:
            return ProbeSpec(kind: "tcp", target: target, count: 1, intervalMilliseconds: 0, timeoutMilliseconds: ms)
        case .icmp:
            let spread = (count - 1) * Int(interval.milliseconds)
            guard spread < ms else {
                throw ConfigurationError(field: "module", "\(name): \(count) packets \(interval) apart do not fit the \(ms) ms timeout")
            }
            return ProbeSpec(kind: "icmp", target: target, count: count, intervalMilliseconds: Int(interval.milliseconds),
                             timeoutMilliseconds: ms - spread, parameters: .icmp(ICMPParameters(size: payloadSize, ttl: ttl)))
        case .dns:
            throw ConfigurationError(field: "module", "\(name): the dns prober is not in this engine yet")
        }
    }
}
