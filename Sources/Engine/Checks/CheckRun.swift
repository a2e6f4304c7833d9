import CProbe
import Foundation
import ProbeModel
import Synchronization

/// What a list of checks produced: one result document per check, in the
/// list's order.
public struct CheckReport: Sendable {
    public var checks: [ProbeSpec]
    public var documents: [ResultDocument]
    public var wallNanoseconds: UInt64
    /// Ring threads the run used.
    public var threads: Int
}

/// Runs a list of checks that may mix kinds and parameters, all at once, on
/// `threads` ring threads (one by default). On each thread one runtime hosts
/// a client per group of checks that share a kind and settings (a probe
/// kind's scheduler and driver, or an HTTP workload and its connections) and
/// one stub resolver for the HTTP checks: a thread runs probes of several
/// kinds at once. A target that does not resolve is its check's outcome
/// (`unresolved`); the other checks run as usual.
public final class CheckRun: Sendable {
    public let checks: [ProbeSpec]
    public let threads: Int
    /// What the checks may reach (the test server's); `.open` for the CLI and the agent.
    public let policy: TargetPolicy
    public let progress = RunProgress()

    /// Validates every check; the error names the first bad field by its place in the list
    /// (`checks[2].http.method`).
    public init(_ checks: [ProbeSpec], threads: Int = 1, policy: TargetPolicy = .open) throws(ConfigurationError) {
        guard !checks.isEmpty else { throw ConfigurationError(field: "checks", "give at least one check") }
        guard (1...64).contains(threads) else { throw ConfigurationError(field: "threads", "must be 1-64, got \(threads)") }
        for (i, spec) in checks.enumerated() {
            try spec.validate(path: "checks[\(i)].")
        }
        self.checks = checks
        self.threads = threads
        self.policy = policy
    }

    public func cancel() { progress.cancelled.store(true, ordering: .relaxed) }

    public var isCancelled: Bool { progress.cancelled.load(ordering: .relaxed) }

    /// The checks with their targets resolved and admitted by the policy: what `run` starts from.
    public struct Prepared: Sendable {
        let checks: [PreparedCheck]
    }

    /// Resolves every target and applies the policy: a resolved address it refuses throws
    /// `TargetRefused` (a name that does not resolve is its check's `unresolved` outcome).
    public func prepare(family: AddressFamilyPreference = .any) async throws -> Prepared {
        Prepared(checks: try await prepareChecks(family: family))
    }

    /// Resolves every target, runs every check to its count and returns their documents,
    /// stamped `createdAt` (ms since the epoch, when the run began). `observer` receives each
    /// probe's result, in batches, on the ring threads: it must not block.
    public func run(family: AddressFamilyPreference = .any, observer: (@Sendable ([CheckEvent]) -> Void)? = nil) async throws -> CheckReport {
        try await run(prepare(family: family), observer: observer)
    }

    /// Runs prepared checks (see `prepare`). Cancelled (`cancel`, or the task), it returns
    /// promptly with what the probes sent so far measured.
    public func run(_ prepared: Prepared, observer: (@Sendable ([CheckEvent]) -> Void)? = nil) async throws -> CheckReport {
        let startedWall = Int64(Date().timeIntervalSince1970 * 1000)
        let started = cprobe_monotonic_ns()
        let prepared = prepared.checks
        let progress = self.progress
        let specs = checks
        // Read here: ring threads never touch the file system.
        let resolver = (ResolverConfiguration.load(), HostsFile.load())
        let threadCount = max(1, min(threads, checks.count))
        let (summaries, _) = try await withTaskCancellationHandler {
            try await onThreads(sharing: checks.count, threads: threadCount, name: "waddleperf-checks") { _, indices in
                do {
                    let events = observer.map { EventRelay(specs: specs, indices: indices, deliver: $0) }
                    return (try Self.runShare(indices.map { prepared[$0] }, resolver: resolver, progress: progress, events: events), ())
                } catch {
                    progress.cancelled.store(true, ordering: .relaxed)
                    throw error
                }
            }
        } onCancel: {
            progress.cancelled.store(true, ordering: .relaxed)
        }
        let documents = zip(checks, zip(prepared, summaries)).map { spec, pair -> ResultDocument in
            var d = pair.1.document(spec: spec, prepared: pair.0)
            d.createdAt = startedWall
            return d
        }
        return CheckReport(checks: checks, documents: documents, wallNanoseconds: cprobe_monotonic_ns() - started,
                           threads: threadCount)
    }

    /// One check's summary, whichever kind it is.
    enum CheckSummary: Sendable {
        case probe(ProbeSummary)
        case http(HTTPProbeSummary)
    }

    // MARK: Preparing

    /// Each check's kind, settings and resolved target: probe kinds' names through getaddrinfo,
    /// HTTP hosts through the stub resolver, all names at once.
    private func prepareChecks(family: AddressFamilyPreference) async throws -> [PreparedCheck] {
        var prepared: [PreparedCheck?] = Array(repeating: nil, count: checks.count)
        var httpIndices: [Int] = []
        var httpRequests: [HTTPRequestSpec] = []
        var httpSettings: [HTTPProbeSettings] = []
        var probeIndices: [Int] = []
        var probeSpecs: [(any ProbeKind.Type, TargetSpecification)] = []
        for (i, spec) in checks.enumerated() {
            let field = "checks[\(i)]."
            if case .http = spec.parameters {
                var (request, settings) = try spec.httpRequest(field: field)
                if policy != .open { settings.policy = policy }
                httpIndices.append(i)
                httpRequests.append(request)
                httpSettings.append(settings)
                continue
            }
            guard let kind = ProbeRegistry.kind(named: spec.kind) else {
                throw ConfigurationError(field: field + "kind", "'\(spec.kind)' cannot run here")
            }
            let target = try TargetSpecification(parsing: spec.target)
            switch target {
            case .network:
                throw ConfigurationError(field: field + "target", "a check names one host or address, not a network")
            case .address(_, let port?), .host(_, let port?):
                if kind.defaultPort == nil {
                    throw ConfigurationError(field: field + "target", "\(kind.name) checks take no port, got \(port)")
                }
            default:
                break
            }
            probeIndices.append(i)
            probeSpecs.append((kind, target))
        }
        // Probe kinds: one resolver call per kind (its default port), which looks each
        // distinct name up once, all at once.
        var resolved = Array(repeating: ProbeTarget(name: "", address: .v4(0)), count: probeSpecs.count)
        for kind in ProbeRegistry.kinds {
            let members = probeSpecs.indices.filter { probeSpecs[$0].0 == kind }
            guard !members.isEmpty else { continue }
            let targets = try await TargetResolver.resolve(members.map { probeSpecs[$0].1 }, defaultPort: kind.defaultPort ?? 0,
                                                           family: family)
            for (n, t) in zip(members, targets) { resolved[n] = t }
        }
        for (n, i) in probeIndices.enumerated() {
            let t = resolved[n]
            if t.isResolved, let refusal = policy.refusal(t.address, port: t.port) { throw refusal }
            prepared[i] = .probe(kind: probeSpecs[n].0, target: resolved[n], settings: checks[i].probeSettings())
        }
        if !httpRequests.isEmpty {
            let targets = try await HTTPProbeTarget.resolve(httpRequests, family: family)
            for t in targets where t.failedResolution == nil {
                if let refusal = policy.refusal(t.address, port: t.request.url.port) { throw refusal }
            }
            for (n, i) in httpIndices.enumerated() { prepared[i] = .http(target: targets[n], settings: httpSettings[n]) }
        }
        return prepared.map { $0! }
    }

    // MARK: One thread

    /// Runs `share` on this thread's runtime: one client per group of checks with the same kind
    /// and settings, one stub resolver for the HTTP groups. Returns each check's summary.
    private static func runShare(_ share: [PreparedCheck], resolver: (ResolverConfiguration, HostsFile),
                                 progress: RunProgress, events: EventRelay?) throws -> [CheckSummary] {
        var probeGroups: [(kind: any ProbeKind.Type, settings: ProbeSettings, members: [Int])] = []
        var httpGroups: [(settings: HTTPProbeSettings, members: [Int])] = []
        for (i, check) in share.enumerated() {
            switch check {
            case .probe(let kind, _, let settings):
                if let g = probeGroups.firstIndex(where: { $0.kind == kind && $0.settings == settings }) {
                    probeGroups[g].members.append(i)
                } else {
                    probeGroups.append((kind, settings, [i]))
                }
            case .http(_, let settings):
                if let g = httpGroups.firstIndex(where: { $0.settings == settings }) {
                    httpGroups[g].members.append(i)
                } else {
                    httpGroups.append((settings, [i]))
                }
            }
        }
        var plan = SlotPlan()
        let probeSlots = try probeGroups.map { g throws(ConfigurationError) in
            try ProbeClient.reserve(in: &plan, targets: g.members.count, settings: g.settings)
        }
        let httpSlots = try httpGroups.map { g throws(ConfigurationError) in
            try HTTPWorker.reserve(in: &plan, connections: g.members.count)
        }
        let dnsSlots = httpGroups.isEmpty ? nil : try DNSClient.reserve(in: &plan)
        let runtime = try RingRuntime(plan)

        var probeClients: [ProbeClient] = []
        for (g, group) in probeGroups.enumerated() {
            let targets = group.members.map { i -> ProbeTarget in
                guard case .probe(_, let t, _) = share[i] else { preconditionFailure() }
                return t
            }
            let client = try ProbeClient(kind: group.kind, targets: targets, runIndices: group.members,
                                         settings: group.settings, slots: runtime.slots(probeSlots[g]),
                                         progress: progress, observer: events?.probeObserver(kind: group.kind))
            runtime.add(client, slots: probeSlots[g])
            probeClients.append(client)
        }
        var workloads: [HTTPProbeWorkload] = []
        if let dnsSlots {
            let dns = DNSClient(slots: runtime.slots(dnsSlots), configuration: resolver.0, hosts: resolver.1)
            runtime.add(dns, slots: dnsSlots)
            let targets = share.map { check -> HTTPProbeTarget in
                if case .http(let t, _) = check { return t }
                return HTTPProbeTarget(request: HTTPRequestSpec(url: HTTPURL(secure: false, host: "unused", port: 80, path: "/")),
                                       address: .v4(0), dns: nil)
            }
            for (g, group) in httpGroups.enumerated() {
                let worker = HTTPWorker(slots: runtime.slots(httpSlots[g]))
                worker.dns = dns
                let workload = try HTTPProbeWorkload(worker: worker, targets: targets, indices: group.members,
                                                     settings: group.settings, progress: progress,
                                                     observer: events?.httpObserver)
                runtime.add(worker, slots: httpSlots[g])
                workloads.append(workload)
            }
        }
        try runtime.run { progress.cancelled.load(ordering: .relaxed) }

        var summaries = Array(repeating: CheckSummary.probe(ProbeSummary()), count: share.count)
        for (g, group) in probeGroups.enumerated() {
            for (k, i) in group.members.enumerated() { summaries[i] = .probe(probeClients[g].summaries[k]) }
        }
        for (g, group) in httpGroups.enumerated() {
            for (k, i) in group.members.enumerated() { summaries[i] = .http(workloads[g].summaries[k]) }
        }
        return summaries
    }
}
