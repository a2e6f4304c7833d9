#!/usr/bin/env bash
# The web UI's browser tests: Tests/ui/ui_test.py drives Debian's headless Chromium with
# selenium (PyPI, installed into a virtualenv under .build/) against a real `waddleperf serve`
# serving .build/web (scripts/build-web.sh). Screenshots go to .build/ui-screenshots/.
#
#   scripts/ui-test.sh WADDLEPERF_BINARY
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
binary=${1:?usage: $0 WADDLEPERF_BINARY}
venv=${WADDLEPERF_UI_VENV:-$here/.build/ui-venv}
requirement="selenium==4.27.1"
if ! "$venv/bin/python" -c 'import selenium, sys; sys.exit(selenium.__version__ != "4.27.1")' 2>/dev/null; then
  /usr/bin/python3 -m venv "$venv"
  for attempt in 1 2 3; do
    "$venv/bin/pip" install -q --disable-pip-version-check --retries 5 --timeout 60 "$requirement" && break
    [ "$attempt" -eq 3 ] && { echo "error: could not install $requirement from PyPI into $venv" >&2; exit 1; }
    sleep 5
  done
fi
[ -f "$here/.build/web/index.html" ] || "$here/scripts/build-web.sh"
"$venv/bin/python" "$here/Tests/ui/ui_test.py" "$binary" "$here/.build/web" "$here/.build/ui-screenshots"
# The speed test against a known truth: a namespace behind a tbf-shaped veth pair (root only).
if [ "$(id -u)" -eq 0 ] && command -v tc >/dev/null; then
  "$venv/bin/python" "$here/Tests/ui/speed_truth.py" "$binary" "$here/.build/web" "$here/.build/ui-screenshots"
else
  echo "skipped: the speed test's truth check needs root (network namespaces and tc)"
fi
