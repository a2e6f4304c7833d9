import ProbeModel
import CProbe
import Histogram
import Synchronization

/// Settings of a load run (`waddleperf bench http`).
public struct HTTPBenchSettings: Sendable, Equatable {
    /// Connections in all, spread over the threads.
    public var connections = 10
    /// Run length, nanoseconds (nil: until `requests` are done).
    public var duration: UInt64? = 10_000_000_000
    /// Requests in all (nil: until `duration` ends).
    public var requests: Int? = nil
    /// Open loop: requests per second in all, latency measured from each
    /// request's intended send time (coordinated-omission corrected).
    /// nil: closed loop, each connection sends as soon as its last response is in.
    public var rate: Double? = nil
    public var threads = 1
    /// HTTP/1.1, HTTP/2, or auto (ALPN decides over TLS).
    public var version = HTTPVersionChoice.http1
    /// Concurrent requests per connection (HTTP/2 streams; 1 for HTTP/1.1).
    public var streams = 1
    /// false: a new connection (and handshake) for every request, to measure
    /// connection setup rather than requests on warm connections.
    public var reuse = true
    /// Per-request deadline, nanoseconds.
    public var timeout: UInt64 = 10_000_000_000
    public var tls = TLSOptions()

    public init() {}

    public func validate() throws(ConfigurationError) {
        if !(1...100_000).contains(connections) {
            throw ConfigurationError(field: "connections", "must be 1-100000, got \(connections)")
        }
        if duration == nil && requests == nil { throw ConfigurationError(field: "duration", "give --duration or --requests") }
        if let requests, requests < 1 { throw ConfigurationError(field: "requests", "must be at least 1") }
        if let duration, duration == 0 { throw ConfigurationError(field: "duration", "must be greater than 0") }
        if let rate, !(rate > 0 && rate.isFinite) { throw ConfigurationError(field: "rate", "must be a positive number") }
        if !(1...64).contains(threads) { throw ConfigurationError(field: "threads", "must be 1-64, got \(threads)") }
        if threads > connections { throw ConfigurationError(field: "threads", "must not exceed --connections") }
        if !reuse && streams > 1 { throw ConfigurationError(field: "no-reuse", "takes one stream per connection (-m 1)") }
        if !(1...1000).contains(streams) { throw ConfigurationError(field: "streams", "must be 1-1000, got \(streams)") }
        if streams > 1 && !version.multiplexed {
            throw ConfigurationError(field: "streams", "needs HTTP/2 or HTTP/3 (--h2, --h3): HTTP/1.1 carries one request at a time")
        }
        if timeout == 0 { throw ConfigurationError(field: "timeout", "must be greater than 0") }
    }
}

/// Latency histograms of a load run, per phase, nanoseconds.
public struct HTTPBenchHistograms: Sendable {
    public var total = makeHistogram()
    public var connect = makeHistogram()
    public var tls = makeHistogram()
    public var quicHandshake = makeHistogram()
    public var ttfb = makeHistogram()
    public var transfer = makeHistogram()

    static func makeHistogram() -> Histogram<UInt64> {
        Histogram(lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000_000, numberOfSignificantValueDigits: .three)
    }

    public static let phaseNames = ["total", "connect", "tls", "quic_handshake", "ttfb", "transfer"]

    public subscript(name: String) -> Histogram<UInt64> {
        switch name {
        case "connect": connect
        case "tls": tls
        case "quic_handshake": quicHandshake
        case "ttfb": ttfb
        case "transfer": transfer
        default: total
        }
    }

    mutating func add(_ o: HTTPBenchHistograms) {
        total.add(o.total); connect.add(o.connect); tls.add(o.tls); quicHandshake.add(o.quicHandshake)
        ttfb.add(o.ttfb); transfer.add(o.transfer)
    }
}

/// What a load run measured.
public struct HTTPBenchReport: Sendable {
    public var url: String
    public var settings: HTTPBenchSettings
    /// Completed responses (any status).
    public var requests = 0
    /// Responses by status class: [1xx, 2xx, 3xx, 4xx, 5xx].
    public var statusClasses = [0, 0, 0, 0, 0]
    /// Failed requests by kind ("connect:refused", "tls:unknown_ca", "ttfb:timeout", ...).
    public var errors: [String: Int] = [:]
    public var bytesIn = 0
    public var bytesOut = 0
    public var connectionsOpened = 0
    public var histograms = HTTPBenchHistograms()
    public var wallNanoseconds: UInt64 = 0
    public var protocolName = "http/1.1"

    public var requestsPerSecond: Double { wallNanoseconds == 0 ? 0 : Double(requests) * 1e9 / Double(wallNanoseconds) }
    public var bytesPerSecond: Double { wallNanoseconds == 0 ? 0 : Double(bytesIn) * 1e9 / Double(wallNanoseconds) }
    public var errorCount: Int { errors.values.reduce(0, +) }

    mutating func absorb(_ o: HTTPBenchReport) {
        requests += o.requests
        for i in 0..<5 { statusClasses[i] += o.statusClasses[i] }
        for (k, v) in o.errors { errors[k, default: 0] += v }
        bytesIn += o.bytesIn
        bytesOut += o.bytesOut
        connectionsOpened += o.connectionsOpened
        histograms.add(o.histograms)
    }
}

/// A load run: many keep-alive connections per ring thread, each sending
/// the same request back to back (closed loop) or on a fixed schedule
/// (open loop). Nothing is allocated and nothing is locked per request.
public final class HTTPBenchRun: Sendable {
    public let request: HTTPRequestSpec
    public let address: IPAddress
    public let settings: HTTPBenchSettings
    private let cancelled = Atomic<Bool>(false)
    /// Completed requests so far (updated in batches), for a progress line.
    public let completed = Atomic<UInt64>(0)

    public init(request: HTTPRequestSpec, address: IPAddress, settings: HTTPBenchSettings) throws(ConfigurationError) {
        try settings.validate()
        try request.validate()
        if settings.version == .http3 && !request.url.secure {
            throw ConfigurationError(field: "url", "HTTP/3 needs an https:// URL")
        }
        self.request = request
        self.address = address
        self.settings = settings
    }

    public func cancel() { cancelled.store(true, ordering: .relaxed) }

    public func run() async throws -> HTTPBenchReport {
        let settings = self.settings, request = self.request, address = self.address
        let started = cprobe_monotonic_ns()
        let reports = try await withTaskCancellationHandler {
            try await onThreads(settings.threads, name: "waddleperf-bench") { index in
                let share = settings.connections / settings.threads + (index < settings.connections % settings.threads ? 1 : 0)
                var requestShare: Int? = nil
                if let n = settings.requests { requestShare = n / settings.threads + (index < n % settings.threads ? 1 : 0) }
                var plan = SlotPlan()
                let slots = try HTTPWorker.reserve(in: &plan, connections: share)
                let runtime = try RingRuntime(plan)
                let worker = HTTPWorker(slots: runtime.slots(slots))
                let workload = try HTTPBenchWorkload(
                    worker: worker, request: request, address: address, settings: settings,
                    connections: share, requests: requestShare,
                    rate: settings.rate.map { $0 * Double(share) / Double(settings.connections) }, run: self)
                runtime.add(worker, slots: slots)
                try runtime.run { self.cancelled.load(ordering: .relaxed) }
                return workload.report
            }
        } onCancel: {
            self.cancel()
        }
        var report = HTTPBenchReport(url: request.url.description, settings: settings)
        for r in reports { report.absorb(r) }
        report.protocolName = reports.first?.protocolName ?? "http/1.1"
        report.wallNanoseconds = reports.map(\.wallNanoseconds).max() ?? (cprobe_monotonic_ns() - started)
        return report
    }
}

final class HTTPBenchWorkload: HTTPWorkload {
    private let worker: HTTPWorker
    private let template: HTTPRequestTemplate
    private let tlsContext: TLSContext?
    private let quicContext: QUICTLSContext?
    private let timeout: UInt64
    private let reuse: Bool
    private let endTime: UInt64
    private var remaining: Int
    private let openLoop: Bool
    /// Exchanges per connection (HTTP/2 streams).
    private let streams: Int
    /// Open loop: the interval between one exchange slot's intended sends.
    private let period: UInt64
    /// Open loop: each exchange slot's next intended send time
    /// (slot = connection × streams + exchange).
    private var intended: [UInt64]
    private let started: UInt64
    private unowned let run: HTTPBenchRun
    private var unreported: UInt64 = 0
    private var inFlight = 0
    /// Closed loop: some exchange may be startable only by `poll` (after a
    /// failure); open loop scans every poll.
    private var scanNeeded = true
    private(set) var report: HTTPBenchReport

    init(worker: HTTPWorker, request: HTTPRequestSpec, address: IPAddress, settings: HTTPBenchSettings,
         connections: Int, requests: Int?, rate: Double?, run: HTTPBenchRun) throws {
        self.worker = worker
        self.run = run
        template = request.serialised()
        var tlsOptions = settings.tls
        tlsOptions.alpn = settings.version.alpn
        tlsContext = request.url.secure && settings.version != .http3 ? try TLSContext(tlsOptions) : nil
        tlsContext?.releasesBuffers = false
        quicContext = settings.version == .http3 ? try QUICTLSContext(settings.tls) : nil
        timeout = settings.timeout
        reuse = settings.reuse
        streams = settings.streams
        let now = cprobe_monotonic_ns()
        started = now
        endTime = settings.duration.map { now + $0 } ?? .max
        remaining = requests ?? .max
        openLoop = rate != nil
        let slots = connections * settings.streams
        let period = rate.map { UInt64(Double(slots) / $0 * 1e9) } ?? 0
        self.period = period
        // Slot j's first send is j/slots of a period in: evenly spread.
        intended = (0..<slots).map { j in now + UInt64(Double(period) * Double(j) / Double(slots)) }
        report = HTTPBenchReport(url: request.url.description, settings: settings)
        worker.makeConnections(count: connections, exchanges: settings.streams, owner: self)
        worker.quic = settings.version == .http3
        // Closed loop with many exchanges in flight: read responses a burst
        // at a time (one completion per 32 in flight, up to 32, 20 µs at
        // most). Open loop keeps reacting at once: its sends are paced.
        if !openLoop && slots >= 64 { worker.gathering = (UInt32(min(32, slots / 32)), 20_000) }
        for c in worker.connections {
            c.configure(address: address, port: request.url.port, host: request.url.host, tls: tlsContext,
                        quic: quicContext, version: settings.version)
        }
    }

    private var stopped = false
    var isFinished: Bool { stopped }

    func closeAll(now: UInt64) {
        stopped = true
        for c in worker.connections { c.close(now: now) }
        report.wallNanoseconds = min(now, endTime) - started
        run.completed.add(unreported, ordering: .relaxed)
        unreported = 0
    }

    func poll(now: UInt64) -> UInt64? {
        // At the end of --duration, requests in flight are neither counted
        // nor errors (as wrk); with --requests, every one is waited for.
        if !stopped && (now >= endTime || (remaining <= 0 && inFlight == 0)) {
            stopped = true
            return nil
        }
        var wake: UInt64? = endTime == .max ? nil : endTime
        guard !stopped, openLoop || scanNeeded else { return wake }
        scanNeeded = false
        for c in worker.connections {
            for i in 0..<streams where c.canBegin(i) {
                if openLoop {
                    let due = intended[Int(c.slot) * streams + i]
                    if due > now { wake = min(wake ?? .max, due); continue }
                }
                start(c, i, now: now)
            }
        }
        return wake
    }

    @inline(__always) private func start(_ c: HTTPConnection, _ i: Int, now: UInt64) {
        guard remaining > 0, now < endTime else { return }
        remaining -= 1
        inFlight += 1
        if c.state == .closed { report.connectionsOpened += 1 }
        c.begin(template, exchange: i, deadline: now + timeout,
                intendedStart: openLoop ? intended[Int(c.slot) * streams + i] : now, now: now)
    }

    /// The next request on exchange `i` of `c` after one finished: at once
    /// (closed loop) or at its next intended time (open loop; a late one goes
    /// at once and its latency still counts from when it should have been sent).
    @inline(__always) private func next(_ c: HTTPConnection, _ i: Int, now: UInt64) {
        guard !stopped else { return }
        if openLoop {
            intended[Int(c.slot) * streams + i] += period
            if intended[Int(c.slot) * streams + i] > now { return }  // poll starts it
        }
        if c.canBegin(i) { start(c, i, now: now) } else { scanNeeded = true }
    }

    // MARK: HTTPConnectionOwner

    func responseComplete(_ c: HTTPConnection, exchange i: Int, now: UInt64) {
        inFlight -= 1
        guard now <= endTime else { return }
        let e = c.exchanges[i]
        report.requests += 1
        if (100...599).contains(e.status) { report.statusClasses[e.status / 100 - 1] += 1 }
        report.bytesIn += e.wireBytesIn
        report.bytesOut += e.headerBytesOut + e.bodyBytesOut > 0 ? e.headerBytesOut + e.bodyBytesOut : template.count
        _ = report.histograms.total.record(max(1, elapsed(e.intendedStart, e.lastByte)))
        if e.requestSent != 0 && e.firstByte != 0 {
            _ = report.histograms.ttfb.record(max(1, elapsed(e.requestSent, e.firstByte)))
        }
        _ = report.histograms.transfer.record(max(1, elapsed(e.firstByte, e.lastByte)))
        if e.openedConnection && c.connected != 0 {
            if c.isQUIC {
                _ = report.histograms.quicHandshake.record(max(1, c.connected - c.connectStarted))
            } else {
                _ = report.histograms.connect.record(max(1, c.connected - c.connectStarted))
                if c.handshaken != 0 { _ = report.histograms.tls.record(max(1, c.handshaken - c.connected)) }
            }
            report.protocolName = c.protocolName
        }
        unreported += 1
        if unreported == 256 {
            run.completed.add(unreported, ordering: .relaxed)
            unreported = 0
        }
        // Without reuse the next request starts when the connection is idle.
        if !reuse {
            if openLoop { intended[Int(c.slot) * streams + i] += period }
            return c.close(now: now)
        }
        next(c, i, now: now)
    }

    func requestFailed(_ c: HTTPConnection, exchange i: Int, outcome: HTTPOutcome, phase: HTTPPhase, message: String?,
                       now: UInt64) {
        inFlight -= 1
        guard !stopped, now <= endTime else { return }
        var kind = outcome.name
        if case .tls(let k) = outcome { kind = k.rawValue }
        report.errors["\(phase.rawValue):\(kind)", default: 0] += 1
        if openLoop { intended[Int(c.slot) * streams + i] += period }
        // Restarting waits for the next poll: a socket or SQE that fails at
        // once must not recurse through connectionIdle → start → fail.
        if c.state == .draining { c.retryFromPoll = true }
        scanNeeded = true
    }

    func connectionIdle(_ c: HTTPConnection, now: UInt64) {
        guard !stopped else { return }
        if c.retryFromPoll { c.retryFromPoll = false; scanNeeded = true; return }
        for i in 0..<streams where c.canBegin(i) {
            if openLoop && intended[Int(c.slot) * streams + i] > now { scanNeeded = true; continue }
            start(c, i, now: now)
        }
    }
}
