#!/usr/bin/env bash
# Fuzzes the parsers that read bytes from the network with libFuzzer: CProbe's C
# parsers (Fuzz/cprobe/*.c) and the Swift ones (Fuzz/swift/*.swift: DNS messages,
# HTTP/1.1 responses, request bodies against their schema). Seeds are in
# Fuzz/corpus/<harness>/ (written by Fuzz/make-seeds.py and Fuzz/make-swift-seeds.py);
# see Fuzz/README.md for what each one reaches.
#
#   scripts/fuzz.sh [TARGET|all] [SECONDS]  builds, then fuzzes each target for
#                                           SECONDS (default 60), one after another
#   scripts/fuzz.sh --replay                builds, then runs every committed corpus
#                                           file once through every harness; exits
#                                           non-zero on any crash (a few seconds; the
#                                           test suite calls this)
#
# New inputs go to .build/fuzz/corpus-TARGET (the committed corpus is only read);
# with FUZZ_MERGE=1 the ones that add coverage are merged back into
# Fuzz/corpus/TARGET (libFuzzer -merge=1). Crash inputs land in .build/fuzz/artifacts/,
# logs in .build/fuzz/logs/. Extra libFuzzer flags: FUZZ_ARGS="-max_len=8192 ...".
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
require_swift

# libFuzzer ships with clang's compiler-rt; the Swift toolchain's clang has it and is
# the compiler the package's C targets are built with. FUZZ_CC overrides.
cc=${FUZZ_CC:-$(dirname "$(command -v swift)")/clang}
swiftc=${FUZZ_SWIFTC:-$(dirname "$(command -v swift)")/swiftc}
out=.build/fuzz
c_targets=(fuzz_icmp_parse fuzz_payload fuzz_icmp_build fuzz_errqueue fuzz_recvmsg_cmsg)
# The Swift harnesses (Fuzz/swift/*.swift): each is compiled by swiftc with the parser's
# own source files into one module, as Fuzz/swift/SOURCES lists, so no package
# dependency is rebuilt with sanitizers.
swift_targets=(fuzz_dns_message fuzz_http1_response fuzz_schema_parser)
targets=("${c_targets[@]}" "${swift_targets[@]}")
# -D_GNU_SOURCE as Package.swift's cSettings for CProbe (socket.c needs it for
# recvmmsg and pthread_setname_np). -fno-sanitize-recover: UBSan otherwise reports and
# carries on, and libFuzzer would not count the input as a crash. lld because the
# system's default linker (gold) warns about every ASan symbol.
cflags=(-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
  -fuse-ld=lld -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter -I Sources/CProbe/include)

# The C files each harness links with, and its extra link flags: only what it calls.
# The codecs need packet.c alone; the error-queue drain is in socket.c. The ring
# harness includes ring.c (its control-message parser is static), so it alone needs
# liburing (headers from liburing-dev, and -luring for the rest of ring.c).
# A field of Fuzz/swift/SOURCES ("name: value" lines; # comments).
swift_field() {
  awk -v key="$1:" '$1 == key { $1 = ""; sub(/^ /, ""); print; found = 1 } END { exit !found }' Fuzz/swift/SOURCES
}
is_swift() { [ -f "Fuzz/swift/$1.swift" ]; }
# libFuzzer flags a harness needs. Swift keeps flags in the spare bits of pointers inside
# enum payloads, so LeakSanitizer cannot see that the schemas and other globals are
# still referenced and calls them leaks: leak detection is off for the Swift harnesses
# (AddressSanitizer's checks of every access stay on).
run_flags() { if is_swift "$1"; then echo -detect_leaks=0; fi; }
run_env() { if is_swift "$1"; then echo ASAN_OPTIONS=detect_leaks=0; else echo ASAN_OPTIONS=${ASAN_OPTIONS:-}; fi; }

sources() {
  if is_swift "$1"; then swift_field "$1"; swift_field "$1.c" 2>/dev/null || true; return; fi
  case $1 in
    fuzz_icmp_parse | fuzz_payload | fuzz_icmp_build) echo Sources/CProbe/packet.c ;;
    fuzz_errqueue) echo Sources/CProbe/packet.c Sources/CProbe/socket.c ;;
    fuzz_recvmsg_cmsg) echo Sources/CProbe/packet.c Sources/CProbe/socket.c ;;
    *) echo "error: unknown target $1 (one of: ${targets[*]})" >&2; return 1 ;;
  esac
}
libs() {
  if [ "$1" = fuzz_recvmsg_cmsg ]; then echo -luring; fi
}
# Everything a harness binary depends on, this script included (it holds the flags).
inputs() {
  if is_swift "$1"; then echo Fuzz/swift/SOURCES scripts/fuzz.sh $(sources "$1") $(find Fuzz/swift/shims -type f) Sources/CProbe/include/cprobe.h; return; fi
  echo "Fuzz/cprobe/$1.c" Fuzz/cprobe/fuzz_common.h Sources/CProbe/include/cprobe.h Sources/CProbe/cmsg.h scripts/fuzz.sh $(sources "$1")
  if [ "$1" = fuzz_recvmsg_cmsg ]; then echo Sources/CProbe/ring.c; fi
}

# Rebuilds a harness only when one of its inputs changed, so --replay stays fast.
build() {
  local t=$1 bin=$out/$1 f stale=0
  [ -x "$bin" ] || stale=1
  for f in $(inputs "$t"); do [ "$f" -nt "$bin" ] && stale=1; done
  [ $stale -eq 0 ] && return 0
  echo "==> building $t"
  if is_swift "$t"; then
    local objects=() c
    for c in $(swift_field "$t.c" 2>/dev/null || true); do
      # shellcheck disable=SC2046 # the flag list is words
      "$cc" $(swift_field "$t.cflags") -c "$c" -o "$out/$t-$(basename "$c" .c).o"
      objects+=("$out/$t-$(basename "$c" .c).o")
    done
    # shellcheck disable=SC2046 # the flag and file lists are words
    "$swiftc" $(swift_field common.flags) $(swift_field "$t.flags") $(swift_field "$t") "${objects[@]}" -o "$bin"
    return
  fi
  # shellcheck disable=SC2046 # word splitting of the file lists is intended
  "$cc" "${cflags[@]}" "Fuzz/cprobe/$t.c" $(sources "$t") $(libs "$t") -o "$bin"
}

mkdir -p "$out/logs" "$out/artifacts"

if [ "${1:-}" = --replay ]; then
  # Every corpus directory through every harness: a harness must survive any bytes,
  # not only its own format, and the whole corpus is a few hundred small files.
  # -runs=0 executes the given corpus once and does no fuzzing; libFuzzer exits
  # non-zero on a crash, a sanitizer report or a failed oracle (abort).
  dirs=(Fuzz/corpus/*/)
  for t in "${targets[@]}"; do build "$t"; done
  failed=()
  for t in "${targets[@]}"; do
    log=$out/logs/$t-replay.log
    # shellcheck disable=SC2046 # the flag list is words
    if env $(run_env "$t") "$out/$t" $(run_flags "$t") -runs=0 -artifact_prefix="$out/artifacts/$t-" "${dirs[@]}" >"$log" 2>&1; then
      echo "replay $t: ok ($(grep -o 'DONE .*' "$log" | head -1))"
    else
      echo "replay $t: FAILED (log: $log)" >&2
      grep -E "ERROR|SUMMARY|check failed|Test unit written" "$log" >&2 || tail -20 "$log" >&2
      failed+=("$t")
    fi
  done
  [ ${#failed[@]} -eq 0 ] || { echo "error: replay crashed: ${failed[*]}" >&2; exit 1; }
  exit 0
fi

target=${1:-all}
seconds=${2:-60}
if [ "$target" = all ]; then run=("${targets[@]}"); else sources "$target" >/dev/null; run=("$target"); fi
for t in "${run[@]}"; do build "$t"; done

failed=()
for t in "${run[@]}"; do
  work=$out/corpus-$t
  log=$out/logs/$t.log
  mkdir -p "$work"
  echo "==> fuzzing $t for ${seconds}s (log: $log)"
  # The first directory receives new inputs, the second (committed) is only read.
  # nice: fuzzing is background work on a machine that also builds.
  # shellcheck disable=SC2086 # FUZZ_ARGS is a list of flags
  # shellcheck disable=SC2046 # the flag list is words
  if nice -n 19 env $(run_env "$t") "$out/$t" $(run_flags "$t") -max_total_time="$seconds" -print_final_stats=1 \
      -artifact_prefix="$out/artifacts/$t-" ${FUZZ_ARGS:-} "$work" "Fuzz/corpus/$t" >"$log" 2>&1; then
    done_line=$(grep -o 'DONE .*' "$log" | tail -1)
    execs=$(awk '/stat::number_of_executed_units/ { print $2 }' "$log")
    rate=$(awk '/stat::average_exec_per_sec/ { print $2 }' "$log")
    echo "    $t: $execs execs, $rate exec/s, $done_line; $(find "$work" -type f | wc -l) new files in $work"
  else
    echo "    $t: CRASH (log: $log)" >&2
    grep -E "ERROR|SUMMARY|check failed|Test unit written" "$log" >&2 || tail -20 "$log" >&2
    failed+=("$t")
    continue
  fi
  if [ "${FUZZ_MERGE:-0}" = 1 ]; then
    # Adds to the committed corpus only the inputs that reach new coverage.
    before=$(find "Fuzz/corpus/$t" -type f | wc -l)
    nice -n 19 "$out/$t" -merge=1 "Fuzz/corpus/$t" "$work" >"$out/logs/$t-merge.log" 2>&1
    echo "    merged into Fuzz/corpus/$t: $before -> $(find "Fuzz/corpus/$t" -type f | wc -l) files"
  fi
done
[ ${#failed[@]} -eq 0 ] || { echo "error: crashes in: ${failed[*]} (inputs in $out/artifacts/)" >&2; exit 1; }
