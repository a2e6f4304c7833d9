#!/usr/bin/env bash
# HTTP load generation, side by side in one run, cores pinned: nginx (one
# worker) on CPU 0, the load generator on CPU 1. Ratios are waddleperf ÷ peer.
#
#   Benchmarks/http.sh            (DURATION=10s CONNECTIONS=100 by default)
#
#   h1     nginx /small over HTTP/1.1 keep-alive, 100 connections:
#          wrk -t1, h2load --h1 -t1, waddleperf bench http; req/s and the
#          generator's CPU-seconds per request (user+sys from GNU time)
#   tls    the same over TLS (h2load --h1 is the peer: wrk cannot pin a CA)
#   h2     nginx /small over HTTP/2, 100 connections x 10 concurrent streams:
#          h2load -t1 -m10 vs waddleperf bench --h2 -m 10, cleartext (prior
#          knowledge, nginx's h2c port) and over TLS (h2 by ALPN)
#   h3     HTTP/3 against gtlsserver (ngtcp2's example server, pinned to CPU 0):
#          no packaged HTTP/3 load generator exists, so our own figures:
#          req/s over 100 connections x 10 streams, QUIC handshakes/s
#          (--no-reuse), and one cold request as a whole process against
#          gtlsclient (median of 20 runs each)
#   idle   memory per open connection: 10,000 keep-alive connections held
#          open after one request each, peak RSS minus a one-connection run
#
# Env: WADDLEPERF (default .build/release/waddleperf). Raw outputs in
# Benchmarks/results/http/.
set -euo pipefail
cd "$(dirname "$0")/.."
WP=${WADDLEPERF:-.build/release/waddleperf}
DURATION=${DURATION:-10s}
CONNS=${CONNECTIONS:-100}
RES=Benchmarks/results/http
mkdir -p "$RES"
rm -f "$RES"/*
. scripts/lib.sh
apt_install nginx-light wrk nghttp2-client nghttp2-server ngtcp2-server ngtcp2-client python3-h2 python3-venv openssl time python3 >/dev/null
[ -x "$WP" ] || { echo "error: $WP missing; build with: swift build -c release --static-swift-stdlib" >&2; exit 1; }

peers=$(mktemp -d /tmp/waddleperf-httpbench.XXXXXX)
trap 'scripts/http-peers.sh stop "$peers"; rm -rf "$peers"' EXIT
WADDLEPERF_HTTP_BASE_PORT=18600 scripts/http-peers.sh start "$peers" >/dev/null
. "$peers/peers.env"
# One nginx worker on CPU 0 (the master does no request work).
for p in $(pgrep -f "nginx: worker process" || true); do
  grep -q "$peers" "/proc/$(ps -o ppid= -p "$p" | tr -d ' ')/cmdline" 2>/dev/null && taskset -pc 0 "$p" >/dev/null
done
URL=http://127.0.0.1:$PLAIN/small
TURL=https://127.0.0.1:$TLS/small
H2URL=http://127.0.0.1:$H2C/small

# timed NAME CMD...: CMD pinned to CPU 1; NAME.out, NAME.time ("user sys maxrss_kb")
timed() {
  local name=$1; shift
  /usr/bin/time -f "%U %S %M" -o "$RES/$name.time" taskset -c 1 "$@" > "$RES/$name.out" 2> "$RES/$name.err" || true
}
cpu() { awk '{ printf "%.3f", $1 + $2 }' "$RES/$1.time"; }
rps_wrk() { awk '/Requests\/sec/ { print $2 }' "$RES/$1.out"; }
rps_h2load() { awk '/^finished in/ { for (i=1;i<=NF;i++) if ($i ~ /req\/s/) { v=$(i-1); gsub(",","",v); print v } }' "$RES/$1.out"; }
reqs_h2load() { awk '/^requests:/ { print $6 }' "$RES/$1.out"; }
rps_wp() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["requests_per_second"])' "$RES/$1.out"; }
reqs_wp() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["requests"])' "$RES/$1.out"; }
p99_wp() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("%.3f" % (d["phases"]["total"]["p99_ns"]/1e6))' "$RES/$1.out"; }
secs=${DURATION%s}

echo "==> h1: $CONNS connections, $DURATION each, nginx on CPU 0, generator on CPU 1"
timed wrk wrk -t1 -c"$CONNS" -d"$DURATION" "$URL"
timed h2load-h1 h2load --h1 -t1 -c"$CONNS" -D "$secs" "$URL"
timed wp-h1 "$WP" bench http "$URL" -c "$CONNS" -d "$DURATION" -f json
timed h2load-tls h2load --h1 -t1 -c"$CONNS" -D "$secs" "$TURL"
timed wp-tls "$WP" bench http "$TURL" -c "$CONNS" -d "$DURATION" -f json --ca-file "$CA"

echo "==> h2: $CONNS connections x 10 streams, $DURATION each, cleartext (prior knowledge) and TLS"
timed h2load-h2c h2load -t1 -c"$CONNS" -m10 -D "$secs" "$H2URL"
timed wp-h2c "$WP" bench http "$H2URL" --h2 -c "$CONNS" -m 10 -d "$DURATION" -f json
timed h2load-h2tls h2load -t1 -c"$CONNS" -m10 -D "$secs" "$TURL"
timed wp-h2tls "$WP" bench http "$TURL" --h2 -c "$CONNS" -m 10 -d "$DURATION" -f json --ca-file "$CA"

wrk_rps=$(rps_wrk wrk); wrk_req=$(awk '/requests in/ { print $1 }' "$RES/wrk.out")
h2_rps=$(rps_h2load h2load-h1); h2_req=$(reqs_h2load h2load-h1)
wp_rps=$(rps_wp wp-h1); wp_req=$(reqs_wp wp-h1)
h2t_rps=$(rps_h2load h2load-tls); h2t_req=$(reqs_h2load h2load-tls)
wpt_rps=$(rps_wp wp-tls); wpt_req=$(reqs_wp wp-tls)
h2c_rps=$(rps_h2load h2load-h2c); h2c_req=$(reqs_h2load h2load-h2c)
wph2c_rps=$(rps_wp wp-h2c); wph2c_req=$(reqs_wp wp-h2c)
h2tls_rps=$(rps_h2load h2load-h2tls); h2tls_req=$(reqs_h2load h2load-h2tls)
wph2tls_rps=$(rps_wp wp-h2tls); wph2tls_req=$(reqs_wp wp-h2tls)

echo "==> idle: memory per open keep-alive connection"
timed wp-idle1 "$WP" bench http "$URL" -c 1 -n 1 -f json
timed wp-idle10k "$WP" bench http "$URL" -c 10000 -n 10000 -f json
rss1=$(awk '{ print $3 }' "$RES/wp-idle1.time"); rss10k=$(awk '{ print $3 }' "$RES/wp-idle10k.time")
idle_ok=$(reqs_wp wp-idle10k)

python3 - "$wrk_rps" "$wrk_req" "$(cpu wrk)" "$h2_rps" "$h2_req" "$(cpu h2load-h1)" "$wp_rps" "$wp_req" "$(cpu wp-h1)" \
  "$h2t_rps" "$h2t_req" "$(cpu h2load-tls)" "$wpt_rps" "$wpt_req" "$(cpu wp-tls)" "$rss1" "$rss10k" "$idle_ok" \
  "$(p99_wp wp-h1)" \
  "$h2c_rps" "$h2c_req" "$(cpu h2load-h2c)" "$wph2c_rps" "$wph2c_req" "$(cpu wp-h2c)" \
  "$h2tls_rps" "$h2tls_req" "$(cpu h2load-h2tls)" "$wph2tls_rps" "$wph2tls_req" "$(cpu wp-h2tls)" \
  <<'PY' | tee "$RES/summary.txt"
import sys
a = sys.argv[1:]
f = lambda i: float(a[i]) if a[i] not in ("", None) else float("nan")
rows = [("wrk -t1", f(0), f(1), f(2)), ("h2load --h1 -t1", f(3), f(4), f(5)), ("waddleperf bench", f(6), f(7), f(8))]
tls = [("h2load --h1 -t1 (TLS)", f(9), f(10), f(11)), ("waddleperf bench (TLS)", f(12), f(13), f(14))]
h2c = [("h2load -t1 -m10", f(19), f(20), f(21)), ("waddleperf bench --h2", f(22), f(23), f(24))]
h2tls = [("h2load -t1 -m10 (TLS)", f(25), f(26), f(27)), ("waddleperf bench --h2 (TLS)", f(28), f(29), f(30))]
def show(title, rows, base):
    print(f"\n{title}")
    print(f"  {'tool':28} {'req/s':>10} {'requests':>10} {'cpu s':>7} {'cpu us/req':>10}")
    for name, rps, n, cpu in rows:
        print(f"  {name:28} {rps:10.0f} {n:10.0f} {cpu:7.2f} {cpu / n * 1e6 if n else float('nan'):10.2f}")
    wp = rows[-1]
    for name, rps, n, cpu in rows[:-1]:
        print(f"  ratio vs {name}: req/s {wp[1] / rps:.2f} (goal >= 1.0), cpu/request {(wp[3] / wp[2]) / (cpu / n):.2f} (goal <= 1.0)")
show("HTTP/1.1 keep-alive, nginx /small", rows, 0)
print(f"  waddleperf total p99: {a[18]} ms (every request's phases recorded)")
show("HTTP/1.1 over TLS 1.3, nginx /small", tls, 0)
show("HTTP/2 cleartext (prior knowledge), nginx /small, 10 streams per connection", h2c, 0)
show("HTTP/2 over TLS 1.3 (ALPN h2), nginx /small, 10 streams per connection", h2tls, 0)
rss1, rss10k, ok = f(15), f(16), f(17)
print(f"\nidle connections: 10,000 opened ({ok:.0f} requests answered); peak RSS {rss10k/1024:.1f} MiB vs {rss1/1024:.1f} MiB for one;"
      f" {(rss10k - rss1) / 10000:.1f} KiB per connection")
PY

echo "==> h3: gtlsserver on CPU 0, $CONNS connections x 10 streams, $DURATION; handshakes; single request vs gtlsclient"
taskset -pc 0 "$(cat "$peers/h3.pid")" >/dev/null
H3URL=https://127.0.0.1:$H3/hello.txt
timed wp-h3 "$WP" bench http "$H3URL" --h3 -c "$CONNS" -m 10 -d "$DURATION" -f json --ca-file "$CA"
timed wp-h3hs "$WP" bench http "$H3URL" --h3 --no-reuse -c 50 -d 5s -f json --ca-file "$CA"
: > "$RES/gtlsclient-wall.txt"; : > "$RES/wp-h3probe-wall.txt"
for i in $(seq 20); do
  s=$(date +%s%N)
  taskset -c 1 gtlsclient -q --exit-on-all-streams-close 127.0.0.1 "$H3" "https://localhost:$H3/hello.txt" >/dev/null 2>&1
  echo $(( $(date +%s%N) - s )) >> "$RES/gtlsclient-wall.txt"
  s=$(date +%s%N)
  taskset -c 1 "$WP" probe http "https://localhost:$H3/hello.txt" --h3 -c 1 --ca-file "$CA" -f ndjson > "$RES/wp-h3probe-$i.out"
  echo $(( $(date +%s%N) - s )) >> "$RES/wp-h3probe-wall.txt"
done
python3 - "$RES" "$(cpu wp-h3)" <<'PY' | tee -a "$RES/summary.txt"
import json, statistics, sys, glob
res, cpu = sys.argv[1], float(sys.argv[2])
b = json.load(open(f"{res}/wp-h3.out"))
hs = json.load(open(f"{res}/wp-h3hs.out"))
print("\nHTTP/3 (QUIC, TLS 1.3), gtlsserver /hello.txt (12 bytes), 10 streams per connection")
print(f"  waddleperf bench --h3: {b['requests_per_second']:.0f} req/s, {b['requests']} requests, errors {b['errors'] or 'none'},"
      f" {cpu / b['requests'] * 1e6:.2f} cpu us/req, total p99 {b['phases']['total']['p99_ns'] / 1e6:.3f} ms")
print(f"  handshakes (--no-reuse, 50 at a time): {hs['phases']['quic_handshake']['count'] * 1e9 / hs['wall_ns']:.0f}/s completed,"
      f" quic_handshake p50 {hs['phases']['quic_handshake']['p50_ns'] / 1e6:.3f} ms, p99 {hs['phases']['quic_handshake']['p99_ns'] / 1e6:.3f} ms,"
      f" errors {hs['errors'] or 'none'}")
g = [int(x) / 1e6 for x in open(f"{res}/gtlsclient-wall.txt")]
w = [int(x) / 1e6 for x in open(f"{res}/wp-h3probe-wall.txt")]
ttfb, total, hsk = [], [], []
for f in sorted(glob.glob(f"{res}/wp-h3probe-*.out")):
    r = json.loads(open(f).readline())
    if r.get("outcome") == "success":
        ttfb.append(r["ttfb_ns"] / 1e6); total.append(r["total_ns"] / 1e6); hsk.append(r["quic_handshake_ns"] / 1e6)
print(f"  one cold request, whole process, median of {len(g)}: gtlsclient {statistics.median(g):.1f} ms,"
      f" waddleperf probe {statistics.median(w):.1f} ms (ratio {statistics.median(w) / statistics.median(g):.2f})")
print(f"  waddleperf's own phases (median): quic_handshake {statistics.median(hsk):.2f} ms, ttfb {statistics.median(ttfb):.2f} ms,"
      f" total {statistics.median(total):.2f} ms ({len(total)} of 20 succeeded)")
PY
