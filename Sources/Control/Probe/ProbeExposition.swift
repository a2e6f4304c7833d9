import Engine
import Foundation

/// A `/probe` answer in the Prometheus text exposition format, with blackbox_exporter's metric
/// names and meanings (seconds, 0/1 gauges, unix times), from one check's result document.
/// What blackbox cannot say (several ICMP packets: loss, percentiles, jitter) has names of its
/// own under the same prefix. docs/test-server.md lists them.
struct ProbeExposition {
    private var text = ""

    /// `success` is the module's verdict (its status and version rules applied to the document).
    static func render(module: ProbeModule, document d: ResultDocument, success: Bool, duration: Duration,
                       resolve: Duration) -> String {
        var out = ProbeExposition()
        let seconds = { (ms: Double?) in ms.map { $0 / 1000 } }
        let address = d.resolvedAddress.flatMap(Self.address)
        // Present (as 0) when the name did not resolve, as blackbox has them.
        do {
            out.gauge("probe_ip_protocol", "Specifies whether probe ip protocol is IP4 or IP6", address.map { $0.isIPv6 ? 6 : 4 } ?? 0)
            out.gauge("probe_ip_addr_hash", "Specifies the hash of IP address. It's useful to detect if the IP address changes.",
                      address.map { Double(Self.fnv32a($0.bytes)) } ?? 0)
        }
        switch module.prober {
        case .http:
            let dns = d.metrics["dns_ms"].map { $0 / 1000 } ?? resolve.inSeconds
            out.gauge("probe_dns_lookup_time_seconds", "Returns the time taken for probe dns lookup in seconds", dns)
            var phases: [(String, Double)] = [("resolve", dns)]
            phases.append(("connect", seconds(d.metrics["connect_ms"] ?? d.metrics["quic_handshake_ms"]) ?? 0))
            phases.append(("tls", seconds(d.metrics["tls_ms"]) ?? 0))
            phases.append(("processing", seconds(d.metrics["ttfb_ms"]) ?? 0))
            phases.append(("transfer", seconds(d.metrics["transfer_ms"]) ?? 0))
            out.family("probe_http_duration_seconds", "Duration of http request by phase, summed over all redirects", "gauge",
                       phases.map { ("phase=\"\($0.0)\"", $0.1) })
            let status = Self.number(d.details["status"]) ?? 0
            out.gauge("probe_http_status_code", "Response HTTP status code", status)
            out.gauge("probe_http_content_length", "Length of http content response", Self.number(d.details["body_bytes"]) ?? -1)
            out.gauge("probe_http_uncompressed_body_length", "Length of uncompressed response body", Self.number(d.details["body_bytes"]) ?? 0)
            out.gauge("probe_http_redirects", "The number of redirects", Self.number(d.details["redirects"]) ?? 0)
            let tls = Self.text(d.details["tls_version"])
            out.gauge("probe_http_ssl", "Indicates if SSL was used for the final redirect", tls != nil ? 1 : 0)
            out.gauge("probe_http_version", "Returns the version of HTTP of the probe response", Self.httpVersion(d.protocolDetail) ?? 0)
            out.gauge("probe_failed_due_to_regex", "Indicates if probe failed due to regex", 0)
            if let tls {
                if let notAfter = Self.number(d.details["cert_not_after"]) {
                    out.gauge("probe_ssl_earliest_cert_expiry", "Returns last SSL chain expiry in unixtime", notAfter)
                }
                out.family("probe_tls_version_info", "Returns the TLS version used or NaN when unknown", "gauge",
                           [("version=\"\(Self.tlsVersionLabel(tls))\"", 1)])
            }
        case .tcp:
            out.gauge("probe_dns_lookup_time_seconds", "Returns the time taken for probe dns lookup in seconds", resolve.inSeconds)
            out.gauge("probe_failed_due_to_regex", "Indicates if probe failed due to regex", 0)
        case .icmp:
            out.gauge("probe_dns_lookup_time_seconds", "Returns the time taken for probe dns lookup in seconds", resolve.inSeconds)
            var phases: [(String, Double)] = [("resolve", resolve.inSeconds)]
            if let rtt = seconds(d.metrics["latency_ms"]) { phases.append(("rtt", rtt)) }
            out.family("probe_icmp_duration_seconds", "Duration of icmp request by phase", "gauge", phases.map { ("phase=\"\($0.0)\"", $0.1) })
            if let ttl = Self.number(d.details["ttl"]) {
                out.gauge("probe_icmp_reply_hop_limit", "Replied packet hop limit (TTL for ipv4)", ttl)
            }
            if module.count > 1 {
                // Several packets: what blackbox cannot say.
                out.gauge("probe_icmp_packets_sent", "ICMP echo requests sent (WaddlePerf: icmp.count)", Double(d.sent ?? 0))
                out.gauge("probe_icmp_packets_received", "ICMP echo replies received", Double(d.received ?? 0))
                out.gauge("probe_icmp_packet_loss_ratio", "Share of the requests not answered in time, 0 to 1", (d.metrics["loss_percent"] ?? 100) / 100)
                var quantiles: [(String, Double)] = []
                for (q, key) in [("0", "min_ms"), ("0.5", "p50_ms"), ("0.99", "p99_ms"), ("1", "max_ms")] {
                    if let v = seconds(d.metrics[key]) { quantiles.append(("quantile=\"\(q)\"", v)) }
                }
                if !quantiles.isEmpty {
                    out.family("probe_icmp_rtt_seconds", "Round-trip times of the answered requests (nearest-rank quantiles)", "gauge", quantiles)
                }
                if let v = seconds(d.metrics["stddev_ms"]) { out.gauge("probe_icmp_rtt_stddev_seconds", "Population standard deviation of the round-trip times", v) }
                if let v = seconds(d.metrics["jitter_ms"]) {
                    out.gauge("probe_icmp_jitter_seconds", "Mean absolute difference of consecutive round-trip times", v)
                }
            }
        case .dns:
            break
        }
        out.gauge("probe_duration_seconds", "Returns how long the probe took to complete in seconds", duration.inSeconds)
        out.gauge("probe_success", "Displays whether or not the probe was a success", success ? 1 : 0)
        return out.text
    }

    /// Whether the document passes the module's rules (blackbox's: 2xx unless listed, the HTTP
    /// version list, fail_if_ssl / fail_if_not_ssl; any reply for tcp and icmp).
    static func success(module: ProbeModule, document d: ResultDocument) -> Bool {
        guard module.prober == .http else { return d.success }
        guard let status = number(d.details["status"]).map(Int.init), d.outcome == "success" || d.outcome == "status" else { return false }
        let statusOK = module.validStatusCodes.isEmpty ? (200...299).contains(status) : module.validStatusCodes.contains(status)
        guard statusOK else { return false }
        if !module.validHTTPVersions.isEmpty {
            let version = httpVersion(d.protocolDetail).map { $0 == 1.1 ? "HTTP/1.1" : $0 == 2 ? "HTTP/2.0" : "HTTP/3.0" } ?? ""
            guard module.validHTTPVersions.contains(version) || module.validHTTPVersions.contains(version.replacingOccurrences(of: ".0", with: "")) else {
                return false
            }
        }
        let ssl = text(d.details["tls_version"]) != nil
        if module.failIfSSL && ssl { return false }
        if module.failIfNotSSL && !ssl { return false }
        return true
    }

    // MARK: Writing

    private mutating func gauge(_ name: String, _ help: String, _ value: Double) {
        family(name, help, "gauge", [("", value)])
    }

    private mutating func family(_ name: String, _ help: String, _ type: String, _ samples: [(labels: String, value: Double)]) {
        text += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
        for sample in samples {
            text += sample.labels.isEmpty ? name : "\(name){\(sample.labels)}"
            text += " \(Self.format(sample.value))\n"
        }
    }

    static func format(_ v: Double) -> String {
        if v.isNaN { return "NaN" }
        if v.isInfinite { return v > 0 ? "+Inf" : "-Inf" }
        if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
        return "\(v)"
    }

    // MARK: Reading the document

    static func number(_ v: ResultDocument.DetailValue?) -> Double? { if case .number(let n)? = v { n } else { nil } }
    static func text(_ v: ResultDocument.DetailValue?) -> String? { if case .text(let t)? = v { t } else { nil } }

    /// `203.0.113.7:443`, `[2001:db8::1]:443` or a bare address.
    static func address(_ endpoint: String) -> IPAddress? {
        if let a = IPAddress(endpoint) { return a }
        if endpoint.hasPrefix("["), let close = endpoint.firstIndex(of: "]") {
            return IPAddress(endpoint[endpoint.index(after: endpoint.startIndex)..<close])
        }
        if let colon = endpoint.lastIndex(of: ":") { return IPAddress(endpoint[..<colon]) }
        return nil
    }

    /// blackbox's `probe_http_version`: 1.1, 2 or 3.
    static func httpVersion(_ protocolName: String?) -> Double? {
        switch protocolName {
        case "http/1.1": 1.1
        case "http/1.0": 1.0
        case "h2", "h2c": 2
        case "h3": 3
        default: nil
        }
    }

    /// `TLSv1.3` → `TLS 1.3`, as Go names versions.
    static func tlsVersionLabel(_ name: String) -> String {
        name.hasPrefix("TLSv") ? "TLS " + name.dropFirst(4) : name
    }

    /// FNV-1a, 32 bits, of the address's 4 or 16 bytes (blackbox's probe_ip_addr_hash).
    static func fnv32a(_ bytes: [UInt8]) -> UInt32 {
        var hash: UInt32 = 2_166_136_261
        for byte in bytes {
            hash ^= UInt32(byte)
            hash = hash &* 16_777_619
        }
        return hash
    }
}
