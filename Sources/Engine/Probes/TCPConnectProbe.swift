import CProbe
import ProbeModel
import Glibc

/// TCP connect: time to establish a connection, optionally followed by a
/// payload sent and an expected number of reply bytes read (a round trip
/// through an echo service). Sockets close with RST.
public enum TCPConnectProbe: ProbeKind {
    public static let declaration = KindDeclaration.tcp

    public static func makeDriver(_ context: DriverContext) throws -> any ProbeDriver {
        TCPConnectDriver(context)
    }
}

final class TCPConnectDriver: ProbeDriver {
    private struct SlotState {
        var generation: UInt32 = 0
        var target: Int32 = 0
        var sequence: UInt32 = 0
        var fd: Int32 = -1
        /// Ring operations of this slot not yet completed (linked timeouts included).
        var pendingOps = 0
        var deadline: UInt64 = 0
        var started: UInt64 = 0
        var connected: UInt64 = 0
        var sent: UInt64 = 0
        var firstByte: UInt64 = 0
        var received = 0
        /// Set when the probe is decided; reported once `pendingOps` is 0.
        var result: ProbeResult? = nil
    }

    private let ring: RingSlots
    /// The ring loop, which owns this driver.
    private unowned let sink: ProbeSink
    private let targets: [ProbeTarget]
    private let payloadSize: Int
    private let expectBytes: Int
    private let timeout: UInt64
    private var slots: [SlotState]
    /// Destination sockaddr per target, built once (no allocation per probe).
    private let destinations: [sockaddr_storage]
    private var pendingTotal = 0
    private let magic = UInt32.random(in: 1...UInt32.max)

    init(_ context: DriverContext) {
        ring = context.slots
        sink = context.sink
        targets = context.targets
        payloadSize = context.settings.size
        expectBytes = context.settings.expectBytes
        timeout = context.settings.timeout
        slots = Array(repeating: SlotState(), count: Int(context.probeSlots))
        destinations = context.targets.map { t in
            var storage = sockaddr_storage()
            t.address.write(to: &storage, port: t.port)
            return storage
        }
    }

    var isIdle: Bool { pendingTotal == 0 }
    var note: String? { nil }

    func start(slot: UInt32, generation: UInt32, target: Int32, sequence: UInt32, now: UInt64) {
        let t = targets[Int(target)]
        slots[Int(slot)] = SlotState(generation: generation, target: target, sequence: sequence,
                                     deadline: now + timeout, started: now)
        let fd = cprobe_tcp_socket(t.address.family)
        if fd >= 0 {
            slots[Int(slot)].fd = fd
            ring.address(slot).pointee = destinations[Int(target)]
            submit(slot, now: now) { () throws(SystemError) in try ring.prepareConnect(slot, fd: fd, timeout: timeout) }
        } else {
            decide(slot, .error(errno: -fd), now: now)
        }
        reportIfQuiet(slot)
    }

    func complete(_ c: cprobe_completion) {
        let slot = c.slot
        guard Int(slot) < slots.count else { return }
        slots[Int(slot)].pendingOps -= 1
        pendingTotal -= 1
        let now = c.reaped_ns
        if c.op != UInt8(CPROBE_OP_LINK_TIMEOUT), slots[Int(slot)].result == nil {
            advance(slot, op: Int(c.op), result: c.result, now: now)
        }
        reportIfQuiet(slot)
    }

    func afterCompletions(now: UInt64) {}

    func expire(slot: UInt32, generation: UInt32, now: UInt64) {
        // Every operation carries a linked timeout ending at the same deadline,
        // so the in-flight op comes back as -ECANCELED; only a probe with
        // nothing in flight is decided here.
        if slots[Int(slot)].generation == generation && slots[Int(slot)].pendingOps == 0 {
            decide(slot, .timeout, now: now)
            reportIfQuiet(slot)
        }
    }

    func shutdown() {}

    // MARK: Probe steps

    private func advance(_ slot: UInt32, op: Int, result: Int32, now: UInt64) {
        let i = Int(slot)
        if result < 0 {
            return decide(slot, Self.outcome(errno: -result), now: now)
        }
        let remaining = slots[i].deadline > now ? slots[i].deadline - now : 1
        switch op {
        case CPROBE_OP_CONNECT:
            slots[i].connected = now
            guard payloadSize > 0 else { return decide(slot, .success, now: now) }
            var tag = cprobe_tag(magic: magic, slot: slot, generation: slots[i].generation, sequence: slots[i].sequence)
            let length = min(payloadSize, ring.bufferSize)
            if length >= Int(CPROBE_TAG_SIZE) {
                let written = cprobe_payload_build(ring.buffer(slot), length, &tag)
                assert(written == length)
            } else {
                ring.buffer(slot).update(repeating: 0x57, count: length)
            }
            let fd = slots[i].fd
            submit(slot, now: now) { () throws(SystemError) in
                try ring.prepareSend(slot, fd: fd, length: UInt32(length), timeout: remaining)
            }
        case CPROBE_OP_SEND:
            slots[i].sent = now
            guard expectBytes > 0 else { return decide(slot, .success, now: now) }
            receive(slot, remaining: remaining, now: now)
        case CPROBE_OP_RECV:
            if result == 0 { return decide(slot, .error(errno: ECONNRESET), now: now) }
            if slots[i].received == 0 { slots[i].firstByte = now }
            slots[i].received += Int(result)
            if slots[i].received >= expectBytes { return decide(slot, .success, now: now) }
            receive(slot, remaining: remaining, now: now)
        default:
            break
        }
    }

    private func receive(_ slot: UInt32, remaining: UInt64, now: UInt64) {
        let s = slots[Int(slot)]
        let offset = s.received % ring.bufferSize
        let length = min(expectBytes - s.received, ring.bufferSize - offset)
        submit(slot, now: now) { () throws(SystemError) in
            try ring.prepareReceive(slot, fd: s.fd, offset: UInt32(offset), length: UInt32(length), timeout: remaining)
        }
    }

    /// Queues a slot's next operation (`queue` returns the SQEs it queued, linked timeout
    /// included); one that cannot be queued decides the probe as an error.
    @inline(__always)
    private func submit(_ slot: UInt32, now: UInt64, _ queue: () throws(SystemError) -> Int32) {
        do {
            let count = try queue()
            slots[Int(slot)].pendingOps += Int(count)
            pendingTotal += Int(count)
        } catch {
            decide(slot, .error(errno: error.errno), now: now)
        }
    }

    private func decide(_ slot: UInt32, _ outcome: ProbeOutcome, now: UInt64) {
        let s = slots[Int(slot)]
        guard s.result == nil else { return }
        if s.fd >= 0 {
            closeDescriptor(s.fd)
            slots[Int(slot)].fd = -1
        }
        var phases: (UInt64?, UInt64?, UInt64?) = (nil, nil, nil)
        if outcome.isSuccess {
            phases.0 = s.connected - s.started
            if s.firstByte != 0 { phases.1 = s.firstByte - s.sent }
            phases.2 = now - s.started
        }
        slots[Int(slot)].result = ProbeResult(target: s.target, sequence: s.sequence, outcome: outcome,
                                              phases: phases, sentAt: s.started, clock: .user)
    }

    /// Reports a decided probe once all its ring operations (including the
    /// linked timeout) have completed, so the slot's tag can be reused.
    private func reportIfQuiet(_ slot: UInt32) {
        let s = slots[Int(slot)]
        guard s.pendingOps == 0, let result = s.result else { return }
        slots[Int(slot)].result = nil
        sink.finish(slot: slot, generation: s.generation, result: result)
    }

    static func outcome(errno e: Int32) -> ProbeOutcome {
        switch e {
        case ECONNREFUSED: .refused
        case ECANCELED, ETIMEDOUT, ETIME: .timeout
        case EHOSTUNREACH: .unreachable(type: 3, code: 1)
        case ENETUNREACH: .unreachable(type: 3, code: 0)
        default: .error(errno: e)
        }
    }
}
