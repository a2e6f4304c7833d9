import CProbe
import ProbeModel
import Glibc

/// UDP echo: a tagged datagram to an echo service (`waddleperf target`, or any
/// RFC 862 echo), matched on its reply; per-packet RTT, loss, duplicates and
/// reordering.
public enum UDPEchoProbe: ProbeKind {
    public static let declaration = KindDeclaration.udp

    public static func makeDriver(_ context: DriverContext) throws -> any ProbeDriver {
        try DatagramDriver(codec: UDPCodec(payloadSize: context.settings.size), context: context)
    }
}

struct UDPCodec: DatagramCodec {
    let payloadSize: Int

    init(payloadSize: Int) { self.payloadSize = max(payloadSize, Int(CPROBE_TAG_SIZE)) }

    var note: String? { nil }

    mutating func openSocket(family: Int32) throws -> Int32 {
        try cprobeCall("UDP socket", cprobe_udp_socket(family))
    }

    func buildRequest(into buffer: UnsafeMutablePointer<UInt8>, capacity: Int, family: Int32,
                      tag: cprobe_tag, icmpSequence: UInt16) -> Int {
        var tag = tag
        return cprobe_payload_build(buffer, min(payloadSize, capacity), &tag)
    }

    func parseReply(_ buffer: UnsafePointer<UInt8>, length: Int, family: Int32) -> DatagramReply {
        var tag = cprobe_tag()
        guard cprobe_payload_parse(buffer, length, &tag) == 0 else { return .ignore }
        return .reply(tag, ttl: -1)
    }

    func outcome(ofQueuedError entry: UnsafePointer<cprobe_errqueue_entry>) -> ProbeOutcome {
        entry.pointee.error == ECONNREFUSED ? .refused : .unreachable(type: entry.pointee.type, code: entry.pointee.code)
    }
}
