#!/usr/bin/env bash
# The test command: installs what the suite needs, builds, starts its real
# peers and runs every test. Run from anywhere: scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

apt_install $(package_list scripts/packages-build.txt scripts/packages-test.txt)
require_swift

# Ping sockets are disabled by default (net.ipv4.ping_group_range = 1 0). The
# suite tests both ICMP socket kinds, so as root it opens them for the run and
# restores the previous value afterwards.
# The kernel also rate-limits ICMP errors (1000/s, burst 50, host-wide); the
# loss and unreachable tests need every error they provoke, so the limits are
# lifted for the run too.
sysctls=(net.ipv4.ping_group_range net.ipv4.icmp_msgs_per_sec net.ipv4.icmp_msgs_burst net.ipv4.icmp_ratelimit net.ipv6.icmp.ratelimit)
declare -A saved=()
# Set before anything starts, so a failure at any later step still stops the
# peers and restores the sysctls.
http_dir="" mariadb_dir=""
cleanup() {
  if [ -n "$http_dir" ]; then scripts/http-peers.sh stop "$http_dir" || true; rm -rf "$http_dir"; fi
  if [ -n "$mariadb_dir" ]; then scripts/mariadb.sh stop "$mariadb_dir" || true; rm -rf "$mariadb_dir"; fi
  for k in "${!saved[@]}"; do sysctl -q -w "$k=${saved[$k]}" || true; done
  nft delete table inet waddleperf_test 2>/dev/null || true
}
trap cleanup EXIT
if [ "$(id -u)" -eq 0 ]; then
  for k in "${sysctls[@]}"; do saved[$k]=$(sysctl -n "$k" | tr '\t' ' '); done
  sysctl -q -w net.ipv4.ping_group_range="0 2147483647" net.ipv4.icmp_msgs_per_sec=1000000 \
    net.ipv4.icmp_msgs_burst=100000 net.ipv4.icmp_ratelimit=0 net.ipv6.icmp.ratelimit=0
  export WADDLEPERF_REQUIRE_PRIVILEGED=1
fi
# A private MariaDB server (own datadir, loopback port, no systemd) for the
# store suite, the API tests and the durability test.
mariadb_dir=$(mktemp -d /tmp/waddleperf-mariadb.XXXXXX)
# Assigned, then exported: `export X=$(cmd)` would hide cmd's failure from set -e.
mariadb_url=$(scripts/mariadb.sh start "$mariadb_dir" "${WADDLEPERF_TEST_MARIADB_PORT:-13307}")
export WADDLEPERF_TEST_MARIADB=$mariadb_url
export WADDLEPERF_REQUIRE_MARIADB=1
# Real HTTP peers: nginx (HTTP/1.1, h2 over TLS with a test CA the script
# generates, certificates with a wrong name, expired, from an unknown CA; h2c
# with prior knowledge), nghttpd (h2c), servers that stay silent, close
# mid-body, delay their first byte, or (HTTP/2) reset streams and send GOAWAY,
# HTTP/3 peers (gtlsserver, and aioquic from PyPI in a virtualenv) and a DNS
# server.
http_dir=$(mktemp -d /tmp/waddleperf-http.XXXXXX)
http_peers=$(scripts/http-peers.sh start "$http_dir") && [ -f "$http_peers/peers.env" ] ||
  { echo "error: the HTTP peers did not start (a port taken? see the messages above)" >&2; exit 1; }
export WADDLEPERF_TEST_HTTP_PEERS=$http_peers
export WADDLEPERF_REQUIRE_HTTP_PEERS=1
# Zero compiler warnings in our own code: a warning in Sources/, Tests/ or
# Benchmarks/ fails the run. (CI builds from a clean clone, so every file is
# compiled and every warning shows; an incremental build shows only the files it
# recompiled.)
swift build --build-tests 2>&1 | tee .build/build.log
# The web UI (type-checked and bundled from Debian's packages), into .build/web.
scripts/build-web.sh
if grep -E "^$PWD/(Sources|Tests|Benchmarks)/[^:]+:[0-9]+:[0-9]+: warning:" .build/build.log; then
  echo "error: compiler warnings in our own code (above)" >&2; exit 1
fi
# Four runs: the engine suites assert process-wide things (no leaked file
# descriptors), so the HTTP peer suite (its own sockets) and the control-plane
# suites (sockets, database files, threads) and the CLI's (child processes) each run in a
# process of their own.
swift test --skip-build --skip ControlTests --skip HTTPPeerTests --skip CLITests --skip AgentTests 2>&1 | tee .build/test.log
# The agent's tests open sockets and databases while they run: apart from the engine's tests,
# which count the process's open descriptors to find leaks.
swift test --skip-build --filter AgentTests 2>&1 | tee -a .build/test.log
swift test --skip-build --filter HTTPPeerTests 2>&1 | tee -a .build/test.log
# The CLI as a process: a missing binary fails rather than skips.
WADDLEPERF_REQUIRE_CLI=1 swift test --skip-build --filter CLITests 2>&1 | tee -a .build/test.log
swift test --skip-build --filter ControlTests 2>&1 | tee -a .build/test.log
# XCTest and Swift Testing both report; fail if either saw a failure.
# (`! grep` would not stop the script: set -e ignores a negated command's status.)
if grep -E "^Test Suite .* failed|✘ Test run with .* failed|error: .* failed" .build/test.log; then
  echo "error: tests failed (above)" >&2; exit 1
fi
# As root every test runs here (its peers are started above), so a skip means
# something is missing. Without root the ICMP and raw-socket tests skip.
if [ "$(id -u)" -eq 0 ] && grep -E "^➜ (Suite|Test) .* skipped" .build/test.log; then
  echo "error: tests were skipped (above)" >&2; exit 1
fi
# A real Prometheus scrapes /probe (beside blackbox_exporter, same configuration) and /metrics.
python3 Tests/prometheus/scrape.py "$(swift build --show-bin-path)/waddleperf"

# The agent and the server as processes: enrolment, config changes, a 30 s outage, kill -9
# mid-upload, a lost answer, a full buffer, 1,000 checks on schedule (docs/agent.md).
python3 Tests/agent/agent_e2e.py "$(swift build --show-bin-path)/waddleperf"
# The web UI in a real headless Chromium (selenium from PyPI): every page against a real server
# (docs/web-ui.md lists what it shows), then the speed test through a tbf-shaped namespace;
# screenshots in .build/ui-screenshots/.
scripts/ui-test.sh "$(swift build --show-bin-path)/waddleperf"
# Alerts: a rule fires on a port the test closes and resolves when it reopens; the webhook
# receiver gets exactly one of each (after one refused delivery); dead letters; SSRF.
python3 Tests/agent/alerts_e2e.py "$(swift build --show-bin-path)/waddleperf"
# Process-level: acknowledged results survive a kill -9 of the server (MariaDB).
DURABILITY_LOG=.build/durability-server.log python3 Tests/durability/kill9.py "$(swift build --show-bin-path)/waddleperf" "$WADDLEPERF_TEST_MARIADB"
# Process-level: SIGTERM stops the server's ServiceGroup in order; in-flight
# uploads are acknowledged and committed, the echo responder stops.
python3 Tests/durability/sigterm.py "$(swift build --show-bin-path)/waddleperf"
# The published contract: schemathesis (PyPI) fuzzes the served OpenAPI
# document with every check it has, as an admin; any failure fails the run.
scripts/schemathesis.sh "$(swift build --show-bin-path)/waddleperf"
# The C parsers under libFuzzer (ASan + UBSan): every committed seed and
# regression input once through every harness (seconds; scripts/fuzz.sh).
scripts/fuzz.sh --replay
