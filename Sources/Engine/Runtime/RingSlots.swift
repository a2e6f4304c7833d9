import CProbe
import Glibc

/// One client's view of the ring: its slot range, numbered from 0, and the
/// ring's operations as typed, throwing methods. Slot `n` here is ring slot
/// `range.base + n`; a completion handed to the client carries the local
/// slot. A failure to queue (the submission queue full even after a submit)
/// throws: no `-errno` is dropped.
struct RingSlots {
    let ring: Ring
    let range: SlotPlan.Range

    var count: UInt32 { range.count }
    var bufferSize: Int { ring.bufferSize }

    @inline(__always) private func absolute(_ slot: UInt32) -> UInt32 {
        assert(slot < range.count, "slot \(slot) outside the client's \(range.count)")
        return range.base &+ slot
    }

    // MARK: Slot records (buffered ranges only)

    @inline(__always) func buffer(_ slot: UInt32) -> UnsafeMutablePointer<UInt8> { ring.buffer(absolute(slot)) }
    @inline(__always) func address(_ slot: UInt32) -> UnsafeMutablePointer<sockaddr_storage> { ring.address(absolute(slot)) }

    // MARK: Operations on slot records, tagged with the record's op

    /// Connects to the slot's address, linked to a timeout (0: none). Returns the SQEs queued.
    @discardableResult @inline(__always)
    func prepareConnect(_ slot: UInt32, fd: Int32, timeout: UInt64) throws(SystemError) -> Int32 {
        try cprobeCall("queue connect", cprobe_ring_prep_connect(ring.pointer, absolute(slot), fd, timeout))
    }
    /// Sends the first `length` bytes of the slot's buffer.
    @discardableResult @inline(__always)
    func prepareSend(_ slot: UInt32, fd: Int32, length: UInt32, timeout: UInt64) throws(SystemError) -> Int32 {
        try cprobeCall("queue send", cprobe_ring_prep_send(ring.pointer, absolute(slot), fd, length, timeout))
    }
    /// Receives into the slot's buffer at `offset`.
    @discardableResult @inline(__always)
    func prepareReceive(_ slot: UInt32, fd: Int32, offset: UInt32, length: UInt32, timeout: UInt64) throws(SystemError) -> Int32 {
        try cprobeCall("queue receive", cprobe_ring_prep_recv(ring.pointer, absolute(slot), fd, offset, length, timeout))
    }
    /// Sends `length` buffer bytes to the slot's address (`ttl` > 0: this message's TTL).
    @discardableResult @inline(__always)
    func prepareSendMessage(_ slot: UInt32, fd: Int32, length: UInt32, ttl: Int32) throws(SystemError) -> Int32 {
        try cprobeCall("queue sendmsg", cprobe_ring_prep_sendmsg(ring.pointer, absolute(slot), fd, length, ttl))
    }
    /// Receives a message into the slot's buffer, with its kernel timestamp and TTL.
    @discardableResult @inline(__always)
    func prepareReceiveMessage(_ slot: UInt32, fd: Int32) throws(SystemError) -> Int32 {
        try cprobeCall("queue recvmsg", cprobe_ring_prep_recvmsg(ring.pointer, absolute(slot), fd))
    }
    @discardableResult @inline(__always)
    func prepareAccept(_ slot: UInt32, fd: Int32) throws(SystemError) -> Int32 {
        try cprobeCall("queue accept", cprobe_ring_prep_accept(ring.pointer, absolute(slot), fd))
    }
    /// Cancels every request on `fd`.
    @discardableResult @inline(__always)
    func prepareCancel(_ slot: UInt32, fd: Int32) throws(SystemError) -> Int32 {
        try cprobeCall("queue cancel", cprobe_ring_prep_cancel_fd(ring.pointer, absolute(slot), fd))
    }

    // MARK: Operations on the caller's memory (tag-only slots), tagged with `op`

    @discardableResult @inline(__always)
    func prepareSend(_ slot: UInt32, op: UInt8, fd: Int32, from buffer: UnsafeRawPointer, length: UInt32) throws(SystemError) -> Int32 {
        try cprobeCall("queue send", cprobe_ring_prep_send_buffer(ring.pointer, absolute(slot), op, fd, buffer, length))
    }
    @discardableResult @inline(__always)
    func prepareSendSegments(_ slot: UInt32, op: UInt8, fd: Int32, message: UnsafeMutablePointer<cprobe_gso_message>,
                             from buffer: UnsafeRawPointer, length: UInt32, segment: UInt16) throws(SystemError) -> Int32 {
        try cprobeCall("queue sendmsg", cprobe_ring_prep_send_segments(ring.pointer, absolute(slot), op, fd, message, buffer,
                                                                       length, segment))
    }
    @discardableResult @inline(__always)
    func prepareReceive(_ slot: UInt32, op: UInt8, fd: Int32, into buffer: UnsafeMutableRawPointer,
                        length: UInt32) throws(SystemError) -> Int32 {
        try cprobeCall("queue receive", cprobe_ring_prep_recv_buffer(ring.pointer, absolute(slot), op, fd, buffer, length))
    }
    @discardableResult @inline(__always)
    func prepareConnect(_ slot: UInt32, op: UInt8, fd: Int32,
                        to address: UnsafePointer<sockaddr_storage>) throws(SystemError) -> Int32 {
        try cprobeCall("queue connect", cprobe_ring_prep_connect_address(ring.pointer, absolute(slot), op, fd, address))
    }
}

/// Closes a descriptor this process opened. A close that fails has still
/// released the descriptor (Linux: close(2), NOTES); only a descriptor that
/// was not open is a mistake, and that one stops a debug build.
@inline(__always)
func closeDescriptor(_ fd: Int32) {
    let rc = cprobe_close(fd)
    assert(rc != -EBADF, "closed descriptor \(fd), which was not open")
}
