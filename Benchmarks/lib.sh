# Helpers the side-by-side benchmarks share (sourced by Benchmarks/probe.sh and agent.sh).

# A free TCP port on loopback.
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# Waits (up to 20 s) for a URL to answer 2xx.
wait_http() { for _ in $(seq 1 200); do curl -sf -o /dev/null "$1" && return 0; sleep 0.1; done; echo "error: no answer on $1" >&2; return 1; }
# User + system CPU-seconds of a process so far.
cpu_seconds() { awk '{ print ($14 + $15) / 100 }' "/proc/$1/stat"; }
# The median of numbers on stdin.
median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
