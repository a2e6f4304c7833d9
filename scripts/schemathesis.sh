#!/usr/bin/env bash
# Fuzzes the control plane against its own OpenAPI document with schemathesis
# (from PyPI, in a virtualenv kept under .build/) and every check it has
# (`--checks all`): status codes, response schemas, negative and positive
# data, undeclared methods, authentication, and its stateful phase. Every
# failing case is reported, not only the first per operation
# (--continue-on-failure); about 1-2.5 minutes on 2 cores.
#
#   scripts/schemathesis.sh [BINARY] [extra schemathesis run options...]
#
# BINARY is a built waddleperf (default .build/debug/waddleperf; this script
# does not build). The control plane runs on the embedded store in a temp
# directory, on a free loopback port, with a generated admin password and JWT
# secret and bcrypt cost 4. schemathesis authenticates with an API key of the
# admin (not a JWT: the fuzzed POST /auth/logout, /users/{id}/password and
# /users/{id}/revoke-tokens would revoke a JWT mid-run). Exits non-zero when
# schemathesis reports any failure. Environment:
#   WADDLEPERF_SCHEMATHESIS_VENV      virtualenv (default .build/schemathesis-venv)
#   WADDLEPERF_SCHEMATHESIS_SEED      seed (default 42)
#   WADDLEPERF_SCHEMATHESIS_EXAMPLES  --max-examples per operation (default 100)
#   WADDLEPERF_SCHEMATHESIS_REPORT    JUnit report and logs (default .build/schemathesis)
set -euo pipefail
# A BINARY given is taken from where the script was called; the default is the repository's.
if [ $# -gt 0 ]; then
  bin=$1
  shift
  [ -x "$bin" ] && [ -f "$bin" ] || { echo "error: $bin is not an executable" >&2; exit 2; }
  bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
fi
cd "$(dirname "$0")/.."
here=$PWD
if [ -z "${bin:-}" ]; then
  bin=$here/.build/debug/waddleperf
  [ -x "$bin" ] || { echo "error: $bin is missing; build it first (swift build --product waddleperf)" >&2; exit 2; }
fi
venv=${WADDLEPERF_SCHEMATHESIS_VENV:-$here/.build/schemathesis-venv}
seed=${WADDLEPERF_SCHEMATHESIS_SEED:-42}
examples=${WADDLEPERF_SCHEMATHESIS_EXAMPLES:-100}
out=${WADDLEPERF_SCHEMATHESIS_REPORT:-$here/.build/schemathesis}
# The minor version is pinned: new checks arrive in minor releases, and a run
# should fail because the server changed, not because schemathesis did.
requirement="schemathesis>=4.32,<4.33"

# The virtualenv first, so a PyPI failure leaves nothing running.
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q 'version 4\.32\.'; then
  /usr/bin/python3 -m venv "$venv"
  for attempt in 1 2 3; do
    "$venv/bin/pip" install -q --disable-pip-version-check --retries 5 --timeout 60 "$requirement" && break
    [ "$attempt" -eq 3 ] && { echo "error: could not install $requirement from PyPI into $venv" >&2; exit 1; }
    sleep $((attempt * 5))
  done
fi
py=$venv/bin/python
command -v curl >/dev/null || { echo "error: curl is required" >&2; exit 2; }

dir=$(mktemp -d /tmp/waddleperf-schemathesis.XXXXXX)
server=""
cleanup() {
  if [ -n "$server" ] && kill -0 "$server" 2>/dev/null; then
    kill -TERM "$server" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$server" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  [ -f "$dir/server.log" ] && cp "$dir/server.log" "$out/server.log" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
mkdir -p "$out"

port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
password="Fuzz-$("$py" -c 'import secrets; print(secrets.token_hex(12))')"
secret=$("$py" -c 'import secrets; print(secrets.token_hex(32))')
base="http://127.0.0.1:$port"

# /probe and /metrics are open to loopback callers by default; here they ask for a credential
# like every other route, so the authentication checks cover them too.
# The server refuses WADDLEPERF_* variables it does not know (and would take
# the caller's settings), so it gets only these.
unset_env=()
for v in $(compgen -e); do case $v in WADDLEPERF_*) unset_env+=(-u "$v") ;; esac; done
env "${unset_env[@]}" WADDLEPERF_HOST=127.0.0.1 WADDLEPERF_PORT="$port" WADDLEPERF_DATABASE="sqlite://$dir/waddleperf.db" \
  WADDLEPERF_JWT_SECRET="$secret" WADDLEPERF_ADMIN_PASSWORD="$password" WADDLEPERF_BCRYPT_COST=4 WADDLEPERF_RETENTION=off \
  WADDLEPERF_PROBE_ACCESS=authenticated "$bin" control > "$dir/server.log" 2>&1 &
server=$!
for _ in $(seq 1 200); do
  curl -sf -o /dev/null "$base/health" && break
  kill -0 "$server" 2>/dev/null || { echo "error: the control plane exited at start:" >&2; cat "$dir/server.log" >&2; exit 1; }
  sleep 0.1
done
curl -sf -o /dev/null "$base/health" || { echo "error: no answer on $base/health after 20 s:" >&2; cat "$dir/server.log" >&2; exit 1; }

json() { "$py" -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
token=$(curl -sf -X POST "$base/api/v1/auth/login" -H 'Content-Type: application/json' \
  -d "{\"username\": \"admin\", \"password\": \"$password\"}" | json token)
key_json=$(curl -sf -X POST "$base/api/v1/users/1/api-keys" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
  -d "{\"name\": \"schemathesis\", \"password\": \"$password\"}")
key=$(json key <<< "$key_json")
# schemathesis reuses ids it saw in responses, so its DELETE
# /users/1/api-keys/{key_id} finds this key sooner or later. A trigger in this
# throwaway database keeps it: that one revocation changes no row (the server
# answers 404), so the run keeps its credential to the end.
"$py" - "$dir/waddleperf.db" "$(json id <<< "$key_json")" <<'EOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=30)
db.execute(f"CREATE TRIGGER schemathesis_key BEFORE UPDATE OF revoked_at ON api_keys WHEN OLD.id = {int(sys.argv[2])} "
           "BEGIN SELECT RAISE(IGNORE); END")
db.commit()
EOF

echo "==> schemathesis $("$venv/bin/schemathesis" --version | awk '{print $NF}') against $base (seed $seed, $examples examples per operation)"
# From the temp directory: schemathesis keeps its example database and crash
# cache in the working directory, and a run should not replay an older one.
run_schemathesis() {
  (cd "$dir" && "$venv/bin/schemathesis" --config-file "$here/Tests/schemathesis/schemathesis.toml" run "$base/api/v1/openapi.json" \
    --checks all -H "Authorization: Bearer $key" --seed "$seed" --max-examples "$examples" --workers 2 \
    --suppress-health-check all --request-timeout 10 --no-color --continue-on-failure \
    --report junit --report-junit-path "$out/junit.xml" "$@") 2>&1 | tee "$out/schemathesis.log"
}
status=0
run_schemathesis "$@" || status=$?
# A run that found no failure but stopped on an error inside schemathesis itself
# (seen once: CPython 3.11.2's "AST constructor recursion depth mismatch" while
# hypothesis describes a lambda) is run once more; a failure of the server is
# never retried.
if [ "$status" -ne 0 ] && ! grep -q "^Failures:" "$out/schemathesis.log" && grep -q "^Errors:" "$out/schemathesis.log" \
   && kill -0 "$server" 2>/dev/null; then
  echo "==> schemathesis stopped on an error of its own (no failures); running once more" >&2
  status=0
  run_schemathesis "$@" || status=$?
fi
if ! kill -0 "$server" 2>/dev/null; then
  echo "error: the control plane died during the run:" >&2
  tail -n 50 "$dir/server.log" >&2
  exit 1
fi
if [ "$status" -ne 0 ]; then
  echo "error: schemathesis reported failures (exit $status); log: $out/schemathesis.log, JUnit: $out/junit.xml" >&2
  exit 1
fi
echo "==> schemathesis: no failures"
