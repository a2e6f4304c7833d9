import ProbeModel
import CProbe
import Foundation
import Synchronization

/// The outcome of a whole run.
public struct ProbeReport: Sendable {
    public var kind: String
    public var targets: [ProbeTarget]
    /// Per target, in `targets` order.
    public var summaries: [ProbeSummary]
    public var wallNanoseconds: UInt64
    /// Notes from the drivers (e.g. which ICMP socket kind was used and why).
    public var notes: [String]
    /// Ring threads the run used.
    public var threads = 1

    /// Everything merged.
    public var total: ProbeSummary {
        summaries.reduce(into: ProbeSummary()) { $0.absorb($1) }
    }
}

/// Runs probes of one kind against many targets on `settings.threads` ring
/// threads. Each thread owns its ring, its sockets and an interleaved share
/// of the targets; nothing is shared on the per-probe path.
public final class ProbeRun: Sendable {
    public let kind: any ProbeKind.Type
    public let targets: [ProbeTarget]
    public let settings: ProbeSettings
    public let progress = RunProgress()

    public init(kind: any ProbeKind.Type, targets: [ProbeTarget], settings: ProbeSettings) throws(ConfigurationError) {
        try settings.validate()
        if kind.defaultPort != nil, let t = targets.first(where: { $0.port == 0 }) {
            throw ConfigurationError(field: "target '\(t.name)'", "\(kind.name) probes need a port (host:port)")
        }
        self.kind = kind
        self.targets = targets
        self.settings = settings
    }

    /// Stops sending; probes in flight expire and the run returns promptly.
    public func cancel() { progress.cancelled.store(true, ordering: .relaxed) }

    /// Runs to completion (or cancellation). `observer` receives batches of
    /// results on the ring threads: it must not block.
    public func run(observer: (@Sendable ([ProbeResult]) -> Void)? = nil) async throws -> ProbeReport {
        let threadCount = max(1, min(settings.threads, targets.count))
        let started = cprobe_monotonic_ns()
        let progress = self.progress
        let kind = self.kind, settings = self.settings, targets = self.targets

        let (summaries, notes) = try await withTaskCancellationHandler {
            try await onThreads(sharing: targets.count, threads: threadCount, name: "waddleperf-ring") { thread, indices in
                var share = settings
                share.rate = settings.rate.map { $0 / Double(threadCount) }
                do {
                    var plan = SlotPlan()
                    let request = try ProbeClient.reserve(in: &plan, targets: indices.count, settings: share)
                    let runtime = try RingRuntime(plan)
                    let client = try ProbeClient(kind: kind, targets: indices.map { targets[$0] }, runIndices: indices,
                                                 settings: share, slots: runtime.slots(request),
                                                 progress: progress, observer: observer)
                    runtime.add(client, slots: request)
                    try runtime.run { progress.cancelled.load(ordering: .relaxed) }
                    return (client.summaries, thread == 0 ? client.note : nil)
                } catch {
                    // One thread failing stops the others.
                    progress.cancelled.store(true, ordering: .relaxed)
                    throw error
                }
            }
        } onCancel: {
            progress.cancelled.store(true, ordering: .relaxed)
        }
        return ProbeReport(kind: kind.name, targets: targets, summaries: summaries,
                           wallNanoseconds: cprobe_monotonic_ns() - started, notes: notes.compactMap { $0 }, threads: threadCount)
    }
}

