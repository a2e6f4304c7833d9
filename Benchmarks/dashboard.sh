#!/usr/bin/env bash
# The dashboard's speed goal, in a real headless Chromium: with RESULTS stored results
# (default 1,000,000) in SERIES series (default 1,000: a third ICMP, TCP and HTTP, spread over
# the last 24 h), how long from navigation to the first chart drawing data.
#
#   Benchmarks/dashboard.sh            (WADDLEPERF=.build/release/waddleperf, RUNS=7)
#
# The time is the Performance API's: the `chart-data:chart-latency` mark the page sets when
# the latency chart first draws points, in ms since the navigation started (a fresh page load
# each run, cache included as a returning user has it). Beside it, the requests the page made
# (Resource Timing) and, for comparison, the aggregate the pickers would cost if they were
# computed from the results (`/api/v1/statistics?group_by=test_type` over the same 24 h).
set -euo pipefail
cd "$(dirname "$0")/.."
. Benchmarks/lib.sh

WP=${WADDLEPERF:-.build/release/waddleperf}
RESULTS=${RESULTS:-1000000} SERIES=${SERIES:-1000} RUNS=${RUNS:-7}
RES=Benchmarks/results/dashboard
mkdir -p "$RES"
rm -f "$RES"/*
[ -x "$WP" ] || { echo "error: $WP is missing (swift build -c release)" >&2; exit 2; }
[ -f .build/web/index.html ] || scripts/build-web.sh
venv=${WADDLEPERF_UI_VENV:-.build/ui-venv}
"$venv/bin/python" -c 'import selenium' 2>/dev/null || { echo "error: run scripts/ui-test.sh once (it makes $venv)" >&2; exit 2; }

work=$(mktemp -d)
port=$(free_port)
trap 'kill $server 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
WADDLEPERF_ADMIN_PASSWORD=Bench-Root-Pass-1 WADDLEPERF_WEB_ROOT=$PWD/.build/web WADDLEPERF_RATE_LIMIT=off \
  "$WP" serve --database "sqlite://$work/bench.db" --port "$port" --agent off --echo-port "$(free_port)" \
  --secret-file "$work/secret" > "$RES/server.log" 2>&1 &
server=$!
wait_http "http://127.0.0.1:$port/ready"
"$venv/bin/python" Benchmarks/dashboard_bench.py "http://127.0.0.1:$port" "$RESULTS" "$SERIES" "$RUNS" | tee "$RES/summary.txt"
