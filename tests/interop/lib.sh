# Shared by the interop scripts (strongswan.sh, ocserv.sh): PASS/FAIL/SKIP
# counting, the summary line, finding a harness, building the binaries and
# running interop_client in a namespace. Source it after setting
#   summary=NAME   (the "NAME: N passed, ..." line tools/test.sh looks for)
# shellcheck shell=bash
passed=0 failed=0 skipped=0
out() { echo "$*"; }
pass() { out "PASS $*"; passed=$((passed + 1)); }
fail() { out "FAIL $*"; failed=$((failed + 1)); }
skip() { out "SKIP $*"; skipped=$((skipped + 1)); }
finish() {
  out "$summary: $passed passed, $failed failed, $skipped skipped"
  [ "$failed" -eq 0 ]
  exit $?
}

# find_harness WHAT ENV_DIR SCRIPT DIR...: sets $harness to the first DIR
# (ENV_DIR first) holding an executable SCRIPT; skips and finishes when
# not root or none is found.
find_harness() {
  local what=$1 env_dir=$2 script=$3
  shift 3
  harness=
  local d
  for d in "$env_dir" "$@"; do
    if [ -n "$d" ] && [ -x "$d/$script" ]; then harness=$d; break; fi
  done
  if [ "$(id -u)" -ne 0 ]; then skip "$what interop: needs root"; finish; fi
  if [ -z "$harness" ]; then
    skip "$what interop: harness not found"
    finish
  fi
}

# build_interop_binaries BAZEL_ARGS...: builds interop_client and the
# gateway with -c opt; sets $client and $gateway.
build_interop_binaries() {
  local log=/tmp/stow-interop-build.$summary.log
  if ! bazel "$@" build -c opt --symlink_prefix=/ \
      //tests/interop:interop_client //samples/gateway:gateway >"$log" 2>&1; then
    tail -20 "$log"
    fail "build of the interop binaries"
    finish
  fi
  local bin
  bin=$(bazel "$@" info -c opt bazel-bin 2>/dev/null)
  client=$bin/tests/interop/interop_client
  gateway=$bin/samples/gateway/gateway
}

# run_client NAMESPACE LOG ARGS...: runs interop_client there, repeats and
# counts its PASS/FAIL lines and figures, shows its log when it failed.
run_client() {
  local ns=$1 log=$2
  shift 2
  ip netns exec "$ns" "$client" "$@" >"$log.out" 2>"$log.err"
  local rc=$?
  grep -E '^(PASS|FAIL|\{)' "$log.out" | while read -r line; do out "$line"; done
  passed=$((passed + $(grep -c '^PASS' "$log.out")))
  failed=$((failed + $(grep -c '^FAIL' "$log.out")))
  if [ "$rc" -ne 0 ] && ! grep -q '^FAIL' "$log.out"; then
    fail "$(basename "$log"): exit $rc"
    tail -5 "$log.err"
  fi
  if grep -q '^FAIL' "$log.out"; then
    echo "--- $(basename "$log") log (last 30 lines)"
    tail -30 "$log.err"
  fi
}
