/// The result writer's batching decisions, with no threads, clock or database: submissions are
/// appended, and `next(now:)` says whether a batch is due (full, aged or draining), how long to
/// wait for one, or that the queue is drained and stopped. `ResultWriter` drives it from its
/// thread; the tests drive it with made-up instants.
struct BatchQueue<Item> {
    struct Limits: Sendable {
        /// A batch closes at this many rows (a single larger submission goes alone).
        var maxBatchRows: Int
        /// ... or when its oldest row has waited this long.
        var maxDelay: Duration
        /// Submissions beyond this many queued rows are refused (unless the queue is empty).
        var maxQueuedRows: Int
    }

    enum Admission: Equatable {
        case accepted
        /// More rows are queued than the bound: the sender should retry later.
        case overloaded
        /// `stop()` was called: nothing new is accepted.
        case stopping
    }

    enum Next {
        /// Commit these, in this order.
        case batch([Item])
        /// Nothing is due before this instant (unless rows arrive to fill a batch).
        case wait(until: ContinuousClock.Instant)
        /// The queue is empty: wait for a submission.
        case idle
        /// Stopped and drained.
        case finished
    }

    private struct Queued {
        let item: Item
        let rows: Int
        let queuedAt: ContinuousClock.Instant
    }

    let limits: Limits
    private var queue: [Queued] = []
    private var head = 0
    private(set) var queuedRows = 0
    private(set) var stopping = false

    init(limits: Limits) { self.limits = limits }

    var isEmpty: Bool { head == queue.count }

    mutating func append(_ item: Item, rows: Int, at now: ContinuousClock.Instant) -> Admission {
        if stopping { return .stopping }
        if queuedRows > 0 && queuedRows + rows > limits.maxQueuedRows { return .overloaded }
        queue.append(Queued(item: item, rows: rows, queuedAt: now))
        queuedRows += rows
        return .accepted
    }

    /// Refuses new submissions from now on; what is queued is still handed out, without waiting.
    mutating func stop() { stopping = true }

    mutating func next(now: ContinuousClock.Instant) -> Next {
        // FIFO: the first queued submission holds the oldest rows.
        guard head < queue.count else { return stopping ? .finished : .idle }
        let deadline = queue[head].queuedAt.advanced(by: limits.maxDelay)
        guard queuedRows >= limits.maxBatchRows || stopping || now >= deadline else { return .wait(until: deadline) }
        var batch: [Item] = []
        var rows = 0
        while head < queue.count {
            let next = queue[head]
            if rows > 0 && rows + next.rows > limits.maxBatchRows { break }
            batch.append(next.item)
            rows += next.rows
            head += 1
        }
        queuedRows -= rows
        if head == queue.count {
            queue.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 64 && head * 2 >= queue.count {
            queue.removeFirst(head)
            head = 0
        }
        return .batch(batch)
    }
}
