#!/usr/bin/env bash
# The test server's benchmarks, side by side in one run. Raw outputs go to
# Benchmarks/results/probe/; a table of figures and ratios is printed last (and
# saved as summary.txt there).
#
#   Benchmarks/probe.sh [exporter|stream|all]      (default: all)
#
#   exporter  GET /probe against Debian's prometheus-blackbox-exporter, the same
#             module file for both (tcp_connect and http_2xx against a local
#             nginx, icmp to 127.0.0.1): wrk at a fixed concurrency gives
#             scrapes/s and the p99 scrape latency; /proc gives each exporter's
#             CPU-seconds over the run, so CPU per probe = CPU-seconds / scrapes.
#             Exporters pinned to CPU 0, wrk to CPU 1.
#   stream    server-side tests (POST /api/v1/tests, icmp to 127.0.0.1) watched
#             by 0 and by VIEWERS WebSocket viewers each (waddleperf-bench
#             stream): tests/s, probes/s, and the event latency from the engine
#             handing a result out to each viewer's receipt (CLOCK_MONOTONIC on
#             both sides).
#
# Env: WADDLEPERF / WADDLEPERF_BENCH (default .build/release/...), DURATION (wrk
# seconds, default 10), CONCURRENCY (wrk connections, default 8), RUNS (default
# 3; the median is reported), VIEWERS (default 100), TESTS (default 10), COUNT
# (probes per test, default 200), INTERVAL (ms between probes, default 5).
set -euo pipefail
cd "$(dirname "$0")/.."
. Benchmarks/lib.sh
. scripts/lib.sh

MODE=${1:-all}
case $MODE in exporter|stream|all) ;; *) echo "usage: $0 [exporter|stream|all]" >&2; exit 2 ;; esac
WP=${WADDLEPERF:-.build/release/waddleperf}
BENCH=${WADDLEPERF_BENCH:-.build/release/waddleperf-bench}
DURATION=${DURATION:-10} CONCURRENCY=${CONCURRENCY:-8} RUNS=${RUNS:-3}
VIEWERS=${VIEWERS:-100} TESTS=${TESTS:-10} COUNT=${COUNT:-200} INTERVAL=${INTERVAL:-5}
RES=Benchmarks/results/probe
mkdir -p "$RES"
rm -f "$RES"/*
for tool in wrk taskset prometheus-blackbox-exporter nginx; do
  command -v "$tool" >/dev/null || { echo "error: $tool is missing (scripts/test.sh installs the peers)" >&2; exit 2; }
done
[ -x "$WP" ] && [ -x "$BENCH" ] || { echo "error: build first: swift build -c release --product waddleperf && swift build -c release --product waddleperf-bench" >&2; exit 2; }

work=$(mktemp -d /tmp/waddleperf-probe-bench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT


SERVER_PORT=$(free_port) BB_PORT=$(free_port) NGINX_PORT=$(free_port)
cat > "$work/modules.yml" <<EOF
modules:
  http_2xx: {prober: http, timeout: 5s, http: {preferred_ip_protocol: ip4}}
  tcp_connect: {prober: tcp, timeout: 5s, tcp: {preferred_ip_protocol: ip4}}
  icmp: {prober: icmp, timeout: 5s, icmp: {preferred_ip_protocol: ip4}}
EOF
cat > "$work/nginx.conf" <<EOF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  server { listen 127.0.0.1:$NGINX_PORT; location / { return 200 "ok\n"; } }
}
EOF
taskset -c 1 nginx -c "$work/nginx.conf" -p "$work"
password="Bench-Pass-$RANDOM-42"
unset_env=()
for v in $(compgen -e); do case $v in WADDLEPERF_*) unset_env+=(-u "$v") ;; esac; done
env "${unset_env[@]}" WADDLEPERF_PORT="$SERVER_PORT" WADDLEPERF_DATABASE="sqlite://$work/wp.db" WADDLEPERF_JWT_SECRET="$(printf 'b%.0s' $(seq 64))" \
  WADDLEPERF_ADMIN_PASSWORD="$password" WADDLEPERF_BCRYPT_COST=4 WADDLEPERF_RATE_LIMIT=off WADDLEPERF_PROBE_MODULES="$work/modules.yml" \
  WADDLEPERF_TESTS_MAX_RATE_PER_USER=1000000 WADDLEPERF_BENCH_MAX_RATE=1000000 \
  taskset -c 0 "$WP" control > "$RES/server.log" 2>&1 &
SERVER=$!; pids+=("$SERVER")
taskset -c 0 prometheus-blackbox-exporter --config.file="$work/modules.yml" --web.listen-address="127.0.0.1:$BB_PORT" > "$RES/blackbox.log" 2>&1 &
BB=$!; pids+=("$BB")
wait_http "http://127.0.0.1:$SERVER_PORT/health"
wait_http "http://127.0.0.1:$BB_PORT/"

summary=$RES/summary.txt
: > "$summary"
say() { echo "$*" | tee -a "$summary"; }

if [ "$MODE" = exporter ] || [ "$MODE" = all ]; then
  say "== /probe vs blackbox_exporter $(prometheus-blackbox-exporter --version 2>&1 | head -1 | awk '{print $3}'): $CONCURRENCY connections, ${DURATION}s, median of $RUNS =="
  say "$(printf '%-12s %-10s %12s %10s %14s %12s %10s %10s' module exporter scrapes/s p99_ms cpu_us/probe success ratio_cpu p99_ratio)"
  for module in tcp_connect icmp http_2xx; do
    case $module in
      tcp_connect) target="127.0.0.1:$NGINX_PORT" ;;
      icmp) target="127.0.0.1" ;;
      http_2xx) target="http://127.0.0.1:$NGINX_PORT/" ;;
    esac
    declare -A rate=() p99=() cpu=()
    for exporter in waddleperf blackbox; do
      if [ $exporter = waddleperf ]; then port=$SERVER_PORT pid=$SERVER; else port=$BB_PORT pid=$BB; fi
      url="http://127.0.0.1:$port/probe?module=$module&target=$target"
      # Every scrape must succeed: one probe checked by hand first.
      curl -s "$url" | grep -q '^probe_success 1' || { echo "error: $exporter $module does not succeed: $(curl -s "$url" | tail -3)" >&2; exit 1; }
      rates=() p99s=() cpus=()
      for run in $(seq 1 "$RUNS"); do
        before=$(cpu_seconds "$pid")
        taskset -c 1 wrk -t 1 -c "$CONCURRENCY" -d "${DURATION}s" --latency "$url" > "$RES/$module-$exporter-$run.txt"
        after=$(cpu_seconds "$pid")
        requests=$(awk '/requests in/ { print $1 }' "$RES/$module-$exporter-$run.txt")
        rates+=("$(awk '/Requests\/sec/ { print $2 }' "$RES/$module-$exporter-$run.txt")")
        p99s+=("$(awk '$1 == "99%" { v = $2; if (v ~ /us$/) { sub(/us/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms/, "", v) } else if (v ~ /s$/) { sub(/s/, "", v); v *= 1000 }; print v }' "$RES/$module-$exporter-$run.txt")")
        cpus+=("$(awk -v a="$after" -v b="$before" -v n="$requests" 'BEGIN { printf "%.1f", (a - b) * 1e6 / n }')")
        errors=$(grep -c "Non-2xx\|Socket errors" "$RES/$module-$exporter-$run.txt" || true)
        [ "$errors" -eq 0 ] || echo "warning: $exporter $module run $run had errors (see $RES/$module-$exporter-$run.txt)" >&2
      done
      rate[$exporter]=$(printf '%s\n' "${rates[@]}" | median)
      p99[$exporter]=$(printf '%s\n' "${p99s[@]}" | median)
      cpu[$exporter]=$(printf '%s\n' "${cpus[@]}" | median)
    done
    if [ "$module" = tcp_connect ]; then bb_tcp_cpu=${cpu[blackbox]}; fi
    for exporter in waddleperf blackbox; do
      ratio_cpu=$(awk -v b="${cpu[blackbox]}" -v o="${cpu[$exporter]}" 'BEGIN { printf "%.2fx", b / o }')
      ratio_p99=$(awk -v b="${p99[blackbox]}" -v o="${p99[$exporter]}" 'BEGIN { printf "%.2fx", b / o }')
      say "$(printf '%-12s %-10s %12s %10s %14s %12s %10s %10s' "$module" "$exporter" "${rate[$exporter]}" "${p99[$exporter]}" "${cpu[$exporter]}" "1" "$ratio_cpu" "$ratio_p99")"
    done
  done
  say "(ratio_cpu: blackbox's CPU per probe / this row's; above 1 is cheaper than blackbox. p99_ratio likewise: above 1 is faster.)"
  # The floors under any exporter's figure, on CPU 0 as the exporters ran: a TCP connect alone
  # (C, blocking connect + RST close to the same nginx), and an empty HTTP request answered by a
  # bare Hummingbird route (the framework /probe is served by), at the same concurrency.
  mkdir -p Benchmarks/bin
  gcc -O2 -Wall -o Benchmarks/bin/connect_floor Benchmarks/connect_floor.c
  connect_floor=$(taskset -c 0 Benchmarks/bin/connect_floor "$NGINX_PORT" 100000)
  HELLO_PORT=$(free_port)
  taskset -c 0 "$BENCH" hello "$HELLO_PORT" > "$RES/hello.log" 2>&1 &
  HELLO=$!; pids+=("$HELLO")
  wait_http "http://127.0.0.1:$HELLO_PORT/hello"
  before=$(cpu_seconds "$HELLO")
  taskset -c 1 wrk -t 1 -c "$CONCURRENCY" -d "${DURATION}s" "http://127.0.0.1:$HELLO_PORT/hello" > "$RES/hello.txt"
  after=$(cpu_seconds "$HELLO")
  kill "$HELLO" 2>/dev/null || true
  hello_cpu=$(awk -v a="$after" -v b="$before" -v n="$(awk '/requests in/ { print $1 }' "$RES/hello.txt")" 'BEGIN { printf "%.1f", (a - b) * 1e6 / n }')
  say "floors on CPU 0: a TCP connect alone (C loop) $connect_floor us CPU; an empty HTTP request to a bare Hummingbird route $hello_cpu us CPU"
  say "(the goal, 10x blackbox's probes per CPU-second, means tcp_connect at $(awk -v b="${bb_tcp_cpu:-0}" 'BEGIN { printf "%.1f", b / 10 }') us CPU per probe)"
fi

if [ "$MODE" = stream ] || [ "$MODE" = all ]; then
  token=$(curl -sf -X POST "http://127.0.0.1:$SERVER_PORT/api/v1/auth/login" -H 'Content-Type: application/json' \
    -d "{\"username\": \"admin\", \"password\": \"$password\"}" | python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])')
  say "== server-side tests: $TESTS tests of $COUNT icmp probes ${INTERVAL} ms apart, one after another =="
  for viewers in 0 "$VIEWERS"; do
    taskset -c 1 "$BENCH" stream "$SERVER_PORT" "$token" "$TESTS" "$viewers" "$COUNT" "$INTERVAL" > "$RES/stream-$viewers.json"
    say "$(python3 - "$RES/stream-$viewers.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
lat = r["latency_ms"]
print(f"viewers {r['viewers']:>4}: {r['tests_per_second']} tests/s, {r['probes_per_second']} probes/s, "
      f"{r['frames']} frames delivered, {r['dropped']} dropped, event latency p50 {lat['p50']} ms, p99 {lat['p99']} ms, max {lat['max']} ms")
EOF
)"
  done
fi
echo "(raw outputs in $RES)"
