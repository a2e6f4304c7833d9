import ProbeModel

/// A check made ready to run: its kind's engine settings and its resolved
/// target. Made from a `ProbeSpec` before any ring thread starts.
enum PreparedCheck: Sendable {
    case probe(kind: any ProbeKind.Type, target: ProbeTarget, settings: ProbeSettings)
    case http(target: HTTPProbeTarget, settings: HTTPProbeSettings)
}

extension ProbeSpec {
    /// The engine's settings for a probe kind's check (its count, pacing and parameters).
    func probeSettings() -> ProbeSettings {
        var s = ProbeSettings()
        s.count = count
        s.interval = UInt64(intervalMilliseconds) * 1_000_000
        s.timeout = UInt64(timeoutMilliseconds) * 1_000_000
        // A check's probes never pile up beyond what its count and timeout allow.
        s.concurrency = 65_536
        switch parameters {
        case .icmp(let p):
            s.size = p.size
            s.ttl = p.ttl
        case .tcp(let p):
            s.size = p.send
            s.expectBytes = p.expect
        case .udp(let p):
            s.size = p.size
        case .http, .none:
            break
        }
        return s
    }

    /// The engine's request and settings for an HTTP check.
    func httpRequest(field: String) throws(ConfigurationError) -> (HTTPRequestSpec, HTTPProbeSettings) {
        guard case .http(let p) = parameters else { preconditionFailure("not an http check") }
        let url = try HTTPURL(target, field: field + "target")
        let request = HTTPRequestSpec(url: url, method: p.method,
                                      headers: p.headers.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" },
                                      body: Array((p.body ?? "").utf8))
        do { try request.validate() } catch { throw ConfigurationError(field: field + "http." + error.field, error.message) }
        var s = HTTPProbeSettings()
        s.count = count
        s.interval = UInt64(intervalMilliseconds) * 1_000_000
        s.timeout = UInt64(timeoutMilliseconds) * 1_000_000
        s.maximumRedirects = p.maximumRedirects
        s.acceptedStatus = p.expectStatus[0]...p.expectStatus[1]
        s.tls.verify = !p.insecure
        s.tls.caFile = p.caFile
        switch p.version {
        case .http1: s.version = .http1
        case .http2: s.version = .http2
        case .http3: s.version = .http3
        case .auto: s.version = .auto
        }
        do { try s.validate() } catch { throw ConfigurationError(field: field + "http." + error.field, error.message) }
        if s.version == .http3 && !url.secure {
            throw ConfigurationError(field: field + "http.version", "HTTP/3 needs an https:// URL")
        }
        return (request, s)
    }
}
