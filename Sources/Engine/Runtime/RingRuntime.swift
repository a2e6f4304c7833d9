import CProbe

/// The one shell of a ring thread. It owns the ring and hosts every client
/// on it (probe kinds, HTTP workloads, the stub resolver, an echo server),
/// each with the slot range the plan gave it, and runs this loop:
///
/// 1. if the run was cancelled, tell every client once;
/// 2. poll every client with the current time: each starts what is due and
///    says when it next needs polling;
/// 3. once every client is finished, shut each down (again on later turns
///    until it is idle); end when all are idle and nothing is queued;
/// 4. let clients queue the turn's output (HTTP flushes once per turn);
/// 5. submit and wait for completions, at most until the earliest wake-up;
/// 6. hand each completion to the client that owns its slot, then let every
///    client finish the batch.
///
/// Not Sendable: made, run and dropped on its thread (the ring is SINGLE_ISSUER).
final class RingRuntime {
    let ring: Ring
    private let ranges: [SlotPlan.Range]
    /// Clients by range index (nil until added).
    private var owners: [(any RingClient)?]
    private var clients: [any RingClient] = []
    /// Range lower bounds in ascending order, and the client owning each.
    private var sortedBases: [UInt32] = []
    private var sortedOwners: [any RingClient] = []

    static let completionCapacity: UInt32 = 4096
    /// Longest sleep without a wake-up asked for.
    static let maximumWait: UInt64 = 20_000_000
    /// Longest wait for a reply to arrive together with its send's completion.
    static let gatherWindow: UInt64 = 1_000_000

    /// Set once a run ended with every client idle and nothing queued: the ring may serve the
    /// thread's next run (`RingReuse`).
    private var endedIdle = false

    init(_ plan: SlotPlan) throws {
        ring = try RingReuse.take(fitting: plan) ?? Ring(entries: plan.entries, slots: plan.bufferedSlots, bufferSize: plan.bufferSize)
        ranges = plan.ranges
        owners = Array(repeating: nil, count: ranges.count)
    }

    deinit {
        // The clients are gone with this runtime (their sockets closed); a ring whose run ended
        // idle has nothing in flight and is kept for this thread's next run.
        if endedIdle { RingReuse.keep(ring) }
    }

    /// The slots of request `index` of the plan, for the client that asked.
    func slots(_ index: Int) -> RingSlots { RingSlots(ring: ring, range: ranges[index]) }

    /// Hosts `client` on the slots of request `index`.
    func add(_ client: any RingClient, slots index: Int) {
        precondition(owners[index] == nil, "slot range \(index) already has a client")
        owners[index] = client
        clients.append(client)
        let order = ranges.indices.filter { owners[$0] != nil }.sorted { ranges[$0].base < ranges[$1].base }
        sortedBases = order.map { ranges[$0].base }
        sortedOwners = order.map { owners[$0]! }
    }

    /// Runs until every client is finished and idle. `isCancelled` is read
    /// once a turn.
    func run(isCancelled: () -> Bool) throws {
        let completions = UnsafeMutablePointer<cprobe_completion>.allocate(capacity: Int(Self.completionCapacity))
        defer { completions.deallocate() }
        var cancelSeen = false
        var time = RingStatistics.Local()
        RingStatistics.runsStarted.add(1, ordering: .relaxed)
        defer {
            time.publish()
            RingStatistics.runsEnded.add(1, ordering: .relaxed)
        }
        var turnStarted = cprobe_monotonic_ns()
        let single = clients.count == 1 ? clients[0] : nil
        let singleBase = single != nil ? sortedBases[0] : 0
        while true {
            let now = cprobe_monotonic_ns()
            if !cancelSeen && isCancelled() {
                cancelSeen = true
                for c in clients { c.cancel(now: now) }
            }
            var wake = UInt64.max
            var allFinished = true
            for c in clients {
                if let w = c.poll(now: now) { wake = min(wake, w) }
                if !c.isFinished { allFinished = false }
            }
            if allFinished {
                for c in clients { c.shutdown(now: now) }
                if clients.allSatisfy(\.isIdle) && cprobe_ring_pending(ring.pointer) == 0 {
                    endedIdle = true
                    break
                }
            }
            for c in clients { c.beforeSubmit(now: now) }
            let wait = wake > now ? min(wake - now, Self.maximumWait) : 0
            var immediate: UInt32 = 0
            for c in clients { immediate += c.takeImmediateCompletions() }
            // A datagram send completes as it is submitted: waiting for one more
            // completion than those lets the thread sleep at once, so an echo
            // server sharing its CPU runs (and answers) without waiting for this
            // loop to go round for the send's completion. At most 1 ms: a send
            // that failed brings no second completion.
            var gather = (count: immediate + 1, window: min(wait, Self.gatherWindow))
            if immediate == 0, let single { gather = single.gathering }
            let waitStarted = cprobe_monotonic_ns()
            let n = try ring.run(into: completions, capacity: Self.completionCapacity, waitNanoseconds: wait,
                                 gather: gather.count, window: gather.window)
            let waitEnded = cprobe_monotonic_ns()
            time.add(busy: waitStarted &- turnStarted, wait: waitEnded &- waitStarted)
            turnStarted = waitEnded
            if let single {
                for i in 0..<n {
                    var c = completions[i]
                    c.slot &-= singleBase
                    single.complete(c)
                }
            } else {
                for i in 0..<n { dispatch(completions[i]) }
            }
            let after = cprobe_monotonic_ns()
            for c in clients { c.afterCompletions(now: after) }
        }
        // What the last poll decided (expiries, unresolved targets) reaches the observers.
        let end = cprobe_monotonic_ns()
        for c in clients { c.afterCompletions(now: end) }
    }

    /// Finds the owner of a completion's slot (binary search over the ranges).
    @inline(__always) private func dispatch(_ completion: cprobe_completion) {
        var low = 0, high = sortedBases.count
        while high - low > 1 {
            let mid = (low + high) / 2
            if sortedBases[mid] <= completion.slot { low = mid } else { high = mid }
        }
        var c = completion
        c.slot &-= sortedBases[low]
        sortedOwners[low].complete(c)
    }
}
