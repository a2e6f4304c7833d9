/// How a probe ended. Failures are data: they are counted as loss and never
/// averaged into latency.
public enum ProbeOutcome: Hashable, Sendable {
    case success
    case timeout
    case refused
    /// An ICMP error answered the probe (destination unreachable, time
    /// exceeded, ...): ICMP type and code as received.
    case unreachable(type: UInt8, code: UInt8)
    /// Any other failure, by errno.
    case error(errno: Int32)
    /// The target's name did not resolve: nothing was sent. Loss, never latency.
    case unresolved

    public var isSuccess: Bool { self == .success }

    /// Stable machine-readable name.
    public var name: String {
        switch self {
        case .success: "success"
        case .timeout: "timeout"
        case .refused: "refused"
        case .unreachable: "unreachable"
        case .error: "error"
        case .unresolved: "unresolved"
        }
    }

    public var detail: String {
        switch self {
        case .unreachable(let t, let c): "\(name)(type=\(t),code=\(c))"
        case .error(let e): "\(name)(errno=\(e))"
        default: name
        }
    }
}

/// One probe's result: a fixed-size record, no allocation per probe.
public struct ProbeResult: Sendable, Equatable {
    /// Index of the target in the run's target list.
    public var target: Int32
    /// Per-target probe number, starting at 0.
    public var sequence: UInt32
    public var outcome: ProbeOutcome
    /// Phase timings in nanoseconds, in the order the kind declares its
    /// `phases`; unset phases are nil.
    public var phases: (UInt64?, UInt64?, UInt64?)
    /// Reply TTL / hop limit when known.
    public var ttl: Int16
    /// CLOCK_MONOTONIC at send, nanoseconds.
    public var sentAt: UInt64
    /// Where the latency came from.
    public var clock: TimestampSource

    public init(target: Int32, sequence: UInt32, outcome: ProbeOutcome,
                phases: (UInt64?, UInt64?, UInt64?) = (nil, nil, nil),
                ttl: Int16 = -1, sentAt: UInt64 = 0, clock: TimestampSource = .user) {
        self.target = target
        self.sequence = sequence
        self.outcome = outcome
        self.phases = phases
        self.ttl = ttl
        self.sentAt = sentAt
        self.clock = clock
    }

    /// The latency statistics are built from: the kind's primary phase.
    public var latency: UInt64? { outcome.isSuccess ? phases.0 : nil }

    public static func == (a: ProbeResult, b: ProbeResult) -> Bool {
        a.target == b.target && a.sequence == b.sequence && a.outcome == b.outcome
            && a.phases.0 == b.phases.0 && a.phases.1 == b.phases.1 && a.phases.2 == b.phases.2
            && a.ttl == b.ttl && a.sentAt == b.sentAt && a.clock == b.clock
    }
}

/// Which clock pair produced a latency.
public enum TimestampSource: UInt8, Sendable {
    /// Kernel TX and kernel RX software timestamps.
    case kernel
    /// User-space send time, kernel RX timestamp.
    case kernelReceive
    /// CLOCK_MONOTONIC in user space at both ends.
    case user

    public var name: String {
        switch self {
        case .kernel: "kernel"
        case .kernelReceive: "kernel-rx"
        case .user: "user"
        }
    }
}
