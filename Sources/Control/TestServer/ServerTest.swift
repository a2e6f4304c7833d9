import Engine
import Foundation
import Synchronization

/// One test the server runs for a caller: its check, its run on the engine's ring threads, what
/// it has measured so far and who is watching. The ring threads hand every probe's result to
/// `deliver`, which feeds the running figures and each viewer's bounded buffer without ever
/// waiting: a slow viewer loses events (counted), never the engine's pace.
final class ServerTest: Sendable {
    enum Status: String, Sendable {
        case running, completed, cancelled, failed
    }

    let id: String
    let spec: ProbeSpec
    let userID: Int64?
    let ouID: Int64?
    /// Who started it (`user:NAME`), for the log and the audit.
    let owner: String
    let createdAt: Int64
    let run: CheckRun
    /// Probes a second it sends, and when it should be over: what admission counts.
    let rate: Double
    let deadline: ContinuousClock.Instant
    private let startedAt = ContinuousClock.now
    private let state = Mutex(State())

    struct State {
        var status = Status.running
        var cancelledBy: String?
        var document: ResultDocument?
        var error: String?
        var finishedAt: Int64?
        var finishedInstant: ContinuousClock.Instant?
        /// The document is committed to the store (`GET /api/v1/results` finds it).
        var stored = false
        var latency = LatencyStatistics()
        var outcomes: [String: Int] = [:]
        var viewers: [Int: Viewer] = [:]
        var nextViewer = 0
        /// The latest events (up to `replayLimit`, kept while the test runs): a viewer who joins
        /// late is sent these first, so a browser that opens the stream just after starting the
        /// test misses none of its first probes.
        var recent: [CheckEvent] = []
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    /// One stream's buffer: events (and the stream's own summary ticks) wait here for the
    /// viewer's socket, up to its bound; beyond it they are dropped and counted.
    final class Viewer: Sendable {
        enum Item: Sendable {
            case event(CheckEvent)
            /// An event from before the viewer joined.
            case replayed(CheckEvent)
            /// Time for a summary (the stream's ticker).
            case tick
        }

        let continuation: AsyncStream<Item>.Continuation
        let dropped = Atomic<Int>(0)
        init(_ continuation: AsyncStream<Item>.Continuation) { self.continuation = continuation }
    }

    init(id: String, spec: ProbeSpec, principal: Principal, run: CheckRun) {
        self.id = id
        self.spec = spec
        userID = principal.user?.id
        ouID = principal.user?.ouID
        owner = principal.displayName
        createdAt = WallClock.nowMillis()
        self.run = run
        rate = TestLimits.rate(of: spec)
        deadline = .now + TestLimits.duration(of: spec)
    }

    var status: Status { state.withLock { $0.status } }

    // MARK: From the ring threads

    /// Events a late viewer is sent first.
    static let replayLimit = 1024

    /// Records a batch of results and offers each to every viewer; never blocks.
    func deliver(_ events: [CheckEvent]) {
        state.withLock { s in
            for e in events {
                s.outcomes[e.outcome, default: 0] += 1
                if let latency = e.latency { s.latency.record(latency) }
            }
            s.recent.append(contentsOf: events)
            // Trimmed in halves, so appending stays amortised O(1).
            if s.recent.count >= 2 * Self.replayLimit { s.recent.removeFirst(s.recent.count - Self.replayLimit) }
            for viewer in s.viewers.values {
                for e in events {
                    if case .dropped = viewer.continuation.yield(.event(e)) { viewer.dropped.add(1, ordering: .relaxed) }
                }
            }
        }
    }

    // MARK: Viewers

    /// A new viewer's stream: the latest events so far (up to `replayLimit`), then each one as it
    /// comes, at most `buffer` waiting; and its record.
    func subscribe(buffer: Int) -> (AsyncStream<Viewer.Item>, Viewer)? {
        let (stream, continuation) = AsyncStream<Viewer.Item>.makeStream(bufferingPolicy: .bufferingOldest(buffer))
        let viewer = Viewer(continuation)
        let added = state.withLock { s -> Int? in
            guard s.status == .running else { return nil }
            let key = s.nextViewer
            s.nextViewer += 1
            s.viewers[key] = viewer
            // Under the lock that `deliver` takes: no event is both replayed and delivered, none skipped.
            for e in s.recent.suffix(Self.replayLimit) {
                if case .dropped = continuation.yield(.replayed(e)) { viewer.dropped.add(1, ordering: .relaxed) }
            }
            return key
        }
        guard let key = added else {
            continuation.finish()
            return nil
        }
        continuation.onTermination = { [weak self] _ in _ = self?.state.withLock { $0.viewers.removeValue(forKey: key) } }
        return (stream, viewer)
    }

    var viewerCount: Int { state.withLock { $0.viewers.count } }

    // MARK: Ending

    /// Marks the test finished with `document` (or `error`), wakes whoever waits for it and
    /// ends every viewer's stream.
    func finish(document: ResultDocument?, error: String?, stored: Bool) {
        let (viewers, waiters) = state.withLock { s -> ([Viewer], [CheckedContinuation<Void, Never>]) in
            s.document = document
            s.error = error
            s.stored = stored
            s.finishedAt = WallClock.nowMillis()
            s.finishedInstant = .now
            // The document has the figures now; the histogram (~270 KB) and the replay need not be kept.
            s.latency = LatencyStatistics()
            s.recent = []
            s.status = document == nil ? .failed : s.cancelledBy != nil ? .cancelled : .completed
            defer {
                s.viewers = [:]
                s.waiters = []
            }
            return (Array(s.viewers.values), s.waiters)
        }
        for viewer in viewers { viewer.continuation.finish() }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once the test has finished (and its result is stored, or failed to be).
    func finished() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = state.withLock { s -> Bool in
                guard s.status == .running else { return true }
                s.waiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }

    /// Stops sending; what was measured is kept. False when it had already finished.
    @discardableResult
    func cancel(by who: String) -> Bool {
        let running = state.withLock { s -> Bool in
            guard s.status == .running else { return false }
            if s.cancelledBy == nil { s.cancelledBy = who }
            return true
        }
        if running { run.cancel() }
        return running
    }

    // MARK: Reading

    /// Everything `GET /api/v1/tests/{id}` and the stream's summaries show.
    struct Snapshot: Sendable {
        var status: Status
        var cancelledBy: String?
        var document: ResultDocument?
        var error: String?
        var finishedAt: Int64?
        var stored: Bool
        var sent: UInt64
        var received: UInt64
        var latency: LatencyStatistics
        var outcomes: [String: Int]
        var elapsed: Duration
        var viewers: Int
    }

    func snapshot(latency withLatency: Bool = true) -> Snapshot {
        let progress = run.progress
        return state.withLock { s in
            Snapshot(status: s.status, cancelledBy: s.cancelledBy, document: s.document, error: s.error, finishedAt: s.finishedAt,
                     stored: s.stored, sent: progress.sent.load(ordering: .relaxed), received: progress.received.load(ordering: .relaxed),
                     latency: withLatency ? s.latency : LatencyStatistics(), outcomes: s.outcomes,
                     elapsed: (s.finishedInstant ?? .now) - startedAt,
                     viewers: s.viewers.count)
        }
    }

    /// Probes the test will send in all.
    var expectedProbes: Int { spec.count }

    /// Whether `principal` may see this test: its owner, or a reader whose scope holds its unit
    /// (global roles see every test; a plain user only their own).
    func isVisible(to principal: Principal) -> Bool {
        if let userID, principal.user?.id == userID { return true }
        guard principal.user != nil, principal.permissions.contains(.usersRead) else { return false }
        return principal.scope.ouIDs == nil || (ouID != nil && principal.scope.contains(ouID))
    }

    /// Whether `principal` may cancel it: its owner, or an administrator over its unit.
    func isCancellable(by principal: Principal) -> Bool {
        if let userID, principal.user?.id == userID { return true }
        guard principal.permissions.contains(.usersWrite) else { return false }
        return principal.scope.ouIDs == nil || (ouID != nil && principal.scope.contains(ouID))
    }
}
