@testable import Control
import Testing

/// The result writer's batching decisions, driven with made-up instants: no thread, no clock,
/// no database.
@Suite("BatchQueue")
struct BatchQueueTests {
    let t0 = ContinuousClock.now
    let limits = BatchQueue<String>.Limits(maxBatchRows: 100, maxDelay: .milliseconds(5), maxQueuedRows: 1_000)

    @Test("an empty queue is idle; a young batch waits until its oldest row's deadline, then goes")
    func waitsForTheOldestRow() {
        var queue = BatchQueue<String>(limits: limits)
        guard case .idle = queue.next(now: t0) else { Issue.record("expected idle"); return }
        #expect(queue.append("a", rows: 10, at: t0) == .accepted)
        #expect(queue.append("b", rows: 10, at: t0 + .milliseconds(3)) == .accepted)
        guard case .wait(let until) = queue.next(now: t0 + .milliseconds(1)) else { Issue.record("expected a wait"); return }
        #expect(until == t0 + .milliseconds(5))
        guard case .batch(let batch) = queue.next(now: t0 + .milliseconds(5)) else { Issue.record("expected a batch"); return }
        #expect(batch == ["a", "b"])
        #expect(queue.queuedRows == 0 && queue.isEmpty)
    }

    @Test("a full batch goes at once; batches never exceed the row limit, in order")
    func fullBatchesGoAtOnce() {
        var queue = BatchQueue<String>(limits: limits)
        for i in 0..<5 { #expect(queue.append("s\(i)", rows: 40, at: t0) == .accepted) }
        var batches: [[String]] = []
        while case .batch(let batch) = queue.next(now: t0) { batches.append(batch) }
        // 200 rows are full batches; the last 40 wait for their deadline.
        #expect(batches == [["s0", "s1"], ["s2", "s3"]])
        guard case .batch(let last) = queue.next(now: t0 + .milliseconds(5)) else { Issue.record("expected the rest"); return }
        #expect(last == ["s4"])
    }

    @Test("a submission larger than a batch goes alone")
    func oversizedSubmissionGoesAlone() {
        var queue = BatchQueue<String>(limits: limits)
        _ = queue.append("small", rows: 1, at: t0)
        _ = queue.append("huge", rows: 500, at: t0)
        guard case .batch(let first) = queue.next(now: t0) else { Issue.record("expected a batch"); return }
        #expect(first == ["small"])
        guard case .batch(let second) = queue.next(now: t0) else { Issue.record("expected a batch"); return }
        #expect(second == ["huge"])
    }

    @Test("beyond the queued-row bound a submission is refused, unless the queue is empty")
    func overload() {
        var queue = BatchQueue<String>(limits: limits)
        #expect(queue.append("first", rows: 5_000, at: t0) == .accepted)
        #expect(queue.append("second", rows: 1, at: t0) == .overloaded)
        _ = queue.next(now: t0)
        #expect(queue.append("third", rows: 1, at: t0) == .accepted)
    }

    @Test("stopping refuses new rows, hands out what is queued without waiting, then finishes")
    func stopDrains() {
        var queue = BatchQueue<String>(limits: limits)
        _ = queue.append("a", rows: 1, at: t0)
        queue.stop()
        #expect(queue.append("late", rows: 1, at: t0) == .stopping)
        guard case .batch(let batch) = queue.next(now: t0) else { Issue.record("expected the queued rows at once"); return }
        #expect(batch == ["a"])
        guard case .finished = queue.next(now: t0) else { Issue.record("expected finished"); return }
    }
}
