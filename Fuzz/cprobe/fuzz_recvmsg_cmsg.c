/*
 * fuzz_recvmsg_cmsg: the control-message walk of a completed ring recvmsg
 * (ring.c parse_recvmsg): SCM_TIMESTAMPNS (the kernel receive time of every
 * reply) and IP_TTL / IPV6_HOPLIMIT, read into the cprobe_completion the
 * engine times and reports from.
 *
 * parse_recvmsg is static and only reached from cprobe_ring_run_gather after
 * a real io_uring completion, so this file includes ring.c itself (nothing in
 * ring.c changes, no entry point is added) and calls it the way
 * cprobe_ring_run_gather does. The slot is set up as cprobe_ring_prep_recvmsg
 * leaves it (its msghdr pointing at the slot's own 128-byte control buffer),
 * then filled as the kernel fills a recvmsg: control messages written with
 * put_cmsg's rules from the fuzz input (or raw bytes), msg_controllen and
 * msg_flags. The slot is a heap object of its exact size and its control
 * buffer is its last member, and the bytes the kernel would not have written
 * are poisoned, so a read past the control data is reported.
 *
 * Needs liburing's headers (ring.c includes liburing.h) and -luring to link
 * the rest of ring.c.
 *
 * Input: u8 flags (bit0 MSG_TRUNC: the datagram was cut), then the control
 * buffer as fz_fill_control: kinds 0 SCM_TIMESTAMPNS (16 bytes), 1 IP_TTL
 * (int), 2 IPV6_HOPLIMIT (int), 3 IP_RECVERR (ee + sockaddr_in), 4 any.
 *
 * Oracles: the completion's fields other than kernel_ns, has_kernel_time,
 * ttl and msg_flags are untouched; has_kernel_time is 0 or 1; msg_flags is
 * what the kernel returned.
 */
#include "../../Sources/CProbe/ring.c"
#include "fuzz_common.h"

#include <linux/errqueue.h>

static const fz_cmsg_kind kinds[] = {
    {SOL_SOCKET, SCM_TIMESTAMPNS, sizeof(struct timespec)},
    {IPPROTO_IP, IP_TTL, sizeof(int)},
    {IPPROTO_IPV6, IPV6_HOPLIMIT, sizeof(int)},
    {SOL_IP, IP_RECVERR, sizeof(struct sock_extended_err) + sizeof(struct sockaddr_in)},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_reader r = {data, size};
    uint8_t flags = fz_u8(&r);

    cprobe_slot *s = calloc(1, sizeof(*s));
    static uint8_t buffer[2048];
    /* As cprobe_ring_prep_recvmsg leaves the slot (its own static helper). */
    slot_prepare_receive(s, buffer, sizeof(buffer));
    FZ_CHECK((uintptr_t)s->msg.msg_control % _Alignof(struct cmsghdr) == 0);

    /* The kernel's recvmsg. */
    fz_control c;
    fz_control_init(&c, s->msg.msg_control, s->msg.msg_controllen);
    fz_fill_control(&r, &c, kinds, sizeof(kinds) / sizeof(kinds[0]));
    s->msg.msg_controllen = c.used;
    s->msg.msg_flags = c.flags | ((flags & 1) ? MSG_TRUNC : 0);

    /* As cprobe_ring_run_gather fills a RECVMSG completion. */
    cprobe_completion out;
    memset(&out, 0xa5, sizeof(out));
    out.slot = 0;
    out.op = CPROBE_OP_RECVMSG;
    out.has_kernel_time = 0;
    out.ttl = -1;
    out.result = 64;
    out.flags = 0;
    out.msg_flags = 0;
    out.kernel_ns = 0;
    out.reaped_ns = 12345;
    parse_recvmsg(s, &out);
    fz_unpoison_all();

    FZ_CHECK(out.slot == 0 && out.op == CPROBE_OP_RECVMSG && out.result == 64);
    FZ_CHECK(out.flags == 0 && out.reaped_ns == 12345);
    FZ_CHECK(out.has_kernel_time <= 1);
    FZ_CHECK(out.msg_flags == (uint32_t)s->msg.msg_flags);
    free(s);
    return 0;
}
