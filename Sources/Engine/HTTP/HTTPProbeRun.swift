import ProbeModel
import CProbe
import Glibc
import Synchronization

/// Settings of an HTTP probe run (`waddleperf probe http`).
public struct HTTPProbeSettings: Sendable, Equatable {
    /// Probes per target; nil: until cancelled.
    public var count: Int? = 3
    /// Per-target period, nanoseconds. One probe per target is in flight at
    /// a time: a probe that outlasts the interval delays the next one.
    public var interval: UInt64 = 1_000_000_000
    /// Whole-probe deadline (all phases and redirects), nanoseconds.
    public var timeout: UInt64 = 5_000_000_000
    /// Keep connections alive between probes of a target (the first probe is
    /// cold, the others warm; they are summarised apart).
    public var reuse = true
    /// Redirects followed at most (0: report the 3xx as is).
    public var maximumRedirects = 10
    /// Statuses that count as success.
    public var acceptedStatus: ClosedRange<Int> = 200...399
    public var tls = TLSOptions()
    /// HTTP/1.1, HTTP/2, or auto (ALPN decides over TLS).
    public var version = HTTPVersionChoice.http1
    public var threads = 1
    /// true: a host is resolved once, before the run, and its `dns` phase
    /// reported on its first cold probe. false: every probe that opens a
    /// connection resolves the host anew (the stub resolver on the probe's
    /// ring) and reports its own `dns` phase.
    public var dnsCache = true
    /// Follow an `Alt-Svc: h3` advertisement (https only, same host): once a
    /// response advertises it, the target's next probes use HTTP/3 there; a
    /// QUIC handshake that fails sends them back to TCP for the rest of the run.
    public var h3Upgrade = false
    public var family = AddressFamilyPreference.any
    /// nil: /etc/resolv.conf and /etc/hosts.
    public var resolver: ResolverConfiguration? = nil
    public var hosts: HostsFile? = nil
    /// Checked on every address a probe connects to (its own lookups', each redirect hop's):
    /// a refused one ends the probe as `denied`. nil: every address.
    public var policy: TargetPolicy? = nil

    public init() {}

    public func validate() throws(ConfigurationError) {
        if let count, count < 1 { throw ConfigurationError(field: "count", "must be at least 1, got \(count)") }
        if timeout == 0 { throw ConfigurationError(field: "timeout", "must be greater than 0") }
        if !(0...50).contains(maximumRedirects) { throw ConfigurationError(field: "max-redirects", "must be 0-50") }
        if !(1...64).contains(threads) { throw ConfigurationError(field: "threads", "must be 1-64, got \(threads)") }
        if let min = tls.minimumVersion, let max = tls.maximumVersion, min == .tls13 && max == .tls12 {
            throw ConfigurationError(field: "tls-min", "is above tls-max")
        }
    }
}

/// A request to probe and where its host resolved.
public struct HTTPProbeTarget: Sendable {
    public var request: HTTPRequestSpec
    public var address: IPAddress
    /// How long resolving the host took (nil for an address literal); reported
    /// as the `dns` phase of the target's first cold request.
    public var dns: UInt64?
    /// Set when the host did not resolve before the run: each probe of the
    /// target is then that failure (`unresolved`, or `timeout` in phase
    /// `dns`), and the other targets run as usual.
    public var failedResolution: DNSResolution? = nil

    public init(request: HTTPRequestSpec, address: IPAddress, dns: UInt64?) {
        self.request = request
        self.address = address
        self.dns = dns
    }

    /// A target whose host each probe resolves itself (`dnsCache` off); an
    /// address literal is used as is.
    public static func unresolved(_ request: HTTPRequestSpec) -> HTTPProbeTarget {
        HTTPProbeTarget(request: request, address: IPAddress(request.url.host) ?? .v4(0), dns: nil)
    }

    /// Resolves each request's host with the stub resolver (its own ring
    /// thread; every name timed on its own, all of them at once).
    public static func resolve(_ requests: [HTTPRequestSpec], family: AddressFamilyPreference = .any,
                               configuration: ResolverConfiguration = .load(),
                               hosts: HostsFile = .load()) async throws -> [HTTPProbeTarget] {
        let names = requests.map(\.url.host).filter { IPAddress($0) == nil }
        let resolved = try await StubResolver.resolve(names, family: family, configuration: configuration, hosts: hosts)
        return requests.map { r in
            if let literal = IPAddress(r.url.host) { return HTTPProbeTarget(request: r, address: literal, dns: nil) }
            let result = resolved[r.url.host]!
            guard let first = result.addresses.first else {
                var target = HTTPProbeTarget(request: r, address: .v4(0), dns: nil)
                target.failedResolution = result
                return target
            }
            return HTTPProbeTarget(request: r, address: first, dns: result.duration)
        }
    }
}

public struct HTTPProbeReport: Sendable {
    public var targets: [HTTPProbeTarget]
    public var summaries: [HTTPProbeSummary]
    public var wallNanoseconds: UInt64
}

/// Probes HTTP(S) URLs: each target gets its own connection, reused across
/// probes when allowed; every probe is timed phase by phase.
public final class HTTPProbeRun: Sendable {
    public let targets: [HTTPProbeTarget]
    public let settings: HTTPProbeSettings
    /// Live counters (probes finished, successes); cancelling sets its flag.
    public let progress = RunProgress()

    public init(targets: [HTTPProbeTarget], settings: HTTPProbeSettings) throws(ConfigurationError) {
        try settings.validate()
        for t in targets {
            try t.request.validate()
            if settings.version == .http3 && !t.request.url.secure {
                throw ConfigurationError(field: "url '\(t.request.url)'", "HTTP/3 needs an https:// URL")
            }
        }
        self.targets = targets
        self.settings = settings
    }

    public func cancel() { progress.cancelled.store(true, ordering: .relaxed) }

    /// Runs to completion; `observer` gets each result on a ring thread.
    public func run(observer: (@Sendable (HTTPResult) -> Void)? = nil) async throws -> HTTPProbeReport {
        let started = cprobe_monotonic_ns()
        let threadCount = max(1, min(settings.threads, targets.count))
        let targets = self.targets, settings = self.settings
        // Read before the ring threads start (they never touch the file
        // system): probes without the cache resolve with it, and so does a
        // redirect to a host the run has not resolved.
        let resolver = (settings.resolver ?? .load(), settings.hosts ?? .load())
        let perThread = try await withTaskCancellationHandler {
            try await onThreads(sharing: targets.count, threads: threadCount, name: "waddleperf-http") { _, indices in
              do {
                var plan = SlotPlan()
                let httpSlots = try HTTPWorker.reserve(in: &plan, connections: indices.count)
                let dnsSlots = try DNSClient.reserve(in: &plan)
                let runtime = try RingRuntime(plan)
                let worker = HTTPWorker(slots: runtime.slots(httpSlots))
                let dns = DNSClient(slots: runtime.slots(dnsSlots), configuration: resolver.0, hosts: resolver.1)
                worker.dns = dns
                let workload = try HTTPProbeWorkload(worker: worker, targets: targets, indices: indices,
                                                     settings: settings, progress: self.progress, observer: observer)
                runtime.add(worker, slots: httpSlots)
                runtime.add(dns, slots: dnsSlots)
                try runtime.run { self.progress.cancelled.load(ordering: .relaxed) }
                return (workload.summaries, ())
              } catch {
                // One thread failing stops the others.
                self.cancel()
                throw error
              }
            }
        } onCancel: {
            self.cancel()
        }
        let summaries = perThread.outputs
        return HTTPProbeReport(targets: targets, summaries: summaries, wallNanoseconds: cprobe_monotonic_ns() - started)
    }
}

/// The probe schedule of one ring thread: targets[indices[k]] uses connection k.
final class HTTPProbeWorkload: HTTPWorkload {
    private struct Progress {
        var inFlight = false
        /// The scheduler's slot of the probe in flight.
        var slot: UInt32 = 0
        var generation: UInt32 = 0
        /// Started, waiting for its connection to finish closing.
        var waitingForIdle = false
        /// Started, waiting for its own lookup of the host (no cache).
        var resolving = false
        var startedAt: UInt64 = 0
        var url: HTTPURL
        var hops: [HTTPHop] = []
        var hopStarted: UInt64 = 0
        /// A redirect waiting for its connection to drain.
        var pending: HTTPRequestTemplate? = nil
        var pendingURL: HTTPURL? = nil
        var pendingAddress: IPAddress? = nil
        var lastTLS: TLSDetails? = nil
        var current: HTTPRequestTemplate
        /// This probe resolved its host itself (no cache): how long it took.
        var resolution: UInt64? = nil
        /// The current redirect hop resolved its host: how long it took.
        var hopResolution: UInt64? = nil
        /// `--h3-upgrade`: the HTTP/3 port the origin advertised.
        var h3Port: UInt16? = nil
        var h3Broken = false
    }

    private let worker: HTTPWorker
    /// Paces the targets: one probe per target at a time (no overlap), the
    /// next `interval` after the previous one started, or at once if it ran longer.
    private var scheduler: ProbeScheduler
    private var actions: [ProbeScheduler.Action] = []
    /// The target whose probe holds each scheduler slot.
    private var slotTarget: [Int]
    /// Probes finished so far (to notice one finished while starting).
    private var finishedInTurn: UInt64 = 0
    private let targets: [HTTPProbeTarget]
    private let indices: [Int]
    private let settings: HTTPProbeSettings
    private let templates: [HTTPRequestTemplate]
    private var progress: [Progress]
    private(set) var summaries: [HTTPProbeSummary]
    private let tlsContext: TLSContext?
    private let quicContext: QUICTLSContext?
    private let runProgress: RunProgress
    private let observer: (@Sendable (HTTPResult) -> Void)?
    /// Host name → address, for redirects: the hosts named by the run, and
    /// (with the cache on) those redirects led to.
    private var known: [String: IPAddress]

    init(worker: HTTPWorker, targets: [HTTPProbeTarget], indices: [Int], settings: HTTPProbeSettings,
         progress runProgress: RunProgress, observer: (@Sendable (HTTPResult) -> Void)?) throws {
        self.worker = worker
        self.targets = targets
        self.indices = indices
        self.settings = settings
        self.runProgress = runProgress
        self.observer = observer
        let templates = indices.map { targets[$0].request.serialised() }
        self.templates = templates
        progress = indices.enumerated().map { Progress(url: targets[$0.element].request.url, current: templates[$0.offset]) }
        summaries = Array(repeating: HTTPProbeSummary(), count: indices.count)
        scheduler = ProbeScheduler(.init(targetCount: indices.count, count: settings.count, interval: settings.interval,
                                         rate: nil, concurrency: max(1, indices.count), timeout: settings.timeout,
                                         overlap: false))
        slotTarget = Array(repeating: 0, count: max(1, indices.count))
        // Always: a plain target may redirect to https.
        var tlsOptions = settings.tls
        tlsOptions.alpn = settings.version.alpn
        tlsContext = try TLSContext.shared.context(tlsOptions)
        quicContext = settings.version == .http3 || settings.h3Upgrade ? try QUICTLSContext.shared.context(settings.tls) : nil
        var known: [String: IPAddress] = [:]
        for t in targets where t.address != .v4(0) { known[t.request.url.host] = t.address }
        self.known = known
        worker.makeConnections(count: indices.count, owner: self)
        worker.quic = settings.version == .http3 || settings.h3Upgrade
    }

    var isFinished: Bool { scheduler.isFinished }

    /// Set by `closeAll` (finished or cancelled): nothing new starts.
    private var closing = false

    func closeAll(now: UInt64) {
        closing = true
        for c in worker.connections { c.close(now: now) }
    }

    func poll(now: UInt64) -> UInt64? {
        if closing { return nil }
        actions.removeAll(keepingCapacity: true)
        scheduler.poll(now: now, into: &actions)
        let finishedBefore = finishedInTurn
        for action in actions {
            switch action {
            case .start(let slot, let generation, let target, let sequence):
                start(Int(target), slot: slot, generation: generation, sequence: sequence, now: now)
            case .expire(let slot, let generation):
                expire(slot: slot, generation: generation, now: now)
            case .finished:
                break
            }
        }
        // A probe decided as it started (a host that did not resolve): its scheduler sees it at once.
        return finishedInTurn != finishedBefore ? now : scheduler.nextWakeup
    }

    /// A probe's deadline passed. One with an exchange under way ends at its connection's own
    /// deadline (swept by the worker); one still waiting (for its lookup, or for its connection
    /// to finish closing) has nothing to time out, so it ends here.
    private func expire(slot: UInt32, generation: UInt32, now: UInt64) {
        let k = slotTarget[Int(slot)]
        guard progress[k].inFlight, progress[k].slot == slot, progress[k].generation == generation,
              progress[k].waitingForIdle || progress[k].resolving else { return }
        let c = worker.connections[k]
        var r = HTTPResult(target: Int32(indices[k]), sequence: c.sequence, outcome: .timeout)
        r.startedAt = progress[k].startedAt
        r.url = progress[k].url.description
        r.failedPhase = progress[k].resolving ? .dns : .connect
        r.message = progress[k].resolving ? "no answer to the lookup in time" : "the previous connection did not close in time"
        finish(c, k, r, now: now)
    }

    /// Starts target `k`'s probe number `sequence`.
    private func start(_ k: Int, slot: UInt32, generation: UInt32, sequence: UInt32, now: UInt64) {
        let c = worker.connections[k]
        let t = targets[indices[k]]
        progress[k].inFlight = true
        progress[k].slot = slot
        progress[k].generation = generation
        slotTarget[Int(slot)] = k
        progress[k].startedAt = now
        progress[k].hopStarted = now
        progress[k].hops = []
        progress[k].url = t.request.url
        progress[k].current = templates[k]
        progress[k].resolution = nil
        progress[k].hopResolution = nil
        c.sequence = sequence
        c.target = Int32(k)
        if let failed = t.failedResolution {
            // The host did not resolve before the run: nothing to send.
            var r = HTTPResult(target: Int32(indices[k]), sequence: sequence, outcome: failed.failureOutcome)
            r.startedAt = now
            r.url = t.request.url.description
            r.failedPhase = .dns
            r.message = "\(t.request.url.host): " + (failed.failure?.message ?? "no address")
            return finish(c, k, r, now: now)
        }
        // Kept alive to where a redirect led: not this target's endpoint.
        // (Resolving per probe: wherever the host last resolved to.)
        let expected = settings.dnsCache ? t.address : c.remote ?? t.address
        let (port, version) = endpoint(k)
        if c.state == .ready && (!c.sameEndpoint(expected, port, secure: t.request.url.secure, host: t.request.url.host)
                                 || c.isQUIC != (version == .http3)) {
            c.close(now: now)
        }
        // A connection still draining from a close: the probe begins once it is idle.
        guard c.canBegin(0) else {
            progress[k].waitingForIdle = true
            return
        }
        begin(k, now: now)
    }

    /// Sends target `k`'s request: on its open connection, or after connecting (and, without
    /// the cache, resolving) anew.
    private func begin(_ k: Int, now: UInt64) {
        let c = worker.connections[k]
        let t = targets[indices[k]]
        if !settings.dnsCache, c.state == .closed, let dns = worker.dns, IPAddress(t.request.url.host) == nil {
            progress[k].resolving = true
            let generation = progress[k].generation
            dns.resolve(t.request.url.host, family: settings.family, now: now) { [unowned self] result in
                // A lookup that answers after its probe timed out belongs to no probe.
                guard self.progress[k].generation == generation else { return }
                self.resolved(k, result)
            }
            return
        }
        if c.state == .closed {
            if refuse(c, k, address: t.address, port: endpoint(k).0, now: now) { return }
            configure(c, k, address: t.address)
        }
        c.begin(templates[k], deadline: progress[k].startedAt + settings.timeout, now: now)
    }

    /// Ends target `k`'s probe as `denied` when the policy refuses `address:port`.
    private func refuse(_ c: HTTPConnection, _ k: Int, address: IPAddress, port: UInt16, now: UInt64,
                        redirected: Bool = false) -> Bool {
        guard let refusal = settings.policy?.refusal(address, port: port) else { return false }
        var r = redirected ? baseResult(c, k, now: now) : HTTPResult(target: Int32(indices[k]), sequence: c.sequence, outcome: .denied)
        r.outcome = .denied
        r.startedAt = progress[k].startedAt
        r.url = progress[k].url.description
        r.failedPhase = .connect
        r.message = refusal.description
        r.total = nil
        finish(c, k, r, now: now)
        return true
    }

    /// A probe's own resolution is done: connect, or report the failure.
    private func resolved(_ k: Int, _ result: DNSResolution) {
        let now = cprobe_monotonic_ns()
        guard !closing, progress[k].inFlight, progress[k].resolving else { return }
        progress[k].resolving = false
        let c = worker.connections[k]
        progress[k].resolution = result.duration
        guard let address = result.addresses.first, now < progress[k].startedAt + settings.timeout else {
            var r = HTTPResult(target: Int32(indices[k]), sequence: c.sequence, outcome: .timeout)
            r.startedAt = progress[k].startedAt
            r.url = progress[k].url.description
            r.protocolName = c.protocolName
            r.failedPhase = .dns
            if result.failure != nil || result.addresses.isEmpty {
                r.outcome = result.failureOutcome
                r.message = result.failure?.message
            }
            return finish(c, k, r, now: now)
        }
        if refuse(c, k, address: address, port: endpoint(k).0, now: now) { return }
        configure(c, k, address: address)
        c.begin(templates[k], deadline: progress[k].startedAt + settings.timeout, now: now)
    }

    /// Where target `k`'s probes go: its URL's port and version, or the
    /// HTTP/3 alternative its origin advertised (`--h3-upgrade`).
    private func endpoint(_ k: Int) -> (UInt16, HTTPVersionChoice) {
        if let port = progress[k].h3Port { return (port, .http3) }
        return (targets[indices[k]].request.url.port, settings.version)
    }

    private func configure(_ c: HTTPConnection, _ k: Int, address: IPAddress) {
        let url = targets[indices[k]].request.url
        let (port, version) = endpoint(k)
        c.configure(address: address, port: port, host: url.host, tls: url.secure ? tlsContext : nil, quic: quicContext,
                    version: version)
    }

    // MARK: HTTPConnectionOwner

    func responseComplete(_ c: HTTPConnection, exchange: Int, now: UInt64) {
        let k = Int(c.target)
        let status = c.exchanges[0].status
        if status / 100 == 3, progress[k].hops.count < settings.maximumRedirects, let location = c.exchanges[0].location {
            progress[k].hops.append(HTTPHop(url: progress[k].url.description, status: status,
                                            total: now - progress[k].hopStarted, reused: c.exchanges[0].reused))
            if let tls = c.tls, c.handshaken != 0 { progress[k].lastTLS = tls.details() }
            return redirect(c, k, location: location, status: status, now: now)
        }
        var r = baseResult(c, k, now: now)
        r.status = status
        r.outcome = settings.acceptedStatus.contains(status) ? .success : .status(status)
        finish(c, k, r, now: now)
        // Alt-Svc from the origin itself (no redirect): HTTP/3 from the next probe on.
        let origin = targets[indices[k]].request.url
        if settings.h3Upgrade, !c.isQUIC, !progress[k].h3Broken, progress[k].h3Port == nil, origin.secure,
           progress[k].hops.isEmpty, let value = c.exchanges[0].altSvc, let alternative = AltSvc.h3Endpoint(value),
           alternative.host == nil || alternative.host == origin.host {
            progress[k].h3Port = alternative.port
            return c.close(now: now)
        }
        if !settings.reuse { c.close(now: now) }
    }

    func requestFailed(_ c: HTTPConnection, exchange: Int, outcome: HTTPOutcome, phase: HTTPPhase, message: String?,
                       now: UInt64) {
        let k = Int(c.target)
        guard progress[k].inFlight else { return }
        if progress[k].h3Port != nil && phase == .quicHandshake {
            // The advertised HTTP/3 endpoint does not work: back to TCP.
            progress[k].h3Port = nil
            progress[k].h3Broken = true
        }
        var r = baseResult(c, k, now: now)
        r.outcome = outcome
        r.failedPhase = phase
        r.message = message
        r.total = nil
        if phase == .connect { r.connect = nil }
        if phase == .tls { r.tls = nil }
        if phase == .quicHandshake { r.quicHandshake = nil }
        if phase == .ttfb { r.ttfb = nil }
        if phase == .transfer { r.transfer = nil }
        progress[k].pending = nil
        finish(c, k, r, now: now)
    }

    func connectionIdle(_ c: HTTPConnection, now: UInt64) {
        let k = Int(c.target)
        if progress[k].waitingForIdle {
            progress[k].waitingForIdle = false
            if !closing && progress[k].inFlight { begin(k, now: now) }
            return
        }
        guard !closing, progress[k].inFlight, let next = progress[k].pending, let url = progress[k].pendingURL,
              let address = progress[k].pendingAddress else { return }
        progress[k].pending = nil
        c.configure(address: address, port: url.port, host: url.host, tls: url.secure ? tlsContext : nil, quic: quicContext,
                    version: settings.version)
        c.begin(next, deadline: progress[k].startedAt + settings.timeout, now: now)
    }

    // MARK: Steps

    private func redirect(_ c: HTTPConnection, _ k: Int, location: String, status: Int, now: UInt64) {
        let from = progress[k].url
        let next: HTTPURL
        do { next = try from.resolving(location) } catch {
            var r = baseResult(c, k, now: now)
            r.outcome = .protocolError
            r.failedPhase = .transfer
            r.message = "bad Location '\(location)': \(error.message)"
            return finish(c, k, r, now: now)
        }
        if settings.version == .http3 && !next.secure {
            var r = baseResult(c, k, now: now)
            r.outcome = .protocolError
            r.failedPhase = .transfer
            r.message = "redirect to \(next), which HTTP/3 cannot follow (not https)"
            return finish(c, k, r, now: now)
        }
        var spec = targets[indices[k]].request
        spec.url = next
        if status == 303 || ((status == 301 || status == 302) && spec.method == "POST") {
            spec.method = spec.method == "HEAD" ? "HEAD" : "GET"
            spec.body = []
        }
        let template = spec.serialised()
        progress[k].url = next
        progress[k].current = template
        progress[k].hopStarted = now
        progress[k].hopResolution = nil
        if closing { return }
        if let address = IPAddress(next.host) ?? (next.host == from.host ? c.remote : nil) ?? known[next.host] {
            return follow(c, k, template, to: next, at: address, now: now)
        }
        // A host the run has not resolved: the stub resolver on this ring
        // (its time is the hop's `dns`; the result is cached for later
        // probes unless the cache is off).
        worker.dns!.resolve(next.host, family: settings.family, now: now) { [unowned self] result in
            let now = cprobe_monotonic_ns()
            guard !closing, progress[k].inFlight, progress[k].current === template else { return }
            progress[k].hopResolution = result.duration
            guard let address = result.addresses.first else {
                var r = baseResult(c, k, now: now)
                r.outcome = result.failureOutcome
                r.failedPhase = .dns
                r.message = "redirect to \(next.host): " + (result.failure?.message ?? "no address")
                r.total = nil
                return finish(c, k, r, now: now)
            }
            if settings.dnsCache { known[next.host] = address }
            follow(c, k, template, to: next, at: address, now: now)
        }
    }

    /// Sends a redirect's next request: on the open connection when it
    /// reaches the same endpoint, else on a new one once this one drained.
    private func follow(_ c: HTTPConnection, _ k: Int, _ template: HTTPRequestTemplate, to next: HTTPURL,
                        at address: IPAddress, now: UInt64) {
        if refuse(c, k, address: address, port: next.port, now: now, redirected: true) { return }
        if c.state == .ready && c.sameEndpoint(address, next.port, secure: next.secure, host: next.host) {
            c.begin(template, deadline: progress[k].startedAt + settings.timeout, now: now)
            return
        }
        progress[k].pending = template
        progress[k].pendingURL = next
        progress[k].pendingAddress = address
        if c.state == .ready { c.close(now: now) }
        // else: draining already; connectionIdle starts it.
    }

    private func baseResult(_ c: HTTPConnection, _ k: Int, now: UInt64) -> HTTPResult {
        let t = targets[indices[k]]
        let e = c.exchanges[0]
        var r = HTTPResult(target: Int32(indices[k]), sequence: c.sequence, outcome: .success)
        r.startedAt = progress[k].startedAt
        r.url = progress[k].url.description
        // A chain is warm only when no hop opened a connection.
        r.reused = e.reused && progress[k].hops.allSatisfy(\.reused)
        r.redirects = progress[k].hops
        if let a = c.remote { r.remote = a.endpoint(port: c.port) }
        if e.openedConnection {
            if let own = progress[k].resolution, progress[k].hops.isEmpty {
                r.dns = own
            } else if let hop = progress[k].hopResolution, !progress[k].hops.isEmpty {
                r.dns = hop
            } else if c.sequence == 0 && progress[k].hops.isEmpty && progress[k].url.host == t.request.url.host {
                r.dns = t.dns
            }
            if c.connected != 0 && c.isQUIC { r.quicHandshake = c.connected - c.connectStarted }
            if c.isQUIC { r.quicRetry = c.http3?.retried }
            if c.connected != 0 && !c.isQUIC { r.connect = c.connected - c.connectStarted }
            if c.handshaken != 0 { r.tls = c.handshaken - c.connected }
        }
        if c.isQUIC {
            r.tlsDetails = e.openedConnection ? (c.connected != 0 ? c.http3?.details() : nil) : progress[k].lastTLS
        } else if let tls = c.tls, c.handshaken != 0 {
            r.tlsDetails = tls.details()
        } else if c.tls != nil {
            r.tlsDetails = progress[k].lastTLS  // reused: the handshake's details
        }
        r.protocolName = c.protocolName
        if e.firstByte != 0 && e.requestSent != 0 { r.ttfb = elapsed(e.requestSent, e.firstByte) }
        if e.lastByte != 0 && e.firstByte != 0 { r.transfer = elapsed(e.firstByte, e.lastByte) }
        // A probe's own resolution is inside its span; the run's is before it.
        let inside = progress[k].resolution != nil || progress[k].hopResolution != nil
        // The response ends with its last byte: an HTTP/3 stream is closed
        // (and reported) only once the server has also acknowledged the
        // request, often a delayed ACK later, which is no part of the answer.
        let end = e.lastByte != 0 ? min(e.lastByte, now) : now
        r.total = end - progress[k].startedAt + (inside ? 0 : r.dns ?? 0)
        r.headerBytesIn = e.headerBytesIn
        r.bodyBytesIn = e.bodyBytesIn
        if c.protocolName != "http/1.1" {
            r.headerBytesOut = e.headerBytesOut
            r.bodyBytesOut = e.bodyBytesOut
        } else {
            r.headerBytesOut = progress[k].current.headerBytes
            r.bodyBytesOut = progress[k].current.bodyBytes
        }
        return r
    }

    private func finish(_ c: HTTPConnection, _ k: Int, _ result: HTTPResult, now: UInt64) {
        if result.tlsDetails != nil { progress[k].lastTLS = result.tlsDetails }
        progress[k].inFlight = false
        progress[k].waitingForIdle = false
        progress[k].resolving = false
        finishedInTurn &+= 1
        scheduler.completed(slot: progress[k].slot, generation: progress[k].generation, now: now)
        summaries[k].record(result)
        runProgress.finished.add(1, ordering: .relaxed)
        runProgress.sent.add(1, ordering: .relaxed)
        if result.outcome.isSuccess { runProgress.received.add(1, ordering: .relaxed) }
        observer?(result)
    }
}

/// `to - from`, or 0 when timestamps from different clock reads cross.
@inline(__always) func elapsed(_ from: UInt64, _ to: UInt64) -> UInt64 { to > from ? to - from : 0 }

extension DNSResolution {
    /// What a lookup that gave no address means for an HTTP probe.
    fileprivate var failureOutcome: HTTPOutcome {
        guard let failure else { return .unresolved(.noAddress) }
        return failure.kind == .timeout ? .timeout : .unresolved(failure.kind)
    }
}
