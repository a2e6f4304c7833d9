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
restore=""
if [ "$(id -u)" -eq 0 ]; then
  restore=$(sysctl -n net.ipv4.ping_group_range | tr '\t' ' ')
  sysctl -q -w net.ipv4.ping_group_range="0 2147483647"
  export WADDLEPERF_REQUIRE_PRIVILEGED=1
fi
cleanup() {
  [ -n "$restore" ] && sysctl -q -w net.ipv4.ping_group_range="$restore" || true
  nft delete table inet waddleperf_test 2>/dev/null || true
}
trap cleanup EXIT

swift build --build-tests
swift test --skip-build --parallel --num-workers 1 2>&1 | tee .build/test.log
# XCTest and Swift Testing both report; fail if either saw a failure.
! grep -qE "^Test Suite .* failed|✘ Test run with .* failed|error: .* failed" .build/test.log
