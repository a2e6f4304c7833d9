import CProbe
import Foundation
import Synchronization

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

/// The thin shell of one HTTP ring thread. Its loop, in order:
///
/// 1. let the workload start what is due (pacing, intervals, reconnects);
/// 2. time out exchanges past their deadline (a sweep, not a linked timeout
///    per operation: a load run keeps its SQE count at two per request);
/// 3. flush the output the last turn produced, once per connection;
/// 4. submit and wait for completions, at most until the next wake-up;
/// 5. hand each completion to its connection, which calls the workload back.
///
/// It ends when the workload is finished and every connection has drained.
final class HTTPWorker {
    let ring: Ring
    private(set) var connections: [HTTPConnection] = []
    /// Connections with output to flush before the next submit.
    private let flushes = FlushQueue()
    static let completionCapacity: UInt32 = 4096
    static let maximumWait: UInt64 = 20_000_000
    /// Deadlines are checked this often (finer for small runs).
    private var sweepInterval: UInt64 = 2_000_000
    /// The stub resolver on this ring, when the workload resolves during the run.
    var dns: DNSClient? = nil
    /// Under closed-loop load: wait up to `window` ns for `count` completions
    /// before handling fewer. A server that writes each response of a burst
    /// as its own packet is then read a burst at a time, and the requests
    /// the burst frees leave in one send: measured on HTTP/2 over TLS
    /// (nginx, 100 connections x 10 streams) as 20% less CPU per request and
    /// 10% more requests/s than taking every completion as it comes. The
    /// wait never passes the loop's next wake-up (timers, pacing).
    var gathering: (count: UInt32, window: UInt64) = (1, 0)
    /// QUIC connections: the loop also wakes for their timers (loss
    /// recovery, ACK delay, pacing), which are run as soon as due.
    var quic = false

    init(connectionCount: Int) throws {
        // The connections own their buffers; ring slots only carry tags.
        let entries = UInt32(min(8192, max(256, (connectionCount * 8).nextPowerOfTwo)))
        ring = try Ring(entries: entries, slots: 1, bufferSize: 64)
    }

    /// `exchanges`: concurrent exchanges per connection (HTTP/2 streams).
    func makeConnections(count: Int, exchanges: Int = 1, owner: HTTPConnectionOwner) {
        connections = (0..<count).map { HTTPConnection(slot: UInt32($0), ring: ring, flushes: flushes, owner: owner,
                                                          exchanges: exchanges) }
        flushes.reserve(count)
        sweepInterval = count > 1000 ? 10_000_000 : 2_000_000
    }

    func run(_ workload: HTTPWorkload, cancelled: borrowing Atomic<Bool>) throws {
        let completions = UnsafeMutablePointer<cprobe_completion>.allocate(capacity: Int(Self.completionCapacity))
        defer { completions.deallocate() }
        var nextSweep: UInt64 = 0
        var closing = false
        while true {
            let now = cprobe_monotonic_ns()
            var wake = workload.poll(now: now)
            if now >= nextSweep {
                nextSweep = now + sweepInterval
                for c in connections { c.sweep(now: now) }
                dns?.sweep(now: now)
            }
            if !closing && (workload.isFinished || cancelled.load(ordering: .relaxed)) {
                closing = true
                workload.closeAll(now: now)
                dns?.cancelAll(now: now)
            }
            if closing {
                if connections.allSatisfy({ $0.isIdle }) && (dns?.isIdle ?? true) && cprobe_ring_pending(ring.pointer) == 0 {
                    break
                }
                wake = nil
            }
            var wait = Self.maximumWait
            if !connections.isEmpty { wait = min(wait, sweepInterval) }
            if quic {
                var timer = UInt64.max
                for c in connections {
                    let t = c.quicTimer
                    if t <= now { c.runQUICTimer(now: now) }
                    timer = min(timer, c.quicTimer)
                }
                if timer != .max { wait = timer > now ? min(timer - now, wait) : 0 }
            }
            if let wake { wait = wake > now ? min(wake - now, wait) : 0 }
            if !flushes.isEmpty {
                let at = cprobe_monotonic_ns()
                flushes.drain { connections[Int($0)].runScheduledFlush(now: at) }
            }
            let n = try ring.run(into: completions, capacity: Self.completionCapacity, waitNanoseconds: wait,
                                 gather: gathering.count, window: gathering.window)
            dispatch(completions, n)
        }
    }

    private func dispatch(_ completions: UnsafeMutablePointer<cprobe_completion>, _ n: Int) {
        for i in 0..<n {
            let c = completions[i]
            if c.slot >= DNSClient.slotBase {
                dns?.complete(slot: c.slot, op: c.op, result: c.result, now: c.reaped_ns)
                continue
            }
            guard Int(c.slot) < connections.count else { continue }
            connections[Int(c.slot)].complete(op: c.op, result: c.result, now: c.reaped_ns)
        }
    }
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
