import Engine
import Foundation
import Logging
import ProbeModel
import Synchronization

/// Runs each check every `every_s`, for ever, on the monotonic clock (a wall-clock jump moves
/// nothing).
///
/// - **Spread.** A check's runs start at a stable offset within its interval, a hash of its id
///   (as Prometheus spreads scrapes), so a thousand checks at 10 s start about ten apart per
///   10 ms rather than all at once, and a restarted agent keeps each check's phase.
/// - **Batches.** Checks due within the same `window` start together in one `CheckRun` (one
///   ring thread for the lot), at the window's start: a start is at most `window` early. Each
///   run costs ~1.7 ms of CPU to set up, so the window trades start accuracy for CPU (the
///   agent's default is 25 ms).
/// - **No overlap.** A check whose previous run has not ended skips the slot, and the skip is
///   counted and logged.
/// - **Changes.** `update` replaces the set: a check that keeps its id and interval keeps its
///   schedule; others start at their next slot.
public final class CheckScheduler: Sendable {
    public struct Statistics: Sendable, Equatable {
        public var configured = 0
        public var running = 0
        public var runs: Int64 = 0
        public var skipped: Int64 = 0
        /// Start minus slot (ns) of the last runs (at most 4096): how late checks start.
        public var lateness: [Int64] = []

        /// `runs, skipped, lateness p50/p99/max` for the log.
        public var summary: String {
            let sorted = lateness.sorted()
            func ms(_ q: Double) -> String {
                guard !sorted.isEmpty else { return "-" }
                let rank = max(1, Int((Double(sorted.count) * q).rounded(.up)))
                return String(format: "%.1f", Double(sorted[rank - 1]) / 1e6)
            }
            return "\(runs) runs, \(skipped) skipped, start lateness (last \(sorted.count)) p50 \(ms(0.5)) ms, p99 \(ms(0.99)) ms, max \(ms(1)) ms"
        }
    }

    /// What a batch produced: each document with its check's id.
    public typealias Delivery = @Sendable (_ documents: [ResultDocument], _ checkIDs: [String]) async -> Void

    private struct Entry {
        var check: ScheduledCheck
        var every: Int64
        var offset: Int64
        var generation: UInt64
        var running = false
    }

    private struct State {
        var entries: [String: Entry] = [:]
        /// Window number → (check id, generation) due in it; `windows` orders the numbers.
        var buckets: [Int64: [(String, UInt64)]] = [:]
        var windows = MinHeap()

        mutating func schedule(_ id: String, _ generation: UInt64, window: Int64) {
            if buckets[window] == nil { windows.push(window) }
            buckets[window, default: []].append((id, generation))
        }
        var generation: UInt64 = 0
        var stopped = false
        var inFlight: [UInt64: CheckRun] = [:]
        var nextRun: UInt64 = 0
        var statistics = Statistics()
        var latenessNext = 0
        /// The run loop's sleep, and whether something changed since it last looked.
        var sleeper: Task<Void, Never>?
        var changed = false
    }

    public let window: Int64
    private let origin = ContinuousClock.now
    private let state = Mutex(State())
    private let logger: Logger

    public init(window: Duration = .milliseconds(10), logger: Logger) {
        self.window = Int64(window.components.seconds) * 1_000_000_000 + window.components.attoseconds / 1_000_000_000
        self.logger = logger
    }

    /// Nanoseconds since the scheduler was made (monotonic).
    private func now() -> Int64 {
        let d = ContinuousClock.now - origin
        return d.components.seconds * 1_000_000_000 + d.components.attoseconds / 1_000_000_000
    }

    /// A check's offset within its interval: FNV-1a of its id.
    static func offset(of id: String, every: Int64) -> Int64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in id.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return Int64(hash % UInt64(every))
    }

    /// The first slot at or after `after`.
    private static func slot(after: Int64, every: Int64, offset: Int64) -> Int64 {
        let k = (after - offset + every - 1) / every
        return max(0, k) * every + offset
    }

    /// Replaces the checks (enabled ones only run). Validated by the caller.
    public func update(_ checks: [ScheduledCheck]) {
        let now = self.now()
        state.withLock { s in
            var next: [String: Entry] = [:]
            for check in checks where check.enabled {
                let every = Int64(check.everyMilliseconds) * 1_000_000
                if var kept = s.entries[check.id], kept.every == every {
                    kept.check = check
                    next[check.id] = kept
                    continue
                }
                s.generation += 1
                let offset = Self.offset(of: check.id, every: every)
                var entry = Entry(check: check, every: every, offset: offset, generation: s.generation)
                entry.running = s.entries[check.id]?.running ?? false
                next[check.id] = entry
                let due = Self.slot(after: now, every: every, offset: offset)
                s.schedule(check.id, entry.generation, window: due / window)
            }
            s.entries = next
            s.statistics.configured = next.count
        }
        wakeUp()
    }

    private func wakeUp() {
        let sleeper = state.withLock { s in
            s.changed = true
            defer { s.sleeper = nil }
            return s.sleeper
        }
        sleeper?.cancel()
    }

    public var statistics: Statistics { state.withLock { $0.statistics } }

    /// Starts due checks until `stop`; `deliver` receives each run's documents.
    public func run(deliver: @escaping Delivery) async {
        while true {
            let now = self.now()
            let current = now / window
            let (due, sleepUntil, stopped) = state.withLock { s -> ([(String, UInt64)], Int64?, Bool) in
                if s.stopped { return ([], nil, true) }
                var due: [(String, UInt64)] = []
                while let first = s.windows.first, first <= current {
                    s.windows.pop()
                    due += s.buckets.removeValue(forKey: first) ?? []
                }
                return (due, s.windows.first.map { $0 * window }, false)
            }
            if stopped { return }
            if !due.isEmpty { start(due, window: current * window, now: now, deliver: deliver) }
            // Sleep to the next window with work (or a change), at most a second.
            let target = min(sleepUntil ?? (now + 1_000_000_000), now + 1_000_000_000)
            if target > now {
                let sleeper = Task { _ = try? await Task.sleep(for: .nanoseconds(target - now), tolerance: .microseconds(100)) }
                // A change since the loop looked (`update`, `stop`) ends the sleep at once.
                let changed = state.withLock { s in
                    defer { s.changed = false }
                    if !s.changed { s.sleeper = sleeper }
                    return s.changed
                }
                if changed { sleeper.cancel() }
                await sleeper.value
            }
        }
    }

    /// Starts one batch of the due checks that are not still running; reschedules each.
    private func start(_ due: [(String, UInt64)], window start: Int64, now: Int64, deliver: @escaping Delivery) {
        var checks: [ScheduledCheck] = []
        var slots: [Int64] = []
        var skipped: [String] = []
        var deadline: Int64 = 0
        let runID = state.withLock { s -> UInt64 in
            for (id, generation) in due {
                guard var entry = s.entries[id], entry.generation == generation else { continue }
                let slot = Self.slot(after: start, every: entry.every, offset: entry.offset)
                // The next slot after this one (after now, if the agent fell behind).
                let next = Self.slot(after: max(slot + 1, now - entry.every + 1), every: entry.every, offset: entry.offset)
                s.schedule(id, generation, window: next / window)
                if entry.running {
                    s.statistics.skipped += 1
                    skipped.append(id)
                    continue
                }
                entry.running = true
                s.entries[id] = entry
                checks.append(entry.check)
                slots.append(slot)
                deadline = max(deadline, Int64(entry.check.spec.runMilliseconds) * 1_000_000)
            }
            s.statistics.running += checks.count
            s.nextRun += 1
            return s.nextRun
        }
        if !skipped.isEmpty {
            logger.warning("skipped a run: the previous one has not ended", metadata: ["checks": "\(skipped.prefix(10).joined(separator: ", "))"])
        }
        guard !checks.isEmpty else { return }
        let run: CheckRun
        do {
            run = try CheckRun(checks.map(\.spec))
        } catch {
            // Validated before they got here; a bug if not.
            logger.error("cannot run checks: \(error)")
            finish(checks.map(\.id))
            return
        }
        state.withLock { $0.inFlight[runID] = run }
        let longest = deadline, started = checks, slotTimes = slots
        Task {
            let startedAt = self.now()
            self.record(lateness: slotTimes.map { startedAt - $0 })
            // A run that outlives its longest check by far is cut short (it still reports).
            let watchdog = Task {
                try await Task.sleep(for: .nanoseconds(longest + 2_000_000_000))
                run.cancel()
            }
            defer { watchdog.cancel() }
            var documents: [ResultDocument]
            do {
                documents = try await run.run().documents
            } catch {
                // The run failed as a whole (no ring, no memory): each check says so.
                let wall = Int64(Date().timeIntervalSince1970 * 1000)
                documents = started.map { check in
                    var d = ResultDocument(testType: check.spec.kind, target: check.spec.target, outcome: "error", success: false)
                    d.createdAt = wall
                    d.details["message"] = .text("\(error)")
                    return d
                }
            }
            for i in documents.indices { documents[i].details["check"] = .text(started[i].id) }
            await deliver(documents, started.map(\.id))
            self.finish(started.map(\.id), runID: runID)
        }
    }

    private func finish(_ ids: [String], runID: UInt64? = nil) {
        state.withLock { s in
            for id in ids { s.entries[id]?.running = false }
            s.statistics.running -= ids.count
            s.statistics.runs += Int64(ids.count)
            if let runID { s.inFlight[runID] = nil }
        }
    }

    private func record(lateness: [Int64]) {
        state.withLock { s in
            for l in lateness {
                if s.statistics.lateness.count < 4096 {
                    s.statistics.lateness.append(l)
                } else {
                    s.statistics.lateness[s.latenessNext] = l
                    s.latenessNext = (s.latenessNext + 1) % 4096
                }
            }
        }
    }

    /// Stops starting runs; waits up to `grace` for the runs in progress, then cancels them
    /// (a cancelled run still reports what it measured) and waits for them to report.
    public func stop(grace: Duration) async {
        state.withLock { $0.stopped = true }
        wakeUp()
        let deadline = ContinuousClock.now + grace
        while ContinuousClock.now < deadline, state.withLock({ !$0.inFlight.isEmpty }) {
            try? await Task.sleep(for: .milliseconds(20))
        }
        let left = state.withLock { Array($0.inFlight.values) }
        if !left.isEmpty { logger.info("abandoning \(left.count) runs in progress after the grace period") }
        for run in left { run.cancel() }
        while state.withLock({ !$0.inFlight.isEmpty }) {
            try? await Task.sleep(for: .milliseconds(10))
        }
    }
}

/// A binary min-heap of window numbers.
struct MinHeap {
    private var items: [Int64] = []

    var first: Int64? { items.first }

    mutating func push(_ value: Int64) {
        items.append(value)
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard items[parent] > items[i] else { break }
            items.swapAt(parent, i)
            i = parent
        }
    }

    mutating func pop() {
        guard !items.isEmpty else { return }
        items.swapAt(0, items.count - 1)
        items.removeLast()
        var i = 0
        while true {
            let left = 2 * i + 1, right = left + 1
            var smallest = i
            if left < items.count && items[left] < items[smallest] { smallest = left }
            if right < items.count && items[right] < items[smallest] { smallest = right }
            guard smallest != i else { return }
            items.swapAt(i, smallest)
            i = smallest
        }
    }
}
