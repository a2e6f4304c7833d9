import CProbe
import Glibc

/// What a datagram probe kind (ICMP echo, UDP echo) supplies to the shared
/// datagram driver: its sockets and its packet codec.
protocol DatagramCodec {
    /// Opens the socket the run uses for `family`.
    mutating func openSocket(family: Int32) throws -> Int32
    /// Writes the request for `tag` into `buffer`; returns its length.
    func buildRequest(into buffer: UnsafeMutablePointer<UInt8>, capacity: Int, family: Int32,
                      tag: cprobe_tag, icmpSequence: UInt16) -> Int
    /// Classifies a received datagram.
    func parseReply(_ buffer: UnsafePointer<UInt8>, length: Int, family: Int32) -> DatagramReply
    /// The outcome an ICMP error read from the error queue stands for.
    func outcome(ofQueuedError entry: UnsafePointer<cprobe_errqueue_entry>) -> ProbeOutcome
    /// A line for the report.
    var note: String? { get }
}

/// A received datagram, as the codec reads it.
enum DatagramReply {
    /// Not ours (another process's traffic, or malformed).
    case ignore
    /// The answer to the probe tagged `tag`; `ttl` from the packet if known.
    case reply(cprobe_tag, ttl: Int16)
    /// An ICMP error about the probe tagged `tag` (or, when the quoted packet
    /// was cut short, identified only by its ICMP sequence = slot).
    case error(cprobe_tag?, slotHint: UInt32?, ProbeOutcome)
}

/// One probe slot of a `DatagramDriver`. Outside the generic class on purpose: a type nested
/// in it would be generic too, and its metadata looked up at run time on every slot access
/// (5% of a sweep's CPU).
private struct DatagramSlot {
    var generation: UInt32 = 0
    var target: Int32 = 0
    var sequence: UInt32 = 0
    var active = false
    var sendPending = false
    var expired = false
    var answered = false
    var sentMonotonic: UInt64 = 0
    var sentRealtime: UInt64 = 0
    var transmitKernel: UInt64 = 0
    var receiveKernel: UInt64 = 0
    var receiveMonotonic: UInt64 = 0
    var ttl: Int16 = -1
    var socketIndex: UInt8 = 0
    var length: UInt32 = 0
    var sendRetried = false
}

/// A `DatagramDriver`'s socket (outside the class for the same reason).
private struct DatagramSocket {
    var fd: Int32
    var family: Int32
    var errorSignalled = false
}

/// The shared driver for datagram probes: one socket per address family for
/// all targets, a fixed set of receives kept posted, request tags that make
/// replies self-identifying, kernel RX timestamps and (when enabled) kernel
/// TX timestamps from the error queue.
final class DatagramDriver<Codec: DatagramCodec>: ProbeDriver {
    private typealias SlotState = DatagramSlot
    private typealias Socket = DatagramSocket

    private var codec: Codec
    private let ring: RingSlots
    /// The probe client, which owns this driver.
    private unowned let sink: ProbeSink
    private let targets: [ProbeTarget]
    private let settings: ProbeSettings
    private let probeSlots: UInt32
    private let receiveSlotBase: UInt32
    private let receivesPerSocket: UInt32
    private let magic: UInt32
    private var slots: [SlotState]
    private var sockets: [Socket] = []
    /// Socket index per target.
    private var targetSocket: [UInt8]
    /// Destination sockaddr per target, built once (no allocation per probe).
    private var destinations: [sockaddr_storage]
    /// Highest sequence answered per target, for reorder counting.
    private var highestSequence: [Int64]
    private var answeredThisBatch: [UInt32] = []
    private var errorEntries: UnsafeMutablePointer<cprobe_errqueue_entry>
    private static var errorBatch: Int { 256 }
    /// Receive slots not posted, per socket (a stack): the rest are posted.
    private var idleReceives: [[UInt32]] = []
    /// Probes awaiting a reply per socket.
    private var awaiting: [UInt32] = []
    private var sendsPending = 0
    /// Sends queued since `takeImmediateCompletions` last ran.
    private var sendsQueued: UInt32 = 0
    private var shuttingDown = false

    init(codec: Codec, context: DriverContext) throws {
        self.codec = codec
        ring = context.slots
        sink = context.sink
        targets = context.targets
        settings = context.settings
        probeSlots = context.probeSlots
        receiveSlotBase = context.probeSlots
        magic = UInt32.random(in: 1...UInt32.max)
        slots = Array(repeating: SlotState(), count: Int(context.probeSlots))
        highestSequence = Array(repeating: -1, count: context.targets.count)
        targetSocket = Array(repeating: 0, count: context.targets.count)
        destinations = context.targets.map { t in
            var storage = sockaddr_storage()
            t.address.write(to: &storage, port: t.port)
            return storage
        }
        answeredThisBatch.reserveCapacity(Int(context.probeSlots))
        errorEntries = .allocate(capacity: Self.errorBatch)

        // Unresolved targets are never sent to: they open no socket.
        let families = Set(context.targets.filter(\.isResolved).map { $0.address.family }).sorted()
        receivesPerSocket = context.auxiliarySlots / UInt32(max(families.count, 1))
        for family in families {
            let fd = try self.codec.openSocket(family: family)
            do {
                // 32 MiB of socket buffer absorbs a sweep's burst of replies; the kernel clamps it to
                // net.core.rmem_max without failing, so an error here is a descriptor we do not own.
                try cprobeCall("SO_RCVBUF/SO_SNDBUF", cprobe_socket_set_buffers(fd, 32 << 20))
                if settings.kernelTransmitTimestamps {
                    try cprobeCall("SO_TIMESTAMPING", cprobe_socket_enable_tx_timestamps(fd))
                }
            } catch {
                closeDescriptor(fd)
                for s in sockets { closeDescriptor(s.fd) }
                sockets = []
                throw error
            }
            sockets.append(Socket(fd: fd, family: family))
        }
        for (i, t) in context.targets.enumerated() {
            targetSocket[i] = UInt8(sockets.firstIndex { $0.family == t.address.family } ?? 0)
        }
        for s in sockets.indices {
            idleReceives.append((0..<receivesPerSocket).reversed().map { receiveSlotBase + UInt32(s) * receivesPerSocket + $0 })
            awaiting.append(0)
            ensureReceives(s)
        }
    }

    deinit {
        for s in sockets { closeDescriptor(s.fd) }
        errorEntries.deallocate()
    }

    var note: String? { codec.note }
    var isIdle: Bool { sendsPending == 0 && idleReceives.allSatisfy { $0.count == Int(receivesPerSocket) } }

    func takeImmediateCompletions() -> UInt32 {
        defer { sendsQueued = 0 }
        return sendsQueued
    }

    private func socketIndex(ofReceiveSlot slot: UInt32) -> Int {
        Int((slot - receiveSlotBase) / receivesPerSocket)
    }

    /// Keeps a socket's posted receives at the probes awaiting a reply on it
    /// plus one (at most its share of the slots). Every posted receive is a
    /// waiter on the socket, and every datagram (and every TX timestamp on
    /// the error queue) wakes them all: 256 posted for one probe at a time
    /// put ~17 µs of wake-ups into a same-CPU echo's round trip; a sweep
    /// with thousands in flight still gets all 256.
    private func ensureReceives(_ s: Int) {
        let wanted = min(receivesPerSocket, awaiting[s] + 1)
        while !shuttingDown && receivesPerSocket - UInt32(idleReceives[s].count) < wanted,
              let slot = idleReceives[s].popLast() {
            do {
                try ring.prepareReceiveMessage(slot, fd: sockets[s].fd)
            } catch {
                // The submission queue is full even after a submit: the next turn posts it.
                idleReceives[s].append(slot)
                return
            }
        }
    }

    private func probeEnded(_ slot: Int) {
        let s = Int(slots[slot].socketIndex)
        awaiting[s] -= 1  // raised once per start, lowered once when it ends
    }

    // MARK: ProbeDriver

    func start(slot: UInt32, generation: UInt32, target: Int32, sequence: UInt32, now: UInt64) {
        let socket = Int(targetSocket[Int(target)])
        let family = sockets[socket].family
        ring.address(slot).pointee = destinations[Int(target)]
        let tag = cprobe_tag(magic: magic, slot: slot, generation: generation, sequence: sequence)
        let length = codec.buildRequest(into: ring.buffer(slot), capacity: ring.bufferSize, family: family,
                                        tag: tag, icmpSequence: UInt16(truncatingIfNeeded: slot))
        slots[Int(slot)] = SlotState(generation: generation, target: target, sequence: sequence, active: true,
                                     sendPending: true, sentMonotonic: now, sentRealtime: cprobe_realtime_ns(),
                                     socketIndex: UInt8(socket))
        slots[Int(slot)].length = UInt32(length)
        sendsPending += 1
        awaiting[socket] += 1
        ensureReceives(socket)
        do {
            try ring.prepareSendMessage(slot, fd: sockets[socket].fd, length: UInt32(length), ttl: Int32(settings.ttl ?? 0))
            sendsQueued += 1
        } catch {
            sendsPending -= 1
            slots[Int(slot)].sendPending = false
            finish(slot, .error(errno: error.errno))
        }
    }

    func complete(_ c: cprobe_completion) {
        switch Int(c.op) {
        case CPROBE_OP_SENDMSG:
            sendsPending -= 1
            let slot = Int(c.slot)
            slots[slot].sendPending = false
            guard slots[slot].active else { return }
            if c.result < 0 {
                let e = -c.result
                let socket = Int(slots[slot].socketIndex)
                // With IP_RECVERR the kernel hands a pending ICMP error (about
                // some other probe) to the next send on the socket: that send
                // did not fail for itself. Drain the error queue and send again once.
                if Self.isAsynchronousError(e) && !slots[slot].sendRetried && !slots[slot].expired {
                    sockets[socket].errorSignalled = true
                    slots[slot].sendRetried = true
                    slots[slot].sendPending = true
                    sendsPending += 1
                    if (try? ring.prepareSendMessage(c.slot, fd: sockets[socket].fd, length: slots[slot].length,
                                                     ttl: Int32(settings.ttl ?? 0))) != nil {
                        sendsQueued += 1
                        return
                    }
                    // Not queued: the probe ends with the send's own error, below.
                    sendsPending -= 1
                    slots[slot].sendPending = false
                }
                finish(c.slot, Self.outcome(forSendErrno: e))
                return
            }
            if slots[slot].expired { finish(c.slot, .timeout) }
        case CPROBE_OP_RECVMSG:
            let socket = socketIndex(ofReceiveSlot: c.slot)
            idleReceives[socket].append(c.slot)
            if c.result >= 0 {
                let family = sockets[socket].family
                let reply = codec.parseReply(ring.buffer(c.slot), length: Int(c.result), family: family)
                handle(reply, completion: c)
            } else if c.result != -ECANCELED {
                // IP_RECVERR sockets fail one receive with the ICMP error's errno;
                // the details wait on the error queue.
                sockets[socket].errorSignalled = true
            }
            if c.result != -ECANCELED { ensureReceives(socket) }
        default:
            break
        }
    }

    func afterCompletions(now: UInt64) {
        for s in sockets.indices where settings.kernelTransmitTimestamps || sockets[s].errorSignalled {
            sockets[s].errorSignalled = false
            drainErrorQueue(s)
        }
        for slot in answeredThisBatch { finalize(slot) }
        answeredThisBatch.removeAll(keepingCapacity: true)
    }

    func expire(slot: UInt32, generation: UInt32, now: UInt64) {
        let s = slots[Int(slot)]
        guard s.active, s.generation == generation else { return }
        if s.sendPending { slots[Int(slot)].expired = true } else { finish(slot, .timeout) }
    }

    func shutdown() {
        shuttingDown = true
        for (i, s) in sockets.enumerated() {
            // Not queued (the submission queue is full): the runtime calls shutdown again next
            // turn, until the driver is idle.
            _ = try? ring.prepareCancel(receiveSlotBase + UInt32(i) * receivesPerSocket, fd: s.fd)
        }
    }

    // MARK: Matching

    private func handle(_ reply: DatagramReply, completion c: cprobe_completion) {
        switch reply {
        case .ignore:
            return
        case .reply(let tag, let ttl):
            guard tag.magic == magic, tag.slot < probeSlots else { return }
            let slot = Int(tag.slot)
            let s = slots[slot]
            // A reply for an older use of the slot is stale: it came after its timeout.
            guard s.generation == tag.generation, s.sequence == tag.sequence else { return }
            if s.answered { sink.duplicate(target: s.target); return }
            guard s.active else { return }  // late: the probe already timed out
            slots[slot].answered = true
            slots[slot].receiveKernel = c.has_kernel_time != 0 ? c.kernel_ns : 0
            slots[slot].receiveMonotonic = c.reaped_ns
            slots[slot].ttl = c.ttl >= 0 ? c.ttl : ttl
            let highest = highestSequence[Int(s.target)]
            if Int64(s.sequence) < highest { sink.reordered(target: s.target) }
            else { highestSequence[Int(s.target)] = Int64(s.sequence) }
            answeredThisBatch.append(tag.slot)
        case .error(let tag, let hint, let outcome):
            var slot: UInt32
            if let tag {
                guard tag.magic == magic, tag.slot < probeSlots, slots[Int(tag.slot)].generation == tag.generation
                else { return }
                slot = tag.slot
            } else if let hint, hint < probeSlots {
                slot = hint
            } else {
                return
            }
            let s = slots[Int(slot)]
            guard s.active, !s.answered, !s.sendPending else { return }
            finish(slot, outcome)
        }
    }

    private func drainErrorQueue(_ index: Int) {
        let socket = sockets[index]
        while true {
            let n = cprobe_errqueue_drain(socket.fd, errorEntries, UInt32(Self.errorBatch))
            guard n > 0 else { return }
            for i in 0..<Int(n) {
                let e = errorEntries + i
                // Both TX timestamps and ICMP errors carry our packet back;
                // its tag says exactly which probe it belongs to.
                var tag = cprobe_tag()
                let found = withUnsafeBytes(of: &e.pointee.payload) { raw in
                    cprobe_payload_find(raw.bindMemory(to: UInt8.self).baseAddress!,
                                        min(Int(e.pointee.payload_len), raw.count), magic, &tag) == 0
                }
                guard found, tag.slot < probeSlots else { continue }
                if e.pointee.origin == UInt8(CPROBE_ORIGIN_TIMESTAMPING) {
                    let s = slots[Int(tag.slot)]
                    if s.active, s.generation == tag.generation { slots[Int(tag.slot)].transmitKernel = e.pointee.timestamp_ns }
                } else if e.pointee.origin == UInt8(CPROBE_ORIGIN_ICMP) || e.pointee.origin == UInt8(CPROBE_ORIGIN_ICMP6) {
                    // msg_name holds the destination of the packet the error is about.
                    let destination = withUnsafePointer(to: &e.pointee.destination) { IPAddress(storage: $0) }
                    let s = slots[Int(tag.slot)]
                    if let destination, s.active, targets[Int(s.target)].address != destination { continue }
                    handle(.error(tag, slotHint: nil, codec.outcome(ofQueuedError: e)), completion: cprobe_completion())
                }
            }
            if n < Int32(Self.errorBatch) { return }
        }
    }

    /// Computes the RTT of an answered probe from the best clock pair:
    /// kernel TX → kernel RX; else user send (realtime) → kernel RX; else
    /// user monotonic at both ends. A kernel TX stamp that is not between the
    /// user send time and the RX stamp is not trusted.
    private func finalize(_ slot: UInt32) {
        let s = slots[Int(slot)]
        guard s.active, s.answered else { return }
        var rtt: UInt64
        var clock: TimestampSource
        if s.receiveKernel != 0 {
            if s.transmitKernel != 0, s.transmitKernel <= s.receiveKernel,
               s.transmitKernel + 1_000_000 >= s.sentRealtime {
                rtt = s.receiveKernel - s.transmitKernel
                clock = .kernel
            } else {
                rtt = s.receiveKernel &- s.sentRealtime
                clock = .kernelReceive
                if s.receiveKernel < s.sentRealtime { rtt = s.receiveMonotonic - s.sentMonotonic; clock = .user }
            }
        } else {
            rtt = s.receiveMonotonic - s.sentMonotonic
            clock = .user
        }
        let result = ProbeResult(target: s.target, sequence: s.sequence, outcome: .success,
                                 phases: (rtt, nil, nil), ttl: s.ttl, sentAt: s.sentMonotonic, clock: clock)
        slots[Int(slot)].active = false
        probeEnded(Int(slot))
        sink.finish(slot: slot, generation: s.generation, result: result)
    }

    private func finish(_ slot: UInt32, _ outcome: ProbeOutcome) {
        let s = slots[Int(slot)]
        guard s.active else { return }
        slots[Int(slot)].active = false
        probeEnded(Int(slot))
        sink.finish(slot: slot, generation: s.generation,
                    result: ProbeResult(target: s.target, sequence: s.sequence, outcome: outcome,
                                        sentAt: s.sentMonotonic))
    }

    static func isAsynchronousError(_ e: Int32) -> Bool {
        e == EHOSTUNREACH || e == ENETUNREACH || e == ECONNREFUSED || e == EHOSTDOWN || e == EPROTO || e == EMSGSIZE
    }

    static func outcome(forSendErrno e: Int32) -> ProbeOutcome {
        switch e {
        case ECONNREFUSED: .refused
        case EHOSTUNREACH: .unreachable(type: 3, code: 1)
        case ENETUNREACH: .unreachable(type: 3, code: 0)
        default: .error(errno: e)
        }
    }
}
