// tcp_ceiling: a minimal io_uring TCP probe loop, the "ceiling" WaddlePerf's
// TCP probe is compared against in Benchmarks/run.sh.
//
// Each probe: non-blocking socket() + SO_LINGER{1,0} + TCP_NODELAY (as
// WaddlePerf does), then one linked io_uring chain
// connect -> send(SIZE bytes) -> recv(SIZE bytes), then close() (RST, so no
// TIME_WAIT). INFLIGHT probes are kept in flight until N have completed.
// Only the recv CQE (or the first failing op's CQE) is reaped.
//
// usage: tcp_ceiling HOST PORT [N=100000] [INFLIGHT=1000] [SIZE=16]
// build: gcc -O2 -o Benchmarks/bin/tcp_ceiling Benchmarks/tcp_ceiling.c -luring
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { MAX_SIZE = 4096 };

struct slot {
    int fd;
    int got;                 // reply bytes read so far
    unsigned gen;            // bumped per probe; tags CQEs so stale ones are ignored
    char buf[MAX_SIZE];
};

static struct io_uring ring;
static struct sockaddr_in addr;
static struct slot *slots;
static int size;
static char payload[MAX_SIZE];
static long started, done, ok, failed;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static struct io_uring_sqe *sqe_get(void) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
    if (!sqe) {
        io_uring_submit(&ring);
        sqe = io_uring_get_sqe(&ring);
    }
    if (!sqe) { fprintf(stderr, "tcp_ceiling: SQ full\n"); exit(1); }
    return sqe;
}

static unsigned long long tag(int i) { return (unsigned long long)slots[i].gen << 32 | (unsigned)i; }

static void queue_recv(int i) {
    struct io_uring_sqe *sqe = sqe_get();
    io_uring_prep_recv(sqe, slots[i].fd, slots[i].buf + slots[i].got, size - slots[i].got, 0);
    io_uring_sqe_set_data64(sqe, tag(i));
}

static void start_probe(int i) {
    static const struct linger lg = {1, 0};
    static const int one = 1;
    struct slot *s = &slots[i];
    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->fd < 0) { perror("socket"); exit(1); }
    setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    s->got = 0;
    s->gen++;
    started++;

    struct io_uring_sqe *sqe = sqe_get();
    io_uring_prep_connect(sqe, s->fd, (struct sockaddr *)&addr, sizeof addr);
    io_uring_sqe_set_data64(sqe, tag(i));
    sqe->flags |= IOSQE_IO_LINK | IOSQE_CQE_SKIP_SUCCESS;
    sqe = sqe_get();
    io_uring_prep_send(sqe, s->fd, payload, size, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, tag(i));
    sqe->flags |= IOSQE_IO_LINK | IOSQE_CQE_SKIP_SUCCESS;
    queue_recv(i);
}

static void finish(int i, int success, long n) {
    close(slots[i].fd);
    slots[i].fd = -1;
    done++;
    success ? ok++ : failed++;
    if (started < n) start_probe(i);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s HOST PORT [N] [INFLIGHT] [SIZE]\n", argv[0]);
        return 2;
    }
    long n = argc > 3 ? atol(argv[3]) : 100000;
    int inflight = argc > 4 ? atoi(argv[4]) : 1000;
    size = argc > 5 ? atoi(argv[5]) : 16;
    if (n < 1 || inflight < 1 || size < 1 || size > MAX_SIZE) { fprintf(stderr, "bad arguments\n"); return 2; }
    if (inflight > n) inflight = (int)n;
    memset(payload, 'w', sizeof payload);
    addr.sin_family = AF_INET;
    addr.sin_port = htons(atoi(argv[2]));
    if (inet_pton(AF_INET, argv[1], &addr.sin_addr) != 1) { fprintf(stderr, "bad IPv4 address\n"); return 2; }

    struct io_uring_params p = {0};
    p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    p.cq_entries = 4 * inflight;
    int rc = io_uring_queue_init_params(4 * inflight, &ring, &p);
    if (rc == -EINVAL) {                       // pre-6.1 kernel: no DEFER_TASKRUN
        memset(&p, 0, sizeof p);
        p.flags = IORING_SETUP_CQSIZE;
        p.cq_entries = 4 * inflight;
        rc = io_uring_queue_init_params(4 * inflight, &ring, &p);
    }
    if (rc < 0) { fprintf(stderr, "io_uring_queue_init: %s\n", strerror(-rc)); return 1; }
    slots = calloc(inflight, sizeof *slots);

    double t0 = now();
    for (int i = 0; i < inflight; i++) start_probe(i);
    while (done < n) {
        struct io_uring_cqe *cqe;
        rc = io_uring_submit_and_wait(&ring, 1);
        if (rc < 0 && rc != -EINTR) { fprintf(stderr, "submit_and_wait: %s\n", strerror(-rc)); return 1; }
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&ring, head, cqe) {
            seen++;
            int i = (int)(cqe->user_data & 0xffffffffu), res = cqe->res;
            if (slots[i].fd < 0 || (cqe->user_data >> 32) != slots[i].gen)
                continue;                              // late CQE of a finished chain
            if (res <= 0) { finish(i, 0, n); continue; } // connect/send failed, or EOF
            slots[i].got += res;
            if (slots[i].got < size) queue_recv(i); else finish(i, 1, n);
        }
        io_uring_cq_advance(&ring, seen);
    }
    double wall = now() - t0;

    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double user = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6;
    double sys = ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
    printf("probes=%ld ok=%ld failed=%ld inflight=%d size=%d wall_s=%.4f probes_per_s=%.0f "
           "user_s=%.3f sys_s=%.3f cpu_s=%.3f\n",
           done, ok, failed, inflight, size, wall, done / wall, user, sys, user + sys);
    io_uring_queue_exit(&ring);
    return failed ? 3 : 0;
}
