/*
 * fuzz_payload: the probe-tag codec and the checksum (packet.c):
 *  - cprobe_payload_parse: a UDP echo reply's payload (UDPEchoProbe), and the
 *    tag inside ICMP replies;
 *  - cprobe_payload_find: the scan for our tag in a packet looped back on the
 *    error queue (TX timestamp) or quoted by an ICMP error, whose header
 *    layout varies (DatagramDriver.drainErrorQueue);
 *  - cprobe_payload_build into a buffer of exactly the asked length;
 *  - cprobe_checksum with any initial partial sum.
 *
 * Input: u32 magic, u32 initial checksum sum, u8 checksum field offset, then
 * the payload bytes (the tail of libFuzzer's buffer: reads past it are heap
 * overflows).
 *
 * Oracles (cprobe.h's contract, RFC 1071): parse fails exactly when the
 * payload is shorter than CPROBE_TAG_SIZE; a found tag carries the magic
 * asked for; build writes exactly `len` bytes (the buffer is that size) or,
 * below CPROBE_TAG_SIZE, returns 0, and what it builds parses back to the
 * same tag; a packet carrying its own checksum (computed with the same
 * initial sum) checksums to 0.
 */
#include "cprobe.h"
#include "fuzz_common.h"

#include <errno.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 9) return 0;
    fz_reader r = {data, size};
    uint32_t magic = fz_u32(&r);
    uint32_t initial = fz_u32(&r);
    uint8_t field = fz_u8(&r);
    const uint8_t *payload = r.p;
    size_t len = r.n;

    cprobe_tag tag;
    int rc = cprobe_payload_parse(payload, len, &tag);
    FZ_CHECK(rc == (len < CPROBE_TAG_SIZE ? -EINVAL : 0));

    cprobe_tag found;
    rc = cprobe_payload_find(payload, len, magic, &found);
    FZ_CHECK(rc == 0 || rc == -ENOENT);
    if (rc == 0) FZ_CHECK(found.magic == magic);
    if (len < CPROBE_TAG_SIZE) FZ_CHECK(rc == -ENOENT);

    /* Build into a buffer of exactly `len` bytes, a tag with the magic asked
     * for and the other fields just read, and read it back. */
    cprobe_tag t = {magic, 0, 0, 0};
    if (len >= CPROBE_TAG_SIZE) {
        t = tag;
        t.magic = magic;
    }
    uint8_t *built = malloc(len ? len : 1);
    size_t n = cprobe_payload_build(built, len, &t);
    if (len < CPROBE_TAG_SIZE) {
        FZ_CHECK(n == 0);
    } else {
        FZ_CHECK(n == len);
        cprobe_tag back;
        FZ_CHECK(cprobe_payload_parse(built, len, &back) == 0);
        FZ_CHECK(memcmp(&back, &t, sizeof(t)) == 0);
        FZ_CHECK(cprobe_payload_find(built, len, magic, &back) == 0);
        FZ_CHECK(memcmp(&back, &t, sizeof(t)) == 0);
    }
    free(built);

    /* RFC 1071: store the checksum in a zeroed 16-bit field at an even
     * offset; the packet then sums to 0xffff and checksums to 0. */
    (void)cprobe_checksum(payload, len, initial);
    if (len >= 2) {
        uint8_t *packet = malloc(len);
        memcpy(packet, payload, len);
        size_t at = ((size_t)field * 2) % (len - 1);
        at &= ~(size_t)1;
        packet[at] = packet[at + 1] = 0;
        uint16_t c = cprobe_checksum(packet, len, initial);
        memcpy(packet + at, &c, 2);
        FZ_CHECK(cprobe_checksum(packet, len, initial) == 0);
        free(packet);
    }
    return 0;
}
