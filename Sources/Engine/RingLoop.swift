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

/// The thin shell that drives one ring thread: it owns the ring, the
/// scheduler state machine and one kind's driver, and runs this loop:
///
/// 1. poll the scheduler with the current time and perform its actions:
///    expire overdue probes, start the probes that pacing allows;
/// 2. submit queued SQEs and wait for a completion, at most until the
///    scheduler's next wake-up;
/// 3. hand every harvested completion to the driver, then let it finish the
///    batch (error queues, RTTs); finished probes come back through `finish`.
///
/// It ends when the scheduler reports `.finished` and the driver is idle.
final class RingLoop: ProbeSink {
    private var scheduler: ProbeScheduler
    private var driver: (any ProbeDriver)!
    let ring: Ring
    let threadIndex: Int
    let threadCount: Int
    private(set) var summaries: [ProbeSummary]
    private let progress: RunProgress
    private let observer: (@Sendable ([ProbeResult]) -> Void)?
    private var pendingResults: [ProbeResult] = []

    static let completionCapacity: UInt32 = 4096
    static let maximumWait: UInt64 = 20_000_000
    /// Probes started per loop iteration at most: bursts stay within what the
    /// posted receives and socket buffers absorb before the next reap.
    static let startsPerIteration = 256
    /// Longest wait for a reply to arrive together with its send's completion.
    static let gatherWindow: UInt64 = 1_000_000

    init(kind: any ProbeKind.Type, targets: [ProbeTarget], settings: ProbeSettings,
         threadIndex: Int, threadCount: Int, progress: RunProgress,
         observer: (@Sendable ([ProbeResult]) -> Void)?) throws {
        let probeSlots = UInt32(min(settings.concurrency, max(targets.count, 1) * Self.maxOverlap(settings)))
        let auxiliary: UInt32 = 256
        let bufferSize = UInt32(max(settings.size, settings.expectBytes) + 1024)
        ring = try Ring(entries: 4096, slots: probeSlots + auxiliary, bufferSize: bufferSize)
        var perThread = settings
        perThread.rate = settings.rate.map { $0 / Double(threadCount) }
        scheduler = ProbeScheduler(.init(
            targetCount: targets.count, count: settings.count, interval: settings.interval,
            rate: perThread.rate, concurrency: Int(probeSlots), timeout: settings.timeout))
        self.threadIndex = threadIndex
        self.threadCount = threadCount
        self.progress = progress
        self.observer = observer
        summaries = Array(repeating: ProbeSummary(), count: targets.count)
        if observer != nil { pendingResults.reserveCapacity(1024) }
        let context = DriverContext(ring: ring, targets: targets, settings: settings,
                                    probeSlots: probeSlots, auxiliarySlots: auxiliary, sink: self)
        driver = try kind.makeDriver(context)
    }

    /// How many probes of one target can be in flight at once.
    private static func maxOverlap(_ s: ProbeSettings) -> Int {
        let overlap = s.interval == 0 ? Int.max / 2 : Int(s.timeout / max(s.interval, 1)) + 1
        return min(overlap, s.count ?? Int.max / 2)
    }

    /// The driver's note for the report.
    var note: String? { driver.note }

    func run() throws {
        var actions: [ProbeScheduler.Action] = []
        actions.reserveCapacity(Int(Self.completionCapacity))
        let completions = UnsafeMutablePointer<cprobe_completion>.allocate(capacity: Int(Self.completionCapacity))
        defer { completions.deallocate() }
        var schedulerDone = false
        var shutdownRequested = false
        var cancelSeen = false

        while true {
            let now = cprobe_monotonic_ns()
            if !cancelSeen && progress.cancelled.load(ordering: .relaxed) {
                cancelSeen = true
                scheduler.cancel()
            }
            actions.removeAll(keepingCapacity: true)
            scheduler.poll(now: now, maxStarts: Self.startsPerIteration, into: &actions)
            for action in actions {
                switch action {
                case .start(let slot, let generation, let target, let sequence):
                    driver.start(slot: slot, generation: generation, target: target, sequence: sequence, now: now)
                case .expire(let slot, let generation):
                    driver.expire(slot: slot, generation: generation, now: now)
                case .finished:
                    schedulerDone = true
                }
            }
            if schedulerDone {
                // Repeated until idle: a cancel only reaches requests the kernel
                // has armed by then.
                if !shutdownRequested || !driver.isIdle {
                    shutdownRequested = true
                    driver.shutdown()
                }
                if driver.isIdle && cprobe_ring_pending(ring.pointer) == 0 { break }
            }
            var wait = Self.maximumWait
            if let wake = scheduler.nextWakeup { wait = wake > now ? min(wake - now, wait) : 0 }
            // A datagram send completes as it is submitted: waiting for one
            // more completion than those lets the thread sleep at once, so an
            // echo server sharing its CPU runs (and answers) without waiting
            // for this loop to go round for the send's completion. At most
            // 1 ms: a send that failed (an ICMP error left on the socket)
            // brings no second completion, and its one resend must not wait
            // for the loop's whole sleep.
            let immediate = driver.takeImmediateCompletions()
            let n = try ring.run(into: completions, capacity: Self.completionCapacity, waitNanoseconds: wait,
                                 gather: immediate + 1, window: min(wait, Self.gatherWindow))
            for i in 0..<n { driver.complete(completions[i]) }
            driver.afterCompletions(now: cprobe_monotonic_ns())
            flushResults()
        }
        flushResults()
    }

    // MARK: ProbeSink

    func finish(slot: UInt32, generation: UInt32, result: ProbeResult) {
        scheduler.completed(slot: slot, generation: generation)
        summaries[Int(result.target)].record(result)
        progress.sent.add(1, ordering: .relaxed)
        if result.outcome.isSuccess { progress.received.add(1, ordering: .relaxed) }
        if observer != nil {
            var r = result
            r.target = Int32(Int(result.target) * threadCount + threadIndex)
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
