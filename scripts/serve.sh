#!/usr/bin/env bash
# The main job: installs what is needed, builds waddleperf (release) and runs
# the all-in-one server: the control plane (REST API and web UI on
# http://127.0.0.1:8080) on the embedded store, the TCP/UDP echo responder on
# port 7007 and an embedded agent checking them.
# On first start it creates the global admin 'admin' and prints a one-time
# password once. Data lives in ./waddleperf-data (override: WADDLEPERF_DATA).
# Extra arguments go to `waddleperf serve` (see `waddleperf serve --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

apt_install $(package_list scripts/packages-build.txt scripts/packages-runtime.txt)
require_swift
swift build -c release --static-swift-stdlib --product waddleperf
# The web UI, into .build/web: the server finds it beside its build folder.
scripts/build-web.sh
bin=$PWD/.build/release/waddleperf

data=${WADDLEPERF_DATA:-$PWD/waddleperf-data}
echo_port=${WADDLEPERF_ECHO_PORT:-7007}
mkdir -p "$data"
# These two are this script's, not server settings (the server refuses
# WADDLEPERF_* variables it does not know).
unset WADDLEPERF_DATA WADDLEPERF_ECHO_PORT
exec "$bin" serve --database "sqlite://$data/waddleperf.db" --secret-file "$data/jwt.secret" \
  --port "${WADDLEPERF_PORT:-8080}" --echo-port "$echo_port" "$@"
