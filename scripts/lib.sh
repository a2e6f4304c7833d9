# Shared helpers for scripts/*.sh (sourced, not run).

# Lists the packages named in scripts/packages-*.txt files given as arguments.
package_list() {
  grep -hv '^\s*#' "$@" | awk 'NF { print $1 }'
}

# Installs Debian packages that are missing, retrying while apt is busy.
apt_install() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "==> installing: ${missing[*]}"
  for attempt in 1 2 3 4 5; do
    if $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=600 "${missing[@]}"; then
      return 0
    fi
    echo "apt-get install failed (attempt $attempt); refreshing package lists and retrying" >&2
    $sudo apt-get update -q -o DPkg::Lock::Timeout=600 || true
    sleep $((attempt * 5))
  done
  echo "error: could not install ${missing[*]}" >&2
  return 1
}

# Makes sure a Swift 6 toolchain is on PATH.
require_swift() {
  if ! command -v swift >/dev/null 2>&1; then
    for d in /opt/swift/usr/bin /usr/share/swift/usr/bin; do
      [ -x "$d/swift" ] && export PATH="$d:$PATH" && break
    done
  fi
  if ! command -v swift >/dev/null 2>&1; then
    echo "error: no Swift toolchain found. Install Swift 6 for Debian 12 (swift.org) and put it on PATH." >&2
    exit 1
  fi
}
