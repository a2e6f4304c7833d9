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
/// 3. submit and wait for completions, at most until the next wake-up;
/// 4. hand each completion to its connection, which calls the workload back.
///
/// It ends when the workload is finished and every connection has drained.
final class HTTPWorker {
    let ring: Ring
    private(set) var connections: [HTTPConnection] = []
    static let completionCapacity: UInt32 = 4096
    static let maximumWait: UInt64 = 20_000_000
    /// Deadlines are checked this often (finer for small runs).
    private var sweepInterval: UInt64 = 2_000_000
    /// The stub resolver on this ring, when the workload resolves during the run.
    var dns: DNSClient? = nil
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
        connections = (0..<count).map { HTTPConnection(slot: UInt32($0), ring: ring, owner: owner, exchanges: exchanges) }
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
            let n = try ring.run(into: completions, capacity: Self.completionCapacity, waitNanoseconds: wait)
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
}

extension Int {
    var nextPowerOfTwo: Int { self <= 1 ? 1 : 1 << (Int.bitWidth - (self - 1).leadingZeroBitCount) }
}
