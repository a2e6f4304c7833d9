import CProbe

/// Something that runs on a ring thread and owns a range of its slots: a
/// probe kind's scheduler and driver, an HTTP workload and its connections,
/// the stub resolver, an echo server. The runtime (`RingRuntime`) calls it,
/// always on the ring's thread, in the order its loop documents.
protocol RingClient: AnyObject {
    /// Starts what is due at `now`; returns when it must be polled again at
    /// the latest (nil: only a completion can move it on).
    func poll(now: UInt64) -> UInt64?
    /// Queues what the turn produced (an HTTP connection's output, flushed
    /// once per turn), just before the runtime submits.
    func beforeSubmit(now: UInt64)
    /// A completion whose slot is in this client's range.
    func complete(_ completion: cprobe_completion)
    /// After a batch of completions (error queues, RTTs).
    func afterCompletions(now: UInt64)
    /// Nothing more will start: the runtime may end once every client is
    /// finished and idle. A service (the stub resolver) is always finished.
    var isFinished: Bool { get }
    /// Stop starting anything (the run was cancelled); what is in flight
    /// ends as it ends or at its deadline.
    func cancel(now: UInt64)
    /// Finished: cancel outstanding operations. Called again on later turns
    /// until the client is idle (a cancel only reaches what the kernel has armed).
    func shutdown(now: UInt64)
    /// No ring operation of this client is outstanding.
    var isIdle: Bool { get }
    /// Operations queued this turn that complete as soon as they are submitted
    /// (a datagram's send): the runtime waits for that many more completions.
    func takeImmediateCompletions() -> UInt32
    /// Under closed-loop load: completions worth waiting for together, and how long.
    var gathering: (count: UInt32, window: UInt64) { get }
}

extension RingClient {
    func beforeSubmit(now: UInt64) {}
    func afterCompletions(now: UInt64) {}
    func takeImmediateCompletions() -> UInt32 { 0 }
    var gathering: (count: UInt32, window: UInt64) { (1, 0) }
}
