import CProbe
import Glibc
import Testing

@Suite struct ChecksumTests {
    @Test func rfc1071Example() {
        // RFC 1071 §3: 00 01 f2 03 f4 f5 f6 f7 sums to 0x2ddf0, folded 0xddf2;
        // the checksum is its complement, 0x220d, stored in network order.
        let bytes: [UInt8] = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]
        let c = cprobe_checksum(bytes, bytes.count, 0)
        #expect(UInt16(bigEndian: c) == 0x220d)
    }

    @Test func oddLengthAndVerification() {
        var packet: [UInt8] = [0x45, 0x00, 0x00, 0x1c, 0xab, 0xcd, 0x00, 0x00, 0x40, 0x01, 0, 0, 127, 0, 0, 1, 127, 0, 0, 2, 0x99]
        let c = cprobe_checksum(packet, packet.count, 0)
        withUnsafeBytes(of: c) { packet[10] = $0[0]; packet[11] = $0[1] }
        // A packet carrying its own checksum sums to zero.
        #expect(cprobe_checksum(packet, packet.count, 0) == 0)
    }
}

@Suite struct PayloadTests {
    @Test func roundTrip() {
        var tag = cprobe_tag(magic: 0xdeadbeef, slot: 42, generation: 7, sequence: 1_000_000)
        var buffer = [UInt8](repeating: 0, count: 64)
        #expect(cprobe_payload_build(&buffer, 64, &tag) == 64)
        var out = cprobe_tag()
        #expect(cprobe_payload_parse(buffer, 64, &out) == 0)
        #expect(out.magic == 0xdeadbeef && out.slot == 42 && out.generation == 7 && out.sequence == 1_000_000)
        #expect(Array(buffer[0..<4]) == [0xde, 0xad, 0xbe, 0xef])  // network order on the wire
        #expect(cprobe_payload_parse(buffer, 15, &out) == -EINVAL)
        // Found at any offset inside a looped-back packet.
        let framed = [UInt8](repeating: 0xaa, count: 34) + buffer
        var found = cprobe_tag()
        #expect(cprobe_payload_find(framed, framed.count, 0xdeadbeef, &found) == 0 && found.slot == 42)
        #expect(cprobe_payload_find(framed, framed.count, 0xfeedface, &found) == -ENOENT)
    }
}

@Suite struct ICMPCodecTests {
    func echo(ipv6: Bool, id: UInt16 = 0x1234, seq: UInt16 = 77, size: Int = 56) -> [UInt8] {
        var tag = cprobe_tag(magic: 1, slot: 2, generation: 3, sequence: 4)
        var buffer = [UInt8](repeating: 0, count: 128)
        let n = cprobe_icmp_build_echo(&buffer, 128, ipv6 ? 1 : 0, id, seq, &tag, size)
        #expect(n == 8 + Int32(size))
        return Array(buffer[0..<Int(n)])
    }

    @Test func requestIsValidAndNotAReply() {
        let packet = echo(ipv6: false)
        #expect(packet[0] == 8)
        #expect(cprobe_checksum(packet, packet.count, 0) == 0)
        var info = cprobe_icmp_info()
        #expect(cprobe_icmp_parse(packet, packet.count, 0, 0, &info) == -ENOMSG)
    }

    @Test func replyParses() {
        var packet = echo(ipv6: false)
        packet[0] = 0  // echo reply
        var info = cprobe_icmp_info()
        #expect(cprobe_icmp_parse(packet, packet.count, 0, 0, &info) == 0)
        #expect(info.is_echo_reply == 1 && info.id == 0x1234 && info.sequence == 77 && info.has_tag == 1)
        #expect(info.tag.slot == 2 && info.tag.generation == 3 && info.tag.sequence == 4)
        #expect(info.ttl == -1)
    }

    @Test func replyWithIPv4HeaderGivesTTL() {
        var packet = echo(ipv6: false)
        packet[0] = 0
        var ip: [UInt8] = [0x45, 0, 0, 0, 0, 0, 0, 0, 57, 1, 0, 0, 127, 0, 0, 9, 127, 0, 0, 1]
        ip += packet
        var info = cprobe_icmp_info()
        #expect(cprobe_icmp_parse(ip, ip.count, 0, 1, &info) == 0)
        #expect(info.ttl == 57 && info.is_echo_reply == 1)
        #expect(Array(withUnsafeBytes(of: info.error_source) { Array($0) }[0..<4]) == [127, 0, 0, 9])
    }

    @Test func icmpv6ReplyParses() {
        var packet = echo(ipv6: true)
        #expect(packet[0] == 128)
        packet[0] = 129
        var info = cprobe_icmp_info()
        #expect(cprobe_icmp_parse(packet, packet.count, 1, 0, &info) == 0)
        #expect(info.is_echo_reply == 1 && info.sequence == 77 && info.tag.magic == 1)
    }

    @Test func destinationUnreachableQuotingOurRequest() {
        let request = echo(ipv6: false, seq: 9)
        let quotedIP: [UInt8] = [0x45, 0, 0, 84, 0, 0, 0, 0, 64, 1, 0, 0, 127, 0, 0, 1, 192, 0, 2, 7]
        let error: [UInt8] = [3, 1, 0, 0, 0, 0, 0, 0] + quotedIP + request
        var info = cprobe_icmp_info()
        #expect(cprobe_icmp_parse(error, error.count, 0, 0, &info) == 0)
        #expect(info.is_error == 1 && info.type == 3 && info.code == 1)
        #expect(info.id == 0x1234 && info.sequence == 9 && info.has_tag == 1 && info.tag.slot == 2)
        #expect(Array(withUnsafeBytes(of: info.quoted_destination) { Array($0) }[0..<4]) == [192, 0, 2, 7])
    }

    @Test func errorQuotingOnlyEightBytesHasNoTag() {
        let request = Array(echo(ipv6: false, seq: 5)[0..<8])
        let quotedIP: [UInt8] = [0x45, 0, 0, 84, 0, 0, 0, 0, 64, 1, 0, 0, 127, 0, 0, 1, 127, 0, 0, 2]
        let error: [UInt8] = [11, 0, 0, 0, 0, 0, 0, 0] + quotedIP + request
        var info = cprobe_icmp_info()
        #expect(cprobe_icmp_parse(error, error.count, 0, 0, &info) == 0)
        #expect(info.is_error == 1 && info.sequence == 5 && info.has_tag == 0)
    }

    @Test func malformedIsRejected() {
        var info = cprobe_icmp_info()
        #expect(cprobe_icmp_parse([0, 0, 0], 3, 0, 0, &info) == -EINVAL)
        #expect(cprobe_icmp_parse([0x45, 0, 0], 3, 0, 1, &info) == -EINVAL)
        let unrelated: [UInt8] = [13, 0, 0, 0, 0, 0, 0, 0]  // timestamp request
        #expect(cprobe_icmp_parse(unrelated, unrelated.count, 0, 0, &info) == -ENOMSG)
    }

    @Test func patchKeepsChecksumValid() {
        var packet = echo(ipv6: false)
        var tag = cprobe_tag(magic: 9, slot: 8, generation: 7, sequence: 6)
        cprobe_icmp_patch_echo(&packet, packet.count, 0, 4242, &tag)
        #expect(cprobe_checksum(packet, packet.count, 0) == 0)
        packet[0] = 0
        var info = cprobe_icmp_info()
        _ = cprobe_icmp_parse(packet, packet.count, 0, 0, &info)
        #expect(info.sequence == 4242 && info.tag.slot == 8)
    }
}
