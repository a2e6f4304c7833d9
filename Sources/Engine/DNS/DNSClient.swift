import ProbeModel
import CProbe
import Glibc

/// Why a name did not resolve.
public struct DNSFailure: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// The name does not exist (NXDOMAIN from every candidate).
        case nxdomain
        /// It exists but has no address of the family asked for.
        case noAddress = "no_address"
        /// The nameservers failed (SERVFAIL, REFUSED, ...).
        case serverFailure = "server_failure"
        /// No nameserver answered within timeout × attempts.
        case timeout
        /// A reply that does not parse, or a name that cannot be asked.
        case malformed
        case error
    }
    public var kind: Kind
    public var message: String
    public var description: String { "\(kind.rawValue): \(message)" }
}

/// How a name resolved, and how long the whole lookup took (hosts file,
/// search list, retries and any TCP fallback included).
public struct DNSResolution: Sendable {
    public var name: String
    public var addresses: [IPAddress] = []
    public var duration: UInt64 = 0
    /// "hosts", or the nameserver that answered ("127.0.0.1:53").
    public var source = ""
    /// The reply was truncated over UDP and fetched again over TCP.
    public var usedTCP = false
    /// Queries sent in all (retries and both families counted).
    public var queries = 0
    public var failure: DNSFailure? = nil
}

/// A stub resolver on an engine ring: queries go out over the ring's UDP
/// path (one connected socket per query, timeout and retry per resolv.conf,
/// nameservers rotated), a truncated reply is asked again over TCP, and
/// /etc/hosts is consulted first. A and AAAA are asked in parallel. A client
/// of its ring thread's runtime with a tag-only slot per query in flight;
/// nothing here blocks.
final class DNSClient: RingClient {
    private static let replyCapacity = 65_537
    /// Queries in flight at most (each a slot of the client's range; they cost the ring nothing).
    static let maximumQueries: UInt32 = 4096
    /// Deadlines are checked this often while a query is in flight.
    private static let sweepInterval: UInt64 = 5_000_000

    private let ring: RingSlots
    /// With `holdsRun`, the runtime keeps running while a lookup is open (a
    /// resolver run of its own); without, it is a service of the other
    /// clients, always finished, shut down with them.
    private let holdsRun: Bool
    private var nextSweep: UInt64 = 0
    let configuration: ResolverConfiguration
    let hosts: HostsFile
    private var nextServer = 0
    private var nextID = UInt16.random(in: 0...UInt16.max)

    private final class Lookup {
        let name: String
        let candidates: [String]
        var candidate = 0
        let types: [DNSRecordType]
        let started: UInt64
        let completion: (DNSResolution) -> Void
        var result: DNSResolution
        /// Per type of the current candidate: its addresses, or why not.
        var answers: [DNSRecordType: Result<[IPAddress], DNSFailure>] = [:]
        var outstanding = 0
        init(name: String, candidates: [String], types: [DNSRecordType], started: UInt64,
             completion: @escaping (DNSResolution) -> Void) {
            self.name = name
            self.candidates = candidates
            self.types = types
            self.started = started
            self.completion = completion
            result = DNSResolution(name: name)
        }
    }

    /// One question to one nameserver at a time, over UDP, then TCP if truncated.
    private final class Query {
        let index: Int
        var lookup: Lookup? = nil
        var type = DNSRecordType.a
        var name = ""
        var id: UInt16 = 0
        var fd: Int32 = -1
        var tcp = false
        var attempt = 0
        var server = 0
        var deadline: UInt64 = 0
        var pendingOps = 0
        var cancelPosted = false
        /// Its cancel could not be queued (the submission queue was full): asked again each turn.
        var cancelDue = false
        /// Set while the socket drains: what to do once it is closed.
        var then: ((Query, UInt64) -> Void)? = nil
        var message: UnsafeMutableRawPointer? = nil
        var messageCount = 0
        let reply = UnsafeMutableRawPointer.allocate(byteCount: DNSClient.replyCapacity, alignment: 16)
        var received = 0
        let address = UnsafeMutablePointer<sockaddr_storage>.allocate(capacity: 1)
        init(index: Int) { self.index = index }
        deinit {
            reply.deallocate()
            address.deallocate()
            message?.deallocate()
            if fd >= 0 { closeDescriptor(fd) }
        }
        var busy: Bool { lookup != nil || pendingOps > 0 || fd >= 0 }
    }

    private var queries: [Query] = []

    static func reserve(in plan: inout SlotPlan) throws(ConfigurationError) -> Int {
        try plan.reserve(maximumQueries, buffered: false, entries: 256)
    }

    init(slots: RingSlots, configuration: ResolverConfiguration, hosts: HostsFile, holdsRun: Bool = false) {
        self.ring = slots
        self.holdsRun = holdsRun
        self.configuration = configuration
        self.hosts = hosts
    }

    var isIdle: Bool { queries.allSatisfy { !$0.busy } }

    /// Resolves `name`; `completion` runs on the ring thread, maybe at once
    /// (an address literal, or a name in the hosts file).
    func resolve(_ name: String, family: AddressFamilyPreference, now: UInt64,
                 completion: @escaping (DNSResolution) -> Void) {
        let types: [DNSRecordType] = family == .ipv4 ? [.a] : family == .ipv6 ? [.aaaa] : [.a, .aaaa]
        if let literal = IPAddress(name) {
            return completion(DNSResolution(name: name, addresses: [literal], source: "literal"))
        }
        let fromHosts = types.flatMap { hosts.lookup(name, type: $0) }
        if !fromHosts.isEmpty {
            return completion(DNSResolution(name: name, addresses: fromHosts, duration: cprobe_monotonic_ns() - now,
                                            source: "hosts"))
        }
        let lookup = Lookup(name: name, candidates: configuration.candidates(for: name), types: types, started: now,
                            completion: completion)
        guard !lookup.candidates.isEmpty else {
            lookup.result.failure = DNSFailure(kind: .malformed, message: "'\(name)' is not a name that can be asked")
            return finish(lookup, now: now)
        }
        askCandidate(lookup, now: now)
    }

    private func askCandidate(_ lookup: Lookup, now: UInt64) {
        lookup.answers = [:]
        lookup.outstanding = lookup.types.count
        for type in lookup.types {
            guard let q = freeQuery() else {
                lookup.outstanding -= 1
                lookup.answers[type] = .failure(DNSFailure(kind: .error, message: "more than \(ring.count) queries in flight"))
                if lookup.outstanding == 0 {
                    lookup.result.failure = DNSFailure(kind: .error, message: "more than \(ring.count) queries in flight")
                    finish(lookup, now: now)
                }
                continue
            }
            q.lookup = lookup
            q.type = type
            q.name = lookup.candidates[lookup.candidate]
            q.attempt = 0
            q.tcp = false
            q.server = configuration.rotate ? nextServer : 0
            if configuration.rotate { nextServer = (nextServer + 1) % max(1, configuration.nameservers.count) }
            send(q, now: now)
        }
    }

    /// A query not in use, or nil when `maximumQueries` are.
    private func freeQuery() -> Query? {
        if let q = queries.first(where: { !$0.busy }) { return q }
        guard queries.count < Int(ring.count) else { return nil }
        let q = Query(index: queries.count)
        queries.append(q)
        return q
    }

    private func slot(_ q: Query) -> UInt32 { UInt32(q.index) }

    /// Sends `q` (UDP, or TCP after truncation) to its current nameserver.
    private func send(_ q: Query, now: UInt64) {
        guard !configuration.nameservers.isEmpty else {
            return answered(q, .failure(DNSFailure(kind: .error, message: "no nameserver configured")), now: now)
        }
        let server = configuration.nameservers[q.server % configuration.nameservers.count]
        nextID &+= 1
        q.id = nextID
        let bytes: [UInt8]
        do { bytes = try DNSMessage.query(id: q.id, name: q.name, type: q.type) } catch {
            return answered(q, .failure(DNSFailure(kind: .malformed, message: error.message)), now: now)
        }
        let framed = q.tcp ? DNSMessage.framedForTCP(bytes) : bytes
        q.message?.deallocate()
        q.message = .allocate(byteCount: framed.count, alignment: 8)
        framed.withUnsafeBytes { q.message!.copyMemory(from: $0.baseAddress!, byteCount: framed.count) }
        q.messageCount = framed.count
        q.received = 0
        q.deadline = now + configuration.timeout
        q.lookup?.result.queries += 1
        server.write(to: q.address, port: configuration.port)
        if q.tcp {
            q.fd = cprobe_tcp_stream_socket(server.family, 0)
            guard q.fd >= 0 else { return answered(q, .failure(DNSFailure(kind: .error, message: "socket: \(-q.fd)")), now: now) }
            count(q, now: now) { () throws(SystemError) in
                try ring.prepareConnect(slot(q), op: UInt8(CPROBE_OP_CONNECT), fd: q.fd, to: q.address)
            }
        } else {
            q.fd = socket(server.family, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            let length = socklen_t(server.isIPv6 ? MemoryLayout<sockaddr_in6>.size : MemoryLayout<sockaddr_in>.size)
            guard q.fd >= 0, q.address.withMemoryRebound(to: sockaddr.self, capacity: 1, { connect(q.fd, $0, length) }) == 0 else {
                return answered(q, .failure(DNSFailure(kind: .error, message: "UDP socket: errno \(errno)")), now: now)
            }
            postSend(q, now: now)
            postReceive(q, now: now)
        }
    }

    private func postSend(_ q: Query, now: UInt64) {
        count(q, now: now) { () throws(SystemError) in
            try ring.prepareSend(slot(q), op: UInt8(CPROBE_OP_SEND), fd: q.fd, from: q.message!, length: UInt32(q.messageCount))
        }
    }

    private func postReceive(_ q: Query, now: UInt64) {
        count(q, now: now) { () throws(SystemError) in
            try ring.prepareReceive(slot(q), op: UInt8(CPROBE_OP_RECV), fd: q.fd, into: q.reply + q.received,
                                    length: UInt32(Self.replyCapacity - q.received))
        }
    }

    /// Queues an operation of `q`'s. One the ring cannot take (its submission queue full even
    /// after a submit) leaves the query to its deadline, which retries it.
    private func count(_ q: Query, now: UInt64, _ prepare: () throws(SystemError) -> Int32) {
        do {
            q.pendingOps += Int(try prepare())
        } catch {
            q.deadline = now
        }
    }

    /// A completion for one of this client's slots.
    func complete(slot: UInt32, op: UInt8, result: Int32, now: UInt64) {
        let index = Int(slot)
        guard index < queries.count else { return }
        let q = queries[index]
        q.pendingOps -= 1
        if q.then != nil {
            if q.pendingOps == 0 { closed(q, now: now) }
            return
        }
        switch Int(op) {
        case CPROBE_OP_CONNECT:
            if result < 0 { return retry(q, now: now) }
            postSend(q, now: now)
            postReceive(q, now: now)
        case CPROBE_OP_SEND:
            if result < 0 { retry(q, now: now) }
        case CPROBE_OP_RECV:
            if result < 0 || (q.tcp && result == 0) { return retry(q, now: now) }
            q.received += Int(result)
            received(q, now: now)
        default:
            break
        }
    }

    private func received(_ q: Query, now: UInt64) {
        var body = UnsafeRawBufferPointer(start: q.reply, count: q.received)
        if q.tcp {
            guard q.received >= 2 else { return postReceive(q, now: now) }
            let length = Int(q.reply.load(as: UInt8.self)) << 8 | Int(q.reply.load(fromByteOffset: 1, as: UInt8.self))
            guard q.received >= 2 + length else { return postReceive(q, now: now) }
            body = UnsafeRawBufferPointer(start: q.reply + 2, count: length)
        }
        let response: DNSResponse
        do { response = try DNSMessage.parse(body) } catch {
            if q.tcp { return answered(q, .failure(DNSFailure(kind: .malformed, message: error.message)), now: now) }
            q.received = 0
            return postReceive(q, now: now)  // garbage on UDP: keep listening until the deadline
        }
        guard response.isAnswer(to: DNSQuestion(name: q.name, type: q.type), id: q.id) else {
            q.received = 0
            return postReceive(q, now: now)  // a stray or spoofed reply
        }
        if response.truncated && !q.tcp {
            q.lookup?.result.usedTCP = true
            return reopen(q, now: now) { [unowned self] q, now in
                q.tcp = true
                self.send(q, now: now)
            }
        }
        let server = configuration.nameservers[q.server % configuration.nameservers.count]
        q.lookup?.result.source = server.endpoint(port: configuration.port)
        switch response.rcode {
        case 0:
            answered(q, .success(response.addresses(for: q.name, type: q.type)), now: now)
        case 3:
            answered(q, .failure(DNSFailure(kind: .nxdomain, message: "\(q.name): NXDOMAIN")), now: now)
        default:
            // SERVFAIL, REFUSED, ...: the next nameserver may do better.
            if q.attempt + 1 < configuration.attempts * configuration.nameservers.count {
                return retry(q, now: now, failure: DNSFailure(kind: .serverFailure, message: "\(q.name): \(response.rcodeName)"))
            }
            answered(q, .failure(DNSFailure(kind: .serverFailure, message: "\(q.name): \(response.rcodeName)")), now: now)
        }
    }

    /// Deadlines of queries in flight.
    func sweep(now: UInt64) {
        for q in queries where q.lookup != nil && q.then == nil && q.deadline != 0 && now >= q.deadline {
            retry(q, now: now, failure: DNSFailure(kind: .timeout, message: "\(q.name): no answer"))
        }
    }

    /// The next attempt (next nameserver; the whole list `attempts` times),
    /// or the failure when they are spent.
    private func retry(_ q: Query, now: UInt64,
                       failure: DNSFailure = DNSFailure(kind: .timeout, message: "no answer")) {
        q.attempt += 1
        guard q.attempt < configuration.attempts * max(1, configuration.nameservers.count) else {
            return reopen(q, now: now) { [unowned self] q, now in
                let f = failure.kind == .timeout
                    ? DNSFailure(kind: .timeout, message: "\(q.name): no answer from \(configuration.nameservers.count) "
                                 + "nameserver(s) in \(configuration.attempts) attempt(s)")
                    : failure
                self.answered(q, .failure(f), now: now)
            }
        }
        reopen(q, now: now) { [unowned self] q, now in
            q.server += 1
            q.tcp = false
            self.send(q, now: now)
        }
    }

    /// Closes the query's socket once its operations are cancelled and
    /// drained, then runs `then`.
    private func reopen(_ q: Query, now: UInt64, then: @escaping (Query, UInt64) -> Void) {
        q.then = then
        q.deadline = 0
        if q.pendingOps == 0 { return closed(q, now: now) }
        if q.fd >= 0 {
            _ = Glibc.shutdown(q.fd, Int32(SHUT_RDWR))
            postCancel(q)
        }
    }

    private func postCancel(_ q: Query) {
        do {
            q.pendingOps += Int(try ring.prepareCancel(slot(q), fd: q.fd))
            q.cancelDue = false
        } catch {
            q.cancelDue = true
        }
    }

    private func closed(_ q: Query, now: UInt64) {
        if q.fd >= 0 { closeDescriptor(q.fd); q.fd = -1 }
        let then = q.then
        q.then = nil
        then?(q, now)
    }

    /// One type's question of the current candidate is settled.
    private func answered(_ q: Query, _ answer: Result<[IPAddress], DNSFailure>, now: UInt64) {
        guard let lookup = q.lookup else { return }
        if q.fd >= 0 || q.pendingOps > 0 {
            return reopen(q, now: now) { [unowned self] q, now in self.answered(q, answer, now: now) }
        }
        q.lookup = nil
        lookup.answers[q.type] = answer
        lookup.outstanding -= 1
        guard lookup.outstanding == 0 else { return }
        let addresses = lookup.types.flatMap { (try? lookup.answers[$0]?.get()) ?? [] }
        if !addresses.isEmpty {
            lookup.result.addresses = addresses
            return finish(lookup, now: now)
        }
        // Why this candidate failed: a server failure or timeout outweighs
        // NXDOMAIN, which outweighs "exists, no address".
        let failures = lookup.types.compactMap { t -> DNSFailure? in
            if case .failure(let f) = lookup.answers[t] { return f } else { return nil }
        }
        let worst = failures.first { $0.kind != .nxdomain } ?? failures.first
            ?? DNSFailure(kind: .noAddress, message: "\(lookup.candidates[lookup.candidate]): no "
                          + lookup.types.map { "\($0)" }.joined(separator: "/") + " record")
        lookup.result.failure = worst
        lookup.candidate += 1
        if lookup.candidate < lookup.candidates.count { return askCandidate(lookup, now: now) }
        finish(lookup, now: now)
    }

    private func finish(_ lookup: Lookup, now: UInt64) {
        if !lookup.result.addresses.isEmpty { lookup.result.failure = nil }
        lookup.result.duration = max(now, cprobe_monotonic_ns()) - lookup.started
        lookup.completion(lookup.result)
    }

    /// Abandons every lookup (their completions are not called).
    func cancelAll(now: UInt64) {
        for q in queries where q.lookup != nil || q.fd >= 0 {
            q.lookup = nil
            reopen(q, now: now) { _, _ in }
        }
    }

    // MARK: RingClient

    func poll(now: UInt64) -> UInt64? {
        guard !isIdle else { return nil }
        if now >= nextSweep {
            nextSweep = now + Self.sweepInterval
            sweep(now: now)
        }
        for q in queries where q.cancelDue && q.fd >= 0 { postCancel(q) }
        return nextSweep
    }

    func complete(_ completion: cprobe_completion) {
        complete(slot: completion.slot, op: completion.op, result: completion.result, now: completion.reaped_ns)
    }

    var isFinished: Bool { holdsRun ? isIdle : true }
    func cancel(now: UInt64) { cancelAll(now: now) }
    func shutdown(now: UInt64) { if !isIdle { cancelAll(now: now) } }
}

/// Runs the stub resolver on a ring of its own, on its own thread: for
/// resolving a run's names before it starts.
public enum StubResolver {
    public static func resolve(_ names: [String], family: AddressFamilyPreference = .any,
                               configuration: ResolverConfiguration = .load(), hosts: HostsFile = .load())
        async throws -> [String: DNSResolution] {
        let unique = Array(Set(names))
        return try await onThreads(1, name: "waddleperf-dns") { _ in
            var plan = SlotPlan()
            let request = try DNSClient.reserve(in: &plan)
            let runtime = try RingRuntime(plan)
            let client = DNSClient(slots: runtime.slots(request), configuration: configuration, hosts: hosts, holdsRun: true)
            runtime.add(client, slots: request)
            var results: [String: DNSResolution] = [:]
            for name in unique {
                client.resolve(name, family: family, now: cprobe_monotonic_ns()) { results[name] = $0 }
            }
            try runtime.run { false }
            return results
        }[0]
    }
}
