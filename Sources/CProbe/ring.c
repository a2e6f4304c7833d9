/* io_uring rings with preallocated slot records.
 *
 * One ring per OS thread (IORING_SETUP_SINGLE_ISSUER). Every SQE carries the
 * packed tag `slot << 8 | op`; linked timeouts carry CPROBE_OP_LINK_TIMEOUT
 * so the caller can count both completions of a timed op before it reuses
 * the slot (a fired link timeout completes the op with -ECANCELED and itself
 * with -ETIME; when the op wins, the timeout completes with -ECANCELED).
 */
#include "cprobe.h"
#include "cmsg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/udp.h>

typedef struct cprobe_slot {
    struct msghdr msg;
    struct iovec iov;
    struct sockaddr_storage address;
    struct __kernel_timespec timeout;
    uint8_t control[128];
} cprobe_slot;

struct cprobe_ring {
    struct io_uring ring;
    unsigned slot_count;
    unsigned buffer_size;
    unsigned queued;
    cprobe_slot *slots;
    uint8_t *buffers;
};

int cprobe_ring_create(cprobe_ring **out, unsigned entries, unsigned slots,
                       unsigned slot_buffer_size) {
    cprobe_ring *r = calloc(1, sizeof(*r));
    if (!r) return -ENOMEM;
    r->slots = calloc(slots ? slots : 1, sizeof(cprobe_slot));
    r->buffers = calloc(slots ? slots : 1, slot_buffer_size ? slot_buffer_size : 1);
    if (!r->slots || !r->buffers) {
        free(r->slots); free(r->buffers); free(r);
        return -ENOMEM;
    }
    r->slot_count = slots;
    r->buffer_size = slot_buffer_size;
    struct io_uring_params p;
    memset(&p, 0, sizeof(p));
    p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SUBMIT_ALL;
    p.cq_entries = entries * 4;
    p.flags |= IORING_SETUP_CQSIZE;
    int rc = io_uring_queue_init_params(entries, &r->ring, &p);
    if (rc == -EINVAL) { /* pre-6.1 kernel: no DEFER_TASKRUN */
        memset(&p, 0, sizeof(p));
        p.flags = IORING_SETUP_CQSIZE;
        p.cq_entries = entries * 4;
        rc = io_uring_queue_init_params(entries, &r->ring, &p);
    }
    if (rc < 0) {
        free(r->slots); free(r->buffers); free(r);
        return rc;
    }
    *out = r;
    return 0;
}

void cprobe_ring_destroy(cprobe_ring *ring) {
    if (!ring) return;
    io_uring_queue_exit(&ring->ring);
    free(ring->slots);
    free(ring->buffers);
    free(ring);
}

unsigned cprobe_ring_slot_count(const cprobe_ring *ring) { return ring->slot_count; }
unsigned cprobe_ring_slot_buffer_size(const cprobe_ring *ring) { return ring->buffer_size; }
unsigned cprobe_ring_pending(const cprobe_ring *ring) { return ring->queued; }

unsigned cprobe_ring_entries(const cprobe_ring *ring) { return ring->ring.sq.ring_entries; }

void cprobe_ring_clear_slots(cprobe_ring *ring, unsigned count) {
    if (count > ring->slot_count) count = ring->slot_count;
    memset(ring->slots, 0, (size_t)count * sizeof(cprobe_slot));
    memset(ring->buffers, 0, (size_t)count * ring->buffer_size);
    ring->queued = 0;
}

uint8_t *cprobe_ring_slot_buffer(cprobe_ring *ring, uint32_t slot) {
    return ring->buffers + (size_t)slot * ring->buffer_size;
}

struct sockaddr_storage *cprobe_ring_slot_address(cprobe_ring *ring, uint32_t slot) {
    return &ring->slots[slot].address;
}

/* Gets an SQE, submitting what is queued when the SQ is full. */
static struct io_uring_sqe *get_sqe(cprobe_ring *r) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
    if (!sqe) {
        io_uring_submit(&r->ring);
        r->queued = 0;
        sqe = io_uring_get_sqe(&r->ring);
    }
    return sqe;
}

/* Queues `sqe`'s link timeout when `timeout_ns` > 0. The op SQE must be the
 * one just obtained; both are obtained before either is filled so a full SQ
 * cannot split the pair. */
static int prep_timed(cprobe_ring *r, uint32_t slot, uint64_t timeout_ns,
                      struct io_uring_sqe **op_out) {
    if (timeout_ns && io_uring_sq_space_left(&r->ring) < 2) {
        io_uring_submit(&r->ring);
        r->queued = 0;
    }
    struct io_uring_sqe *op = get_sqe(r);
    if (!op) return -EBUSY;
    *op_out = op;
    if (!timeout_ns) return 1;
    return 2;
}

static void finish_timed(cprobe_ring *r, uint32_t slot, uint64_t timeout_ns,
                         struct io_uring_sqe *op, int count) {
    r->queued++;
    if (count < 2) return;
    op->flags |= IOSQE_IO_LINK;
    cprobe_slot *s = &r->slots[slot];
    s->timeout.tv_sec = (long long)(timeout_ns / 1000000000ull);
    s->timeout.tv_nsec = (long long)(timeout_ns % 1000000000ull);
    struct io_uring_sqe *t = io_uring_get_sqe(&r->ring);
    io_uring_prep_link_timeout(t, &s->timeout, 0);
    io_uring_sqe_set_data64(t, cprobe_tag_make(slot, CPROBE_OP_LINK_TIMEOUT));
    r->queued++;
}

int cprobe_ring_prep_connect(cprobe_ring *r, uint32_t slot, int fd, uint64_t timeout_ns) {
    if (slot >= r->slot_count) return -EINVAL;
    struct io_uring_sqe *sqe;
    int n = prep_timed(r, slot, timeout_ns, &sqe);
    if (n < 0) return n;
    struct sockaddr_storage *a = &r->slots[slot].address;
    io_uring_prep_connect(sqe, fd, (struct sockaddr *)a, cprobe_sockaddr_length(a));
    io_uring_sqe_set_data64(sqe, cprobe_tag_make(slot, CPROBE_OP_CONNECT));
    finish_timed(r, slot, timeout_ns, sqe, n);
    return n;
}

int cprobe_ring_prep_send(cprobe_ring *r, uint32_t slot, int fd, uint32_t len, uint64_t timeout_ns) {
    if (slot >= r->slot_count || len > r->buffer_size) return -EINVAL;
    struct io_uring_sqe *sqe;
    int n = prep_timed(r, slot, timeout_ns, &sqe);
    if (n < 0) return n;
    io_uring_prep_send(sqe, fd, cprobe_ring_slot_buffer(r, slot), len, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, cprobe_tag_make(slot, CPROBE_OP_SEND));
    finish_timed(r, slot, timeout_ns, sqe, n);
    return n;
}

int cprobe_ring_prep_recv(cprobe_ring *r, uint32_t slot, int fd, uint32_t offset,
                          uint32_t len, uint64_t timeout_ns) {
    if (slot >= r->slot_count || offset + len > r->buffer_size) return -EINVAL;
    struct io_uring_sqe *sqe;
    int n = prep_timed(r, slot, timeout_ns, &sqe);
    if (n < 0) return n;
    io_uring_prep_recv(sqe, fd, cprobe_ring_slot_buffer(r, slot) + offset, len, 0);
    io_uring_sqe_set_data64(sqe, cprobe_tag_make(slot, CPROBE_OP_RECV));
    finish_timed(r, slot, timeout_ns, sqe, n);
    return n;
}

int cprobe_ring_prep_send_buffer(cprobe_ring *r, uint32_t slot, uint8_t op, int fd,
                                 const void *buf, uint32_t len) {
    struct io_uring_sqe *sqe = get_sqe(r);
    if (!sqe) return -EBUSY;
    io_uring_prep_send(sqe, fd, buf, len, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, cprobe_tag_make(slot, op));
    r->queued++;
    return 1;
}

struct gso_layout {
    struct msghdr msg;
    struct iovec iov;
    union {
        char buf[CMSG_SPACE(sizeof(uint16_t))];
        struct cmsghdr align;
    } control;
};
_Static_assert(sizeof(struct gso_layout) <= sizeof(cprobe_gso_message), "cprobe_gso_message too small");

int cprobe_ring_prep_send_segments(cprobe_ring *r, uint32_t slot, uint8_t op, int fd,
                                   cprobe_gso_message *message, const void *buf, uint32_t len,
                                   uint16_t segment) {
    struct io_uring_sqe *sqe = get_sqe(r);
    if (!sqe) return -EBUSY;
    struct gso_layout *g = (struct gso_layout *)message->storage;
    memset(g, 0, sizeof(*g));
    g->iov.iov_base = (void *)buf;
    g->iov.iov_len = len;
    g->msg.msg_iov = &g->iov;
    g->msg.msg_iovlen = 1;
    if (segment && segment < len) {
        g->msg.msg_control = g->control.buf;
        g->msg.msg_controllen = sizeof(g->control.buf);
        struct cmsghdr *cm = CMSG_FIRSTHDR(&g->msg);
        cm->cmsg_level = SOL_UDP;
        cm->cmsg_type = UDP_SEGMENT;
        cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
        memcpy(CMSG_DATA(cm), &segment, sizeof(segment));
    }
    io_uring_prep_sendmsg(sqe, fd, &g->msg, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, cprobe_tag_make(slot, op));
    r->queued++;
    return 1;
}

int cprobe_ring_prep_recv_buffer(cprobe_ring *r, uint32_t slot, uint8_t op, int fd,
                                 void *buf, uint32_t len) {
    struct io_uring_sqe *sqe = get_sqe(r);
    if (!sqe) return -EBUSY;
    io_uring_prep_recv(sqe, fd, buf, len, 0);
    io_uring_sqe_set_data64(sqe, cprobe_tag_make(slot, op));
    r->queued++;
    return 1;
}

int cprobe_ring_prep_connect_address(cprobe_ring *r, uint32_t slot, uint8_t op, int fd,
                                     const struct sockaddr_storage *address) {
    struct io_uring_sqe *sqe = get_sqe(r);
    if (!sqe) return -EBUSY;
    io_uring_prep_connect(sqe, fd, (const struct sockaddr *)address, cprobe_sockaddr_length(address));
    io_uring_sqe_set_data64(sqe, cprobe_tag_make(slot, op));
    r->queued++;
    return 1;
}

int cprobe_ring_prep_sendmsg(cprobe_ring *r, uint32_t slot, int fd, uint32_t len, int ttl) {
    if (slot >= r->slot_count || len > r->buffer_size) return -EINVAL;
    struct io_uring_sqe *sqe = get_sqe(r);
    if (!sqe) return -EBUSY;
    cprobe_slot *s = &r->slots[slot];
    s->iov.iov_base = cprobe_ring_slot_buffer(r, slot);
    s->iov.iov_len = len;
    memset(&s->msg, 0, sizeof(s->msg));
    s->msg.msg_name = &s->address;
    s->msg.msg_namelen = cprobe_sockaddr_length(&s->address);
    s->msg.msg_iov = &s->iov;
    s->msg.msg_iovlen = 1;
    if (ttl > 0) {
        s->msg.msg_control = s->control;
        s->msg.msg_controllen = CMSG_SPACE(sizeof(int));
        struct cmsghdr *c = CMSG_FIRSTHDR(&s->msg);
        int v6 = s->address.ss_family == AF_INET6;
        c->cmsg_level = v6 ? IPPROTO_IPV6 : IPPROTO_IP;
        c->cmsg_type = v6 ? IPV6_HOPLIMIT : IP_TTL;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &ttl, sizeof(int));
    }
    io_uring_prep_sendmsg(sqe, fd, &s->msg, 0);
    io_uring_sqe_set_data64(sqe, cprobe_tag_make(slot, CPROBE_OP_SENDMSG));
    r->queued++;
    return 1;
}

/* Points a slot's msghdr at its buffer, address and control space, for a recvmsg. */
static void slot_prepare_receive(cprobe_slot *s, void *buffer, size_t size) {
    s->iov.iov_base = buffer;
    s->iov.iov_len = size;
    memset(&s->msg, 0, sizeof(s->msg));
    s->msg.msg_name = &s->address;
    s->msg.msg_namelen = sizeof(s->address);
    s->msg.msg_iov = &s->iov;
    s->msg.msg_iovlen = 1;
    s->msg.msg_control = s->control;
    s->msg.msg_controllen = sizeof(s->control);
}

int cprobe_ring_prep_recvmsg(cprobe_ring *r, uint32_t slot, int fd) {
    if (slot >= r->slot_count) return -EINVAL;
    struct io_uring_sqe *sqe = get_sqe(r);
    if (!sqe) return -EBUSY;
    cprobe_slot *s = &r->slots[slot];
    slot_prepare_receive(s, cprobe_ring_slot_buffer(r, slot), r->buffer_size);
    io_uring_prep_recvmsg(sqe, fd, &s->msg, 0);
    io_uring_sqe_set_data64(sqe, cprobe_tag_make(slot, CPROBE_OP_RECVMSG));
    r->queued++;
    return 1;
}

int cprobe_ring_prep_accept(cprobe_ring *r, uint32_t slot, int fd) {
    struct io_uring_sqe *sqe = get_sqe(r);
    if (!sqe) return -EBUSY;
    io_uring_prep_accept(sqe, fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, cprobe_tag_make(slot, CPROBE_OP_ACCEPT));
    r->queued++;
    return 1;
}

int cprobe_ring_prep_cancel_fd(cprobe_ring *r, uint32_t slot, int fd) {
    struct io_uring_sqe *sqe = get_sqe(r);
    if (!sqe) return -EBUSY;
    io_uring_prep_cancel_fd(sqe, fd, IORING_ASYNC_CANCEL_ALL);
    io_uring_sqe_set_data64(sqe, cprobe_tag_make(slot, CPROBE_OP_CANCEL));
    r->queued++;
    return 1;
}

/* Fills kernel timestamp and TTL from a completed recvmsg's control data. */
static void parse_recvmsg(cprobe_slot *s, cprobe_completion *c) {
    c->msg_flags = (uint32_t)s->msg.msg_flags;
    for (struct cmsghdr *m = CMSG_FIRSTHDR(&s->msg); m; m = CMSG_NXTHDR(&s->msg, m)) {
        size_t data_len = cprobe_cmsg_data_len(&s->msg, m);
        if (m->cmsg_level == SOL_SOCKET && m->cmsg_type == SCM_TIMESTAMPNS &&
            data_len >= sizeof(struct timespec)) {
            struct timespec ts;
            memcpy(&ts, CMSG_DATA(m), sizeof(ts));
            c->kernel_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
            c->has_kernel_time = 1;
        } else if (((m->cmsg_level == IPPROTO_IP && m->cmsg_type == IP_TTL) ||
                    (m->cmsg_level == IPPROTO_IPV6 && m->cmsg_type == IPV6_HOPLIMIT)) &&
                   data_len >= sizeof(int)) {
            int ttl;
            memcpy(&ttl, CMSG_DATA(m), sizeof(int));
            c->ttl = (int16_t)ttl;
        }
    }
}

static int submit_and_wait(cprobe_ring *r, unsigned count, uint64_t wait_ns) {
    struct io_uring_cqe *cqe;
    struct __kernel_timespec ts = {
        .tv_sec = (long long)(wait_ns / 1000000000ull),
        .tv_nsec = (long long)(wait_ns % 1000000000ull),
    };
    int rc = io_uring_submit_and_wait_timeout(&r->ring, &cqe, count, &ts, NULL);
    if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) return rc;
    return 0;
}

int cprobe_ring_run(cprobe_ring *r, cprobe_completion *out, unsigned max, uint64_t wait_ns) {
    return cprobe_ring_run_gather(r, out, max, wait_ns, 1, 0);
}

int cprobe_ring_run_gather(cprobe_ring *r, cprobe_completion *out, unsigned max, uint64_t wait_ns,
                           unsigned gather, uint64_t window_ns) {
    struct io_uring_cqe *cqe;
    int rc;
    if (wait_ns && gather > 1 && window_ns && io_uring_cq_ready(&r->ring) < gather) {
        rc = submit_and_wait(r, gather, window_ns < wait_ns ? window_ns : wait_ns);
        if (rc < 0) return rc;
        if (io_uring_cq_ready(&r->ring) == 0 && wait_ns > window_ns) {
            rc = submit_and_wait(r, 1, wait_ns - window_ns);
            if (rc < 0) return rc;
        }
    } else if (wait_ns && io_uring_cq_ready(&r->ring) == 0) {
        rc = submit_and_wait(r, 1, wait_ns);
        if (rc < 0) return rc;
    } else {
        rc = io_uring_submit_and_get_events(&r->ring);
        if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) return rc;
    }
    r->queued = 0;
    uint64_t now = cprobe_monotonic_ns();
    unsigned n = 0, head;
    io_uring_for_each_cqe(&r->ring, head, cqe) {
        if (n == max) break;
        cprobe_completion *c = &out[n++];
        uint64_t tag = io_uring_cqe_get_data64(cqe);
        c->slot = (uint32_t)(tag >> 8);
        c->op = (uint8_t)(tag & 0xff);
        c->has_kernel_time = 0;
        c->ttl = -1;
        c->result = cqe->res;
        c->flags = cqe->flags;
        c->msg_flags = 0;
        c->kernel_ns = 0;
        c->reaped_ns = now;
        if (c->op == CPROBE_OP_RECVMSG && cqe->res >= 0 && c->slot < r->slot_count)
            parse_recvmsg(&r->slots[c->slot], c);
    }
    io_uring_cq_advance(&r->ring, n);
    return (int)n;
}
