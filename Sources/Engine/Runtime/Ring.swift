import CProbe

/// Swift owner of one `cprobe_ring`. Not Sendable: created, used and
/// destroyed on one dedicated thread (the ring is SINGLE_ISSUER).
final class Ring {
    let pointer: OpaquePointer
    let slotCount: UInt32
    let bufferSize: Int

    init(entries: UInt32, slots: UInt32, bufferSize: UInt32) throws(SystemError) {
        var raw: OpaquePointer? = nil
        try cprobeCall("io_uring setup", cprobe_ring_create(&raw, entries, slots, bufferSize))
        pointer = raw!
        slotCount = slots
        self.bufferSize = Int(bufferSize)
    }

    /// The submission queue's size (at least the `entries` asked for).
    var entries: UInt32 { cprobe_ring_entries(pointer) }

    /// True if a plan could run on this ring as on one made for it: as many entries and slots
    /// at least, and the very buffer size (clients size their I/O by it).
    func fits(_ plan: SlotPlan) -> Bool {
        entries >= plan.entries && slotCount >= plan.bufferedSlots && bufferSize == Int(plan.bufferSize)
    }

    deinit { cprobe_ring_destroy(pointer) }

    @inline(__always) func buffer(_ slot: UInt32) -> UnsafeMutablePointer<UInt8> {
        cprobe_ring_slot_buffer(pointer, slot)
    }

    @inline(__always) func address(_ slot: UInt32) -> UnsafeMutablePointer<sockaddr_storage> {
        cprobe_ring_slot_address(pointer, slot)
    }

    /// Submits and harvests; waits up to `waitNanoseconds` for a first completion.
    func run(into buffer: UnsafeMutablePointer<cprobe_completion>, capacity: UInt32,
             waitNanoseconds: UInt64) throws(SystemError) -> Int {
        Int(try cprobeCall("io_uring_enter", cprobe_ring_run(pointer, buffer, capacity, waitNanoseconds)))
    }

    /// `run`, waiting up to `window` nanoseconds for `gather` completions
    /// before taking fewer (see `cprobe_ring_run_gather`).
    func run(into buffer: UnsafeMutablePointer<cprobe_completion>, capacity: UInt32, waitNanoseconds: UInt64,
             gather: UInt32, window: UInt64) throws(SystemError) -> Int {
        Int(try cprobeCall("io_uring_enter",
                           cprobe_ring_run_gather(pointer, buffer, capacity, waitNanoseconds, gather, window)))
    }
}
