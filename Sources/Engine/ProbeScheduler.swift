/// The probe scheduler: a pure state machine with an injected clock. The
/// ring loop feeds it the time and completions and performs the actions it
/// returns; it never does I/O itself, so it is tested as transcripts.
///
/// Semantics follow fping:
/// - `interval` is the per-target period: a target's next probe is due that
///   long after its previous one was sent, whether or not it was answered;
/// - `rate` caps probes per second across all targets (with up to 1 ms of
///   catch-up burst so a coarse wake-up does not lower the rate);
/// - `concurrency` caps probes in flight; a probe stays in flight until
///   its driver reports it finished, even after its deadline expired;
/// - `timeout` is per probe; at the deadline the scheduler asks the driver to
///   expire the probe once.
/// Targets are served in order; a target whose next probe is due waits
/// behind those due earlier (one FIFO, since every target has the same period).
///
/// With `overlap` off (HTTP: one request per target at a time) a target's
/// next probe is queued when its previous one finishes, due `interval` after
/// that one started or at once if it outlasted the interval; those due times
/// are not in start order, so they are kept in a heap.
public struct ProbeScheduler: Sendable {
    public struct Configuration: Sendable, Equatable {
        public var targetCount: Int
        /// Probes per target; nil: until cancelled.
        public var count: Int?
        /// Per-target period, nanoseconds.
        public var interval: UInt64
        /// Global probes per second; nil: unlimited.
        public var rate: Double?
        public var concurrency: Int
        /// Per-probe timeout, nanoseconds.
        public var timeout: UInt64
        /// A target's next probe may start while its previous one is in flight.
        public var overlap: Bool

        public init(targetCount: Int, count: Int?, interval: UInt64, rate: Double?,
                    concurrency: Int, timeout: UInt64, overlap: Bool = true) {
            self.targetCount = targetCount
            self.count = count
            self.interval = interval
            self.rate = rate
            self.concurrency = concurrency
            self.timeout = timeout
            self.overlap = overlap
        }
    }

    public enum Action: Equatable, Sendable {
        /// Send probe number `sequence` to `target` in `slot`.
        case start(slot: UInt32, generation: UInt32, target: Int32, sequence: UInt32)
        /// The probe in `slot` passed its deadline: finish it as a timeout.
        case expire(slot: UInt32, generation: UInt32)
        /// Nothing is left to send and nothing is in flight.
        case finished
    }

    private struct Slot: Sendable {
        var generation: UInt32 = 0
        var active = false
        var expired = false
        /// Without overlap: whose probe, started when, and which (to queue the next one).
        var target: Int32 = 0
        var sequence: UInt32 = 0
        var startedAt: UInt64 = 0
    }

    private struct Deadline: Sendable {
        var at: UInt64
        var slot: UInt32
        var generation: UInt32
    }

    private struct Due: Sendable {
        var at: UInt64
        var target: Int32
    }

    public let configuration: Configuration
    private var slots: [Slot]
    private var free: [UInt32]
    private var deadlines = RingBuffer<Deadline>(capacity: 1024)
    /// Targets whose next probe is queued, in due order (overlap: a FIFO).
    private var due = RingBuffer<Due>(capacity: 1024)
    /// Without overlap: the same, as a heap on (due time, order queued).
    private var dueHeap = DueHeap()
    /// Targets not yet probed at all: [nextFirstRound, targetCount).
    private var nextFirstRound = 0
    private var sentPerTarget: [UInt32]
    private var startedAt: UInt64? = nil
    private var nextSendAt: UInt64 = 0
    private let spacing: UInt64
    private let burst: UInt64
    private var cancelled = false
    private var didFinish = false
    public private(set) var inFlight = 0
    public private(set) var started: UInt64 = 0

    public init(_ configuration: Configuration) {
        precondition(configuration.concurrency > 0 && configuration.concurrency <= Int(UInt32.max))
        self.configuration = configuration
        slots = Array(repeating: Slot(), count: configuration.concurrency)
        free = (0..<UInt32(configuration.concurrency)).reversed()
        sentPerTarget = Array(repeating: 0, count: configuration.targetCount)
        if let rate = configuration.rate, rate > 0 {
            spacing = UInt64(1e9 / rate)
            burst = Swift.max(spacing, 1_000_000)
        } else {
            spacing = 0
            burst = 0
        }
    }

    public var isFinished: Bool { didFinish }

    /// Advances to `now` and appends what the shell must do, in order:
    /// 1. expire in-flight probes whose deadline has passed;
    /// 2. start every probe that is due, within concurrency and rate;
    /// 3. report `.finished` once, when nothing is left.
    /// `maxStarts` bounds the starts of one poll so the shell can reap replies
    /// between bursts (the socket buffers are finite).
    public mutating func poll(now: UInt64, maxStarts: Int = .max, into actions: inout [Action]) {
        if startedAt == nil { startedAt = now; nextSendAt = now }

        while let head = deadlines.first {
            let s = slots[Int(head.slot)]
            if !s.active || s.generation != head.generation || s.expired {
                deadlines.removeFirst()
                continue
            }
            guard head.at <= now || cancelled else { break }
            deadlines.removeFirst()
            slots[Int(head.slot)].expired = true
            actions.append(.expire(slot: head.slot, generation: head.generation))
        }

        if !cancelled {
            var budget = maxStarts
            while budget > 0, !free.isEmpty, let target = nextDueTarget(now: now) {
                budget -= 1
                if spacing > 0 {
                    guard now >= nextSendAt else { break }
                    nextSendAt = Swift.max(nextSendAt, now - Swift.min(now, burst)) + spacing
                }
                takeDueTarget(target)
                let slot = free.removeLast()
                slots[Int(slot)].generation &+= 1
                slots[Int(slot)].active = true
                slots[Int(slot)].expired = false
                let generation = slots[Int(slot)].generation
                let sequence = sentPerTarget[Int(target)]
                sentPerTarget[Int(target)] += 1
                inFlight += 1
                started += 1
                deadlines.append(Deadline(at: now + configuration.timeout, slot: slot, generation: generation))
                if !configuration.overlap {
                    slots[Int(slot)].target = target
                    slots[Int(slot)].sequence = sequence
                    slots[Int(slot)].startedAt = now
                } else if configuration.count.map({ Int(sequence) + 1 < $0 }) ?? true {
                    due.append(Due(at: now + configuration.interval, target: target))
                }
                actions.append(.start(slot: slot, generation: generation, target: target, sequence: sequence))
            }
        }

        if !didFinish && inFlight == 0
            && (cancelled || (nextFirstRound == configuration.targetCount && due.isEmpty && dueHeap.isEmpty)) {
            didFinish = true
            actions.append(.finished)
        }
    }

    /// The driver finished the probe in `slot` at `now` (used without overlap,
    /// to queue the target's next probe). Stale generations are ignored.
    public mutating func completed(slot: UInt32, generation: UInt32, now: UInt64 = 0) {
        guard Int(slot) < slots.count else { return }
        let s = slots[Int(slot)]
        guard s.active, s.generation == generation else { return }
        slots[Int(slot)].active = false
        free.append(slot)
        inFlight -= 1
        if !configuration.overlap && !cancelled && (configuration.count.map { Int(s.sequence) + 1 < $0 } ?? true) {
            dueHeap.push(at: Swift.max(s.startedAt + configuration.interval, now), target: s.target)
        }
    }

    /// Stops sending; probes in flight expire at the next poll.
    public mutating func cancel() {
        cancelled = true
        due.removeAll()
        dueHeap.removeAll()
        nextFirstRound = configuration.targetCount
    }

    /// When the shell must poll again at the latest (nil: only on completions).
    public var nextWakeup: UInt64? {
        var wake: UInt64? = deadlines.first?.at
        if !cancelled, !free.isEmpty {
            var next: UInt64? = nil
            if nextFirstRound < configuration.targetCount { next = startedAt ?? 0 }
            else if let d = due.first { next = d.at }
            else if let d = dueHeap.first { next = d.at }
            if var n = next {
                if spacing > 0 { n = Swift.max(n, nextSendAt) }
                wake = Swift.min(wake ?? n, n)
            }
        }
        return wake
    }

    private func nextDueTarget(now: UInt64) -> Int32? {
        if nextFirstRound < configuration.targetCount {
            // First-round targets were due at the start: nothing re-queued can
            // be due earlier.
            return Int32(nextFirstRound)
        }
        if let d = due.first, d.at <= now { return d.target }
        if let d = dueHeap.first, d.at <= now { return d.target }
        return nil
    }

    private mutating func takeDueTarget(_ target: Int32) {
        if nextFirstRound < configuration.targetCount { nextFirstRound += 1 }
        else if configuration.overlap { due.removeFirst() }
        else { dueHeap.removeFirst() }
    }
}

/// A binary min-heap of due targets, ordered by due time and then by the
/// order they were queued (equal times keep FIFO order).
struct DueHeap: Sendable {
    struct Entry: Sendable {
        var at: UInt64
        var order: UInt64
        var target: Int32
        func precedes(_ other: Entry) -> Bool { at != other.at ? at < other.at : order < other.order }
    }

    private var entries: [Entry] = []
    private var queued: UInt64 = 0

    var isEmpty: Bool { entries.isEmpty }
    var first: Entry? { entries.first }

    mutating func push(at: UInt64, target: Int32) {
        queued += 1
        entries.append(Entry(at: at, order: queued, target: target))
        var i = entries.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard entries[i].precedes(entries[parent]) else { break }
            entries.swapAt(i, parent)
            i = parent
        }
    }

    @discardableResult
    mutating func removeFirst() -> Entry {
        let top = entries[0]
        let last = entries.removeLast()
        guard !entries.isEmpty else { return top }
        entries[0] = last
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < entries.count && entries[l].precedes(entries[m]) { m = l }
            if r < entries.count && entries[r].precedes(entries[m]) { m = r }
            if m == i { break }
            entries.swapAt(i, m)
            i = m
        }
        return top
    }

    mutating func removeAll() { entries.removeAll() }
}
