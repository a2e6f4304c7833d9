import CProbe
import ProbeModel

/// One probe's result in a list of checks, whichever kind ran it: what a live view (the test
/// server's stream) shows as each probe completes. Phases carry the kind's declared names
/// (`KindDeclaration.phases`), so a new kind needs no new event.
public struct CheckEvent: Sendable {
    /// The check's place in the run's list.
    public var check: Int
    /// The probe's number within its check, from 0.
    public var sequence: UInt32
    /// `success`, or why not (the same names as result documents' outcomes).
    public var outcome: String
    public var success: Bool
    /// The kind's latency (its primary phase; HTTP: `total`), nanoseconds; nil when unanswered.
    public var latency: UInt64?
    /// The declared phases this probe measured, in declaration order, nanoseconds.
    public var phases: [Phase]
    /// HTTP: the final response's status.
    public var status: Int?
    /// A failure's detail (a TLS message, the policy rule that refused a redirect).
    public var message: String?
    /// CLOCK_MONOTONIC when the engine handed the result out: within one ring turn of the
    /// reply's arrival. (The stream's event latency is measured from here.)
    public var completedAt: UInt64

    public struct Phase: Sendable, Hashable {
        public var name: String
        public var nanoseconds: UInt64
    }
}

/// Turns a ring thread's results (probe kinds' batches, HTTP's one at a time) into events
/// named by the run's check indices, and hands them to the observer.
struct EventRelay: Sendable {
    let specs: [ProbeSpec]
    /// The thread's share: share index → the check's index in the run.
    let indices: [Int]
    let deliver: @Sendable ([CheckEvent]) -> Void

    func probeObserver(kind: any ProbeKind.Type) -> @Sendable ([ProbeResult]) -> Void {
        { results in self.probes(results, kind: kind) }
    }

    var httpObserver: @Sendable (HTTPResult) -> Void { { result in self.http(result) } }

    func probes(_ results: [ProbeResult], kind: any ProbeKind.Type) {
        let now = cprobe_monotonic_ns()
        let declared = kind.declaration.phases
        let events = results.map { r -> CheckEvent in
            var phases: [CheckEvent.Phase] = []
            if r.outcome.isSuccess {
                for (i, phase) in declared.prefix(3).enumerated() {
                    let value = i == 0 ? r.phases.0 : i == 1 ? r.phases.1 : r.phases.2
                    if let value { phases.append(.init(name: phase.name, nanoseconds: value)) }
                }
            }
            return CheckEvent(check: indices[Int(r.target)], sequence: r.sequence, outcome: r.outcome.name,
                              success: r.outcome.isSuccess, latency: r.latency, phases: phases,
                              message: r.outcome.isSuccess ? nil : r.outcome.detail, completedAt: now)
        }
        deliver(events)
    }

    func http(_ r: HTTPResult) {
        var phases: [CheckEvent.Phase] = []
        for phase in KindDeclaration.http.phases {
            if let v = r[phase: phase.name] { phases.append(.init(name: phase.name, nanoseconds: v)) }
        }
        deliver([CheckEvent(check: indices[Int(r.target)], sequence: r.sequence, outcome: r.outcome.name,
                            success: r.outcome.isSuccess, latency: r.outcome.isSuccess ? r.total : nil, phases: phases,
                            status: r.status == 0 ? nil : r.status, message: r.message, completedAt: cprobe_monotonic_ns())])
    }
}
