import Engine
import Foundation
import Hummingbird

/// The original test server's synchronous tests, `POST /api/v1/test/{kind}`: its request fields
/// become a check run like any other (`TestRunner`: the same limits, target policy and stored
/// result), and the answer carries its response fields with our measurements. What differs in
/// meaning is in docs/test-server.md.
struct LegacyTestController {
    let runner: TestRunner

    /// The original's kinds this engine does not have yet, and what each would need.
    static let missing: [String: String] = [
        "traceroute": "traceroute", "http_trace": "traceroute", "tcp_trace": "traceroute", "udp_trace": "traceroute",
    ]

    func register(_ routes: inout Routes) {
        let runner = self.runner
        routes.on("legacyTest") { request, context, operation in
            var request = request
            let principal = try context.caller()
            guard let kind = context.parameters.get("kind") else { throw APIError.notFound("test kind") }
            if let needed = Self.missing[kind] {
                throw APIError(.notImplemented, "not_implemented", "\(kind): this server has no \(needed) kind yet")
            }
            guard ["http", "tcp", "udp", "icmp"].contains(kind) else {
                throw APIError.notFound("test kind '\(kind)' (the original's: http, tcp, udp, icmp, traceroute, http_trace, tcp_trace, udp_trace)")
            }
            let body = try await request.decode(LegacyTestRequest.self, operation)
            let (spec, proto) = try body.check(kind: kind)
            let test = try await runner.start(spec, for: principal)
            await test.finished()
            let snapshot = test.snapshot(latency: false)
            guard let document = snapshot.document else {
                throw APIError(.internalServerError, "internal", "the test failed: \(snapshot.error ?? "no result")")
            }
            return JSONResponse.make(Self.response(kind: kind, protocol: proto, target: body.target, document: document))
        }
    }

    /// The original's response fields for `kind`, from our result document. Absent figures are
    /// null (the original reported 0 for what it did not measure).
    static func response(kind: String, protocol proto: String, target: String, document d: ResultDocument) -> [String: Any] {
        func metric(_ name: String) -> Any { d.metrics[name] ?? NSNull() }
        let error: Any = d.success ? NSNull() : (d.details["message"].flatMap { if case .text(let t) = $0 { t } else { nil } }
                                                 ?? d.details["resolution_error"].flatMap { if case .text(let t) = $0 { t } else { nil } }
                                                 ?? d.outcome)
        var out: [String: Any] = [
            "target": target, "protocol": proto, "success": d.success, "error": error,
            "latency_ms": metric("latency_ms"), "min_latency_ms": metric("min_ms"), "max_latency_ms": metric("max_ms"),
            "jitter_ms": metric("jitter_ms"),
        ]
        switch kind {
        case "http":
            if case .number(let status)? = d.details["status"] { out["status_code"] = Int(status) } else { out["status_code"] = 0 }
            out["ttfb_ms"] = metric("ttfb_ms")
            out["total_time_ms"] = metric("total_ms")
            out["connected_proto"] = d.protocolDetail ?? NSNull()
        case "tcp":
            out["connected"] = (d.received ?? 0) > 0
            out["handshake_ms"] = metric("connect_ms")
            out["remote_addr"] = d.resolvedAddress ?? NSNull()
            out["tls_version"] = NSNull()
            out["ssh_version"] = NSNull()
        case "udp":
            out["remote_addr"] = d.resolvedAddress ?? NSNull()
            out["response"] = "\(d.received ?? 0) of \(d.sent ?? 0) datagrams echoed"
        default: // icmp
            let sent = d.sent ?? 0, received = d.received ?? 0
            out["packets_sent"] = sent
            out["packets_received"] = received
            out["packet_loss_percent"] = metric("loss_percent")
            out["hops"] = [Any]()
        }
        return out
    }
}

/// `Schemas.legacyTest`: the original test server's request.
struct LegacyTestRequest: APIBody {
    static var schema: ObjectSchema { Schemas.legacyTest }

    var target: String
    var `protocol`: String?
    var protocolDetail: String?
    var port: Int?
    var timeout: Int?
    var count: Int?
    var method: String?
    var query: String?
    var deviceSerial: String?
    var deviceHostname: String?
    var deviceOS: String?
    var deviceOSVersion: String?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case target, `protocol`, port, timeout, count, method, query
        case protocolDetail = "protocol_detail"
        case deviceSerial = "device_serial"
        case deviceHostname = "device_hostname"
        case deviceOS = "device_os"
        case deviceOSVersion = "device_os_version"
    }

    /// The original's protocol names, normalised as it did (lower case; '/', '.', ' ' and '_' dropped).
    static func normalise(_ text: String) -> String {
        text.lowercased().filter { !"/. _".contains($0) }
    }

    /// The check the original's request describes, and the protocol named in the answer.
    /// Defaults are the original's: timeout 30 s (http), 10 s (tcp, icmp), 5 s (udp); count 1,
    /// icmp 4; probes 100 ms apart, icmp 1 s (like ping).
    func check(kind: String) throws -> (ProbeSpec, String) {
        let requested = self.protocol ?? protocolDetail
        let proto = requested.map(Self.normalise)
        func unsupported(_ name: String, _ needs: String) -> APIError {
            APIError(.notImplemented, "not_implemented", "\(kind) protocol '\(name)': this server has no \(needs) kind yet")
        }
        var spec: ProbeSpec
        switch kind {
        case "http":
            var p = HTTPParameters()
            switch proto ?? "http2" {
            case "http1", "http11": p.version = .http1
            case "http2", "http20": p.version = .http2
            case "http3", "http30": p.version = .http3
            default: throw APIError(.unprocessableContent, "invalid_check", "protocol: '\(requested ?? "")' is not http1, http2 or http3",
                                    fields: ["protocol": "must be http1, http2 or http3"])
            }
            p.method = method ?? "GET"
            var url = target.contains("://") ? target : "https://" + target
            if let port, !target.contains("://"), let u = URL(string: url), u.port == nil, let host = u.host {
                url = "https://\(host.contains(":") ? "[\(host)]" : host):\(port)\(u.path)"
            }
            spec = ProbeSpec(kind: "http", target: url, count: count ?? 1, intervalMilliseconds: 100,
                             timeoutMilliseconds: (timeout ?? 30) * 1000, parameters: .http(p))
        case "tcp":
            switch proto ?? "raw" {
            case "raw", "rawtcp", "tcp": break
            case "tls": throw unsupported(requested!, "tls")
            case "ssh": throw unsupported(requested!, "ssh")
            default: throw APIError(.unprocessableContent, "invalid_check", "protocol: '\(requested ?? "")' is not raw, tls or ssh",
                                    fields: ["protocol": "must be raw, tls or ssh"])
            }
            spec = ProbeSpec(kind: "tcp", target: Self.endpoint(target, port: port ?? 80), count: count ?? 1, intervalMilliseconds: 100,
                             timeoutMilliseconds: (timeout ?? 10) * 1000)
        case "udp":
            switch proto ?? "dns" {
            case "raw", "rawudp", "udp": break
            case "dns": throw unsupported(requested ?? "dns", "dns")
            default: throw APIError(.unprocessableContent, "invalid_check", "protocol: '\(requested ?? "")' is not raw or dns",
                                    fields: ["protocol": "must be raw or dns"])
            }
            spec = ProbeSpec(kind: "udp", target: Self.endpoint(target, port: port ?? 2000), count: count ?? 1, intervalMilliseconds: 100,
                             timeoutMilliseconds: (timeout ?? 5) * 1000)
        default: // icmp
            switch proto ?? "ping" {
            case "ping", "icmp": break
            case "traceroute": throw unsupported(requested!, "traceroute")
            default: throw APIError(.unprocessableContent, "invalid_check", "protocol: '\(requested ?? "")' is not ping or traceroute",
                                    fields: ["protocol": "must be ping or traceroute"])
            }
            spec = ProbeSpec(kind: "icmp", target: target, count: count ?? 4, intervalMilliseconds: 1000,
                             timeoutMilliseconds: (timeout ?? 10) * 1000)
        }
        return (spec, requested ?? (kind == "http" ? "http2" : kind == "icmp" ? "ping" : kind == "udp" ? "raw" : "raw"))
    }

    /// `host:port` from a target that may carry its own port (the original accepted both).
    static func endpoint(_ target: String, port: Int) -> String {
        if target.hasPrefix("[") || (target.filter { $0 == ":" }.count == 1) { return target }
        return target.contains(":") ? "[\(target)]:\(port)" : "\(target):\(port)"
    }
}
