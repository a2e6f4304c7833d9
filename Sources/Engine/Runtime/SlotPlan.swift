import ProbeModel

/// Hands out ring slot ranges to the clients of one ring thread before the
/// ring exists. A pure value: tested without sockets.
///
/// A completion's tag carries its slot (`slot << 8 | op`), and the runtime
/// finds the client that owns the slot by range. Two kinds of range:
/// - **buffered** slots have a record in the ring (a buffer, a socket
///   address, a control buffer): datagram and TCP probe drivers, the echo
///   server. They are numbered first, from 0, so the ring allocates records
///   for them only;
/// - **tag-only** slots just name an operation's owner: HTTP connections and
///   DNS queries own their buffers. They are numbered after every buffered
///   slot and cost the ring nothing.
public struct SlotPlan: Sendable, Equatable {
    /// One client's slots: [base, base + count).
    public struct Range: Sendable, Equatable {
        public var base: UInt32
        public var count: UInt32
        public var upperBound: UInt32 { base + count }
        public func contains(_ slot: UInt32) -> Bool { slot >= base && slot - base < count }
    }

    /// What a client asked for, in the order it asked.
    public struct Request: Sendable, Equatable {
        public var count: UInt32
        public var buffered: Bool
        /// Bytes of each slot's buffer (buffered slots only).
        public var bufferSize: UInt32
        /// Submission queue entries the client may queue in one loop turn.
        public var entries: UInt32
    }

    public private(set) var requests: [Request] = []

    /// Slots one thread may hand out (a completion carries its slot as 32 bits; this leaves
    /// room to spare and bounds a mistaken request).
    public static let slotLimit: UInt32 = 1 << 30

    public init() {}

    /// Asks for `count` slots; the answer is the request's index, whose range `ranges` gives.
    public mutating func reserve(_ count: UInt32, buffered: Bool, bufferSize: UInt32 = 0,
                                 entries: UInt32 = 256) throws(ConfigurationError) -> Int {
        guard count > 0 else { throw ConfigurationError(field: "slots", "a client needs at least one slot") }
        let total = requests.reduce(UInt64(count)) { $0 + UInt64($1.count) }
        guard total <= UInt64(Self.slotLimit) else {
            throw ConfigurationError(field: "slots", "more than \(Self.slotLimit) ring slots on one thread")
        }
        requests.append(Request(count: count, buffered: buffered, bufferSize: buffered ? bufferSize : 0, entries: entries))
        return requests.count - 1
    }

    /// Each request's range, by index: buffered requests first (from 0, in request order), then
    /// tag-only ones.
    public var ranges: [Range] {
        var out = Array(repeating: Range(base: 0, count: 0), count: requests.count)
        var next: UInt32 = 0
        for (i, r) in requests.enumerated() where r.buffered {
            out[i] = Range(base: next, count: r.count)
            next += r.count
        }
        for (i, r) in requests.enumerated() where !r.buffered {
            out[i] = Range(base: next, count: r.count)
            next += r.count
        }
        return out
    }

    /// Slots the ring keeps records for: every buffered slot (at least one).
    public var bufferedSlots: UInt32 { max(1, requests.filter(\.buffered).reduce(0) { $0 + $1.count }) }
    /// The records' buffer size: the largest any buffered client asked for.
    public var bufferSize: UInt32 { max(64, requests.map(\.bufferSize).max() ?? 0) }
    /// Submission queue size: what the clients may queue in one turn, as a power of two from
    /// 256 to 8192. The completion queue is four times as large (ring.c), and io_uring takes at
    /// most 65536 of those; a full submission queue is submitted to make room, so a cap costs
    /// at most an extra system call per turn.
    public var entries: UInt32 {
        let wanted = requests.reduce(UInt64(0)) { $0 + UInt64($1.entries) }
        var e: UInt32 = 256
        while UInt64(e) < wanted && e < Self.maximumEntries { e <<= 1 }
        return e
    }

    public static let maximumEntries: UInt32 = 8192
}
