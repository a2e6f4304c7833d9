/* Socket setup and error-queue draining. */
#include "cprobe.h"
#include "cmsg.h"

#include <errno.h>
#include <pthread.h>
#include <sys/resource.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <netinet/icmp6.h>
#include <linux/icmp.h>
#include <linux/errqueue.h>
#include <linux/net_tstamp.h>
#include <linux/filter.h>

#define CHECK(expr) do { if ((expr) < 0) { int e = errno; close(fd); return -e; } } while (0)

static int enable_rx_info(int fd, int family) {
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one)) < 0) return -errno;
    if (family == AF_INET) {
        if (setsockopt(fd, IPPROTO_IP, IP_RECVTTL, &one, sizeof(one)) < 0) return -errno;
        if (setsockopt(fd, IPPROTO_IP, IP_RECVERR, &one, sizeof(one)) < 0) return -errno;
    } else {
        if (setsockopt(fd, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, &one, sizeof(one)) < 0) return -errno;
        if (setsockopt(fd, IPPROTO_IPV6, IPV6_RECVERR, &one, sizeof(one)) < 0) return -errno;
    }
    return 0;
}

int cprobe_icmp_socket(int family, int kind) {
    if (family != AF_INET && family != AF_INET6) return -EAFNOSUPPORT;
    int proto = family == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6;
    int type = kind == CPROBE_ICMP_SOCKET_RAW ? SOCK_RAW : SOCK_DGRAM;
    int fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
    if (fd < 0) return -errno;
    int r = enable_rx_info(fd, family);
    if (r < 0) { close(fd); return r; }
    if (kind == CPROBE_ICMP_SOCKET_RAW) {
        /* A raw socket sees every ICMP message on the host, our own echo
         * requests on `lo` included: let the kernel drop all but replies and
         * errors before they are queued to us. */
        if (family == AF_INET) {
            struct icmp_filter filt;
            filt.data = ~((1u << CPROBE_ICMP4_ECHO_REPLY) | (1u << CPROBE_ICMP4_DEST_UNREACH) |
                          (1u << CPROBE_ICMP4_TIME_EXCEEDED) | (1u << CPROBE_ICMP4_PARAM_PROBLEM));
            CHECK(setsockopt(fd, SOL_RAW, ICMP_FILTER, &filt, sizeof(filt)));
        } else {
            struct icmp6_filter filt;
            ICMP6_FILTER_SETBLOCKALL(&filt);
            ICMP6_FILTER_SETPASS(CPROBE_ICMP6_ECHO_REPLY, &filt);
            ICMP6_FILTER_SETPASS(CPROBE_ICMP6_DEST_UNREACH, &filt);
            ICMP6_FILTER_SETPASS(CPROBE_ICMP6_PACKET_TOO_BIG, &filt);
            ICMP6_FILTER_SETPASS(CPROBE_ICMP6_TIME_EXCEEDED, &filt);
            ICMP6_FILTER_SETPASS(CPROBE_ICMP6_PARAM_PROBLEM, &filt);
            CHECK(setsockopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, &filt, sizeof(filt)));
        }
    }
    return fd;
}

int cprobe_icmp_attach_id_filter(int fd, int family, uint16_t id) {
    struct sock_filter v4[] = {
        BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 0),              /* X = IP header length */
        BPF_STMT(BPF_LD | BPF_B | BPF_IND, 0),               /* A = ICMP type */
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, CPROBE_ICMP4_ECHO_REPLY, 0, 2),
        BPF_STMT(BPF_LD | BPF_H | BPF_IND, 4),               /* A = echo id */
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, id, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, 0xffff),
        BPF_STMT(BPF_RET | BPF_K, 0),
    };
    struct sock_filter v6[] = {
        BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 0),               /* A = ICMPv6 type */
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, CPROBE_ICMP6_ECHO_REPLY, 0, 2),
        BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 4),               /* A = echo id */
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, id, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, 0xffff),
        BPF_STMT(BPF_RET | BPF_K, 0),
    };
    struct sock_fprog prog;
    if (family == AF_INET) { prog.len = sizeof(v4) / sizeof(v4[0]); prog.filter = v4; }
    else { prog.len = sizeof(v6) / sizeof(v6[0]); prog.filter = v6; }
    if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0) return -errno;
    return 0;
}

int cprobe_udp_socket(int family) {
    if (family != AF_INET && family != AF_INET6) return -EAFNOSUPPORT;
    int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
    if (fd < 0) return -errno;
    int r = enable_rx_info(fd, family);
    if (r < 0) { close(fd); return r; }
    return fd;
}

int cprobe_tcp_stream_socket(int family, int reset_on_close) {
    if (family != AF_INET && family != AF_INET6) return -EAFNOSUPPORT;
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
    if (fd < 0) return -errno;
    if (reset_on_close) {
        struct linger lg = { .l_onoff = 1, .l_linger = 0 };
        CHECK(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)));
    }
    int one = 1;
    CHECK(setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)));
    return fd;
}

int cprobe_tcp_socket(int family) { return cprobe_tcp_stream_socket(family, 1); }

int cprobe_socket_enable_tx_timestamps(int fd) {
    int flags = SOF_TIMESTAMPING_TX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE;
    if (setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPING, &flags, sizeof(flags)) < 0) return -errno;
    return 0;
}

int cprobe_socket_set_buffers(int fd, int bytes) {
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof(bytes)) < 0 &&
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes)) < 0)
        return -errno;
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bytes, sizeof(bytes)) < 0 &&
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(bytes)) < 0)
        return -errno;
    return 0;
}

int cprobe_listen_socket(const struct sockaddr_storage *address, int type) {
    int fd = socket(address->ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int one = 1;
    /* TCP: rebind past TIME_WAIT. Not UDP, where SO_REUSEADDR lets a second
     * server bind the same port and silently take its datagrams. */
    if (type == SOCK_STREAM) CHECK(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)));
    if (address->ss_family == AF_INET6) CHECK(setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)));
    CHECK(bind(fd, (const struct sockaddr *)address, cprobe_sockaddr_length(address)));
    if (type == SOCK_STREAM) CHECK(listen(fd, 4096));
    return fd;
}

int cprobe_socket_local_port(int fd) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) return -errno;
    return cprobe_sockaddr_port(&ss);
}

int cprobe_close(int fd) { return close(fd) < 0 ? -errno : 0; }

long cprobe_raise_fd_limit(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0) return -errno;
    rlim_t want = rl.rlim_max;
    if (want == RLIM_INFINITY || want > (1 << 20)) want = 1 << 20;
    if (rl.rlim_cur < want) {
        rl.rlim_cur = want;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0) return -errno;
    }
    return (long)rl.rlim_cur;
}

#define DRAIN_BATCH 64

int cprobe_errqueue_drain(int fd, cprobe_errqueue_entry *out, unsigned max) {
    struct mmsghdr msgs[DRAIN_BATCH];
    struct iovec iov[DRAIN_BATCH];
    char control[DRAIN_BATCH][256];
    unsigned total = 0;
    while (total < max) {
        unsigned n = max - total;
        if (n > DRAIN_BATCH) n = DRAIN_BATCH;
        for (unsigned i = 0; i < n; i++) {
            cprobe_errqueue_entry *e = &out[total + i];
            memset(e, 0, sizeof(*e));
            iov[i].iov_base = e->payload;
            iov[i].iov_len = sizeof(e->payload);
            memset(&msgs[i], 0, sizeof(msgs[i]));
            msgs[i].msg_hdr.msg_name = &e->destination;
            msgs[i].msg_hdr.msg_namelen = sizeof(e->destination);
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
            msgs[i].msg_hdr.msg_control = control[i];
            msgs[i].msg_hdr.msg_controllen = sizeof(control[i]);
        }
        int got = recvmmsg(fd, msgs, n, MSG_ERRQUEUE | MSG_DONTWAIT, NULL);
        if (got < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            if (total) break;
            return -errno;
        }
        for (int i = 0; i < got; i++) {
            cprobe_errqueue_entry *e = &out[total + i];
            e->payload_len = msgs[i].msg_len;
            if (msgs[i].msg_hdr.msg_namelen == 0) e->destination.ss_family = AF_UNSPEC;
            for (struct cmsghdr *c = CMSG_FIRSTHDR(&msgs[i].msg_hdr); c; c = CMSG_NXTHDR(&msgs[i].msg_hdr, c)) {
                size_t data_len = cprobe_cmsg_data_len(&msgs[i].msg_hdr, c);
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPING &&
                    data_len >= sizeof(struct scm_timestamping)) {
                    struct scm_timestamping ts;
                    memcpy(&ts, CMSG_DATA(c), sizeof(ts));
                    e->timestamp_ns = (uint64_t)ts.ts[0].tv_sec * 1000000000ull + (uint64_t)ts.ts[0].tv_nsec;
                } else if (((c->cmsg_level == SOL_IP && c->cmsg_type == IP_RECVERR) ||
                            (c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_RECVERR)) &&
                           data_len >= sizeof(struct sock_extended_err)) {
                    struct sock_extended_err ee;
                    memcpy(&ee, CMSG_DATA(c), sizeof(ee));
                    e->origin = ee.ee_origin;
                    e->type = ee.ee_type;
                    e->code = ee.ee_code;
                    e->error = (int32_t)ee.ee_errno;
                    e->key = ee.ee_data;
                    const struct sockaddr *off =
                        (const struct sockaddr *)(CMSG_DATA(c) + sizeof(struct sock_extended_err));
                    size_t room = data_len - sizeof(struct sock_extended_err);
                    if (ee.ee_origin != SO_EE_ORIGIN_TIMESTAMPING && room >= sizeof(struct sockaddr_in)) {
                        size_t l = off->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
                        if (l <= room) memcpy(&e->offender, off, l);
                    }
                }
            }
        }
        total += (unsigned)got;
        if ((unsigned)got < n) break;
    }
    return (int)total;
}

int cprobe_sockaddr_make(struct sockaddr_storage *out, int family,
                         const uint8_t *address, uint16_t port) {
    memset(out, 0, sizeof(*out));
    if (family == AF_INET) {
        struct sockaddr_in *s = (struct sockaddr_in *)out;
        s->sin_family = AF_INET;
        s->sin_port = htons(port);
        memcpy(&s->sin_addr, address, 4);
        return 0;
    }
    if (family == AF_INET6) {
        struct sockaddr_in6 *s = (struct sockaddr_in6 *)out;
        s->sin6_family = AF_INET6;
        s->sin6_port = htons(port);
        memcpy(&s->sin6_addr, address, 16);
        return 0;
    }
    return -EAFNOSUPPORT;
}

int cprobe_sockaddr_family(const struct sockaddr_storage *ss) { return ss->ss_family; }

uint16_t cprobe_sockaddr_port(const struct sockaddr_storage *ss) {
    if (ss->ss_family == AF_INET) return ntohs(((const struct sockaddr_in *)ss)->sin_port);
    if (ss->ss_family == AF_INET6) return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
    return 0;
}

int cprobe_sockaddr_address(const struct sockaddr_storage *ss, uint8_t *address) {
    if (ss->ss_family == AF_INET) memcpy(address, &((const struct sockaddr_in *)ss)->sin_addr, 4);
    else if (ss->ss_family == AF_INET6) memcpy(address, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
    return ss->ss_family;
}

socklen_t cprobe_sockaddr_length(const struct sockaddr_storage *ss) {
    return ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

int cprobe_thread_name(const char *name)
{
    char cut[16];
    strncpy(cut, name, sizeof cut - 1);
    cut[sizeof cut - 1] = 0;
    int rc = pthread_setname_np(pthread_self(), cut);
    return rc == 0 ? 0 : -rc;
}
