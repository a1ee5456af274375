#!/bin/bash
# Interop with a real ocserv 1.1.6 and openconnect 9.01
# (../shared/interop/ocserv), as root, in network namespaces the harness
# creates and deletes:
#   1. the SDK (tests/interop:interop_client, TLS profile) against ocserv
#      with TLS only: password login, the 100 MiB file hash-equal, DNS of
#      files.vpn.test through the pushed server, iperf3 each way, then
#      `occtl disconnect` and the client's own reconnection;
#   2. the same with the DTLS channel (PSK-NEGOTIATE);
#   3. a wrong password and a wrong pin: one AUTH failure each, no retry;
#   4. real openconnect (tun mode, in the client namespace) logging in to
#      our gateway's TLS side and fetching from a gateway service.
# Prints PASS/FAIL/SKIP lines and figures as JSON lines, and ends with
# "interop-ocserv: N passed, N failed, N skipped". Exit 1 if anything
# failed. STOW_OCS_KEEP=1 leaves the harness up.
#
#   tests/interop/ocserv.sh [BAZEL_ARGS...]   e.g. --output_base=...
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
passed=0 failed=0 skipped=0
out() { echo "$*"; }
pass() { out "PASS $*"; passed=$((passed + 1)); }
fail() { out "FAIL $*"; failed=$((failed + 1)); }
skip() { out "SKIP $*"; skipped=$((skipped + 1)); }
finish() {
  out "interop-ocserv: $passed passed, $failed failed, $skipped skipped"
  [ "$failed" -eq 0 ]
  exit $?
}

harness=
for d in "${STOW_OCS_HARNESS:-}" "$root/../shared/interop/ocserv" \
         /work/shared/interop/ocserv; do
  if [ -n "$d" ] && [ -x "$d/gw-ocserv.sh" ]; then harness=$d; break; fi
done
if [ "$(id -u)" -ne 0 ]; then skip "ocserv interop: needs root"; finish; fi
if [ -z "$harness" ]; then
  skip "ocserv interop: harness not found (set STOW_OCS_HARNESS)"
  finish
fi
gw=$harness/gw-ocserv.sh

bazel_args=("$@")
bz() { bazel "${bazel_args[@]}" "$@"; }
if ! bz build -c opt --symlink_prefix=/ //tests/interop:interop_client \
    //samples/gateway:gateway >/tmp/stow-ocs-build.log 2>&1; then
  tail -20 /tmp/stow-ocs-build.log
  fail "build of the interop binaries"
  finish
fi
bin=$(bz info -c opt bazel-bin 2>/dev/null)
client=$bin/tests/interop/interop_client
gateway=$bin/samples/gateway/gateway
work=$(mktemp -d /tmp/stow-ocs.XXXXXX)
gw_pid= oc_pid=
cleanup() {
  [ -n "$oc_pid" ] && kill "$oc_pid" 2>/dev/null
  [ -n "$gw_pid" ] && kill "$gw_pid" 2>/dev/null
  [ "${STOW_OCS_KEEP:-0}" = 1 ] || "$gw" down >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

# Runs the client in the client namespace; counts its PASS/FAIL lines.
run_client() {  # LOG ARGS...
  local log=$1
  shift
  ip netns exec ocs-cli "$client" "$@" >"$log.out" 2>"$log.err"
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

# --- 1-2. the SDK against ocserv ---------------------------------------------
if ! "$gw" up >"$work/up.log" 2>&1; then
  tail -20 "$work/up.log"
  fail "ocserv harness up"
  finish
fi
# shellcheck disable=SC1090
. <("$gw" env)
sha=$(sha256sum "$OCS_STATE/www/file-100M.bin" | cut -d' ' -f1)
kick="ip netns exec ocs-gw occtl -s $OCS_STATE/occtl.socket disconnect user $OCS_USER"
profile() {  # FILE DTLS [PASSWORD] [PIN]
  cat >"$1" <<JSON
{"name": "ocserv", "transport": "tls", "gateway": "https://$GW_IP/",
 "pin": "${4:-$OCS_PIN}", "username": "$OCS_USER",
 "password": "${3:-$OCS_PASS}", "dtls": $2,
 "timers": {"connect_timeout_s": 15}}
JSON
}
GW_IP=10.233.1.1
profile "$work/tls.json" false
profile "$work/dtls.json" true
common=(--lan="$OCS_SRV_IP" --figure_prefix=tls --index_text=file-100M.bin
        --file=/file-100M.bin --file_sha="$sha" --udp_echo=false
        --dns_name=files.vpn.test --iperf_s=10 --kick_cmd="$kick")
run_client "$work/tls" --profile="$work/tls.json" --name=ocserv_tls "${common[@]}"
run_client "$work/dtls" --profile="$work/dtls.json" --name=ocserv_dtls "${common[@]}"
if grep -q 'DTLS up: ' "$work/dtls.err"; then
  pass "dtls channel: $(grep -o 'DTLS up: [^;]*' "$work/dtls.err" | head -1)"
else
  fail "dtls channel: never came up ($(grep -o 'DTLS[^;]*' "$work/dtls.err" | head -1))"
fi

# --- 3. bad credentials: one AUTH event, no retry loop ----------------------
expect_auth_failure() {  # NAME PROFILE TEXT
  local start=$SECONDS
  ip netns exec ocs-cli "$client" --profile="$2" --lan="$OCS_SRV_IP" \
    --name="$1" >"$work/$1.out" 2>"$work/$1.err"
  local attempts
  attempts=$(grep -c 'session connecting' "$work/$1.err")
  if grep -q "auth_failed: .*$3" "$work/$1.err" && [ "$attempts" -eq 1 ]; then
    pass "$1: $(grep -o 'auth_failed: .*' "$work/$1.err" | head -1) ($((SECONDS - start)) s, 1 attempt)"
  else
    fail "$1: attempts $attempts, $(grep -E 'auth_failed|reconnecting' "$work/$1.err" | head -2)"
  fi
}
profile "$work/badpw.json" false wrong-password
expect_auth_failure ocserv_wrong_password "$work/badpw.json" "Login failed"
profile "$work/badpin.json" false "$OCS_PASS" \
  "pin-sha256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
expect_auth_failure ocserv_wrong_pin "$work/badpin.json" "pin mismatch"

finish
