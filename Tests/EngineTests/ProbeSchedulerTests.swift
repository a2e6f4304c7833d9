@testable import Engine
import Testing

/// The scheduler as transcripts: time in, actions out.
@Suite struct ProbeSchedulerTests {
    typealias Action = ProbeScheduler.Action
    let ms: UInt64 = 1_000_000

    func poll(_ s: inout ProbeScheduler, _ now: UInt64, max: Int = .max) -> [Action] {
        var actions: [Action] = []
        s.poll(now: now, maxStarts: max, into: &actions)
        return actions
    }

    func starts(_ actions: [Action]) -> [(target: Int32, sequence: UInt32)] {
        actions.compactMap { if case .start(_, _, let t, let q) = $0 { (t, q) } else { nil } }
    }

    func completeAll(_ s: inout ProbeScheduler, _ actions: [Action]) {
        for case .start(let slot, let gen, _, _) in actions { s.completed(slot: slot, generation: gen) }
    }

    @Test func perTargetIntervalRoundRobin() {
        var s = ProbeScheduler(.init(targetCount: 3, count: 2, interval: 100 * ms, rate: nil, concurrency: 10, timeout: 1000 * ms))
        let first = poll(&s, 0)
        #expect(starts(first).map(\.target) == [0, 1, 2] && starts(first).allSatisfy { $0.sequence == 0 })
        completeAll(&s, first)
        #expect(poll(&s, 50 * ms).isEmpty)
        #expect(s.nextWakeup == 100 * ms)
        let second = poll(&s, 100 * ms)
        #expect(starts(second).map(\.target) == [0, 1, 2] && starts(second).allSatisfy { $0.sequence == 1 })
        completeAll(&s, second)
        #expect(poll(&s, 101 * ms) == [.finished])
        #expect(poll(&s, 200 * ms).isEmpty)  // finished is reported once
    }

    @Test func overlappingProbesWhenIntervalIsShorterThanTimeout() {
        var s = ProbeScheduler(.init(targetCount: 1, count: 3, interval: 10 * ms, rate: nil, concurrency: 10, timeout: 1000 * ms))
        #expect(starts(poll(&s, 0)).count == 1)
        #expect(starts(poll(&s, 10 * ms)).map(\.sequence) == [1])
        #expect(starts(poll(&s, 20 * ms)).map(\.sequence) == [2])
        #expect(s.inFlight == 3)
    }

    @Test func globalRateSpacesSendsWithOneMillisecondCatchUp() {
        var s = ProbeScheduler(.init(targetCount: 100, count: 1, interval: 0, rate: 1000, concurrency: 100, timeout: 1000 * ms))
        #expect(starts(poll(&s, 0)).count == 1)
        #expect(starts(poll(&s, ms / 2)).isEmpty)
        #expect(s.nextWakeup == ms)
        #expect(starts(poll(&s, ms)).count == 1)
        // Woken late at 5 ms: at most 1 ms of backlog is caught up (2 sends), not 4.
        #expect(starts(poll(&s, 5 * ms)).count == 2)
        #expect(starts(poll(&s, 5 * ms)).isEmpty)
    }

    @Test func concurrencyLimit() {
        var s = ProbeScheduler(.init(targetCount: 5, count: 1, interval: 0, rate: nil, concurrency: 2, timeout: 1000 * ms))
        let a = poll(&s, 0)
        #expect(starts(a).map(\.target) == [0, 1])
        #expect(poll(&s, 1).isEmpty)
        guard case .start(let slot, let gen, _, _) = a[0] else { Issue.record("no start"); return }
        s.completed(slot: slot, generation: gen)
        #expect(starts(poll(&s, 2)).map(\.target) == [2])
    }

    @Test func startBudgetPerPoll() {
        var s = ProbeScheduler(.init(targetCount: 10, count: 1, interval: 0, rate: nil, concurrency: 100, timeout: 1000 * ms))
        #expect(starts(poll(&s, 0, max: 4)).count == 4)
        #expect(s.nextWakeup == 0)  // more is due right away
        #expect(starts(poll(&s, 0, max: 4)).map(\.target) == [4, 5, 6, 7])
    }

    @Test func timeoutExpiresOnceAndKeepsTheSlotUntilCompleted() {
        var s = ProbeScheduler(.init(targetCount: 1, count: 1, interval: 0, rate: nil, concurrency: 1, timeout: 1000 * ms))
        guard case .start(let slot, let gen, 0, 0)? = poll(&s, 0).first else { Issue.record("no start"); return }
        #expect(poll(&s, 999 * ms).isEmpty)
        #expect(s.nextWakeup == 1000 * ms)
        #expect(poll(&s, 1000 * ms) == [.expire(slot: slot, generation: gen)])
        #expect(poll(&s, 1500 * ms).isEmpty)
        #expect(s.inFlight == 1)
        s.completed(slot: slot, generation: gen)
        #expect(poll(&s, 1501 * ms) == [.finished])
    }

    @Test func staleCompletionIsIgnored() {
        var s = ProbeScheduler(.init(targetCount: 1, count: 2, interval: 0, rate: nil, concurrency: 1, timeout: 1000 * ms))
        guard case .start(let slot, let gen, _, _)? = poll(&s, 0).first else { Issue.record("no start"); return }
        s.completed(slot: slot, generation: gen)
        guard case .start(let slot2, let gen2, _, 1)? = poll(&s, 1).first else { Issue.record("no second start"); return }
        #expect(slot2 == slot && gen2 != gen)
        s.completed(slot: slot, generation: gen)  // a late duplicate report of the first use
        #expect(s.inFlight == 1)
    }

    @Test func cancellationExpiresInFlightAndStartsNothingMore() {
        var s = ProbeScheduler(.init(targetCount: 10, count: nil, interval: 10 * ms, rate: nil, concurrency: 3, timeout: 1000 * ms))
        let a = poll(&s, 0)
        #expect(starts(a).count == 3)
        s.cancel()
        let b = poll(&s, 1)
        #expect(b.count == 3 && b.allSatisfy { if case .expire = $0 { true } else { false } })
        completeAll(&s, a)
        #expect(poll(&s, 2) == [.finished])
    }

    @Test func unlimitedCountKeepsGoing() {
        var s = ProbeScheduler(.init(targetCount: 1, count: nil, interval: 10 * ms, rate: nil, concurrency: 4, timeout: 5 * ms))
        for i in 0..<50 {
            let a = poll(&s, UInt64(i) * 10 * ms)
            #expect(starts(a).map(\.sequence) == [UInt32(i)])
            completeAll(&s, a)
        }
        #expect(!s.isFinished)
    }
}

/// HTTP's pacing: one probe per target at a time (`overlap` off), the next due `interval`
/// after the previous one started, or as soon as it ends when it outlasted the interval.
@Suite struct ProbeSchedulerWithoutOverlapTests {
    typealias Action = ProbeScheduler.Action
    let ms: UInt64 = 1_000_000

    func starts(_ s: inout ProbeScheduler, _ now: UInt64) -> [(slot: UInt32, generation: UInt32, target: Int32, sequence: UInt32)] {
        var actions: [Action] = []
        s.poll(now: now, into: &actions)
        return actions.compactMap { if case .start(let slot, let g, let t, let q) = $0 { (slot, g, t, q) } else { nil } }
    }

    @Test func aSlowProbeDelaysItsTargetOnlyAndTheNextStartsWhenItEnds() {
        var s = ProbeScheduler(.init(targetCount: 2, count: 3, interval: 100 * ms, rate: nil, concurrency: 2,
                                     timeout: 5000 * ms, overlap: false))
        let first = starts(&s, 0)
        #expect(first.map(\.target) == [0, 1])
        // Target 1 answers at 10 ms; target 0 is slow and still in flight at 100 ms.
        s.completed(slot: first[1].slot, generation: first[1].generation, now: 10 * ms)
        #expect(s.nextWakeup == 100 * ms)
        #expect(starts(&s, 50 * ms).isEmpty)
        let second = starts(&s, 100 * ms)
        #expect(second.map(\.target) == [1] && second[0].sequence == 1, "target 0 is not started again while in flight")
        // Target 0 ends at 250 ms, past its interval: its next probe is due at once, not at 200.
        s.completed(slot: first[0].slot, generation: first[0].generation, now: 250 * ms)
        let late = starts(&s, 250 * ms)
        #expect(late.map(\.target) == [0] && late[0].sequence == 1)
        // Target 1's next: 100 ms after its second started, though queued later than target 0's.
        s.completed(slot: second[0].slot, generation: second[0].generation, now: 120 * ms)
        #expect(s.nextWakeup == 200 * ms)
        let third = starts(&s, 260 * ms)
        #expect(third.map(\.target) == [1] && third[0].sequence == 2)
    }

    @Test func dueTimesOutOfStartOrderAreServedInDueOrder() {
        var s = ProbeScheduler(.init(targetCount: 3, count: 2, interval: 100 * ms, rate: nil, concurrency: 3,
                                     timeout: 5000 * ms, overlap: false))
        let first = starts(&s, 0)
        // Finished in the order 2, 0, 1 but with due times 100 (2), 300 (0, outlasted), 100 (1).
        s.completed(slot: first[2].slot, generation: first[2].generation, now: 5 * ms)
        s.completed(slot: first[0].slot, generation: first[0].generation, now: 300 * ms)
        s.completed(slot: first[1].slot, generation: first[1].generation, now: 6 * ms)
        #expect(starts(&s, 299 * ms).map(\.target) == [2, 1])
        #expect(starts(&s, 300 * ms).map(\.target) == [0])
        // Cancelled: the three in flight expire at once and nothing is queued again.
        var actions: [Action] = []
        s.cancel()
        s.poll(now: 301 * ms, into: &actions)
        #expect(actions.filter { if case .expire = $0 { true } else { false } }.count == 3)
    }

    @Test func finishesWhenTheLastProbeCompletes() {
        var s = ProbeScheduler(.init(targetCount: 1, count: 2, interval: 10 * ms, rate: nil, concurrency: 1,
                                     timeout: 5000 * ms, overlap: false))
        let a = starts(&s, 0)
        s.completed(slot: a[0].slot, generation: a[0].generation, now: 1 * ms)
        let b = starts(&s, 10 * ms)
        #expect(b.count == 1 && !s.isFinished)
        s.completed(slot: b[0].slot, generation: b[0].generation, now: 11 * ms)
        var actions: [Action] = []
        s.poll(now: 11 * ms, into: &actions)
        #expect(actions == [.finished] && s.isFinished)
    }
}
