#!/usr/bin/env bash
# Sets up the machine, builds, and runs every test: the whole suite, then the
# unit suites under ASan+UBSan... and TSan for code that crosses threads.
# Then every fuzz target briefly, and the interop checks against a real
# strongSwan (tests/interop/strongswan.sh) and a real ocserv and openconnect
# (tests/interop/ocserv.sh). Ends with one line
# "N passed, N failed, N skipped" (test cases, summed over the runs) and
# exits non-zero on any failure.
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

"$root/tools/setup.sh" || { echo "0 passed, 1 failed"; exit 1; }

# Unit suites: beside the code. Integration suites need processes, root and
# network namespaces and run once, in the plain configuration.
unit_targets=(//sdk/... //netstack/... //tests/capi/...)
cross_thread_targets=(//sdk/event/... //netstack/... //sdk/gateway/... //sdk/proxy/...
  //sdk/engine/...
  //sdk/capi/... //tests/capi/...)

# Seconds each fuzz target runs (tools/fuzz.sh runs longer by hand).
fuzz_seconds=${STOW_FUZZ_SECONDS:-10}

total_passed=0
total_failed=0
total_skipped=0
infra_failed=0

# run LABEL CONFIG TARGET... (CONFIG is --config=NAME, or "" for plain)
run() {
  local label=$1 config=$2
  shift 2
  local flags=()
  [ -n "$config" ] && flags=("$config")
  local logs
  logs=$(bazel info "${flags[@]}" bazel-testlogs 2>/dev/null)
  # Testlogs of an earlier run would be counted again.
  [ -n "$logs" ] && rm -rf "$logs"
  echo "=== bazel test ${flags[*]} $*"
  bazel test --keep_going "${flags[@]}" "$@"
  local rc=$?
  # 0: all passed; 3: some tests failed (counted below); else a build error.
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 3 ]; then
    echo "!!! bazel test ($label) could not build or run (exit $rc)"
    infra_failed=$((infra_failed + 1))
  fi
  local p f s
  read -r p f s < <(python3 "$root/tools/count_tests.py" "$logs" "$label")
  echo "--- $label: $p passed, $f failed, $s skipped"
  total_passed=$((total_passed + p))
  total_failed=$((total_failed + f))
  total_skipped=$((total_skipped + s))
}

run plain "" //...
# ASan (with LeakSanitizer) and UBSan in one build of the unit suites.
run asan+ubsan --config=asan_ubsan "${unit_targets[@]}"
run tsan --config=tsan "${cross_thread_targets[@]}"

# Every fuzz target under libFuzzer for a short fixed time (one test each).
echo "=== tools/fuzz.sh $fuzz_seconds"
fuzz_out=$("$root/tools/fuzz.sh" "$fuzz_seconds")
echo "$fuzz_out"
fp=$(grep -c ': ok (' <<<"$fuzz_out")
ff=$(grep -c 'FAILED' <<<"$fuzz_out")
echo "--- fuzz: $fp passed, $ff failed, 0 skipped"
total_passed=$((total_passed + fp))
total_failed=$((total_failed + ff))

# The SDK and our gateway against a real strongSwan, in network namespaces
# (as root; skipped, and counted as such, otherwise). Each check is a test.
# Then the SDK against ocserv (TLS and DTLS) and openconnect against our
# gateway's TLS side.
for suite in strongswan:interop ocserv:interop-ocserv; do
  script=${suite%%:*} summary=${suite#*:}
  echo "=== tests/interop/$script.sh"
  interop_out=$("$root/tests/interop/$script.sh")
  echo "$interop_out"
  ip_=$(grep -c '^PASS' <<<"$interop_out")
  if_=$(grep -c '^FAIL' <<<"$interop_out")
  is_=$(grep -c '^SKIP' <<<"$interop_out")
  if ! grep -q "^$summary: " <<<"$interop_out"; then if_=$((if_ + 1)); fi
  echo "--- $summary: $ip_ passed, $if_ failed, $is_ skipped"
  total_passed=$((total_passed + ip_))
  total_failed=$((total_failed + if_))
  total_skipped=$((total_skipped + is_))
done
total_failed=$((total_failed + infra_failed))
echo "${total_passed} passed, ${total_failed} failed, ${total_skipped} skipped"
[ "$total_failed" -eq 0 ]
