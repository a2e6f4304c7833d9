/*
 * fuzz_icmp_parse: cprobe_icmp_parse (packet.c) on received ICMP/ICMPv6
 * messages, the bytes a ring recvmsg delivers from the network:
 *  - the optional IPv4 header of a raw socket (IHL, TTL, source),
 *  - echo replies (id, sequence, the probe tag in the payload),
 *  - errors (v4 unreachable / time exceeded / parameter problem, v6 the
 *    same plus packet too big) and the echo request they quote (the quoted
 *    IPv4 or IPv6 header, then the quoted ICMP header and tag): the static
 *    parse_quoted.
 *
 * Input: u8 socket kind (low 2 bits), then the datagram as recvmsg returns it.
 *   0  IPv4 ping socket  (ipv6 0, has_ip_header 0)
 *   1  IPv4 raw socket   (ipv6 0, has_ip_header 1: the IP header comes first)
 *   2  IPv6, either kind (ipv6 1, has_ip_header 0)
 *   3  IPv6 with has_ip_header 1: the engine never asks this (IPv6 raw
 *      sockets deliver no header) but the C API takes it, so it must be safe.
 * The datagram is passed as the tail of libFuzzer's buffer, so any read past
 * its end is a heap overflow ASan reports.
 *
 * Oracles beyond memory safety, all from cprobe.h's contract and the RFCs:
 * the result is 0, -EINVAL or -ENOMSG; an accepted message is exactly one of
 * echo reply / error; the TTL is only set from a raw IPv4 header; an
 * accepted error quotes a well-formed header of its family (RFC 791: version
 * 4, IHL >= 5; RFC 8200: version 6), since a malformed packet is -EINVAL; and
 * parsing is deterministic.
 */
#include "cprobe.h"
#include "fuzz_common.h"

#include <errno.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int kind = data[0] & 3;
    int ipv6 = kind >= 2;
    int has_ip_header = kind & 1;
    const uint8_t *packet = data + 1;
    size_t len = size - 1;

    cprobe_icmp_info info, again;
    int rc = cprobe_icmp_parse(packet, len, ipv6, has_ip_header, &info);
    FZ_CHECK(rc == 0 || rc == -EINVAL || rc == -ENOMSG);

    int rc2 = cprobe_icmp_parse(packet, len, ipv6, has_ip_header, &again);
    FZ_CHECK(rc2 == rc && memcmp(&info, &again, sizeof(info)) == 0);

    if (ipv6 || !has_ip_header) FZ_CHECK(info.ttl == -1);
    if (rc != 0) return 0;

    FZ_CHECK(info.is_echo_reply + info.is_error == 1);
    FZ_CHECK(info.has_tag <= 1);

    /* Where the ICMP message starts: after the raw IPv4 header if any. */
    size_t icmp = 0;
    if (!ipv6 && has_ip_header) {
        FZ_CHECK(len >= 20 && packet[0] >> 4 == 4);
        icmp = (size_t)(packet[0] & 0x0f) * 4;
        FZ_CHECK(icmp >= 20 && icmp + 8 <= len);
        FZ_CHECK(info.ttl == packet[8]);
    }
    FZ_CHECK(info.type == packet[icmp] && info.code == packet[icmp + 1]);

    if (info.is_error) {
        /* The quoted header starts after the 8-byte ICMP error header. */
        size_t quoted = icmp + 8;
        if (ipv6) {
            FZ_CHECK(quoted + 40 + 8 <= len);
            FZ_CHECK(packet[quoted] >> 4 == 6);
        } else {
            FZ_CHECK(quoted + 20 + 8 <= len);
            FZ_CHECK(packet[quoted] >> 4 == 4);
            FZ_CHECK((packet[quoted] & 0x0f) >= 5);
        }
    }
    return 0;
}
