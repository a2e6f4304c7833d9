// connect_floor: the CPU a TCP connect costs the prober on loopback, with nothing else: a
// blocking socket(), SO_LINGER {1, 0} (close sends RST, no TIME_WAIT, as WaddlePerf's TCP probe
// does), connect(), close(), N times. Prints the process's user + system CPU per connect.
// Benchmarks/probe.sh sets it beside /probe's tcp_connect figures: no exporter's CPU per probe
// can be below it (the handshake's kernel work on loopback is charged to the connecting side).
//
// usage: connect_floor PORT [N=100000]   (127.0.0.1)
// build: gcc -O2 -o Benchmarks/bin/connect_floor Benchmarks/connect_floor.c
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 2) { fprintf(stderr, "usage: connect_floor PORT [N]\n"); return 2; }
  int port = atoi(argv[1]), n = argc > 2 ? atoi(argv[2]) : 100000;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  for (int i = 0; i < n; i++) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0) { perror("socket"); return 1; }
    struct linger l = {1, 0};
    setsockopt(s, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    if (connect(s, (struct sockaddr *)&a, sizeof a) != 0) { perror("connect"); return 1; }
    close(s);
  }
  struct rusage r;
  getrusage(RUSAGE_SELF, &r);
  double cpu = r.ru_utime.tv_sec + r.ru_utime.tv_usec / 1e6 + r.ru_stime.tv_sec + r.ru_stime.tv_usec / 1e6;
  printf("%.1f\n", cpu * 1e6 / n);
  return 0;
}
