#!/usr/bin/env bash
# Control-plane benchmarks, side by side in one run, against a private MariaDB
# server this script starts (own datadir, loopback, no systemd) and the
# embedded SQLite store. Raw outputs go to Benchmarks/results/control/; a table
# of figures and ratios is printed last (and saved as summary.txt there).
#
#   Benchmarks/control.sh [writer|upload|rest|all]      (default: all)
#
#   writer  the batched ResultWriter alone (waddleperf-bench writer) vs
#           Connector/C bulk array binding of the same rows on the same server
#           (Benchmarks/store_ceiling.c), plus the row-at-a-time and 1,000-row
#           multi-row INSERT anchors; and the writer on SQLite
#   upload  end to end: results/s accepted, committed and acknowledged through
#           POST /api/v1/results (JSON, auth, validation included), wrk with
#           many connections, on MariaDB and on SQLite
#   rest    GET /api/v1/results?limit=50 with a JWT and with an API key (wrk,
#           p99 included) vs a bare Hummingbird route (the framework ceiling);
#           and, to tell the credential check from the listing's own work, the
#           same server's GET /health (no check), /api/v1/auth/whoami (the check
#           alone) and /api/v1/results?limit=1 with the JWT; then limit=50
#           again on a server with results_cache_ttl=0, every page rendered from
#           the store (the figure when results are committed between two reads);
#           server pinned to CPU 0, wrk to CPU 1
#
# Env: WADDLEPERF / WADDLEPERF_BENCH (default .build/release/...), ROWS (writer,
# default 300000), RUNS (default 3; the median is reported), DURATION (wrk
# seconds, default 10), UPLOAD_BATCH (results per upload request, default 100),
# CONNECTIONS (wrk connections, default 64).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

MODE=${1:-all}
case $MODE in writer|upload|rest|all) ;; *) echo "usage: $0 [writer|upload|rest|all]" >&2; exit 2 ;; esac
WP=${WADDLEPERF:-.build/release/waddleperf}
BENCH=${WADDLEPERF_BENCH:-.build/release/waddleperf-bench}
ROWS=${ROWS:-300000} RUNS=${RUNS:-3} DURATION=${DURATION:-10} UPLOAD_BATCH=${UPLOAD_BATCH:-100} CONNECTIONS=${CONNECTIONS:-64}
RES=Benchmarks/results/control
BIN=Benchmarks/bin
DB_PORT=13317 API_PORT=18080 HELLO_PORT=18090
mkdir -p "$RES" "$BIN"
rm -f "$RES"/*

apt_install wrk mariadb-server gcc libmariadb-dev pkg-config python3 curl util-linux
for b in "$WP" "$BENCH"; do
  [ -x "$b" ] || { echo "error: $b not built: swift build -c release --static-swift-stdlib" >&2; exit 1; }
done
gcc -O2 -Wall -o "$BIN/store_ceiling" Benchmarks/store_ceiling.c $(pkg-config --cflags --libs libmariadb)

say() { printf '\n==> %s\n' "$*"; }
work=$(mktemp -d /tmp/waddleperf-bench.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  scripts/mariadb.sh stop "$work/mariadb" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
MARIADB=$(scripts/mariadb.sh start "$work/mariadb" $DB_PORT)
mysql_cli() { mariadb -h127.0.0.1 -P$DB_PORT -uroot "$@"; }
fresh_db() { mysql_cli -e "DROP DATABASE IF EXISTS $1; CREATE DATABASE $1"; }
db_url() { echo "mariadb://root@127.0.0.1:$DB_PORT/$1"; }

# --- writer ------------------------------------------------------------------
bench_writer() {
  say "writer: $ROWS rows, 64 submitters x 100 rows, vs Connector/C bulk binding (5,000 rows per execute and commit); $RUNS runs"
  fresh_db wp_writer
  # Creates the schema (migrations) and warms InnoDB; not measured.
  "$BENCH" writer "$(db_url wp_writer)" 20000 >"$RES/writer_warmup.out" 2>&1
  for i in $(seq "$RUNS"); do
    "$BIN/store_ceiling" 127.0.0.1 $DB_PORT root wp_writer bulk "$ROWS" 5000 >"$RES/bulk.$i.json" 2>"$RES/bulk.$i.err" || true
    mysql_cli -e "TRUNCATE TABLE wp_writer.test_results" 2>/dev/null || true
    "$BENCH" writer "$(db_url wp_writer)" "$ROWS" >"$RES/writer_mariadb.$i.json" 2>"$RES/writer_mariadb.$i.err" || true
    [ "$i" = 1 ] && { cat "$RES/bulk.1.json" "$RES/writer_mariadb.1.json" 2>/dev/null | sed 's/^/  /'; }
  done
  "$BIN/store_ceiling" 127.0.0.1 $DB_PORT root wp_writer multirow "$ROWS" 5000 >"$RES/multirow.json" 2>"$RES/multirow.err" || true
  "$BIN/store_ceiling" 127.0.0.1 $DB_PORT root wp_writer rowwise "$ROWS" 1 3 >"$RES/rowwise.json" 2>"$RES/rowwise.err" || true
  for i in $(seq "$RUNS"); do
    rm -f "$work"/writer.db*
    "$BENCH" writer "sqlite://$work/writer.db" "$ROWS" >"$RES/writer_sqlite.$i.json" 2>"$RES/writer_sqlite.$i.err" || true
  done
}

# --- servers for upload and rest ----------------------------------------------
ADMIN_PASSWORD=Bench-Root-Pass-2026
# start_control NAME DATABASE [taskset CPU]: starts `waddleperf control` on API_PORT, sets TOKEN.
start_control() {
  local name=$1 database=$2 pin=()
  [ -n "${3:-}" ] && pin=(taskset -c "$3")
  # The server reads every WADDLEPERF_* variable as a setting: pass only its own. The
  # per-principal rate limit is off: one token drives all the load, and this measures capacity.
  local unset=(); for v in $(compgen -e | grep '^WADDLEPERF_' || true); do unset+=(-u "$v"); done
  env "${unset[@]}" ${EXTRA_ENV:-} WADDLEPERF_JWT_SECRET=bench-secret-0123456789abcdef0123456789abcdef WADDLEPERF_ADMIN_PASSWORD=$ADMIN_PASSWORD WADDLEPERF_RATE_LIMIT=off \
    "${pin[@]}" "$WP" control --database "$database" --port $API_PORT >"$RES/$name.log" 2>&1 &
  SERVER=$!; PIDS+=("$SERVER")
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$API_PORT/ready" >/dev/null && break; sleep 0.1; done
  TOKEN=$(curl -fs "http://127.0.0.1:$API_PORT/api/v1/auth/login" -H 'Content-Type: application/json' \
    -d "{\"username\":\"admin\",\"password\":\"$ADMIN_PASSWORD\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
}
stop_control() { kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; }
cpu_of() { awk -v t="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$1/stat"; }

upload_script() {
  python3 - "$UPLOAD_BATCH" "$TOKEN" >"$work/upload.lua" <<'PY'
import json, sys
n, token = int(sys.argv[1]), sys.argv[2]
rows = [{"test_type": "icmp", "target": f"host-{i}.example", "resolved_address": "192.0.2.1", "outcome": "success", "success": True,
         "sent": 10, "received": 10, "loss_percent": 0, "latency_ms": 0.21 + i / 1000, "min_ms": 0.18, "max_ms": 0.35, "p50_ms": 0.2,
         "p99_ms": 0.33, "jitter_ms": 0.01, "stddev_ms": 0.02} for i in range(n)]
body = json.dumps({"results": rows})
print('wrk.method = "POST"')
print('wrk.headers["Content-Type"] = "application/json"')
print(f'wrk.headers["Authorization"] = "Bearer {token}"')
print(f"wrk.body = {json.dumps(body)}")
PY
}

bench_upload() {
  say "upload: POST /api/v1/results, $UPLOAD_BATCH results per request, wrk -t1 -c$CONNECTIONS -d${DURATION}s; $RUNS runs per store, interleaved"
  for i in $(seq "$RUNS"); do
    for store in mariadb sqlite; do
      if [ $store = mariadb ]; then fresh_db wp_upload; start_control upload_$store "$(db_url wp_upload)"
      else rm -f "$work"/upload.db*; start_control upload_$store "sqlite://$work/upload.db"; fi
      upload_script
      local before; before=$(cpu_of "$SERVER")
      wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$work/upload.lua" "http://127.0.0.1:$API_PORT/api/v1/results" >"$RES/upload_$store.$i.wrk" 2>&1 || true
      echo "$before $(cpu_of "$SERVER")" >"$RES/upload_$store.$i.cpu"
      # Every acknowledged result must be stored.
      if [ $store = mariadb ]; then
        mysql_cli -N -e "SELECT COUNT(*) FROM wp_upload.test_results" >"$RES/upload_$store.$i.rows"
      else
        curl -fs "http://127.0.0.1:$API_PORT/api/v1/statistics?group_by=test_type" -H "Authorization: Bearer $TOKEN" \
          | python3 -c 'import json,sys; print(sum(g["count"] for g in json.load(sys.stdin)["groups"]))' >"$RES/upload_$store.$i.rows"
      fi
      sed -n '/Requests\/sec/p;/Non-2xx/p' "$RES/upload_$store.$i.wrk" | sed "s/^/  $store run $i: /"
      stop_control
    done
  done
}

# --- rest ----------------------------------------------------------------------
bench_rest() {
  say "rest: GET /api/v1/results?limit=50 (JWT, API key) vs bare Hummingbird GET /hello; server on CPU 0, wrk -t1 -c$CONNECTIONS on CPU 1"
  start_control rest_server "sqlite://$work/rest.db" 0
  # Something to list: 1,000 results.
  UPLOAD_BATCH=1000 upload_script
  python3 - "$work/upload.lua" >"$work/body.json" <<'PY'
import json, re, sys
print(json.loads(re.search(r"^wrk.body = (.*)$", open(sys.argv[1]).read(), re.M).group(1)))
PY
  curl -fs "http://127.0.0.1:$API_PORT/api/v1/results" -H 'Content-Type: application/json' -H "Authorization: Bearer $TOKEN" -d @"$work/body.json" >/dev/null
  local key
  key=$(curl -fs "http://127.0.0.1:$API_PORT/api/v1/users/1/api-keys" -H 'Content-Type: application/json' -H "Authorization: Bearer $TOKEN" \
    -d "{\"name\":\"bench\",\"password\":\"$ADMIN_PASSWORD\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
  local url="http://127.0.0.1:$API_PORT/api/v1/results?limit=50"
  taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -H "Authorization: Bearer $TOKEN" "$url" >"$RES/rest_jwt.wrk" 2>&1 || true
  taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -H "Authorization: ApiKey $key" "$url" >"$RES/rest_apikey.wrk" 2>&1 || true
  local base="http://127.0.0.1:$API_PORT"
  taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "$base/health" >"$RES/rest_health.wrk" 2>&1 || true
  taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -H "Authorization: Bearer $TOKEN" "$base/api/v1/auth/whoami" >"$RES/rest_whoami.wrk" 2>&1 || true
  taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -H "Authorization: Bearer $TOKEN" "$base/api/v1/results?limit=1" >"$RES/rest_limit1.wrk" 2>&1 || true
  stop_control
  # The same store, every page rendered: no rendered page is served twice.
  EXTRA_ENV=WADDLEPERF_RESULTS_CACHE_TTL=0 start_control rest_uncached "sqlite://$work/rest.db" 0
  taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -H "Authorization: Bearer $TOKEN" "$url" >"$RES/rest_uncached.wrk" 2>&1 || true
  stop_control
  taskset -c 0 "$BENCH" hello $HELLO_PORT >"$RES/hello.log" 2>&1 &
  local hello=$!; PIDS+=("$hello")
  for _ in $(seq 50); do curl -fs "http://127.0.0.1:$HELLO_PORT/hello" >/dev/null && break; sleep 0.1; done
  taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "http://127.0.0.1:$HELLO_PORT/hello" >"$RES/rest_hello.wrk" 2>&1 || true
  kill "$hello" 2>/dev/null || true
  for f in jwt apikey health whoami limit1 uncached hello; do sed -n '/Requests\/sec/p;/Non-2xx/p' "$RES/rest_$f.wrk" | sed "s/^/  $f: /"; done
}

case $MODE in
  writer) bench_writer ;; upload) bench_upload ;; rest) bench_rest ;;
  all) bench_writer; bench_upload; bench_rest ;;
esac

say "Summary ($(nproc) CPUs, MariaDB $(mysql_cli -N -e 'SELECT VERSION()'); raw outputs in $RES/)"
python3 - "$RES" "$UPLOAD_BATCH" <<'PY' | tee "$RES/summary.txt"
import glob, json, os, re, statistics, sys
res, batch = sys.argv[1], int(sys.argv[2])

def load(path):
    try:
        with open(path) as f: return json.loads(f.read().strip().splitlines()[-1])
    except Exception: return None

def median_rate(prefix):
    runs = [r for r in (load(p) for p in sorted(glob.glob(os.path.join(res, prefix + ".*.json")))) if r]
    return statistics.median(r["rows_per_second"] for r in runs) if runs else None

def wrk(name):
    try: text = open(os.path.join(res, name + ".wrk")).read()
    except OSError: return None
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\b", text, re.M)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    socket = re.search(r"Socket errors: (.*)", text)
    scale = {"us": 0.001, "ms": 1, "s": 1000}
    return {"rps": float(rps.group(1)) if rps else None, "p99_ms": float(p99.group(1)) * scale[p99.group(2)] if p99 else None,
            "non2xx": int(errors.group(1)) if errors else 0, "socket": socket.group(1) if socket else ""}

def fmt(x, unit=""): return f"{x:,.0f}{unit}" if isinstance(x, (int, float)) else "n/a"
def ratio(a, b): return f"{a / b:.2f}" if a and b else "n/a"

bulk, writer_m, writer_s = median_rate("bulk"), median_rate("writer_mariadb"), median_rate("writer_sqlite")
multi, row = (load(os.path.join(res, f)) for f in ("multirow.json", "rowwise.json"))
if bulk or writer_m:
    print("Batched result writer (rows/s, median of runs)")
    print(f"  Connector/C row-at-a-time, autocommit     {fmt(row and row['rows_per_second'])}")
    print(f"  Connector/C 1,000-row multi-row INSERTs   {fmt(multi and multi['rows_per_second'])}")
    print(f"  Connector/C bulk array binding            {fmt(bulk)}")
    print(f"  ResultWriter on MariaDB                   {fmt(writer_m)}   ratio to bulk binding {ratio(writer_m, bulk)} (goal >= 0.8)")
    print(f"  ResultWriter on SQLite (embedded)         {fmt(writer_s)}")
for store in ("mariadb", "sqlite"):
    # The median run by throughput (this host's timings swing by up to 30% between runs).
    runs = []
    for path in sorted(glob.glob(os.path.join(res, f"upload_{store}.*.wrk"))):
        name = os.path.basename(path)[:-4]
        w = wrk(name)
        if w and w["rps"]: runs.append((w["rps"], name, w))
    if not runs: continue
    runs.sort(key=lambda r: r[0])
    _, name, w = runs[len(runs) // 2]
    try:
        a, b = map(float, open(os.path.join(res, f"{name}.cpu")).read().split()); cpu = b - a
        rows = int(open(os.path.join(res, f"{name}.rows")).read().strip())
    except Exception: cpu, rows = None, None
    results = w["rps"] * batch
    spread = f"median of {len(runs)} runs, {fmt(runs[0][0] * batch)}-{fmt(runs[-1][0] * batch)}"
    print(f"End-to-end upload, {store}: {fmt(results)} results/s ({fmt(w['rps'])} requests/s x {batch}; {spread}), p99 {w['p99_ms']:.1f} ms, "
          f"non-2xx {w['non2xx']}{', socket errors ' + w['socket'] if w['socket'] else ''}; {fmt(rows)} rows stored; server CPU {cpu:.1f} s"
          + (f"; x{results / row['rows_per_second']:.0f} row-at-a-time" if row else ""))
jwt, key, hello = wrk("rest_jwt"), wrk("rest_apikey"), wrk("rest_hello")
if hello:
    print("Authenticated REST, GET /api/v1/results?limit=50 (SQLite store), server on CPU 0, wrk on CPU 1")
    for name, w in (("JWT", jwt), ("API key", key), ("bare Hummingbird /hello", hello)):
        if w: print(f"  {name:<24} {fmt(w['rps'])} req/s   p99 {w['p99_ms']:.2f} ms   ratio to bare {ratio(w['rps'], hello['rps'])}   non-2xx {w['non2xx']}")
    parts = [(label, wrk(name)) for label, name in (("GET /health (no credential)", "rest_health"), ("GET /auth/whoami (JWT check alone)", "rest_whoami"),
                                                   ("GET /results?limit=1 (JWT)", "rest_limit1"),
                                                   ("limit=50, JWT, results_cache_ttl=0", "rest_uncached"))]
    if any(w for _, w in parts):
        print("  The same store, to tell the credential check from the listing's work (and every page rendered):")
        for label, w in parts:
            if w: print(f"    {label:<36} {fmt(w['rps'])} req/s   p99 {w['p99_ms']:.2f} ms   ratio to bare {ratio(w['rps'], hello['rps'])}   non-2xx {w['non2xx']}")
PY
