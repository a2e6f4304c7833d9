/// The phases of an HTTP exchange, in wire order.
public enum HTTPPhase: String, Sendable, CaseIterable {
    case dns, connect, tls
    /// QUIC: connect and TLS in one handshake (HTTP/3).
    case quicHandshake = "quic_handshake"
    case request, ttfb, transfer
}

/// How an HTTP probe ended. A complete response is `.success` only when its
/// status is accepted (2xx/3xx by default); any other status is `.status`.
/// Failures are data and name the phase in which they happened.
public enum HTTPOutcome: Hashable, Sendable {
    case success
    case status(Int)
    case timeout
    case refused
    case unreachable
    case tls(TLSFailure.Kind)
    /// The server closed the connection before the response was complete.
    case closed
    case protocolError
    /// HTTP/2: the server reset the stream (RST_STREAM with this error code).
    case streamReset(UInt32)
    /// HTTP/2: the server sent GOAWAY (this error code) before processing the stream.
    case goaway(UInt32)
    /// QUIC: the server closed the connection (CONNECTION_CLOSE with this code).
    case connectionClose(UInt64)
    /// The host did not resolve (NXDOMAIN, no address, server failure, ...):
    /// the same outcome, by name, as any kind's target that does not resolve.
    case unresolved(DNSFailure.Kind)
    /// The target policy refused the address this probe would have connected to (its own
    /// lookup's, or a redirect hop's): nothing was sent there.
    case denied
    case error(errno: Int32)

    public var isSuccess: Bool { self == .success }

    public var name: String {
        switch self {
        case .success: "success"
        case .status: "status"
        case .timeout: "timeout"
        case .refused: "refused"
        case .unreachable: "unreachable"
        case .tls: "tls_error"
        case .closed: "closed"
        case .protocolError: "protocol_error"
        case .streamReset: "stream_reset"
        case .goaway: "goaway"
        case .connectionClose: "connection_close"
        case .unresolved: "unresolved"
        case .denied: "denied"
        case .error: "error"
        }
    }
}

/// One redirect followed: the response that redirected and how long it took.
public struct HTTPHop: Sendable, Equatable {
    public var url: String
    public var status: Int
    public var total: UInt64
    public var reused: Bool
}

/// One HTTP probe's result. Phases are nanoseconds; a phase is nil when it
/// did not happen (a reused connection has no connect or tls, plain HTTP no
/// tls, a cached address no dns). With redirects, phases describe the final
/// request and `total` spans the whole chain.
public struct HTTPResult: Sendable, Equatable {
    public var target: Int32
    public var sequence: UInt32
    public var outcome: HTTPOutcome
    /// Where a failure happened.
    public var failedPhase: HTTPPhase? = nil
    /// A failure's detail (a TLS verification message, a parse error).
    public var message: String? = nil
    public var dns: UInt64? = nil
    public var connect: UInt64? = nil
    public var tls: UInt64? = nil
    /// HTTP/3: the QUIC handshake (connect and TLS in one).
    public var quicHandshake: UInt64? = nil
    /// HTTP/3: the handshake went through a Retry (the server validated our address).
    public var quicRetry: Bool? = nil
    public var ttfb: UInt64? = nil
    public var transfer: UInt64? = nil
    public var total: UInt64? = nil
    public var status = 0
    public var protocolName = "http/1.1"
    /// The final request used a connection that had already carried requests.
    public var reused = false
    public var headerBytesIn = 0
    public var bodyBytesIn = 0
    public var headerBytesOut = 0
    public var bodyBytesOut = 0
    public var remote = ""
    public var url = ""
    public var tlsDetails: TLSDetails? = nil
    public var redirects: [HTTPHop] = []
    /// CLOCK_MONOTONIC when the probe started.
    public var startedAt: UInt64 = 0

    /// A phase by its declared name (`KindDeclaration.http.phases`).
    public subscript(phase name: String) -> UInt64? {
        switch name {
        case "dns": dns
        case "connect": connect
        case "tls": tls
        case "quic_handshake": quicHandshake
        case "ttfb": ttfb
        case "transfer": transfer
        case "total": total
        default: nil
        }
    }

    /// Body bytes per second over the transfer phase (first → last byte);
    /// nil when the whole response arrived at once (no span to divide by).
    public var throughput: Double? {
        guard bodyBytesIn > 0, let transfer, transfer > 0 else { return nil }
        return Double(bodyBytesIn) * 1e9 / Double(transfer)
    }
}

/// Per-target statistics of an HTTP probe run. Cold (new connection) and
/// warm (reused) requests are summarised separately and never mixed.
public struct HTTPProbeSummary: Sendable {
    public var sent = 0
    public var succeeded = 0
    public var outcomes: [String: Int] = [:]
    public var statuses: [Int: Int] = [:]
    public var cold = HTTPPhaseStatistics()
    public var warm = HTTPPhaseStatistics()
    public var lastTLS: TLSDetails? = nil
    public var lastMessage: String? = nil
    /// The last response's status, protocol and body throughput (bytes/s), when there was one.
    public var lastStatus: Int? = nil
    public var lastProtocol: String? = nil
    public var lastThroughput: Double? = nil
    /// The last response's body bytes and the redirects its probe followed.
    public var lastBodyBytes: Int? = nil
    public var lastRedirects = 0

    public init() {}

    public mutating func record(_ r: HTTPResult) {
        sent += 1
        outcomes[r.outcome.name, default: 0] += 1
        if r.status > 0 { statuses[r.status, default: 0] += 1; lastStatus = r.status }
        if let d = r.tlsDetails { lastTLS = d }
        if let m = r.message { lastMessage = m }
        if r.status > 0 {
            lastProtocol = r.protocolName
            lastBodyBytes = r.bodyBytesIn
        }
        lastRedirects = r.redirects.count
        if let t = r.throughput { lastThroughput = t }
        guard r.outcome.isSuccess else { return }
        succeeded += 1
        if r.reused { warm.record(r) } else { cold.record(r) }
    }

    public var lossPercent: Double { sent == 0 ? 0 : Double(sent - succeeded) * 100 / Double(sent) }
}

/// Latency statistics per phase.
public struct HTTPPhaseStatistics: Sendable {
    public var dns = LatencyStatistics()
    public var connect = LatencyStatistics()
    public var tls = LatencyStatistics()
    public var quicHandshake = LatencyStatistics()
    public var ttfb = LatencyStatistics()
    public var transfer = LatencyStatistics()
    public var total = LatencyStatistics()

    public init() {}

    /// Merges another set (cold and warm into one).
    public mutating func absorb(_ other: HTTPPhaseStatistics) {
        dns.absorb(other.dns)
        connect.absorb(other.connect)
        tls.absorb(other.tls)
        quicHandshake.absorb(other.quicHandshake)
        ttfb.absorb(other.ttfb)
        transfer.absorb(other.transfer)
        total.absorb(other.total)
    }

    mutating func record(_ r: HTTPResult) {
        if let v = r.dns { dns.record(v) }
        if let v = r.connect { connect.record(v) }
        if let v = r.tls { tls.record(v) }
        if let v = r.quicHandshake { quicHandshake.record(v) }
        if let v = r.ttfb { ttfb.record(v) }
        if let v = r.transfer { transfer.record(v) }
        if let v = r.total { total.record(v) }
    }

    public subscript(phase: String) -> LatencyStatistics? {
        switch phase {
        case "dns": dns
        case "connect": connect
        case "tls": tls
        case "quic_handshake": quicHandshake
        case "ttfb": ttfb
        case "transfer": transfer
        case "total": total
        default: nil
        }
    }
}
