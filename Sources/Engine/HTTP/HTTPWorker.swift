import ProbeModel
import CProbe

/// What runs on an HTTP ring thread: it owns the connections' fate (which
/// request goes where, when) and hears their events.
protocol HTTPWorkload: HTTPConnectionOwner {
    /// Starts what is due at `now`; returns when it next needs to be asked
    /// (nil: only completions can make progress).
    func poll(now: UInt64) -> UInt64?
    /// No more requests will be started.
    var isFinished: Bool { get }
    /// Asked once finished: close whatever is open.
    func closeAll(now: UInt64)
}

/// HTTP's client of a ring thread: the connections (one tag-only slot
/// each) and the workload that decides which request goes where, when. Each
/// runtime turn it:
///
/// 1. lets the workload start what is due (pacing, intervals, reconnects);
/// 2. times out exchanges past their deadline (a sweep, not a linked timeout
///    per operation: a load run keeps its SQE count at two per request);
/// 3. runs QUIC timers that are due (loss recovery, ACK delay, pacing);
/// 4. just before the submit, flushes the turn's output once per connection;
/// 5. hands each completion to its connection, which calls the workload back.
///
/// It is finished once the workload is (or the run was cancelled) and every
/// connection has been asked to close; idle once they all have drained.
final class HTTPWorker: RingClient {
    let slots: RingSlots
    private(set) var connections: [HTTPConnection] = []
    /// Connections with output to flush before the next submit.
    private let flushes = FlushQueue()
    /// Deadlines are checked this often (finer for small runs).
    private var sweepInterval: UInt64 = 2_000_000
    private var nextSweep: UInt64 = 0
    /// The stub resolver on this ring (a client of its own), when the
    /// workload resolves during the run.
    var dns: DNSClient? = nil
    /// Under closed-loop load: wait up to `window` ns for `count` completions
    /// before handling fewer. A server that writes each response of a burst
    /// as its own packet is then read a burst at a time, and the requests
    /// the burst frees leave in one send: measured on HTTP/2 over TLS
    /// (nginx, 100 connections x 10 streams) as 20% less CPU per request and
    /// 10% more requests/s than taking every completion as it comes. The
    /// wait never passes the loop's next wake-up (timers, pacing).
    var gathering: (count: UInt32, window: UInt64) = (1, 0)
    /// QUIC connections: their timers are run as soon as due.
    var quic = false
    private unowned var workload: HTTPWorkload! = nil
    private var closing = false
    private var cancelRequested = false

    /// One tag-only slot per connection (they own their buffers), and room
    /// in the submission queue for each connection's few operations a turn.
    static func reserve(in plan: inout SlotPlan, connections: Int) throws(ConfigurationError) -> Int {
        try plan.reserve(UInt32(max(connections, 1)), buffered: false,
                         entries: UInt32(min(8192, max(256, (connections * 8).nextPowerOfTwo))))
    }

    init(slots: RingSlots) {
        self.slots = slots
    }

    /// `exchanges`: concurrent exchanges per connection (HTTP/2 streams).
    func makeConnections(count: Int, exchanges: Int = 1, owner: HTTPWorkload) {
        precondition(count <= Int(slots.count), "more connections than reserved slots")
        workload = owner
        connections = (0..<count).map { HTTPConnection(slot: UInt32($0), ring: slots, flushes: flushes, owner: owner,
                                                          exchanges: exchanges) }
        flushes.reserve(count)
        sweepInterval = count > 1000 ? 10_000_000 : 2_000_000
    }

    // MARK: RingClient

    func poll(now: UInt64) -> UInt64? {
        var wake = workload.poll(now: now) ?? .max
        if now >= nextSweep {
            nextSweep = now + sweepInterval
            for c in connections { c.sweep(now: now) }
        }
        if !closing && (workload.isFinished || cancelRequested) {
            closing = true
            workload.closeAll(now: now)
        }
        if closing { wake = .max }
        if !connections.isEmpty { wake = min(wake, nextSweep) }
        if quic {
            for c in connections {
                if c.quicTimer <= now { c.runQUICTimer(now: now) }
                wake = min(wake, c.quicTimer)
            }
        }
        return wake == .max ? nil : wake
    }

    func beforeSubmit(now: UInt64) {
        guard !flushes.isEmpty else { return }
        let at = cprobe_monotonic_ns()
        flushes.drain { connections[Int($0)].runScheduledFlush(now: at) }
    }

    func complete(_ completion: cprobe_completion) {
        guard Int(completion.slot) < connections.count else { return }
        connections[Int(completion.slot)].complete(op: completion.op, result: completion.result, now: completion.reaped_ns)
    }

    var isFinished: Bool { closing }
    func cancel(now: UInt64) { cancelRequested = true }
    /// Closing started when the workload finished: nothing more to ask.
    func shutdown(now: UInt64) {}
    var isIdle: Bool { connections.allSatisfy(\.isIdle) }
}

/// The slots of connections that asked to flush this loop turn, in order.
final class FlushQueue {
    private var slots: [UInt32] = []

    func reserve(_ count: Int) { slots.reserveCapacity(count) }
    var isEmpty: Bool { slots.isEmpty }
    func append(_ slot: UInt32) { slots.append(slot) }

    /// Runs `body` for every slot, including those appended while it runs.
    func drain(_ body: (UInt32) -> Void) {
        var i = 0
        while i < slots.count {
            body(slots[i])
            i += 1
        }
        slots.removeAll(keepingCapacity: true)
    }
}

extension Int {
    var nextPowerOfTwo: Int { self <= 1 ? 1 : 1 << (Int.bitWidth - (self - 1).leadingZeroBitCount) }
}
