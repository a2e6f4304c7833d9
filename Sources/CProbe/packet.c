/* Packet build/parse: pure functions, no syscalls, no allocation. */
#include "cprobe.h"

#include <errno.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>

uint64_t cprobe_monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t cprobe_realtime_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint16_t cprobe_checksum(const void *data, size_t len, uint32_t initial) {
    const uint8_t *p = data;
    uint64_t sum = initial;
    while (len >= 2) {
        sum += (uint32_t)((p[0] << 8) | p[1]);
        p += 2;
        len -= 2;
    }
    if (len) sum += (uint32_t)(p[0] << 8);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return htons((uint16_t)~sum);
}

static void put32(uint8_t *p, uint32_t v) { v = htonl(v); memcpy(p, &v, 4); }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return ntohl(v); }
static uint16_t get16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return ntohs(v); }

size_t cprobe_payload_build(uint8_t *buf, size_t len, const cprobe_tag *tag) {
    if (len < CPROBE_TAG_SIZE) return 0;
    put32(buf, tag->magic);
    put32(buf + 4, tag->slot);
    put32(buf + 8, tag->generation);
    put32(buf + 12, tag->sequence);
    for (size_t i = CPROBE_TAG_SIZE; i < len; i++) buf[i] = (uint8_t)(i & 0xff);
    return len;
}

int cprobe_payload_parse(const uint8_t *buf, size_t len, cprobe_tag *tag) {
    if (len < CPROBE_TAG_SIZE) return -EINVAL;
    tag->magic = get32(buf);
    tag->slot = get32(buf + 4);
    tag->generation = get32(buf + 8);
    tag->sequence = get32(buf + 12);
    return 0;
}

int cprobe_payload_find(const uint8_t *buf, size_t len, uint32_t magic, cprobe_tag *tag) {
    uint8_t m[4];
    put32(m, magic);
    for (size_t i = 0; i + CPROBE_TAG_SIZE <= len; i++) {
        if (buf[i] == m[0] && memcmp(buf + i, m, 4) == 0) return cprobe_payload_parse(buf + i, len - i, tag);
    }
    return -ENOENT;
}

int cprobe_icmp_build_echo(uint8_t *buf, size_t cap, int ipv6, uint16_t id,
                           uint16_t sequence, const cprobe_tag *tag,
                           size_t payload_len) {
    if (payload_len < CPROBE_TAG_SIZE) payload_len = CPROBE_TAG_SIZE;
    size_t total = 8 + payload_len;
    if (total > cap) return -ENOSPC;
    buf[0] = ipv6 ? CPROBE_ICMP6_ECHO_REQUEST : CPROBE_ICMP4_ECHO_REQUEST;
    buf[1] = 0;
    buf[2] = buf[3] = 0;
    uint16_t nid = htons(id), nseq = htons(sequence);
    memcpy(buf + 4, &nid, 2);
    memcpy(buf + 6, &nseq, 2);
    cprobe_payload_build(buf + 8, payload_len, tag);
    if (!ipv6) {
        uint16_t c = cprobe_checksum(buf, total, 0);
        memcpy(buf + 2, &c, 2);
    }
    return (int)total;
}

void cprobe_icmp_patch_echo(uint8_t *packet, size_t len, int ipv6,
                            uint16_t sequence, const cprobe_tag *tag) {
    uint16_t nseq = htons(sequence);
    memcpy(packet + 6, &nseq, 2);
    put32(packet + 8, tag->magic);
    put32(packet + 12, tag->slot);
    put32(packet + 16, tag->generation);
    put32(packet + 20, tag->sequence);
    packet[2] = packet[3] = 0;
    if (!ipv6) {
        uint16_t c = cprobe_checksum(packet, len, 0);
        memcpy(packet + 2, &c, 2);
    }
}

/* Reads the echo request quoted inside an ICMP error. `inner` points at the
 * quoted IP header. */
static int parse_quoted(const uint8_t *inner, size_t len, int ipv6,
                        cprobe_icmp_info *out) {
    size_t ihl;
    uint8_t proto;
    if (ipv6) {
        if (len < 40 || (inner[0] >> 4) != 6) return -EINVAL;
        ihl = 40;
        proto = inner[6];
        memcpy(out->quoted_destination, inner + 24, 16);
        if (proto != 58) return -ENOMSG;
    } else {
        if (len < 20 || (inner[0] >> 4) != 4) return -EINVAL;
        ihl = (size_t)(inner[0] & 0x0f) * 4;
        if (ihl < 20) return -EINVAL; /* else the "ICMP header" is read inside it */
        proto = inner[9];
        memcpy(out->quoted_destination, inner + 16, 4);
        if (proto != 1) return -ENOMSG;
    }
    if (len < ihl + 8) return -EINVAL;
    const uint8_t *icmp = inner + ihl;
    uint8_t want = ipv6 ? CPROBE_ICMP6_ECHO_REQUEST : CPROBE_ICMP4_ECHO_REQUEST;
    if (icmp[0] != want) return -ENOMSG;
    out->id = get16(icmp + 4);
    out->sequence = get16(icmp + 6);
    out->has_tag = cprobe_payload_parse(icmp + 8, len - ihl - 8, &out->tag) == 0;
    out->is_error = 1;
    return 0;
}

int cprobe_icmp_parse(const uint8_t *buf, size_t len, int ipv6,
                      int has_ip_header, cprobe_icmp_info *out) {
    memset(out, 0, sizeof(*out));
    out->ttl = -1;
    if (has_ip_header && !ipv6) {
        if (len < 20 || (buf[0] >> 4) != 4) return -EINVAL;
        size_t ihl = (size_t)(buf[0] & 0x0f) * 4;
        if (ihl < 20 || len < ihl) return -EINVAL;
        out->ttl = buf[8];
        memcpy(out->error_source, buf + 12, 4);
        buf += ihl;
        len -= ihl;
    }
    if (len < 8) return -EINVAL;
    out->type = buf[0];
    out->code = buf[1];
    uint8_t reply = ipv6 ? CPROBE_ICMP6_ECHO_REPLY : CPROBE_ICMP4_ECHO_REPLY;
    if (out->type == reply) {
        out->is_echo_reply = 1;
        out->id = get16(buf + 4);
        out->sequence = get16(buf + 6);
        out->has_tag = cprobe_payload_parse(buf + 8, len - 8, &out->tag) == 0;
        return 0;
    }
    int is_err;
    if (ipv6)
        is_err = out->type == CPROBE_ICMP6_DEST_UNREACH || out->type == CPROBE_ICMP6_PACKET_TOO_BIG ||
                 out->type == CPROBE_ICMP6_TIME_EXCEEDED || out->type == CPROBE_ICMP6_PARAM_PROBLEM;
    else
        is_err = out->type == CPROBE_ICMP4_DEST_UNREACH || out->type == CPROBE_ICMP4_TIME_EXCEEDED ||
                 out->type == CPROBE_ICMP4_PARAM_PROBLEM;
    if (!is_err) return -ENOMSG;
    return parse_quoted(buf + 8, len - 8, ipv6, out);
}
