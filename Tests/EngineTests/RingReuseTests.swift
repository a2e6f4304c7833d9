@testable import Engine
import Foundation
import ProbeModel
import Synchronization
import Testing

/// Ring threads are kept between runs (`RingThreadPool`), each with its io_uring instance
/// (`RingReuse`): a run that fits the kept ring uses it, zeroed; one that does not gets its own.
@Suite("Ring reuse")
struct RingReuseTests {
    static func plan(slots: UInt32, bufferSize: UInt32) throws -> SlotPlan {
        var plan = SlotPlan()
        _ = try plan.reserve(slots, buffered: true, bufferSize: bufferSize)
        return plan
    }

    /// On one thread: a runtime whose run ended idle leaves its ring to the next runtime that fits
    /// it, with its slot buffers zeroed; a plan with another buffer size or more slots gets a new one.
    @Test("a ring is used again on its thread when the next plan fits it")
    func reuseOnOneThread() async throws {
        let outcome = Mutex<[String]>([])
        let thread = Thread {
            do {
                let small = try Self.plan(slots: 4, bufferSize: 2048)
                var first: ObjectIdentifier
                do {
                    let runtime = try RingRuntime(small)
                    first = ObjectIdentifier(runtime.ring)
                    runtime.ring.buffer(1).pointee = 0xAB
                    try runtime.run { false }
                }
                let again = try RingRuntime(try Self.plan(slots: 2, bufferSize: 2048))
                outcome.withLock { $0.append(ObjectIdentifier(again.ring) == first ? "reused" : "new") }
                outcome.withLock { $0.append(again.ring.buffer(1).pointee == 0 ? "zeroed" : "dirty") }
                try again.run { false }
                let other = try RingRuntime(try Self.plan(slots: 2, bufferSize: 4096))
                outcome.withLock { $0.append(ObjectIdentifier(other.ring) == first ? "reused" : "new") }
                // A runtime that did not run to its end (dropped as after an error) keeps nothing.
                let dropped = try RingRuntime(small)
                _ = dropped
            } catch {
                outcome.withLock { $0.append("error: \(error)") }
            }
        }
        thread.start()
        for _ in 0..<200 where outcome.withLock({ $0.count }) < 3 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(outcome.withLock { $0 } == ["reused", "zeroed", "new"])
    }

    @Test("a pool thread that finished a run takes the next one; with none idle a new one starts")
    func poolKeepsThreads() async throws {
        let pool = RingThreadPool(maxIdle: 1, idleTimeout: 10)
        let threads = Mutex<[UInt64]>([])
        func job() -> @Sendable () -> Void { { threads.withLock { $0.append(UInt64(pthread_self())) } } }
        pool.start(name: "reuse-test", job())
        for _ in 0..<200 where pool.idleThreads < 1 { try await Task.sleep(for: .milliseconds(5)) }
        #expect(pool.idleThreads == 1)
        pool.start(name: "reuse-test", job())
        for _ in 0..<200 where threads.withLock({ $0.count }) < 2 { try await Task.sleep(for: .milliseconds(5)) }
        let ids = threads.withLock { $0 }
        #expect(ids.count == 2 && ids[0] == ids[1], "the second run went to the idle thread: \(ids)")

        // Two runs at once with one idle thread: the second starts a thread of its own, and both end.
        let gate = Mutex(false)
        let done = Atomic<Int>(0)
        for _ in 0..<2 {
            pool.start(name: "reuse-test") {
                while !gate.withLock({ $0 }) { usleep(1_000) }
                done.add(1, ordering: .relaxed)
            }
        }
        gate.withLock { $0 = true }
        for _ in 0..<200 where done.load(ordering: .relaxed) < 2 { try await Task.sleep(for: .milliseconds(5)) }
        #expect(done.load(ordering: .relaxed) == 2)
    }
}

/// In the loopback suite, which runs one test at a time: its leak checks count sockets, and this
/// test opens some.
extension LoopbackProbeTests {
    /// Through the engine: runs after the first go to kept threads and rings, and measure as before.
    @Test("sequential check runs reuse rings and still measure")
    func checkRunsReuse() async throws {
        let server = try EchoServer({ var c = EchoServer.Configuration(); c.tcpPort = 0; c.udpPort = nil; return c }())
        try server.start()
        defer { server.stop() }
        let before = RingStatistics.ringsReused.load(ordering: .relaxed)
        for _ in 0..<10 {
            let spec = ProbeSpec(kind: "tcp", target: "127.0.0.1:\(server.tcpPort!)", count: 1, intervalMilliseconds: 5)
            let report = try await CheckRun([spec]).run()
            #expect(report.documents.first?.success == true)
        }
        #expect(RingStatistics.ringsReused.load(ordering: .relaxed) > before)
    }
}
