import CProbe
import ProbeModel

/// The contract every probe kind implements: one file per kind, listed once
/// in `ProbeRegistry.kinds`.
public protocol ProbeKind: Sendable {
    /// The kind's name, phases and fields, declared once in ProbeModel.
    static var declaration: KindDeclaration { get }

    /// Creates the driver that runs this kind's probes on one ring thread.
    /// Called on that thread.
    static func makeDriver(_ context: DriverContext) throws -> any ProbeDriver
}

extension ProbeKind {
    /// Name used on the command line and in results (`icmp`, `tcp`, ...).
    public static var name: String { declaration.name }
    public static var summary: String { declaration.summary }
    /// Port used when a target gives none; nil when ports do not apply.
    public static var defaultPort: UInt16? { declaration.defaultPort }
    /// The timed phases, in the order of `ProbeResult.phases`. The first is
    /// the latency the statistics summarise.
    public static var phases: [ResultField] { declaration.phases }
}

/// What a driver is given: its ring, the targets, the run's settings, and the
/// sink to which it reports finished probes.
public struct DriverContext {
    /// The driver's slots of the ring, numbered from 0.
    let slots: RingSlots
    public let targets: [ProbeTarget]
    public let settings: ProbeSettings
    /// Slots [0, probeSlots) belong to scheduler slots one to one.
    let probeSlots: UInt32
    /// Slots [probeSlots, probeSlots + auxiliarySlots) are the driver's own.
    let auxiliarySlots: UInt32
    let sink: ProbeSink
}

/// Receives finished probes from a driver (implemented by its `ProbeClient`).
protocol ProbeSink: AnyObject {
    /// The probe in scheduler slot `slot` has finished; the slot's ring ops
    /// have all completed and it may be reused.
    func finish(slot: UInt32, generation: UInt32, result: ProbeResult)
    /// Counts a reply that matched an already answered probe.
    func duplicate(target: Int32)
    /// Counts a reply that arrived out of sequence order.
    func reordered(target: Int32)
}

/// Runs one kind's probes on a ring thread. All calls happen on that thread.
public protocol ProbeDriver: AnyObject {
    /// Sends probe `sequence` to `targets[target]` using scheduler `slot`
    /// (whose `generation` changes on every reuse).
    func start(slot: UInt32, generation: UInt32, target: Int32, sequence: UInt32, now: UInt64)
    /// A completion whose tag belongs to this driver.
    func complete(_ completion: cprobe_completion)
    /// Work after a batch of completions (error-queue draining, RTT finalisation).
    func afterCompletions(now: UInt64)
    /// The probe's deadline passed: finish it as a timeout once its ring ops allow.
    func expire(slot: UInt32, generation: UInt32, now: UInt64)
    /// Cancels outstanding auxiliary operations; returns once nothing more is needed.
    func shutdown()
    /// True when no ring operation of this driver is outstanding.
    var isIdle: Bool { get }
    /// A line for the report, e.g. which socket kind is used and why.
    var note: String? { get }
    /// How many operations queued since the last call complete as soon as
    /// they are submitted (a datagram's send). The runtime waits for that many
    /// completions plus one, so a send's own completion does not wake it
    /// while the reply is still to come.
    func takeImmediateCompletions() -> UInt32
}

extension ProbeDriver {
    public func takeImmediateCompletions() -> UInt32 { 0 }
}

/// The one list of probe kinds.
public enum ProbeRegistry {
    public static let kinds: [any ProbeKind.Type] = [
        ICMPEchoProbe.self,
        TCPConnectProbe.self,
        UDPEchoProbe.self,
    ]

    public static func kind(named name: String) -> (any ProbeKind.Type)? {
        kinds.first { $0.name == name }
    }
}
