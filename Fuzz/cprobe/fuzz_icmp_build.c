/*
 * fuzz_icmp_build: the echo-request builders (packet.c) against the parser,
 * with every parameter the engine passes under fuzz control:
 *  - cprobe_icmp_build_echo into a buffer of exactly `cap` bytes (any write
 *    past it is a heap overflow), v4 and v6, any payload size;
 *  - cprobe_icmp_patch_echo re-stamping sequence and tag (as a resend does);
 *  - the built packet read back by cprobe_icmp_parse three ways: turned into
 *    an echo reply (ping socket), the same behind a raw socket's IPv4 header
 *    (with options), and quoted by an ICMP error after a quoted IP header,
 *    cut after `quote` bytes the way routers cut what they quote.
 *
 * Input: u8 flags (bit0 IPv6, bits 1-2 error type choice, bits 3-4 IPv4
 * option words), u16 id, u16 sequence, 16-byte tag, u16 payload length
 * (mod 600), u16 capacity (mod 700), u16 new sequence, 16-byte new tag,
 * u8 quote length, u8 TTL, 16 bytes of quoted destination.
 *
 * Oracles (cprobe.h): build returns 8 + max(payload, CPROBE_TAG_SIZE) or
 * -ENOSPC when that exceeds cap; the v4 checksum verifies (and still does
 * after a patch), the v6 one is left 0; the reply parses back to id, the
 * patched sequence and tag; the raw header's TTL is reported; the error
 * parses to the quoted id and sequence, carries the tag exactly when the
 * quote holds it, and reports the quoted destination; a quote shorter than
 * the 8-byte ICMP header is -EINVAL.
 */
#include "cprobe.h"
#include "fuzz_common.h"

#include <errno.h>

static void read_tag(fz_reader *r, cprobe_tag *t) {
    t->magic = fz_u32(r);
    t->slot = fz_u32(r);
    t->generation = fz_u32(r);
    t->sequence = fz_u32(r);
}

static int same_tag(const cprobe_tag *a, const cprobe_tag *b) {
    return a->magic == b->magic && a->slot == b->slot &&
           a->generation == b->generation && a->sequence == b->sequence;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_reader r = {data, size};
    uint8_t flags = fz_u8(&r);
    int ipv6 = flags & 1;
    uint16_t id = fz_u16(&r), seq = fz_u16(&r);
    cprobe_tag tag, tag2;
    read_tag(&r, &tag);
    size_t payload = fz_u16(&r) % 600;
    size_t cap = fz_u16(&r) % 700;
    uint16_t seq2 = fz_u16(&r);
    read_tag(&r, &tag2);
    size_t quote = fz_u8(&r);
    uint8_t ttl = fz_u8(&r);
    uint8_t destination[16];
    fz_bytes(&r, destination, sizeof(destination));

    uint8_t *buf = malloc(cap ? cap : 1);
    int n = cprobe_icmp_build_echo(buf, cap, ipv6, id, seq, &tag, payload);
    size_t want = 8 + (payload < CPROBE_TAG_SIZE ? CPROBE_TAG_SIZE : payload);
    if (want > cap) {
        FZ_CHECK(n == -ENOSPC);
        free(buf);
        return 0;
    }
    FZ_CHECK(n >= 0 && (size_t)n == want);
    size_t len = (size_t)n;
    FZ_CHECK(buf[0] == (ipv6 ? CPROBE_ICMP6_ECHO_REQUEST : CPROBE_ICMP4_ECHO_REQUEST));
    if (ipv6) FZ_CHECK(buf[2] == 0 && buf[3] == 0);
    else FZ_CHECK(cprobe_checksum(buf, len, 0) == 0);

    /* A request is not something the parser accepts. */
    cprobe_icmp_info info;
    FZ_CHECK(cprobe_icmp_parse(buf, len, ipv6, 0, &info) == -ENOMSG);

    cprobe_icmp_patch_echo(buf, len, ipv6, seq2, &tag2);
    if (ipv6) FZ_CHECK(buf[2] == 0 && buf[3] == 0);
    else FZ_CHECK(cprobe_checksum(buf, len, 0) == 0);

    /* As the echo reply a ping socket delivers (type changed, rest echoed). */
    uint8_t *reply = malloc(len);
    memcpy(reply, buf, len);
    reply[0] = ipv6 ? CPROBE_ICMP6_ECHO_REPLY : CPROBE_ICMP4_ECHO_REPLY;
    FZ_CHECK(cprobe_icmp_parse(reply, len, ipv6, 0, &info) == 0);
    FZ_CHECK(info.is_echo_reply && !info.is_error && info.has_tag);
    FZ_CHECK(info.id == id && info.sequence == seq2 && same_tag(&info.tag, &tag2));
    FZ_CHECK(info.ttl == -1);

    /* The same behind a raw IPv4 socket's header, 0-3 option words. */
    if (!ipv6) {
        size_t ihl = 20 + 4 * ((flags >> 3) & 3);
        uint8_t *raw = malloc(ihl + len);
        memset(raw, 0, ihl);
        raw[0] = (uint8_t)(0x40 | ihl / 4);
        raw[8] = ttl;
        raw[9] = 1;
        memcpy(raw + 12, destination, 4);
        memcpy(raw + ihl, reply, len);
        FZ_CHECK(cprobe_icmp_parse(raw, ihl + len, 0, 1, &info) == 0);
        FZ_CHECK(info.is_echo_reply && info.ttl == ttl && info.id == id);
        FZ_CHECK(info.sequence == seq2 && same_tag(&info.tag, &tag2));
        FZ_CHECK(memcmp(info.error_source, destination, 4) == 0);
        free(raw);
    }
    free(reply);

    /* Quoted by an ICMP error: 8-byte error header, the request's IP header
     * (to `destination`), then the first `quote` bytes of the request. */
    static const uint8_t v4_errors[4] = {CPROBE_ICMP4_DEST_UNREACH, CPROBE_ICMP4_TIME_EXCEEDED,
                                         CPROBE_ICMP4_PARAM_PROBLEM, CPROBE_ICMP4_DEST_UNREACH};
    static const uint8_t v6_errors[4] = {CPROBE_ICMP6_DEST_UNREACH, CPROBE_ICMP6_PACKET_TOO_BIG,
                                         CPROBE_ICMP6_TIME_EXCEEDED, CPROBE_ICMP6_PARAM_PROBLEM};
    if (quote > len) quote = len;
    size_t iphdr = ipv6 ? 40 : 20;
    size_t elen = 8 + iphdr + quote;
    uint8_t *error = calloc(1, elen);
    error[0] = (ipv6 ? v6_errors : v4_errors)[(flags >> 1) & 3];
    error[1] = ttl; /* any code */
    uint8_t *ip = error + 8;
    if (ipv6) {
        ip[0] = 0x60;
        ip[4] = (uint8_t)(len >> 8);
        ip[5] = (uint8_t)len;
        ip[6] = 58;
        ip[7] = 1;
        memcpy(ip + 24, destination, 16);
    } else {
        ip[0] = 0x45;
        ip[2] = (uint8_t)((20 + len) >> 8);
        ip[3] = (uint8_t)(20 + len);
        ip[8] = 1;
        ip[9] = 1;
        memcpy(ip + 16, destination, 4);
    }
    memcpy(ip + iphdr, buf, quote);
    int rc = cprobe_icmp_parse(error, elen, ipv6, 0, &info);
    if (quote < 8) {
        FZ_CHECK(rc == -EINVAL);
    } else {
        FZ_CHECK(rc == 0 && info.is_error && !info.is_echo_reply);
        FZ_CHECK(info.type == error[0] && info.code == error[1]);
        FZ_CHECK(info.id == id && info.sequence == seq2);
        FZ_CHECK(info.has_tag == (quote >= 8 + CPROBE_TAG_SIZE));
        if (info.has_tag) FZ_CHECK(same_tag(&info.tag, &tag2));
        FZ_CHECK(memcmp(info.quoted_destination, destination, ipv6 ? 16 : 4) == 0);
    }
    free(error);
    free(buf);
    return 0;
}
