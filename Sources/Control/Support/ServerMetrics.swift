import Engine
import Foundation
import Hummingbird
import Metrics
import ProbeModel
import Prometheus
import Synchronization

/// The server's own metrics (`GET /metrics`): swift-metrics objects bound to this server's
/// Prometheus registry (no process-wide bootstrap, so several servers in one process keep
/// theirs apart). Requests are counted and timed by route template; the writer records each
/// batch; the database pool each wait for a thread; the test server its tests and probes.
/// What is a level, not an event (queue depth, tests running) and the ring threads' time are
/// read when scraped.
public final class ServerMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    let factory: PrometheusMetricsFactory
    private let requestMetrics = Mutex<[RequestKey: (Metrics.Counter, Metrics.Timer)]>([:])
    let testsStarted: Metrics.Counter
    let testProbes: Metrics.Counter
    let probeScrapes: Metrics.Counter
    let batchRows: Recorder
    let databaseWait: Metrics.Timer
    private let queuedRows: Metrics.Gauge
    private let testsRunning: Metrics.Gauge
    private let ringsRunning: Metrics.Gauge
    private let committedRows: Metrics.Counter
    private let committedBatches: Metrics.Counter
    private let ringBusy: FloatingPointCounter
    private let ringWait: FloatingPointCounter
    /// Counters whose totals are kept elsewhere (atomics, caches), by label and outcome.
    private let sourced: [String: Metrics.Counter]
    /// What each cumulative source read at the last scrape, by name (counters grow by the difference).
    private let lastTotals = Mutex<[String: UInt64]>([:])

    struct RequestKey: Hashable {
        var route: String
        var method: String
        var status: Int
    }

    public init() {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.valueHistogramBuckets["waddleperf_writer_batch_rows"] = [1, 10, 100, 500, 1000, 2500, 5000, 10_000, 50_000]
        factory.durationHistogramBuckets["waddleperf_db_wait_seconds"] = [
            .microseconds(50), .microseconds(250), .milliseconds(1), .milliseconds(5), .milliseconds(25), .milliseconds(100),
            .milliseconds(500), .seconds(2), .seconds(10),
        ]
        factory.durationHistogramBuckets["http_server_request_duration_seconds"] = [
            .microseconds(250), .milliseconds(1), .milliseconds(5), .milliseconds(25), .milliseconds(100), .milliseconds(500),
            .seconds(1), .seconds(5), .seconds(30),
        ]
        self.factory = factory
        testsStarted = Metrics.Counter(label: "waddleperf_tests_started_total", factory: factory)
        testProbes = Metrics.Counter(label: "waddleperf_test_probes_total", factory: factory)
        probeScrapes = Metrics.Counter(label: "waddleperf_probe_requests_total", factory: factory)
        batchRows = Recorder(label: "waddleperf_writer_batch_rows", dimensions: [], aggregate: true, factory: factory)
        databaseWait = Metrics.Timer(label: "waddleperf_db_wait_seconds", dimensions: [], factory: factory)
        queuedRows = Metrics.Gauge(label: "waddleperf_writer_queued_rows", factory: factory)
        testsRunning = Metrics.Gauge(label: "waddleperf_tests_running", factory: factory)
        ringsRunning = Metrics.Gauge(label: "waddleperf_ring_loops_running", factory: factory)
        committedRows = Metrics.Counter(label: "waddleperf_writer_committed_rows_total", factory: factory)
        committedBatches = Metrics.Counter(label: "waddleperf_writer_committed_batches_total", factory: factory)
        ringBusy = FloatingPointCounter(label: "waddleperf_ring_busy_seconds_total", factory: factory)
        ringWait = FloatingPointCounter(label: "waddleperf_ring_wait_seconds_total", factory: factory)
        var sourced: [String: Metrics.Counter] = [:]
        for (label, outcome) in [("waddleperf_result_pages_total", "cached"), ("waddleperf_result_pages_total", "rendered"),
                                 ("waddleperf_ring_setups_total", "reused"), ("waddleperf_ring_setups_total", "created")] {
            sourced["\(label) \(outcome)"] = Metrics.Counter(label: label, dimensions: [("outcome", outcome)], factory: factory)
        }
        self.sourced = sourced
    }

    /// How far the cumulative source `key` moved since the last scrape, now that it reads `total`.
    private func delta(_ key: String, _ total: UInt64) -> UInt64 {
        lastTotals.withLock { totals in
            defer { totals[key] = total }
            return total &- (totals[key] ?? 0)
        }
    }

    /// Advances `counter` by what the cumulative source `key` moved since the last scrape.
    private func advance(_ counter: Metrics.Counter?, _ key: String, to total: UInt64) {
        let d = delta(key, total)
        if d > 0, d < UInt64(Int64.max) { counter?.increment(by: Int64(d)) }
    }

    /// Advances the sourced counter `key` ("label outcome") to `total`.
    private func advance(_ key: String, to total: UInt64) { advance(sourced[key], key, to: total) }

    /// Counts and times one answered request by its route template (`/api/v1/users/:id`).
    func request(route: String, method: String, status: Int, nanoseconds: Int64) {
        let key = RequestKey(route: route, method: method, status: status)
        let (counter, timer) = requestMetrics.withLock { cache in
            if let pair = cache[key] { return pair }
            let dimensions = [("route", route), ("method", method), ("status", String(status))]
            let pair = (Metrics.Counter(label: "http_server_requests_total", dimensions: dimensions, factory: factory),
                        Metrics.Timer(label: "http_server_request_duration_seconds", dimensions: dimensions, factory: factory))
            cache[key] = pair
            return pair
        }
        counter.increment()
        timer.recordNanoseconds(nanoseconds)
    }

    /// What an agent's heartbeat said, as gauges labelled with its device id (`AgentStatus`).
    func record(agent status: AgentStatus, device: Int64) {
        let dimensions = [("device", String(device))]
        let values: [(String, Double)] = [
            ("waddleperf_agent_buffer_results", Double(status.bufferResults)),
            ("waddleperf_agent_buffer_bytes", Double(status.bufferBytes)),
            ("waddleperf_agent_buffer_oldest_seconds", Double(status.bufferOldestMS ?? 0) / 1000),
            ("waddleperf_agent_dropped_results", Double(status.droppedResults)),
            ("waddleperf_agent_skipped_runs", Double(status.skippedRuns)),
            ("waddleperf_agent_checks_configured", Double(status.checksConfigured)),
            ("waddleperf_agent_config_refused", status.configError == nil ? 0 : 1),
        ]
        for (label, value) in values {
            Metrics.Gauge(label: label, dimensions: dimensions, factory: factory).record(value)
        }
    }

    /// The exposition, with the levels and cumulative sources read now.
    func render(writer: ResultWriter.Statistics, testsRunning running: Int, resultPages: (hits: UInt64, misses: UInt64)) -> [UInt8] {
        advance("waddleperf_result_pages_total cached", to: resultPages.hits)
        advance("waddleperf_result_pages_total rendered", to: resultPages.misses)
        advance("waddleperf_ring_setups_total reused", to: RingStatistics.ringsReused.load(ordering: .relaxed))
        advance("waddleperf_ring_setups_total created", to: RingStatistics.ringsCreated.load(ordering: .relaxed))
        queuedRows.record(writer.queuedRows)
        testsRunning.record(running)
        let loops = RingStatistics.runsStarted.load(ordering: .relaxed) &- RingStatistics.runsEnded.load(ordering: .relaxed)
        ringsRunning.record(Int64(bitPattern: loops))
        advance(committedRows, "committed rows", to: UInt64(max(0, writer.committedRows)))
        advance(committedBatches, "committed batches", to: UInt64(max(0, writer.committedBatches)))
        let busy = delta("ring busy", RingStatistics.busyNanoseconds.load(ordering: .relaxed))
        let wait = delta("ring wait", RingStatistics.waitNanoseconds.load(ordering: .relaxed))
        if busy > 0 { ringBusy.increment(by: Double(busy) / 1e9) }
        if wait > 0 { ringWait.increment(by: Double(wait) / 1e9) }
        return Self.withHelp(registry.emitToBuffer())
    }

    /// What each metric means. (swift-metrics has no help text, so each `# TYPE` line of the
    /// registry's output gets its `# HELP` line from here.)
    static let help: [String: String] = [
        "http_server_requests_total": "Requests answered, by route template, method and status",
        "http_server_request_duration_seconds": "Time from a request's arrival to its response, by route template, method and status",
        "waddleperf_tests_started_total": "Tests started through /api/v1/tests and /api/v1/test/{kind}",
        "waddleperf_test_probes_total": "Probes completed by tests this server ran",
        "waddleperf_probe_requests_total": "/probe requests answered",
        "waddleperf_tests_running": "Tests running now",
        "waddleperf_writer_queued_rows": "Result rows waiting for the writer",
        "waddleperf_writer_committed_rows_total": "Result rows the writer committed",
        "waddleperf_writer_committed_batches_total": "Batches (transactions) the writer committed",
        "waddleperf_writer_batch_rows": "Rows per committed batch",
        "waddleperf_db_wait_seconds": "Time a database job waited for a database thread",
        "waddleperf_ring_busy_seconds_total": "Ring-thread time spent outside the kernel wait: polling, building and matching probes",
        "waddleperf_ring_wait_seconds_total": "Ring-thread time spent waiting in the kernel for completions",
        "waddleperf_ring_loops_running": "Ring loops running now (one per ring thread of a running check run)",
        "waddleperf_ring_setups_total": "Rings runs started on: reused (kept on the thread from its last run) or created",
        "waddleperf_result_pages_total": "Pages of GET /api/v1/results: cached (sent again, no database trip) or rendered",
        "waddleperf_agent_buffer_results": "Results an agent holds waiting for upload, by device (its last heartbeat)",
        "waddleperf_agent_buffer_bytes": "Bytes of an agent's result buffer, by device (its last heartbeat)",
        "waddleperf_agent_buffer_oldest_seconds": "Age of the oldest result an agent holds, by device (its last heartbeat)",
        "waddleperf_agent_dropped_results": "Results an agent dropped since its buffer was made (full, too old, refused), by device; cumulative",
        "waddleperf_agent_skipped_runs": "Check runs an agent skipped because the previous run had not ended, by device; cumulative",
        "waddleperf_agent_checks_configured": "Checks an agent runs, by device (its last heartbeat)",
        "waddleperf_agent_config_refused": "1 when an agent refused the server's configuration and runs its last good one, by device",
    ]

    static func withHelp(_ text: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(text.count + 2048)
        for line in text.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            if line.starts(with: Array("# TYPE ".utf8)) {
                let name = String(decoding: line.dropFirst(7).prefix { $0 != UInt8(ascii: " ") }, as: UTF8.self)
                if let help = help[name] { out += Array("# HELP \(name) \(help)\n".utf8) }
            }
            out += line
            out.append(UInt8(ascii: "\n"))
        }
        if out.last == UInt8(ascii: "\n"), text.last != UInt8(ascii: "\n") { out.removeLast() }
        return out
    }
}

/// Counts and times every request by route template, method and status (`ServerMetrics`).
struct RequestMetricsMiddleware: RouterMiddleware {
    typealias Context = ControlContext
    let metrics: ServerMetrics

    func handle(_ request: Request, context: ControlContext, next: (Request, ControlContext) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        let route = { context.endpointPath ?? "unmatched" }
        do {
            let response = try await next(request, context)
            metrics.request(route: route(), method: request.method.rawValue, status: Int(response.status.code),
                            nanoseconds: (ContinuousClock.now - started).nanoseconds)
            return response
        } catch {
            let status = (error as? any HTTPResponseError)?.status.code ?? 500
            metrics.request(route: route(), method: request.method.rawValue, status: Int(status),
                            nanoseconds: (ContinuousClock.now - started).nanoseconds)
            throw error
        }
    }
}
