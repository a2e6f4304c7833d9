@testable import Engine
import Testing

/// The runtime's slot allocation, without a ring.
@Suite struct SlotPlanTests {
    @Test func bufferedRangesComeFirstThenTagOnlyOnesEachContiguous() throws {
        var plan = SlotPlan()
        let http = try plan.reserve(100, buffered: false, entries: 800)
        let icmp = try plan.reserve(1280, buffered: true, bufferSize: 1080, entries: 4096)
        let dns = try plan.reserve(4096, buffered: false)
        let tcp = try plan.reserve(300, buffered: true, bufferSize: 2048)
        let r = plan.ranges
        #expect(r[icmp] == SlotPlan.Range(base: 0, count: 1280))
        #expect(r[tcp] == SlotPlan.Range(base: 1280, count: 300))
        #expect(r[http] == SlotPlan.Range(base: 1580, count: 100))
        #expect(r[dns] == SlotPlan.Range(base: 1680, count: 4096))
        // No overlap, no gap: every slot has exactly one owner.
        let sorted = r.sorted { $0.base < $1.base }
        for (a, b) in zip(sorted, sorted.dropFirst()) { #expect(a.upperBound == b.base) }
        // The ring keeps records only for buffered slots, sized for the largest asker.
        #expect(plan.bufferedSlots == 1580 && plan.bufferSize == 2048)
        #expect(plan.entries == 8192, "800 + 4096 + 256 + 256 entries, rounded up to a power of two")
        // Many clients: capped (the completion queue, four times as large, must stay within io_uring's 65536).
        for _ in 0..<8 { _ = try plan.reserve(1, buffered: true, entries: 4096) }
        #expect(plan.entries == SlotPlan.maximumEntries)
        #expect(r[http].contains(1580) && r[http].contains(1679) && !r[http].contains(1680) && !r[http].contains(1579))
    }

    @Test func emptyAndOversizedRequestsAreRefused() throws {
        var plan = SlotPlan()
        #expect(throws: ConfigurationError.self) { try plan.reserve(0, buffered: true) }
        _ = try plan.reserve(SlotPlan.slotLimit - 1, buffered: false)
        #expect(throws: ConfigurationError.self) { try plan.reserve(2, buffered: false) }
        #expect(plan.requests.count == 1)
    }

    @Test func aPlanWithoutBufferedClientsStillHasOneRecordAndSmallBuffers() throws {
        var plan = SlotPlan()
        _ = try plan.reserve(10, buffered: false)
        #expect(plan.bufferedSlots == 1 && plan.bufferSize == 64 && plan.entries == 256)
        #expect(plan.ranges[0].base == 0)
    }
}
