import ProbeModel
import CProbe
import Synchronization

/// Live counters of a run, readable from any thread (for progress lines).
public final class RunProgress: Sendable {
    public let sent = Atomic<UInt64>(0)
    public let received = Atomic<UInt64>(0)
    public let finished = Atomic<UInt64>(0)
    let cancelled = Atomic<Bool>(false)

    public init() {}
}

/// One probe kind's share of a ring thread: a `ProbeScheduler` paces its
/// targets and its kind's driver sends and matches. Its slots: one per
/// probe in flight, then the driver's own (posted receives).
final class ProbeClient: RingClient, ProbeSink {
    private var scheduler: ProbeScheduler
    private var driver: (any ProbeDriver)!
    /// Each target's index in the run (results name the run's targets).
    private let runIndices: [Int32]
    private(set) var summaries: [ProbeSummary]
    private let progress: RunProgress
    private let observer: (@Sendable ([ProbeResult]) -> Void)?
    private var pendingResults: [ProbeResult] = []
    private var actions: [ProbeScheduler.Action] = []
    /// Targets whose name did not resolve, by index: their probes are decided as they start.
    private let unresolved: [Bool]
    private var shutdownRequested = false

    /// Probes started per turn at most: bursts stay within what the posted
    /// receives and socket buffers absorb before the next reap.
    static let startsPerTurn = 256
    /// Slots the driver keeps for itself (posted receives).
    static let auxiliarySlots: UInt32 = 256

    /// What the client needs of the ring: one slot per probe that may be in
    /// flight, plus the driver's, with buffers for the payload.
    static func reserve(in plan: inout SlotPlan, targets: Int, settings: ProbeSettings) throws(ConfigurationError) -> Int {
        try plan.reserve(probeSlots(targets: targets, settings: settings) + auxiliarySlots, buffered: true,
                         bufferSize: UInt32(max(settings.size, settings.expectBytes) + 1024), entries: 4096)
    }

    private static func probeSlots(targets: Int, settings s: ProbeSettings) -> UInt32 {
        // How many probes of one target can be in flight at once.
        let overlap = s.interval == 0 ? Int.max / 2 : Int(s.timeout / max(s.interval, 1)) + 1
        return UInt32(min(s.concurrency, max(targets, 1) * min(overlap, s.count ?? Int.max / 2)))
    }

    /// `runIndices`: each of `targets`' index in the whole run. `settings.rate` is this
    /// client's share of the run's rate.
    init(kind: any ProbeKind.Type, targets: [ProbeTarget], runIndices: [Int], settings: ProbeSettings, slots: RingSlots,
         progress: RunProgress, observer: (@Sendable ([ProbeResult]) -> Void)?) throws {
        let probeSlots = Self.probeSlots(targets: targets.count, settings: settings)
        precondition(slots.count == probeSlots + Self.auxiliarySlots, "reserved with other settings")
        scheduler = ProbeScheduler(.init(
            targetCount: targets.count, count: settings.count, interval: settings.interval,
            rate: settings.rate, concurrency: Int(probeSlots), timeout: settings.timeout))
        self.runIndices = runIndices.map { Int32($0) }
        self.progress = progress
        self.observer = observer
        summaries = Array(repeating: ProbeSummary(), count: targets.count)
        unresolved = targets.map { !$0.isResolved }
        actions.reserveCapacity(Self.startsPerTurn + 64)
        if observer != nil { pendingResults.reserveCapacity(1024) }
        let context = DriverContext(slots: slots, targets: targets, settings: settings,
                                    probeSlots: probeSlots, auxiliarySlots: Self.auxiliarySlots, sink: self)
        driver = try kind.makeDriver(context)
    }

    /// The driver's note for the report.
    var note: String? { driver.note }

    // MARK: RingClient

    func poll(now: UInt64) -> UInt64? {
        actions.removeAll(keepingCapacity: true)
        scheduler.poll(now: now, maxStarts: Self.startsPerTurn, into: &actions)
        var decidedAtStart = false
        for action in actions {
            switch action {
            case .start(let slot, let generation, let target, let sequence):
                if unresolved[Int(target)] {
                    // Nothing to send: the probe is decided as it starts.
                    decidedAtStart = true
                    finish(slot: slot, generation: generation,
                           result: ProbeResult(target: target, sequence: sequence, outcome: .unresolved, sentAt: now))
                } else {
                    driver.start(slot: slot, generation: generation, target: target, sequence: sequence, now: now)
                }
            case .expire(let slot, let generation):
                driver.expire(slot: slot, generation: generation, now: now)
            case .finished:
                break
            }
        }
        // The scheduler sees those at once (the run may be over): poll again without sleeping.
        return decidedAtStart ? now : scheduler.nextWakeup
    }

    func complete(_ completion: cprobe_completion) { driver.complete(completion) }

    func afterCompletions(now: UInt64) {
        driver.afterCompletions(now: now)
        flushResults()
    }

    var isFinished: Bool { scheduler.isFinished }

    func cancel(now: UInt64) { scheduler.cancel() }

    func shutdown(now: UInt64) {
        // Repeated until idle: a cancel only reaches requests the kernel has armed by then.
        if !shutdownRequested || !driver.isIdle {
            shutdownRequested = true
            driver.shutdown()
        }
    }

    var isIdle: Bool { driver.isIdle }

    func takeImmediateCompletions() -> UInt32 { driver.takeImmediateCompletions() }

    // MARK: ProbeSink

    func finish(slot: UInt32, generation: UInt32, result: ProbeResult) {
        scheduler.completed(slot: slot, generation: generation)
        summaries[Int(result.target)].record(result)
        progress.sent.add(1, ordering: .relaxed)
        if result.outcome.isSuccess { progress.received.add(1, ordering: .relaxed) }
        if observer != nil {
            var r = result
            r.target = runIndices[Int(result.target)]
            pendingResults.append(r)
        }
    }

    func duplicate(target: Int32) { summaries[Int(target)].duplicates += 1 }
    func reordered(target: Int32) { summaries[Int(target)].reordered += 1 }

    private func flushResults() {
        guard let observer, !pendingResults.isEmpty else { return }
        observer(pendingResults)
        pendingResults.removeAll(keepingCapacity: true)
    }
}
