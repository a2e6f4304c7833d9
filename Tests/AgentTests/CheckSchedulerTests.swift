@testable import Agent
import Foundation
import Logging
import ProbeModel
import Synchronization
import Testing

/// The scheduler against real probes on loopback (a TCP listener the test holds open).
@Suite("Check scheduler")
struct CheckSchedulerTests {
    @Test("offsets are stable per id and spread over the interval")
    func offsets() {
        let every: Int64 = 10_000_000_000
        let offsets = (0..<1000).map { CheckScheduler.offset(of: "check-\($0)", every: every) }
        #expect(offsets == (0..<1000).map { CheckScheduler.offset(of: "check-\($0)", every: every) })
        #expect(offsets.allSatisfy { (0..<every).contains($0) })
        // Spread: every tenth of the interval holds some (1000 ids, expected 100 each).
        let tenths = Dictionary(grouping: offsets) { $0 / (every / 10) }
        #expect(tenths.count == 10 && tenths.values.allSatisfy { $0.count > 50 })
    }

    @Test("a check validates its run against its interval, and names are unique")
    func validation() {
        let long = ScheduledCheck(ProbeSpec(kind: "tcp", target: "127.0.0.1:1", count: 5, intervalMilliseconds: 1000), everySeconds: 2)
        #expect(throws: ConfigurationError.self) { try ScheduledCheck.validate([long]) }
        let a = ScheduledCheck(ProbeSpec(kind: "tcp", target: "127.0.0.1:1"), everySeconds: 2)
        #expect(throws: ConfigurationError(field: "checks[1].name", "'tcp 127.0.0.1:1' is also checks[0]; give each check a distinct name")) {
            try ScheduledCheck.validate([a, a])
        }
    }

    @Test("runs repeat every interval at the check's offset; a change keeps the schedule of unchanged checks")
    func repeatsAndUpdates() async throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) } }
        listen(listener, 128)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) } }
        let port = UInt16(bigEndian: address.sin_port)

        let scheduler = CheckScheduler(logger: Logger(label: "test"))
        let seen = Mutex<[String: [Int64]]>([:])
        let a = ScheduledCheck(ProbeSpec(kind: "tcp", target: "127.0.0.1:\(port)", name: "a", timeoutMilliseconds: 200), everySeconds: 1)
        let b = ScheduledCheck(ProbeSpec(kind: "tcp", target: "127.0.0.1:\(port)", name: "b", timeoutMilliseconds: 200), everySeconds: 1)
        scheduler.update([a, b])
        let loop = Task {
            await scheduler.run { documents, ids in
                seen.withLock { s in for (d, id) in zip(documents, ids) { s[id, default: []].append(d.createdAt ?? 0) } }
                #expect(documents.allSatisfy { $0.success && $0.details["check"] == .text(ids[documents.firstIndex(of: $0)!]) })
            }
        }
        try await Task.sleep(for: .milliseconds(3200))
        // b goes, c arrives; a keeps its phase.
        let c = ScheduledCheck(ProbeSpec(kind: "tcp", target: "127.0.0.1:\(port)", name: "c", timeoutMilliseconds: 200), everySeconds: 1)
        scheduler.update([a, c])
        let bBefore = seen.withLock { $0["b"]?.count ?? 0 }
        try await Task.sleep(for: .milliseconds(2200))
        await scheduler.stop(grace: .seconds(1))
        await loop.value
        let runs = seen.withLock { $0 }
        let aTimes = try #require(runs["a"])
        #expect(aTimes.count >= 4, "\(runs)")
        for (k, t) in aTimes.enumerated() { #expect(abs(t - aTimes[0] - Int64(k) * 1000) <= 30, "run \(k) of a: \(aTimes)") }
        #expect(runs["b"]?.count == bBefore, "b stopped with the change")
        #expect((runs["c"]?.count ?? 0) >= 1)
        #expect(scheduler.statistics.skipped == 0 && scheduler.statistics.running == 0)
    }

    @Test("a run still going when its next slot comes skips that slot, counted")
    func skipsWhenStillRunning() async throws {
        // The delivery (the buffer's append, say) takes 2.5 s: the run is still in progress at
        // its next two slots.
        let scheduler = CheckScheduler(logger: Logger(label: "test"))
        let check = ScheduledCheck(ProbeSpec(kind: "tcp", target: "127.0.0.1:9", name: "slow", timeoutMilliseconds: 100), everySeconds: 1)
        scheduler.update([check])
        let loop = Task {
            await scheduler.run { _, _ in try? await Task.sleep(for: .milliseconds(2500)) }
        }
        try await Task.sleep(for: .milliseconds(4500))
        await scheduler.stop(grace: .seconds(5))
        await loop.value
        let s = scheduler.statistics
        #expect(s.skipped >= 1 && s.runs >= 1 && s.runs <= 3, "\(s)")
    }
}
