/*
 * CProbe: the thin C layer under the WaddlePerf engine.
 *
 * Conventions (see STYLE.md):
 *  - every symbol is `cprobe_`-prefixed;
 *  - functions return 0 (or a count / fd) on success and `-errno` on failure;
 *  - a ring (`cprobe_ring`) belongs to the one OS thread that created it; no
 *    function here is thread-safe for a given ring;
 *  - nothing here allocates after `cprobe_ring_create`.
 *
 * Only what Swift cannot express (liburing's inline helpers and CQE macros,
 * cmsg walking, variadic/union-heavy socket options) lives here.
 */
#ifndef CPROBE_H
#define CPROBE_H

#include <stdint.h>
#include <stddef.h>
#include <sys/socket.h>
#include <netinet/in.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Clocks                                                                   */

/// CLOCK_MONOTONIC in nanoseconds.
uint64_t cprobe_monotonic_ns(void);
/// CLOCK_REALTIME in nanoseconds (the clock kernel socket timestamps use).
uint64_t cprobe_realtime_ns(void);

/* ------------------------------------------------------------------------ */
/* Packet build / parse (pure functions, no syscalls)                       */

/// RFC 1071 Internet checksum over `len` bytes, folded, one's complement.
/// `initial` is a partial sum (e.g. a pseudo-header) or 0.
uint16_t cprobe_checksum(const void *data, size_t len, uint32_t initial);

/// ICMP types we care about, for both families.
enum {
    CPROBE_ICMP4_ECHO_REPLY = 0,
    CPROBE_ICMP4_DEST_UNREACH = 3,
    CPROBE_ICMP4_ECHO_REQUEST = 8,
    CPROBE_ICMP4_TIME_EXCEEDED = 11,
    CPROBE_ICMP4_PARAM_PROBLEM = 12,
    CPROBE_ICMP6_DEST_UNREACH = 1,
    CPROBE_ICMP6_PACKET_TOO_BIG = 2,
    CPROBE_ICMP6_TIME_EXCEEDED = 3,
    CPROBE_ICMP6_PARAM_PROBLEM = 4,
    CPROBE_ICMP6_ECHO_REQUEST = 128,
    CPROBE_ICMP6_ECHO_REPLY = 129,
};

/// Size of the probe tag carried at the start of every ICMP/UDP payload.
#define CPROBE_TAG_SIZE 16

/// The tag WaddlePerf puts at the start of a probe payload. It identifies the
/// run, the in-flight slot and its generation, so replies are validated
/// statelessly (zmap style) and stale or foreign packets are rejected.
typedef struct cprobe_tag {
    uint32_t magic;      ///< per-run nonce
    uint32_t slot;       ///< scheduler slot of the probe
    uint32_t generation; ///< slot generation: a reply for an older use is stale
    uint32_t sequence;   ///< per-target probe number
} cprobe_tag;

/// Writes `tag` (network byte order) followed by a fill pattern into `buf`
/// up to `len` bytes. `len` must be >= CPROBE_TAG_SIZE. Returns `len`.
size_t cprobe_payload_build(uint8_t *buf, size_t len, const cprobe_tag *tag);
/// Reads a tag from a payload. Returns 0, or -EINVAL if `len` is too short.
int cprobe_payload_parse(const uint8_t *buf, size_t len, cprobe_tag *tag);

/// Finds a tag with `magic` anywhere in `buf` (a quoted or looped-back
/// packet whose header layout varies by socket kind) and reads it.
/// Returns 0, or -ENOENT when no such tag is present.
int cprobe_payload_find(const uint8_t *buf, size_t len, uint32_t magic, cprobe_tag *tag);

/// Builds an ICMP(v6) echo request: 8-byte header + tagged payload of
/// `payload_len` bytes (>= CPROBE_TAG_SIZE). The ICMPv4 checksum is filled;
/// for ICMPv6 it is left 0 because the kernel computes it (RFC 3542 §3.1).
/// Returns the packet length or -ENOSPC.
int cprobe_icmp_build_echo(uint8_t *buf, size_t cap, int ipv6, uint16_t id,
                           uint16_t sequence, const cprobe_tag *tag,
                           size_t payload_len);

/// Re-stamps the sequence field (and the v4 checksum) of an echo request
/// built by cprobe_icmp_build_echo, without rebuilding the payload.
void cprobe_icmp_patch_echo(uint8_t *packet, size_t len, int ipv6,
                            uint16_t sequence, const cprobe_tag *tag);

/// What a received ICMP message says.
typedef struct cprobe_icmp_info {
    uint8_t type;
    uint8_t code;
    uint8_t is_echo_reply;  ///< 1 for an echo reply (tag/id/seq from it)
    uint8_t is_error;       ///< 1 for an error quoting one of our echo requests
    uint16_t id;            ///< echo id (of the reply, or of the quoted request)
    uint16_t sequence;      ///< echo sequence (same rule)
    int16_t ttl;            ///< IPv4 TTL from the IP header when present, else -1
    uint8_t has_tag;        ///< 1 when `tag` could be read
    uint8_t _pad;
    cprobe_tag tag;
    /// For errors: the destination of the quoted request (v4: 4 bytes, v6: 16).
    uint8_t quoted_destination[16];
    uint8_t error_source[16]; ///< v4 raw: source of the error packet
} cprobe_icmp_info;

/// Parses an ICMP message. `has_ip_header` is 1 for raw IPv4 sockets, which
/// deliver the IP header; ping sockets and IPv6 raw sockets do not.
/// Returns 0, -EINVAL for a malformed packet, -ENOMSG for ICMP types that
/// are neither echo replies nor errors quoting an echo request.
int cprobe_icmp_parse(const uint8_t *buf, size_t len, int ipv6,
                      int has_ip_header, cprobe_icmp_info *out);

/* ------------------------------------------------------------------------ */
/* Sockets                                                                  */

/// Which ICMP socket kind was opened.
enum {
    CPROBE_ICMP_SOCKET_PING = 1, ///< SOCK_DGRAM/IPPROTO_ICMP(V6): needs ping_group_range
    CPROBE_ICMP_SOCKET_RAW = 2,  ///< SOCK_RAW: needs CAP_NET_RAW
};

/// Opens a non-blocking ICMP socket of `kind` for `family` (AF_INET/AF_INET6)
/// with RX timestamps, TTL reporting, IP_RECVERR and (raw) an ICMP type
/// filter that passes only echo replies and errors. Returns fd or -errno.
int cprobe_icmp_socket(int family, int kind);

/// Attaches a classic BPF filter to a raw ICMP socket that drops echo replies
/// whose id is not `id` (ICMP errors pass). Every raw socket on the host sees
/// every ICMP message; with the filter, rings on several threads each queue
/// only their own replies.
int cprobe_icmp_attach_id_filter(int fd, int family, uint16_t id);

/// Opens a non-blocking UDP socket with RX timestamps and IP_RECVERR.
int cprobe_udp_socket(int family);

/// Opens a non-blocking TCP socket that closes with RST (SO_LINGER {1,0}) so
/// tens of thousands of probes do not exhaust ephemeral ports in TIME_WAIT.
int cprobe_tcp_socket(int family);

/// Opens a non-blocking TCP socket for a stream client (HTTP, TLS): Nagle
/// off (requests leave at once), and, with `reset_on_close`, SO_LINGER {1,0}
/// as cprobe_tcp_socket does. Returns fd or -errno.
int cprobe_tcp_stream_socket(int family, int reset_on_close);

/// Enables kernel software TX timestamps (SO_TIMESTAMPING): each sent packet
/// is looped back on the error queue with its timestamp, so the probe tag in
/// it identifies the probe exactly (a counter key would drift whenever a send
/// fails after the kernel numbered it, e.g. on a netfilter reject).
int cprobe_socket_enable_tx_timestamps(int fd);

/// Sets the receive and send buffer sizes (best effort, SO_*BUFFORCE as root).
int cprobe_socket_set_buffers(int fd, int bytes);

/// Opens a non-blocking listening socket (SO_REUSEADDR for TCP only) of `type`
/// (SOCK_STREAM/SOCK_DGRAM) bound to `address`. Returns fd or -errno.
int cprobe_listen_socket(const struct sockaddr_storage *address, int type);
/// The port a socket is bound to, or -errno.
int cprobe_socket_local_port(int fd);

/// Closes a socket. Returns 0 or -errno.
int cprobe_close(int fd);

/* Raises this process's open-file soft limit to its hard limit (at most
 * 1<<20): thousands of probes in flight need thousands of sockets, and a
 * stock host's soft limit is 1024. Returns the soft limit now, or -errno. */
long cprobe_raise_fd_limit(void);

/// Error-queue origins (SO_EE_ORIGIN_*), for Swift.
enum {
    CPROBE_ORIGIN_ICMP = 2,
    CPROBE_ORIGIN_ICMP6 = 3,
    CPROBE_ORIGIN_TIMESTAMPING = 4,
};

/// One message read from a socket's error queue.
typedef struct cprobe_errqueue_entry {
    uint8_t origin;      ///< SO_EE_ORIGIN_* (4 = TIMESTAMPING, 2 = ICMP, 3 = ICMP6)
    uint8_t type;        ///< ICMP type for ICMP origins
    uint8_t code;        ///< ICMP code for ICMP origins
    uint8_t _pad;
    int32_t error;       ///< ee_errno (ENOMSG for timestamps)
    uint32_t key;        ///< ee_data: the OPT_ID key for timestamps
    uint32_t payload_len;
    uint64_t timestamp_ns; ///< software timestamp (CLOCK_REALTIME), 0 if none
    struct sockaddr_storage offender; ///< who sent the ICMP error
    struct sockaddr_storage destination; ///< msg_name: the original destination
    uint8_t payload[192]; ///< start of the quoted / looped-back packet
} cprobe_errqueue_entry;

/// Drains up to `max` messages from `fd`'s error queue without blocking.
/// Returns the count (0 when empty) or -errno.
int cprobe_errqueue_drain(int fd, cprobe_errqueue_entry *out, unsigned max);

/// Address helpers for Swift (sockaddr unions are awkward there).
int cprobe_sockaddr_make(struct sockaddr_storage *out, int family,
                         const uint8_t *address, uint16_t port);
int cprobe_sockaddr_family(const struct sockaddr_storage *ss);
uint16_t cprobe_sockaddr_port(const struct sockaddr_storage *ss);
/// Copies the 4 or 16 address bytes into `address`; returns the family.
int cprobe_sockaddr_address(const struct sockaddr_storage *ss, uint8_t *address);
socklen_t cprobe_sockaddr_length(const struct sockaddr_storage *ss);

/* ------------------------------------------------------------------------ */
/* io_uring rings                                                           */

typedef struct cprobe_ring cprobe_ring;

/// Operation kinds packed into the low byte of every completion tag:
/// `tag = slot << 8 | op`. A slot is never reused by the caller until every
/// SQE it submitted (including linked timeouts) has completed.
enum {
    CPROBE_OP_CONNECT = 1,
    CPROBE_OP_SEND = 2,
    CPROBE_OP_RECV = 3,
    CPROBE_OP_SENDMSG = 4,
    CPROBE_OP_RECVMSG = 5,
    CPROBE_OP_LINK_TIMEOUT = 6,
    CPROBE_OP_CANCEL = 7,
    CPROBE_OP_ACCEPT = 8,
};

static inline uint64_t cprobe_tag_make(uint32_t slot, uint8_t op) {
    return ((uint64_t)slot << 8) | op;
}

/// A harvested completion. Plain integers: Sendable in Swift.
typedef struct cprobe_completion {
    uint32_t slot;
    uint8_t op;
    uint8_t has_kernel_time;
    int16_t ttl;          ///< RECVMSG: TTL / hop limit from cmsg, or -1
    int32_t result;       ///< CQE res: bytes, 0, or -errno
    uint32_t flags;       ///< CQE flags
    uint32_t msg_flags;   ///< RECVMSG: msg_flags (MSG_TRUNC...)
    uint64_t kernel_ns;   ///< RECVMSG: SCM_TIMESTAMPNS (CLOCK_REALTIME)
    uint64_t reaped_ns;   ///< CLOCK_MONOTONIC when harvested
} cprobe_completion;

/// Creates a ring with `entries` SQEs and `slots` preallocated slot records,
/// each with a `slot_buffer_size`-byte buffer, a sockaddr and a control
/// buffer. Must be called on the thread that will use the ring
/// (IORING_SETUP_SINGLE_ISSUER). Returns 0 or -errno.
int cprobe_ring_create(cprobe_ring **out, unsigned entries, unsigned slots,
                       unsigned slot_buffer_size);
void cprobe_ring_destroy(cprobe_ring *ring);

unsigned cprobe_ring_slot_count(const cprobe_ring *ring);
unsigned cprobe_ring_slot_buffer_size(const cprobe_ring *ring);
/// The slot's data buffer (`slot_buffer_size` bytes), stable for the ring's life.
uint8_t *cprobe_ring_slot_buffer(cprobe_ring *ring, uint32_t slot);
/// The slot's address: the destination for SENDMSG/CONNECT, the source after RECVMSG.
struct sockaddr_storage *cprobe_ring_slot_address(cprobe_ring *ring, uint32_t slot);

/// Queues a connect to the slot's address, linked to a timeout of
/// `timeout_ns` (0: none). Returns the number of SQEs queued (1 or 2) or -EBUSY.
int cprobe_ring_prep_connect(cprobe_ring *ring, uint32_t slot, int fd,
                             uint64_t timeout_ns);
/// Queues a send of the first `len` bytes of the slot buffer.
int cprobe_ring_prep_send(cprobe_ring *ring, uint32_t slot, int fd,
                          uint32_t len, uint64_t timeout_ns);
/// Queues a receive into the slot buffer at `offset`, at most `len` bytes.
int cprobe_ring_prep_recv(cprobe_ring *ring, uint32_t slot, int fd,
                          uint32_t offset, uint32_t len, uint64_t timeout_ns);
/// Queues a sendmsg of `len` slot-buffer bytes to the slot's address. `ttl`
/// > 0 adds an IP_TTL / IPV6_HOPLIMIT cmsg for this message only.
int cprobe_ring_prep_sendmsg(cprobe_ring *ring, uint32_t slot, int fd,
                             uint32_t len, int ttl);
/// Queues a recvmsg into the slot buffer; on completion the harvest parses
/// the kernel RX timestamp and TTL cmsgs into the completion record and the
/// source address into the slot's address.
int cprobe_ring_prep_recvmsg(cprobe_ring *ring, uint32_t slot, int fd);
/// Queues an accept on listening socket `fd`; the completion's result is the
/// new (non-blocking) fd or -errno.
int cprobe_ring_prep_accept(cprobe_ring *ring, uint32_t slot, int fd);
/// Queues a cancel of every request on `fd` (IORING_ASYNC_CANCEL_FD|ALL).
int cprobe_ring_prep_cancel_fd(cprobe_ring *ring, uint32_t slot, int fd);

/// Queues a send of `len` bytes at `buf` (memory the caller keeps alive and
/// unchanged until the completion), tagged `slot << 8 | op`, no timeout.
/// Streams (HTTP, TLS) own their buffers; deadlines are swept by the caller,
/// which cancels by fd.
int cprobe_ring_prep_send_buffer(cprobe_ring *ring, uint32_t slot, uint8_t op, int fd,
                                 const void *buf, uint32_t len);
/// Room for one UDP GSO sendmsg (msghdr, iovec, UDP_SEGMENT control
/// message); the caller keeps it alive and unchanged until the completion.
typedef struct cprobe_gso_message {
    _Alignas(16) uint8_t storage[128];  /* holds a struct msghdr */
} cprobe_gso_message;

/// Queues one sendmsg of `len` bytes at `buf` on a connected UDP socket as
/// datagrams of `segment` bytes each (the last may be shorter), split by the
/// kernel (UDP GSO, Linux 4.18+); `segment` 0 or >= len sends one datagram.
/// `message` and `buf` must stay valid until the completion.
int cprobe_ring_prep_send_segments(cprobe_ring *ring, uint32_t slot, uint8_t op, int fd,
                                   cprobe_gso_message *message, const void *buf, uint32_t len,
                                   uint16_t segment);
/// Queues a receive of at most `len` bytes into `buf` (same rules).
int cprobe_ring_prep_recv_buffer(cprobe_ring *ring, uint32_t slot, uint8_t op, int fd,
                                 void *buf, uint32_t len);
/// Queues a connect of `fd` to `address` (kept alive by the caller until the
/// completion), tagged `slot << 8 | op`, no timeout.
int cprobe_ring_prep_connect_address(cprobe_ring *ring, uint32_t slot, uint8_t op, int fd,
                                     const struct sockaddr_storage *address);

/// Number of SQEs queued but not yet submitted.
unsigned cprobe_ring_pending(const cprobe_ring *ring);
/// The ring's submission queue size (`entries` rounded up to a power of two).
unsigned cprobe_ring_entries(const cprobe_ring *ring);
/// Zeroes the first `count` slot records and their buffers, as `cprobe_ring_create` left them:
/// for a ring used again by another run, once the last one has nothing in flight.
void cprobe_ring_clear_slots(cprobe_ring *ring, unsigned count);

/// Submits queued SQEs and harvests up to `max` completions into `out`.
/// With `wait_ns` > 0, waits up to that long for the first completion when
/// none is ready; with 0 it does not wait. Returns the count or -errno.
int cprobe_ring_run(cprobe_ring *ring, cprobe_completion *out, unsigned max,
                    uint64_t wait_ns);
/// The same, gathering completions under load: when fewer than `gather` are
/// ready it waits up to `window_ns` for that many (taking what came), and
/// only if none came, up to the rest of `wait_ns` for one. A closed-loop
/// load run uses it so a server's burst of responses is read in one go.
int cprobe_ring_run_gather(cprobe_ring *ring, cprobe_completion *out, unsigned max,
                           uint64_t wait_ns, unsigned gather, uint64_t window_ns);

/* Per-thread small-object pool (pool.c), shaped as nghttp2_mem/ngtcp2_mem
 * functions: LIFO free lists in 16-byte classes up to 1 KiB, malloc beyond.
 * Blocks may be freed on any thread; a thread's lists go back to malloc when
 * it exits. */
void *cprobe_pool_malloc(size_t size, void *user);
void cprobe_pool_free(void *ptr, void *user);
void *cprobe_pool_calloc(size_t count, size_t size, void *user);
void *cprobe_pool_realloc(void *ptr, size_t size, void *user);

/* Names the calling thread (the kernel keeps 15 bytes; longer names are cut).
 * 0 or -errno. */
int cprobe_thread_name(const char *name);

#ifdef __cplusplus
}
#endif
#endif
