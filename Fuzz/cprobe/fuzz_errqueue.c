/*
 * fuzz_errqueue: cprobe_errqueue_drain (socket.c), the error-queue reader:
 * its recvmmsg batching and its walk of each message's control data -
 * SCM_TIMESTAMPING (TX software timestamps), IP_RECVERR / IPV6_RECVERR
 * (struct sock_extended_err and the offender address after it) - then what
 * the engine does with each entry (DatagramDriver.drainErrorQueue): the tag
 * scan over the looped-back packet and the sockaddr helpers on the
 * destination and offender.
 *
 * The drain reads with recvmmsg(MSG_ERRQUEUE). This file defines recvmmsg,
 * and the executable's definition wins over libc's (and over ASan's weak
 * interceptor), so the drain's own call lands here and this recvmmsg plays
 * the kernel: it fills each msghdr the drain prepared - the packet into the
 * iovec, msg_name and msg_namelen, control messages written with the
 * kernel's put_cmsg rules into the drain's own control buffer (or, in raw
 * mode, arbitrary bytes), msg_flags, msg_len - from the fuzz input. The bytes
 * the kernel would not have written (past msg_controllen, cmsg padding, the
 * control buffers of messages it did not return) are poisoned, so reading
 * them is reported. The drain code runs unmodified.
 *
 * Input:
 *   u8 max: the entries offered to the drain (0 means 256, the engine's batch)
 *   then the queued messages, until the input ends (then EAGAIN):
 *   u8 flags   bit0 msg_name present, bit1 the name is IPv6,
 *              bit2 end the current recvmmsg batch before this message,
 *              bit3 the call fails instead (errno chosen by bits 4-6);
 *              bits 2/3 only act when the message would not be the first of
 *              a batch / would be: a batch never fails after returning some
 *   u8 length of the packet, then its bytes (the kernel copies what fits
 *              in the 192-byte iovec and sets MSG_TRUNC for the rest)
 *   name       16 bytes (sockaddr_in) or 28 (sockaddr_in6) when present;
 *              the family field is set to match
 *   control    as fz_fill_control: kinds 0 SCM_TIMESTAMPING (48 bytes),
 *              1 IP_RECVERR (ee + sockaddr_in), 2 IPV6_RECVERR (ee +
 *              sockaddr_in6), 3 SCM_TIMESTAMPNS, 4 IP_PKTINFO, 5 any
 *
 * Oracles (cprobe.h's contract): the result is the number of messages the
 * "kernel" returned, never more than max, or -errno of a failure that came
 * before any message; entry k holds message k (payload length, payload
 * bytes, msg_name family, or AF_UNSPEC when msg_namelen was 0).
 */
#include "cprobe.h"
#include "fuzz_common.h"

#include <errno.h>
#include <netinet/in.h>
#include <linux/errqueue.h>

#define FAKE_FD 1000
#define MAX_MESSAGES 512
#define MAGIC 0x57414444u /* "WADD": the tag magic the seeds carry */

static const fz_cmsg_kind kinds[] = {
    {SOL_SOCKET, SCM_TIMESTAMPING, sizeof(struct scm_timestamping)},
    {SOL_IP, IP_RECVERR, sizeof(struct sock_extended_err) + sizeof(struct sockaddr_in)},
    {SOL_IPV6, IPV6_RECVERR, sizeof(struct sock_extended_err) + sizeof(struct sockaddr_in6)},
    {SOL_SOCKET, SCM_TIMESTAMPNS, sizeof(struct timespec)},
    {SOL_IP, IP_PKTINFO, sizeof(struct in_pktinfo)},
};

static const int errnos[8] = {EINTR, ENOMEM, EBADF, EAGAIN, ENOTSOCK, EFAULT, EINVAL, ENETDOWN};

/* The queue the fake kernel serves from, and what it returned. */
static fz_reader queue;
static unsigned delivered;
static int failed_errno;
static struct {
    uint32_t payload_len;
    sa_family_t family;
    uint8_t payload[192];
} expect[MAX_MESSAGES];

int recvmmsg(int fd, struct mmsghdr *msgs, unsigned int vlen, int flags,
             struct timespec *timeout) {
    (void)timeout;
    fz_unpoison_all();
    FZ_CHECK(fd == FAKE_FD && (flags & MSG_ERRQUEUE) && vlen >= 1);
    unsigned got = 0;
    while (got < vlen && queue.n && delivered + got < MAX_MESSAGES) {
        uint8_t f = queue.p[0];
        if ((f & 4) && got) break;
        if (f & 8) {
            if (got) break;
            fz_u8(&queue);
            errno = failed_errno = errnos[(f >> 4) & 7];
            return -1;
        }
        fz_u8(&queue);
        struct msghdr *m = &msgs[got].msg_hdr;
        FZ_CHECK(m->msg_iovlen == 1 && m->msg_iov && m->msg_control);
        FZ_CHECK((uintptr_t)m->msg_control % _Alignof(struct cmsghdr) == 0);
        m->msg_flags = MSG_ERRQUEUE;

        size_t plen = fz_u8(&queue);
        uint8_t bytes[255];
        fz_bytes(&queue, bytes, plen);
        size_t copied = plen < m->msg_iov[0].iov_len ? plen : m->msg_iov[0].iov_len;
        memcpy(m->msg_iov[0].iov_base, bytes, copied);
        if (copied < plen) m->msg_flags |= MSG_TRUNC;
        msgs[got].msg_len = (unsigned)copied;

        sa_family_t family = AF_UNSPEC;
        if (f & 1) {
            struct sockaddr_storage ss;
            size_t nlen = (f & 2) ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
            fz_bytes(&queue, &ss, nlen);
            family = (f & 2) ? AF_INET6 : AF_INET;
            ss.ss_family = family;
            if (m->msg_name) {
                size_t room = m->msg_namelen < nlen ? m->msg_namelen : nlen;
                memcpy(m->msg_name, &ss, room);
            }
            m->msg_namelen = (socklen_t)nlen;
        } else {
            m->msg_namelen = 0;
        }

        fz_control c;
        fz_control_init(&c, m->msg_control, m->msg_controllen);
        fz_fill_control(&queue, &c, kinds, sizeof(kinds) / sizeof(kinds[0]));
        m->msg_controllen = c.used;
        m->msg_flags |= c.flags;

        expect[delivered + got].payload_len = (uint32_t)copied;
        memcpy(expect[delivered + got].payload, bytes,
               copied < sizeof(expect[0].payload) ? copied : sizeof(expect[0].payload));
        expect[delivered + got].family = family;
        got++;
    }
    /* Control buffers of messages not returned: nothing was written there. */
    for (unsigned i = got; i < vlen; i++)
        if (msgs[i].msg_hdr.msg_control)
            fz_poison(msgs[i].msg_hdr.msg_control, msgs[i].msg_hdr.msg_controllen);
    if (!got) {
        errno = failed_errno = EAGAIN;
        return -1;
    }
    delivered += got;
    return (int)got;
}

static void use_address(const struct sockaddr_storage *ss) {
    uint8_t address[16];
    int family = cprobe_sockaddr_family(ss);
    (void)cprobe_sockaddr_port(ss);
    (void)cprobe_sockaddr_length(ss);
    FZ_CHECK(cprobe_sockaddr_address(ss, address) == family);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_reader r = {data, size};
    unsigned max = fz_u8(&r);
    if (max == 0) max = 256;
    queue = r;
    delivered = 0;
    failed_errno = 0;

    /* Exactly `max` entries: writing past them is a heap overflow. */
    cprobe_errqueue_entry *out = malloc(max * sizeof(*out));
    int n = cprobe_errqueue_drain(FAKE_FD, out, max);
    fz_unpoison_all();

    FZ_CHECK(delivered <= max);
    if (n < 0) {
        FZ_CHECK(delivered == 0 && failed_errno && failed_errno != EAGAIN && n == -failed_errno);
    } else {
        FZ_CHECK((unsigned)n == delivered);
    }
    for (int i = 0; i < n; i++) {
        cprobe_errqueue_entry *e = &out[i];
        FZ_CHECK(e->payload_len == expect[i].payload_len);
        FZ_CHECK(e->payload_len <= sizeof(e->payload));
        FZ_CHECK(memcmp(e->payload, expect[i].payload, e->payload_len) == 0);
        FZ_CHECK(e->destination.ss_family == expect[i].family);
        /* What the engine does with an entry. */
        cprobe_tag tag;
        size_t len = e->payload_len < sizeof(e->payload) ? e->payload_len : sizeof(e->payload);
        if (cprobe_payload_find(e->payload, len, MAGIC, &tag) == 0) FZ_CHECK(tag.magic == MAGIC);
        use_address(&e->destination);
        use_address(&e->offender);
    }
    free(out);
    return 0;
}
