import Engine
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// The test server: admits tests against `TestLimits`, runs each on ring threads of its own
/// (a `CheckRun`), stores each one's result document like an upload, attributed to the caller
/// and their unit, and keeps the last `limits.kept` tests for reading. As a service it runs
/// beside the HTTP server; on shutdown it cancels every running test and stores what each
/// measured before the result writer stops.
public final class TestRunner: Service, Sendable {
    let limits: TestLimits
    let policy: TargetPolicy
    let writer: ResultWriter
    let metrics: ServerMetrics?
    let logger: Logger
    private let registry = Mutex(Registry())

    struct Registry {
        var tests: [String: ServerTest] = [:]
        /// Ids oldest first, for eviction of finished tests beyond `kept`.
        var order: [String] = []
        var running: [String: (test: ServerTest, task: Task<Void, Never>)] = [:]
        var stopping = false
    }

    init(limits: TestLimits, policy: TargetPolicy, writer: ResultWriter, metrics: ServerMetrics? = nil, logger: Logger) {
        self.limits = limits
        self.policy = policy
        self.writer = writer
        self.metrics = metrics
        self.logger = logger
    }

    // MARK: Starting

    /// Checks `spec` against the caller's limits and the target policy, resolves its target and
    /// starts it. Throws `APIError` (400/403/422/429/503) or `TargetRefused` (403).
    func start(_ spec: ProbeSpec, for principal: Principal) async throws -> ServerTest {
        do { try spec.validate() } catch { throw APIError.uncheckable(error.field, error.message) }
        if case .http(let p) = spec.parameters, p.caFile != nil {
            throw APIError.refused("http.ca_file", "the test server reads no files for a caller; use insecure: true to accept any certificate")
        }
        let bench = principal.permissions.contains(.testsBench)
        if let (field, message) = TestLimits.excess(spec, limits.ordinary) {
            if !bench && TestLimits.excess(spec, limits.bench) == nil {
                throw APIError(.forbidden, "forbidden", "\(field): \(message) without tests:bench (a load test); ask an administrator",
                               fields: [field: message])
            }
            if let (field, message) = TestLimits.excess(spec, limits.bench) {
                throw APIError(.unprocessableContent, "limit_exceeded", "\(field): \(message)", fields: [field: message])
            }
        }
        let run: CheckRun
        do {
            run = try CheckRun([spec], policy: policy.exempting(principal.permissions.contains(.targetsInternal)))
        } catch {
            throw APIError.uncheckable(error.field, error.message)
        }
        let test = ServerTest(id: Self.newID(), spec: spec, principal: principal, run: run)
        try admit(test, bench: bench)
        let prepared: CheckRun.Prepared
        do {
            prepared = try await run.prepare()
        } catch let error as ConfigurationError {
            release(test)
            throw APIError.uncheckable(error.field, error.message)
        } catch {
            release(test)
            throw error
        }
        launch(test, prepared)
        metrics?.testsStarted.increment()
        return test
    }

    /// Reserves room for `test` among the running ones, or answers 429 with the time until the
    /// earliest test in the way should end.
    private func admit(_ test: ServerTest, bench: Bool) throws {
        let limits = self.limits
        let perUserRate = bench ? max(limits.ratePerUser, limits.bench.rate) : limits.ratePerUser
        try registry.withLock { r in
            guard !r.stopping else {
                throw APIError(.serviceUnavailable, "unavailable", "the server is shutting down", retryAfterSeconds: 5)
            }
            let running = r.running.values.map(\.test)
            let mine = running.filter { $0.owner == test.owner }
            func wait(_ tests: [ServerTest]) -> Int {
                let next = tests.map(\.deadline).min() ?? .now
                return max(1, Int(((next - .now) / .seconds(1)).rounded(.up)))
            }
            if mine.count >= limits.runningPerUser {
                throw APIError(.tooManyRequests, "too_many_tests", "\(test.owner) has \(mine.count) tests running; at most \(limits.runningPerUser)",
                               retryAfterSeconds: wait(mine))
            }
            if running.count >= limits.running {
                throw APIError(.tooManyRequests, "too_many_tests", "the server runs \(running.count) tests; at most \(limits.running)",
                               retryAfterSeconds: wait(running))
            }
            let myRate = mine.reduce(0) { $0 + $1.rate }
            if myRate + test.rate > perUserRate {
                throw APIError(.tooManyRequests, "rate_exceeded",
                               "\(test.owner)'s running tests send \(TestLimits.format(myRate)) probes a second; this one would add \(TestLimits.format(test.rate)), at most \(TestLimits.format(perUserRate)) in all",
                               retryAfterSeconds: wait(mine))
            }
            let allRate = running.reduce(0) { $0 + $1.rate }
            if allRate + test.rate > limits.rate {
                throw APIError(.tooManyRequests, "rate_exceeded",
                               "the server's running tests send \(TestLimits.format(allRate)) probes a second; at most \(TestLimits.format(limits.rate))",
                               retryAfterSeconds: wait(running))
            }
            // Reserved: the task is set by `launch`.
            r.running[test.id] = (test, Task {})
            r.tests[test.id] = test
            r.order.append(test.id)
            Self.evict(&r, keep: limits.kept)
        }
    }

    /// Forgets a test that never started (refused while preparing); its viewers get the end.
    private func release(_ test: ServerTest) {
        test.finish(document: nil, error: "not started", stored: false)
        registry.withLock { r in
            r.running[test.id] = nil
            r.tests[test.id] = nil
            r.order.removeAll { $0 == test.id }
        }
    }

    private func launch(_ test: ServerTest, _ prepared: CheckRun.Prepared) {
        let writer = self.writer, logger = self.logger, probes = metrics?.testProbes
        let task = Task {
            var document: ResultDocument?
            var failure: String?
            do {
                let report = try await test.run.run(prepared, observer: { events in
                    test.deliver(events)
                    probes?.increment(by: Int64(events.count))
                })
                document = report.documents.first
            } catch {
                failure = "\(error)"
                logger.error("test \(test.id) failed: \(error)")
            }
            var stored = false
            if let document {
                let row = ResultRow(document, source: "test", receivedAt: WallClock.nowMillis(), userID: test.userID, ouID: test.ouID)
                do {
                    try await writer.write([row])
                    stored = true
                } catch {
                    failure = "the result was measured but not stored: \(error)"
                    logger.error("test \(test.id): result not stored: \(error)")
                }
            }
            test.finish(document: document, error: failure, stored: stored)
            self.finished(test)
        }
        registry.withLock { r in
            if r.running[test.id] != nil { r.running[test.id] = (test, task) }
        }
    }

    private func finished(_ test: ServerTest) {
        registry.withLock { r in
            r.running[test.id] = nil
            Self.evict(&r, keep: limits.kept)
        }
    }

    /// Forgets the oldest finished tests beyond `keep`.
    private static func evict(_ r: inout Registry, keep: Int) {
        var excess = r.order.count - keep
        guard excess > 0 else { return }
        var kept: [String] = []
        kept.reserveCapacity(r.order.count)
        for id in r.order {
            if excess > 0, r.running[id] == nil {
                r.tests[id] = nil
                excess -= 1
            } else {
                kept.append(id)
            }
        }
        r.order = kept
    }

    /// 16 hex digits from the system's random source: not guessable, not a count of tests.
    static func newID() -> String {
        var generator = SystemRandomNumberGenerator()
        let value = generator.next() as UInt64
        let hex = String(value, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    // MARK: Reading

    func test(_ id: String) -> ServerTest? { registry.withLock { $0.tests[id] } }

    /// Tests `principal` may see, newest first.
    func tests(visibleTo principal: Principal, status: ServerTest.Status? = nil, limit: Int) -> [ServerTest] {
        let all = registry.withLock { r in r.order.reversed().compactMap { r.tests[$0] } }
        var out: [ServerTest] = []
        for test in all where test.isVisible(to: principal) && (status == nil || test.status == status) {
            out.append(test)
            if out.count == limit { break }
        }
        return out
    }

    /// Drops a finished test from the listing (`DELETE`); its result stays stored.
    func forget(_ id: String) {
        registry.withLock { r in
            guard r.running[id] == nil else { return }
            r.tests[id] = nil
            r.order.removeAll { $0 == id }
        }
    }

    var runningCount: Int { registry.withLock { $0.running.count } }

    // MARK: Service

    /// Waits for shutdown, then cancels every running test and waits for each to store what it
    /// measured.
    public func run() async throws {
        try? await gracefulShutdown()
        await stop()
    }

    /// Refuses new tests, cancels every running one and returns once each has stored what it
    /// measured.
    public func stop() async {
        let running = registry.withLock { r -> [(test: ServerTest, task: Task<Void, Never>)] in
            r.stopping = true
            return Array(r.running.values)
        }
        if !running.isEmpty { logger.notice("shutdown: cancelling \(running.count) running tests; their results are stored") }
        for entry in running { entry.test.cancel(by: "shutdown") }
        for entry in running { await entry.task.value }
    }
}
