#!/usr/bin/env bash
# Side-by-side benchmarks of waddleperf against peer tools, on loopback, in one
# run. Raw outputs go to Benchmarks/results/ (emptied at the start of each run);
# a table of ratios is printed last (and saved as results/summary.txt).
#
#   Benchmarks/run.sh [icmp|tcp|udp|all]        (default: all)
#
#   icmp  fping -g 127.0.0.0/16 vs waddleperf probe icmp (its default threads,
#         one per core here; on raw sockets; on one thread)
#   tcp   Benchmarks/tcp_ceiling.c (plain io_uring loop) vs waddleperf probe tcp,
#         both against `waddleperf target`'s TCP echo service
#   udp   sockperf ping-pong vs waddleperf probe udp (RTT percentiles), each
#         against its own server, unpinned and pinned to the same/split CPUs
#
# Env: WADDLEPERF (default .build/release/waddleperf), RUNS (default 3; the run
# with the median wall time is reported).
# A failing tool is reported and its section continues with what it has; the
# script itself exits non-zero only on its own bugs.
set -euo pipefail
cd "$(dirname "$0")/.."

MODE=${1:-all}
case $MODE in icmp|tcp|udp|all) ;; *) echo "usage: $0 [icmp|tcp|udp|all]" >&2; exit 2 ;; esac
WP=${WADDLEPERF:-.build/release/waddleperf}
RUNS=${RUNS:-3}
RES=Benchmarks/results
BIN=Benchmarks/bin
TCP_PORT=17007 UDP_PORT=17007 SOCKPERF_PORT=17100
SERVED=""
mkdir -p "$RES" "$BIN"
find "$RES" -maxdepth 1 -type f -delete  # results/http/ etc. belong to other scripts

PIDS=()
SAVED_PING_RANGE=""
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true
  [ -n "$SAVED_PING_RANGE" ] && sysctl -q -w net.ipv4.ping_group_range="$SAVED_PING_RANGE" || true
}
trap cleanup EXIT

say() { printf '\n==> %s\n' "$*"; }

# --- tools ------------------------------------------------------------------
missing=()
command -v fping >/dev/null || missing+=(fping)
command -v sockperf >/dev/null || missing+=(sockperf)
command -v gcc >/dev/null || missing+=(gcc)
[ -f /usr/include/liburing.h ] || missing+=(liburing-dev)
[ -x /usr/bin/time ] || missing+=(time)
if [ ${#missing[@]} -gt 0 ]; then
  say "installing: ${missing[*]}"
  for try in 1 2 3; do
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=600 "${missing[@]}" && break
    echo "apt-get install failed (try $try/3)" >&2
    apt-get update -q -o DPkg::Lock::Timeout=600 || true
    sleep $((try * 5))
  done
fi
[ -x "$WP" ] || echo "WARNING: $WP not found or not executable; waddleperf rows will fail" >&2
[ -x /usr/bin/time ] || { echo "error: GNU time (/usr/bin/time) is required" >&2; exit 1; }

# timed NAME CMD... : runs CMD with stdout > NAME.out, stderr > NAME.err and
# "wall user sys" > NAME.time; NAME.rc gets the exit status. Never fails.
timed() {
  local name=$1; shift
  local rc=0
  /usr/bin/time -o "$RES/$name.time" -f '%e %U %S' "$@" >"$RES/$name.out" 2>"$RES/$name.err" || rc=$?
  echo "$rc" >"$RES/$name.rc"
  printf '  %-18s rc=%-3s wall/user/sys=%s\n' "$name" "$rc" "$(tail -n1 "$RES/$name.time" 2>/dev/null)"
  echo "$*" >"$RES/$name.cmd"
}

# CPU seconds (user+sys) a process has used so far, from /proc.
proc_cpu() { awk -v t="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$1/stat" 2>/dev/null || echo nan; }

# Starts `waddleperf target`'s TCP echo once and waits for it to listen.
TARGET_PID=""
start_target() {
  [ -n "$TARGET_PID" ] && return 0
  "$WP" target --tcp-port $TCP_PORT --udp-port off >"$RES/target.log" 2>&1 &
  TARGET_PID=$!; PIDS+=("$TARGET_PID")
  for _ in $(seq 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$TCP_PORT") 2>/dev/null && return 0
    kill -0 "$TARGET_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "FAILED: waddleperf target did not start (see $RES/target.log):" >&2
  cat "$RES/target.log" >&2; TARGET_PID=""; return 1
}

# --- ICMP -------------------------------------------------------------------
bench_icmp() {
  say "ICMP: 65,534 targets (127.0.0.0/16), 1 ping each, unlimited rate; $RUNS runs each"
  # A stock Debian 12 host lets every group open ping sockets (systemd's
  # 50-default.conf sets net.ipv4.ping_group_range to "0 2147483647"); a
  # container without systemd keeps the kernel's "1 0". Set it as a stock host
  # has it, for this section only. fping as root uses a raw socket either way;
  # waddleperf picks a ping socket when allowed (raw is measured too).
  if [ "$(id -u)" -eq 0 ]; then
    SAVED_PING_RANGE=$(sysctl -n net.ipv4.ping_group_range | tr '\t' ' ')
    sysctl -q -w net.ipv4.ping_group_range="0 2147483647" ||
      echo "note: could not open ping sockets (read-only /proc/sys?): waddleperf uses raw sockets" >&2
  fi
  for i in $(seq "$RUNS"); do
    timed "fping.$i" fping -q -c 1 -i 0 -g 127.0.0.0/16
    timed "icmp_1t.$i" "$WP" probe icmp 127.0.0.0/16 -c 1 -t 2s --threads 1 -f json
    timed "icmp_auto.$i" "$WP" probe icmp 127.0.0.0/16 -c 1 -t 2s -f json
    timed "icmp_raw.$i" "$WP" probe icmp 127.0.0.0/16 -c 1 -t 2s --icmp-socket raw -f json
  done
  if [ -n "$SAVED_PING_RANGE" ]; then
    sysctl -q -w net.ipv4.ping_group_range="$SAVED_PING_RANGE"
    SAVED_PING_RANGE=""
  fi
}

# --- TCP --------------------------------------------------------------------
bench_tcp() {
  say "TCP: 100,000 x (connect + 16 B echo + RST close), 1000 in flight; $RUNS runs each"
  if ! gcc -O2 -Wall -o "$BIN/tcp_ceiling" Benchmarks/tcp_ceiling.c -luring 2>"$RES/tcp_ceiling.gcc.err"; then
    echo "FAILED: compiling tcp_ceiling.c:"; cat "$RES/tcp_ceiling.gcc.err"
  fi
  start_target || return 0
  for i in $(seq "$RUNS"); do
    local before
    if [ -x "$BIN/tcp_ceiling" ]; then
      before=$(proc_cpu "$TARGET_PID")
      timed "tcp_ceiling.$i" "$BIN/tcp_ceiling" 127.0.0.1 $TCP_PORT 100000 1000 16
      echo "$before $(proc_cpu "$TARGET_PID")" >"$RES/tcp_ceiling.$i.server_cpu"
    fi
    before=$(proc_cpu "$TARGET_PID")
    timed "tcp_ours.$i" "$WP" probe tcp 127.0.0.1:$TCP_PORT -c 100000 -i 0 --concurrency 1000 -s 16 --expect 16 -f json
    echo "$before $(proc_cpu "$TARGET_PID")" >"$RES/tcp_ours.$i.server_cpu"
  done
}

# --- UDP --------------------------------------------------------------------
# serve NAME CPU CMD... : starts a server in the background (pinned to CPU
# unless CPU is "-"), sets SERVED to its pid, fails if it dies at once.
serve() {
  local name=$1 cpu=$2; shift 2
  [ "$cpu" = - ] || set -- taskset -c "$cpu" "$@"
  "$@" >"$RES/$name.log" 2>&1 &
  SERVED=$!; PIDS+=("$SERVED"); sleep 0.5
  kill -0 "$SERVED" 2>/dev/null && return 0
  echo "FAILED: $name did not start:"; cat "$RES/$name.log"; return 1
}
unserve() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

bench_udp() {
  say "UDP: 64 B echo RTT, sockperf ping-pong vs waddleperf probe udp"
  # Can each client use the other's server? (sockperf's server only answers
  # sockperf-framed messages; sockperf ignores a plain echo of its message.)
  if serve sockperf_server - sockperf server -i 127.0.0.1 -p $SOCKPERF_PORT; then
    timed udp_ours_vs_sockperf "$WP" probe udp 127.0.0.1:$SOCKPERF_PORT -c 100 -i 1ms -t 200ms -s 64 -f json
    unserve "$SERVED"
  fi
  if serve udp_target - "$WP" target --tcp-port off --udp-port $UDP_PORT; then
    timed sockperf_vs_ours sockperf ping-pong -i 127.0.0.1 -p $UDP_PORT -t 1 -m 64 --full-rtt
    unserve "$SERVED"
  fi
  # Loopback RTT depends mostly on whether client and server share a CPU (a
  # cross-CPU wake-up is slow in VMs), so each pair runs in three placements:
  # unpinned, both on CPU 0 ("same"), client on CPU 0 and server on CPU 1 ("split").
  local placements="unpinned:-:- same:0:0"
  [ "$(nproc)" -ge 2 ] && placements+=" split:0:1"
  for pl in $placements; do
    IFS=: read -r name ccpu scpu <<<"$pl"
    local pin=(); [ "$ccpu" = - ] || pin=(taskset -c "$ccpu")
    echo "  -- $name (client CPU $ccpu, server CPU $scpu)"
    if serve "sockperf_server.$name" "$scpu" sockperf server -i 127.0.0.1 -p $SOCKPERF_PORT; then
      # --full-rtt: sockperf otherwise reports RTT/2 ("latency"); we report RTT.
      timed "sockperf.$name" "${pin[@]}" sockperf ping-pong -i 127.0.0.1 -p $SOCKPERF_PORT -t 5 -m 64 --full-rtt
      # One message every 50 us, the pacing of our run below.
      timed "sockperf_20k.$name" "${pin[@]}" sockperf ping-pong -i 127.0.0.1 -p $SOCKPERF_PORT -t 5 -m 64 --full-rtt --mps 20000
      unserve "$SERVED"
    fi
    if serve "udp_target.$name" "$scpu" "$WP" target --tcp-port off --udp-port $UDP_PORT; then
      timed "udp_ours.$name" "${pin[@]}" "$WP" probe udp 127.0.0.1:$UDP_PORT -c 20000 -i 50us -s 64 -f json
      unserve "$SERVED"
    fi
  done
}

case $MODE in
  icmp) bench_icmp ;; tcp) bench_tcp ;; udp) bench_udp ;;
  all) bench_icmp; bench_tcp; bench_udp ;;
esac

# --- summary ----------------------------------------------------------------
say "Summary ($(nproc) CPUs, $(uname -r); raw outputs in $RES/)"
python3 - "$RES" "$MODE" <<'PY' | tee "$RES/summary.txt"
import json, os, re, statistics, sys

res, mode = sys.argv[1], sys.argv[2]
def path(n): return os.path.join(res, n)
def read(n):
    try:
        with open(path(n)) as f: return f.read()
    except OSError: return None

def times(n):
    """(wall, cpu) from NAME.time, or None."""
    t = read(n + ".time")
    try:
        w, u, s = map(float, t.strip().splitlines()[-1].split())
        return w, u + s
    except Exception: return None

def fail(n, why):
    err = (read(n + ".err") or "").strip().splitlines()[-3:]
    print(f"  FAILED {n}: {why} (rc={(read(n + '.rc') or '?').strip()}) {' | '.join(err)}")

def pct(xs, p):
    xs = sorted(xs)
    return xs[max(0, min(len(xs) - 1, int(round(p / 100 * len(xs) + 0.5)) - 1))] if xs else float("nan")

def median_run(prefix, parse):
    """Parses prefix.1..N; returns the parsed run with the median wall time."""
    runs = []
    i = 1
    while read(f"{prefix}.{i}.rc") is not None:
        n = f"{prefix}.{i}"
        try:
            r = parse(n)
            if r: runs.append(r)
        except Exception as e:
            fail(n, f"unparseable output: {e}")
        i += 1
    if not runs: return None
    runs.sort(key=lambda r: r["wall"])
    r = runs[len(runs) // 2]
    r["walls"] = [x["wall"] for x in runs]
    return r

def ours(n, phase):
    t = times(n)
    if not t: fail(n, "no timing"); return None
    d = json.loads(read(n + ".out"))
    lat = d.get(phase, {})
    return dict(wall=t[0], cpu=t[1], sent=d["sent"], recv=d["received"], lost=d["lost"],
                timeouts=d.get("timeouts", 0), errors=d.get("errors", 0), inner=d["wall_ns"] / 1e9,
                p50=lat.get("p50_ns", float("nan")) / 1e3, p99=lat.get("p99_ns", float("nan")) / 1e3,
                mean=lat.get("mean_ns", float("nan")) / 1e3, rss=d.get("peak_rss_kb"))

def ratio(a, b):
    try: return a / b
    except Exception: return float("nan")

f2 = lambda x: f"{x:.2f}"
def table(head, rows):
    w = [max(len(str(c)) for c in col) for col in zip(head, *rows)]
    for r in [head] + rows: print("  " + "  ".join(str(c).rjust(w[i]) for i, c in enumerate(r)))

# ICMP
if mode in ("icmp", "all"):
    print("\nICMP  127.0.0.0/16, count 1, unlimited rate (median of runs by wall time)")
    line = re.compile(r"^(\S+)\s*: xmt/rcv/%loss = (\d+)/(\d+)/\d+%(?:, min/avg/max = [\d.]+/([\d.]+)/)?")
    def fping(n):
        t = times(n)
        if not t: fail(n, "no timing"); return None
        sent = recv = 0; rtts = []
        for l in (read(n + ".err") or "").splitlines():
            m = line.match(l)
            if not m: continue
            sent += int(m[2]); recv += int(m[3])
            if m[4]: rtts.append(float(m[4]) * 1e3)
        if not sent: fail(n, "no per-target lines"); return None
        return dict(wall=t[0], cpu=t[1], sent=sent, recv=recv, lost=sent - recv, timeouts=0, errors=0,
                    inner=None, p50=pct(rtts, 50), p99=pct(rtts, 99), mean=statistics.fmean(rtts) if rtts else float("nan"))
    rows = {"fping -i 0": median_run("fping", fping),
            "waddleperf": median_run("icmp_auto", lambda n: ours(n, "rtt")),
            "  ... --icmp-socket raw": median_run("icmp_raw", lambda n: ours(n, "rtt")),
            "  ... --threads 1": median_run("icmp_1t", lambda n: ours(n, "rtt"))}
    base = rows["fping -i 0"]
    out = []
    for name, r in rows.items():
        if not r: out.append([name] + ["FAILED"] + [""] * 10); continue
        pps = r["sent"] / r["wall"]
        out.append([name, f2(r["wall"]), "/".join(f2(w) for w in r["walls"]),
                    f2(r["inner"]) if r["inner"] else "-", f2(r["cpu"]), f"{pps:,.0f}",
                    f"{r['lost']} ({100 * r['lost'] / r['sent']:.2f}%)", f"{r['p50']:.1f}", f"{r['p99']:.1f}",
                    f2(ratio(pps, base["sent"] / base["wall"])) if base else "-",
                    f2(ratio(r["cpu"], base["cpu"])) if base else "-",
                    f2(ratio(r["p50"], base["p50"])) if base else "-"])
    table(["tool", "wall s", "walls", "probe s", "CPU s", "pings/s", "lost", "p50 us", "p99 us",
           "x thru", "x CPU", "x p50"], out)
    print("  x thru = pings/s vs fping (higher better); x CPU = CPU-s vs fping (lower better); x p50 vs fping.\n"
          "  'probe s' = waddleperf's own wall_ns (probing only, excl. start-up and JSON output).\n"
          "  fping prints RTT in ms with 3 decimals (1 us resolution); waddleperf uses kernel timestamps (ns).")
    for n in ("icmp_auto.1", "icmp_raw.1", "icmp_1t.1"):
        try:
            d = json.loads(read(n + ".out"))
            print(f"  {n}: {d.get('threads', 1)} thread(s); " + "; ".join(d["notes"]))
        except Exception: pass

# TCP
if mode in ("tcp", "all"):
    print("\nTCP   100,000 x connect + 16 B echo + RST close, 1000 in flight, vs `waddleperf target` echo")
    def ceiling(n):
        kv = dict(re.findall(r"(\w+)=([\d.]+)", read(n + ".out") or ""))
        if "probes" not in kv: fail(n, "no result line"); return None
        return dict(wall=float(kv["wall_s"]), cpu=float(kv["cpu_s"]), sent=int(kv["probes"]),
                    recv=int(kv["ok"]), lost=int(kv["failed"]), p50=None, p99=None, inner=None)
    def server_cpu(n):
        try: a, b = map(float, read(n + ".server_cpu").split()); return b - a
        except Exception: return float("nan")
    def with_srv(r, n):
        if r: r["srv"] = server_cpu(n)
        return r
    rows = {"tcp_ceiling.c (io_uring)": median_run("tcp_ceiling", lambda n: with_srv(ceiling(n), n)),
            "waddleperf": median_run("tcp_ours", lambda n: with_srv(ours(n, "connect"), n))}
    base = rows["tcp_ceiling.c (io_uring)"]
    out = []
    for name, r in rows.items():
        if not r: out.append([name, "FAILED"] + [""] * 9); continue
        pps, ppc = r["sent"] / r["wall"], r["sent"] / r["cpu"]
        out.append([name, f2(r["wall"]), "/".join(f2(w) for w in r["walls"]), f2(r["cpu"]), f2(r["srv"]),
                    f"{pps:,.0f}", f"{ppc:,.0f}", f"{r['sent'] - r['recv']}",
                    f"{r['p50'] / 1e3:.2f}" if r["p50"] else "-",
                    f2(ratio(pps, base["sent"] / base["wall"])) if base else "-",
                    f2(ratio(ppc, base["sent"] / base["cpu"])) if base else "-"])
    table(["client", "wall s", "walls", "CPU s", "server CPU s", "probes/s", "probes/CPU-s", "failed",
           "connect p50 ms", "x probes/s", "x per CPU-s"], out)
    print("  CPU s = client only (ceiling: its getrusage; waddleperf: /usr/bin/time). server CPU s = the echo\n"
          "  server's /proc CPU during that run. Both share 2 CPUs with the server; ratios vs the ceiling.")

# UDP
if mode in ("udp", "all"):
    print("\nUDP   64 B echo round trip (RTT, microseconds; sockperf run with --full-rtt)")
    def sockperf(n):
        s = read(n + ".out") or ""
        p = {float(a): float(b) for a, b in re.findall(r"percentile\s+([\d.]+)\s*=\s*([\d.]+)", s)}
        avg = re.search(r"avg-(?:latency|rtt)=([\d.]+)", s)
        obs = re.search(r"Total (\d+) observations", s)
        drop = re.search(r"# dropped messages = (\d+)", s)
        if 50.0 not in p:
            if read(n + ".rc") is not None and not n.endswith("_vs_ours"): fail(n, "no percentiles in output")
            return None
        return dict(p50=p[50.0], p99=p.get(99.0, float("nan")), mean=float(avg[1]) if avg else float("nan"),
                    n=int(obs[1]) if obs else 0, lost=int(drop[1]) if drop else "?")
    rows, goals = [], []
    for pl in ("unpinned", "same", "split"):
        if read(f"udp_ours.{pl}.rc") is None and read(f"sockperf.{pl}.rc") is None: continue
        sp, sp20 = sockperf(f"sockperf.{pl}"), sockperf(f"sockperf_20k.{pl}")
        ou = None
        if read(f"udp_ours.{pl}.rc") is not None:
            try: ou = ours(f"udp_ours.{pl}", "rtt")
            except Exception as e: fail(f"udp_ours.{pl}", f"unparseable output: {e}")
        x = lambda r, b: f2(ratio(r["p50"], b["p50"])) if r and b else "-"
        for name, srv, r in [("sockperf ping-pong (max rate)", "sockperf server", sp),
                             ("sockperf ping-pong --mps 20000", "sockperf server", sp20)]:
            if r: rows.append([pl, name, srv, r["n"], r["lost"], "-", f"{r['mean']:.1f}", f"{r['p50']:.1f}", f"{r['p99']:.1f}", x(r, sp), x(r, sp20)])
        if ou:
            rows.append([pl, "waddleperf -c 20000 -i 50us", "waddleperf target", ou["recv"], ou["lost"],
                         f"{ou['wall']:.2f}/{ou['cpu']:.2f}", f"{ou['mean']:.1f}", f"{ou['p50']:.1f}", f"{ou['p99']:.1f}", x(ou, sp), x(ou, sp20)])
            if sp: goals.append(f"{pl}: {ratio(ou['p50'], sp['p50']):.2f} " + ("(met)" if ratio(ou['p50'], sp['p50']) <= 1.10 else "(NOT met)"))
    table(["CPUs", "client", "server", "replies", "lost", "wall/CPU s", "mean", "p50", "p99",
           "x p50 vs max", "x p50 vs 20k"], rows)
    if goals: print("  waddleperf p50 / sockperf (max rate) p50, goal <= 1.10 -- " + "; ".join(goals))
    print("  CPUs: unpinned; same = client and server both on CPU 0; split = client CPU 0, server CPU 1.\n"
          "  20000 probes at -i 50us should take ~1.0 s of wall time.")
    xo = None
    try: xo = json.loads(read("udp_ours_vs_sockperf.out") or "null")
    except Exception: pass
    xs = sockperf("sockperf_vs_ours")
    cross = []
    if xo is not None: cross.append(f"waddleperf -> sockperf server: {xo['received']}/{xo['sent']} replies")
    if read("sockperf_vs_ours.rc") is not None:
        cross.append("sockperf -> waddleperf target: " + (f"{xs['n']} replies" if xs else "no replies"))
    if cross: print("  cross-check: " + "; ".join(cross) + ".")
    if (xo is not None and xo["received"] == 0) or (read("sockperf_vs_ours.rc") is not None and not xs):
        print("  => NOT the same server: each client is measured against its own server (sockperf's server only\n"
              "     answers sockperf-framed messages; sockperf ignores plain echoes of its own messages).")
PY
