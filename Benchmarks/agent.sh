#!/usr/bin/env bash
# The agent at scale, side by side with blackbox_exporter scraped by Prometheus, in one run.
#
#   Benchmarks/agent.sh
#
# CHECKS checks (default 10,000) at EVERY seconds (default 10): a third ICMP, a third TCP
# connect, a third HTTP GET, each to its own loopback address (127.0.x.y) of one local nginx,
# so Prometheus sees distinct targets. Run in turn, each warmed up for WARMUP seconds and then
# measured for WINDOW seconds (defaults 20 and 60):
#
#   waddleperf  `waddleperf agent` enrolled with a `waddleperf control` on SQLite, its checks
#               in a local file; results buffered on disk and uploaded. Its CPU alone is the
#               figure (the server's is printed beside it).
#   blackbox    prometheus-blackbox-exporter, scraped by Prometheus with the usual relabelling
#               (one job per module, scrape_interval = EVERY): the CPU of both processes.
#
# CPU-seconds per check = (utime + stime over the window) / checks completed in it; RSS is the
# peak VmRSS sampled each second. Checks completed: the agent's runs (its heartbeat, through
# the server's device API); Prometheus' probe_success samples in the window.
set -euo pipefail
cd "$(dirname "$0")/.."
. Benchmarks/lib.sh

WP=${WADDLEPERF:-.build/release/waddleperf}
CHECKS=${CHECKS:-10000} EVERY=${EVERY:-10} WARMUP=${WARMUP:-20} WINDOW=${WINDOW:-60}
RES=Benchmarks/results/agent
mkdir -p "$RES"
rm -f "$RES"/*
for tool in prometheus prometheus-blackbox-exporter nginx curl python3; do
  command -v "$tool" >/dev/null || { echo "error: $tool is missing (scripts/test.sh installs the peers)" >&2; exit 2; }
done
[ -x "$WP" ] || { echo "error: build first: swift build -c release --product waddleperf" >&2; exit 2; }

work=$(mktemp -d /tmp/waddleperf-agent-bench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

rss_mb() { awk '/^VmRSS/ { print $2 / 1024 }' "/proc/$1/status"; }
# Peak RSS of the given pids over $1 seconds, sampled each second.
peak_rss() {
  local seconds=$1; shift
  local peak=0
  for _ in $(seq 1 "$seconds"); do
    local sum=0
    for p in "$@"; do sum=$(awk -v a="$sum" -v b="$(rss_mb "$p")" 'BEGIN { print a + b }'); done
    peak=$(awk -v a="$peak" -v b="$sum" 'BEGIN { print (b > a) ? b : a }')
    sleep 1
  done
  echo "$peak"
}

NGINX_PORT=$(free_port) SERVER_PORT=$(free_port) BB_PORT=$(free_port) PROM_PORT=$(free_port)
cat > "$work/nginx.conf" <<EOF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 8192; }
http {
  access_log off;
  server { listen $NGINX_PORT; location / { return 200 "ok\n"; } }
}
EOF
nginx -c "$work/nginx.conf" -p "$work"

# The targets: check i gets 127.(i / 250 + 1).(i % 250 + 1).1.
python3 - "$CHECKS" "$EVERY" "$NGINX_PORT" "$work" <<'EOF'
import json, sys
n, every, port, work = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4]
checks, groups = [], {"icmp": [], "tcp_connect": [], "http_2xx": []}
for i in range(n):
    address = f"127.{i // 250 + 1}.{i % 250 + 1}.1"
    kind = ["icmp", "tcp", "http"][i % 3]
    target = {"icmp": address, "tcp": f"{address}:{port}", "http": f"http://{address}:{port}/"}[kind]
    checks.append({"name": f"c{i}", "kind": kind, "target": target, "every_s": every, "timeout_ms": 5000})
    groups[{"icmp": "icmp", "tcp": "tcp_connect", "http": "http_2xx"}[kind]].append(target)
json.dump({"checks": checks}, open(f"{work}/checks.json", "w"))
json.dump(groups, open(f"{work}/groups.json", "w"))
EOF

summary=$RES/summary.txt
: > "$summary"
say() { echo "$*" | tee -a "$summary"; }
say "== $CHECKS checks every ${EVERY}s, agent batch window ${BATCH_WINDOW:-25ms} (icmp, tcp, http a third each, loopback nginx): ${WARMUP}s warm-up, ${WINDOW}s measured =="

# --- waddleperf agent -------------------------------------------------------------------------
password="Bench-Pass-$RANDOM-42"
unset_env=()
for v in $(compgen -e); do case $v in WADDLEPERF_*) unset_env+=(-u "$v") ;; esac; done
env "${unset_env[@]}" WADDLEPERF_PORT="$SERVER_PORT" WADDLEPERF_DATABASE="sqlite://$work/wp.db" WADDLEPERF_JWT_SECRET="$(printf 'b%.0s' $(seq 64))" \
  WADDLEPERF_ADMIN_PASSWORD="$password" WADDLEPERF_BCRYPT_COST=4 WADDLEPERF_RATE_LIMIT=off WADDLEPERF_RETENTION=off \
  "$WP" control > "$RES/server.log" 2>&1 &
SERVER=$!; pids+=("$SERVER")
wait_http "http://127.0.0.1:$SERVER_PORT/health"
api() { curl -sf -H 'Content-Type: application/json' -H "Authorization: Bearer $token" "$@"; }
token=$(curl -sf -X POST "http://127.0.0.1:$SERVER_PORT/api/v1/auth/login" -H 'Content-Type: application/json' \
  -d "{\"username\": \"admin\", \"password\": \"$password\"}" | python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])')
ou=$(api -X POST "http://127.0.0.1:$SERVER_PORT/api/v1/ous" -d '{"name": "bench"}' | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
secret=$(api -X POST "http://127.0.0.1:$SERVER_PORT/api/v1/enrollment/secrets" -d "{\"ou_id\": $ou, \"name\": \"bench\"}" \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["secret"])')
"$WP" agent --server "http://127.0.0.1:$SERVER_PORT" --enroll "$secret" --serial bench-agent --state-dir "$work/agent" \
  --config "$work/checks.json" --heartbeat 1s --batch-window "${BATCH_WINDOW:-25ms}" > "$RES/agent.log" 2>&1 &
AGENT=$!; pids+=("$AGENT")
runs() { api "http://127.0.0.1:$SERVER_PORT/api/v1/devices?search=bench-agent" | python3 -c 'import json, sys; print(json.load(sys.stdin)["devices"][0]["agent"]["runs"])'; }
sleep "$WARMUP"
runs_before=$(runs) cpu_before=$(cpu_seconds "$AGENT") server_before=$(cpu_seconds "$SERVER")
# PROFILE=1: a perf profile of the agent over the window (Benchmarks/results/agent/agent.perf).
[ "${PROFILE:-0}" = 1 ] && perf record -F 499 -g -p "$AGENT" -o "$RES/agent.perf" -- sleep "$WINDOW" > /dev/null 2>&1 &
agent_rss=$(peak_rss "$WINDOW" "$AGENT")
sleep 1.5   # one more heartbeat
runs_after=$(runs) cpu_after=$(cpu_seconds "$AGENT") server_after=$(cpu_seconds "$SERVER")
kill -TERM "$AGENT"; wait "$AGENT" || true
grep "schedule:" "$RES/agent.log" | tail -1 | sed 's/.*schedule: /agent schedule: /' | tee -a "$summary"
stored=$(api "http://127.0.0.1:$SERVER_PORT/api/v1/statistics?group_by=test_type&since=0" | python3 -c 'import json, sys; d = json.load(sys.stdin); print(sum(g["count"] for g in d["groups"]), "stored,", round(sum(g["successes"] for g in d["groups"]) / max(1, sum(g["count"] for g in d["groups"])) * 100, 2), "% success")')
agent_checks=$((runs_after - runs_before))
agent_cpu=$(awk -v a="$cpu_after" -v b="$cpu_before" 'BEGIN { print a - b }')
server_cpu=$(awk -v a="$server_after" -v b="$server_before" 'BEGIN { print a - b }')
kill -TERM "$SERVER"; wait "$SERVER" || true

# ONLY=agent: the agent's side alone (for profiling).
if [ "${ONLY:-}" = agent ]; then
  say "waddleperf agent: $agent_checks checks, $agent_cpu CPU-s, $(awk -v c="$agent_cpu" -v n="$agent_checks" 'BEGIN { printf "%.1f", c * 1e6 / n }') us/check, RSS $agent_rss MB"
  exit 0
fi

# --- blackbox_exporter + Prometheus --------------------------------------------------------------
cat > "$work/modules.yml" <<EOF
modules:
  http_2xx: {prober: http, timeout: 5s, http: {preferred_ip_protocol: ip4}}
  tcp_connect: {prober: tcp, timeout: 5s, tcp: {preferred_ip_protocol: ip4}}
  icmp: {prober: icmp, timeout: 5s, icmp: {preferred_ip_protocol: ip4}}
EOF
python3 - "$work" "$EVERY" "$BB_PORT" <<'EOF'
import json, sys
work, every, bb = sys.argv[1], sys.argv[2], sys.argv[3]
groups = json.load(open(f"{work}/groups.json"))
out = [f"global: {{scrape_interval: {every}s, scrape_timeout: 5s}}", "scrape_configs:"]
for module, targets in groups.items():
    out += [f"  - job_name: bb_{module}", "    metrics_path: /probe", f"    params: {{module: [{module}]}}",
            "    static_configs:", "      - targets:"] + [f"          - '{t}'" for t in targets] + [
            "    relabel_configs:",
            "      - {source_labels: [__address__], target_label: __param_target}",
            "      - {source_labels: [__param_target], target_label: instance}",
            f"      - {{target_label: __address__, replacement: '127.0.0.1:{bb}'}}"]
open(f"{work}/prometheus.yml", "w").write("\n".join(out) + "\n")
EOF
prometheus-blackbox-exporter --config.file="$work/modules.yml" --web.listen-address="127.0.0.1:$BB_PORT" > "$RES/blackbox.log" 2>&1 &
BB=$!; pids+=("$BB")
wait_http "http://127.0.0.1:$BB_PORT/"
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/prom" --web.listen-address="127.0.0.1:$PROM_PORT" > "$RES/prometheus.log" 2>&1 &
PROM=$!; pids+=("$PROM")
wait_http "http://127.0.0.1:$PROM_PORT/-/ready"
sleep "$WARMUP"
start=$(date +%s.%N)
bb_before=$(cpu_seconds "$BB") prom_before=$(cpu_seconds "$PROM")
bb_rss=$(peak_rss "$WINDOW" "$BB" "$PROM")
bb_after=$(cpu_seconds "$BB") prom_after=$(cpu_seconds "$PROM")
end=$(date +%s.%N)
sleep 2
query() { curl -sf "http://127.0.0.1:$PROM_PORT/api/v1/query" --data-urlencode "query=$1" --data-urlencode "time=$end" \
  | python3 -c 'import json, sys; r = json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else 0)'; }
window=$(awk -v a="$end" -v b="$start" 'BEGIN { printf "%d", a - b }')
bb_checks=$(query "sum(count_over_time(probe_success[${window}s]))")
bb_success=$(query "avg(avg_over_time(probe_success[${window}s])) * 100")
bb_cpu=$(awk -v a="$bb_after" -v b="$bb_before" -v c="$prom_after" -v d="$prom_before" 'BEGIN { print (a - b) + (c - d) }')

say "$(printf '%-22s %10s %12s %16s %10s %10s' side checks cpu_s cpu_us/check rss_mb ratio)"
agent_per=$(awk -v c="$agent_cpu" -v n="$agent_checks" 'BEGIN { printf "%.1f", c * 1e6 / n }')
bb_per=$(awk -v c="$bb_cpu" -v n="$bb_checks" 'BEGIN { printf "%.1f", c * 1e6 / n }')
say "$(printf '%-22s %10s %12s %16s %10.1f %10s' "waddleperf agent" "$agent_checks" "$agent_cpu" "$agent_per" "$agent_rss" "$(awk -v a="$bb_per" -v b="$agent_per" 'BEGIN { printf "%.2fx", a / b }')")"
say "$(printf '%-22s %10s %12s %16s %10.1f %10s' "blackbox + prometheus" "${bb_checks%.*}" "$bb_cpu" "$bb_per" "$bb_rss" "1.00x")"
say "(waddleperf server meanwhile: ${server_cpu} CPU-s storing what the agent uploaded; $stored. blackbox: ${bb_success%.*}% probe_success.)"
say "(ratio: blackbox+Prometheus CPU per check / the agent's; the goal is 5x or more, with the agent's RSS under 200 MB.)"
echo "(raw outputs in $RES)"
