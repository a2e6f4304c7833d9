#!/usr/bin/env bash
# The main job: installs what is needed, builds waddleperf (release), starts
# the echo responder and watches a few local targets over ICMP, TCP and UDP,
# printing a live summary until interrupted (Ctrl-C).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

apt_install $(package_list scripts/packages-build.txt)
require_swift
swift build -c release
bin=.build/release/waddleperf

"$bin" target --bind 127.0.0.1 --tcp-port "${WADDLEPERF_ECHO_PORT:-7007}" --udp-port "${WADDLEPERF_ECHO_PORT:-7007}" &
target_pid=$!
trap 'kill $target_pid 2>/dev/null || true' EXIT
sleep 0.5

exec_args=(watch --icmp 127.0.0.1 --icmp ::1
  --tcp "127.0.0.1:${WADDLEPERF_ECHO_PORT:-7007}" --udp "127.0.0.1:${WADDLEPERF_ECHO_PORT:-7007}"
  --interval 1s --report-every 5s "$@")
"$bin" "${exec_args[@]}"
