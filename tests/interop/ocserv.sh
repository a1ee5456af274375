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
#      our gateway's TLS side (DTLS on), posting 10 MiB hash-checked and
#      fetching 100 MiB from a gateway service; then the SDK against our
#      gateway with DTLS.
# Prints PASS/FAIL/SKIP lines and figures as JSON lines, and ends with
# "interop-ocserv: N passed, N failed, N skipped". Exit 1 if anything
# failed. STOW_OCS_KEEP=1 leaves the harness up.
#
#   tests/interop/ocserv.sh [BAZEL_ARGS...]   e.g. --output_base=...
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
summary=interop-ocserv
# shellcheck source=tests/interop/lib.sh
. "$root/tests/interop/lib.sh"
find_harness ocserv "${STOW_OCS_HARNESS:-}" gw-ocserv.sh \
  "$root/../shared/interop/ocserv" /work/shared/interop/ocserv
gw=$harness/gw-ocserv.sh

build_interop_binaries "$@"
work=$(mktemp -d /tmp/stow-ocs.XXXXXX)
gw_pid= oc_pid=
cleanup() {
  [ -n "$oc_pid" ] && kill "$oc_pid" 2>/dev/null
  [ -n "$gw_pid" ] && kill "$gw_pid" 2>/dev/null
  [ "${STOW_OCS_KEEP:-0}" = 1 ] || "$gw" down >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT


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
run_client ocs-cli "$work/tls" --profile="$work/tls.json" --name=ocserv_tls "${common[@]}"
run_client ocs-cli "$work/dtls" --profile="$work/dtls.json" --name=ocserv_dtls "${common[@]}"
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

# --- 4. openconnect against our gateway's TLS side ---------------------------
# Our gateway runs in the gateway namespace beside ocserv, on port 4443,
# with the harness's certificate (same pin) and one password user.
gw_port=4443
mkfifo "$work/gw.in"
ip netns exec ocs-gw "$gateway" --listen=127.0.0.1:4500 \
  --tls_listen="$GW_IP:$gw_port" --tls_cert="$OCS_STATE/pki/server.pem" \
  --tls_key="$OCS_STATE/pki/server.key" --tls_user="$OCS_USER:$OCS_PASS" \
  --dtls --stop_on_stdin_eof <"$work/gw.in" >"$work/gw.out" 2>"$work/gw.err" &
gw_pid=$!
exec 7>"$work/gw.in"
ready=
for _ in $(seq 100); do
  grep -q '^READY' "$work/gw.out" 2>/dev/null && { ready=1; break; }
  kill -0 "$gw_pid" 2>/dev/null || break
  sleep 0.1  # polling for the READY line of a process we started
done
if [ -z "$ready" ]; then
  fail "our gateway did not start: $(tail -3 "$work/gw.err")"
  finish
fi
printf '%s\n' "$OCS_PASS" | ip netns exec ocs-cli openconnect \
  --protocol=anyconnect --user="$OCS_USER" --passwd-on-stdin --non-inter \
  --servercert "$OCS_PIN" --interface=stow-tun0 \
  --script=/usr/share/vpnc-scripts/vpnc-script --background \
  --pid-file="$work/oc.pid" "https://$GW_IP:$gw_port/" \
  >"$work/oc.log" 2>&1
up=
for _ in $(seq 100); do
  ip netns exec ocs-cli ip route 2>/dev/null | grep -q 'stow-tun0' && { up=1; break; }
  sleep 0.1  # polling for the route openconnect's script installs
done
[ -s "$work/oc.pid" ] && oc_pid=$(cat "$work/oc.pid")
if [ -z "$up" ]; then
  fail "openconnect against our gateway: no tunnel ($(tail -3 "$work/oc.log" | tr '\n' ' '))"
else
  pass "openconnect logged in to our gateway"
  for _ in $(seq 50); do
    grep -q 'Established DTLS connection' "$work/oc.log" && break
    sleep 0.1  # polling for openconnect's DTLS line
  done
  if grep -q 'Established DTLS connection' "$work/oc.log"; then
    pass "openconnect: $(grep -m1 -o 'Established DTLS connection.*' "$work/oc.log")"
  else
    fail "openconnect: no DTLS with our gateway: $(grep -i dtls "$work/oc.log" | tail -2)"
  fi
  page=$(ip netns exec ocs-cli curl -s --max-time 10 http://10.99.0.1/)
  if grep -q 'Stowaway gateway' <<<"$page"; then
    pass "openconnect: status page from our gateway"
  else
    fail "openconnect: status page: '$(head -c 200 <<<"$page")'"
  fi
  head -c 10485760 /dev/urandom >"$work/up.bin"
  want=$(sha256sum "$work/up.bin" | cut -d' ' -f1)
  got=$(ip netns exec ocs-cli curl -s --max-time 30 --data-binary @"$work/up.bin" \
    http://10.99.0.1/sha256 | tr -d '[:space:]')
  if [ "$got" = "$want" ]; then
    pass "openconnect: 10 MiB POST /sha256 to our gateway hash-equal"
  else
    fail "openconnect: POST /sha256 got '$got' want '$want'"
  fi
  start=$(date +%s%N)
  size=$(ip netns exec ocs-cli curl -s --max-time 60 \
    "http://10.99.0.1/bytes?n=104857600&seed=7" | wc -c)
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  if [ "$size" = 104857600 ]; then
    pass "openconnect: 100 MiB download from our gateway in $ms ms"
    out "{\"name\": \"http_get_openconnect_to_ours\", \"value\": $(( 838860800 / (ms > 0 ? ms : 1) / 1000 )), \"unit\": \"Mbit/s\"}"
  else
    fail "openconnect: download got $size bytes"
  fi
  kill -INT "$oc_pid" 2>/dev/null
  for _ in $(seq 100); do
    grep -q 'session ended' "$work/gw.err" && break
    sleep 0.1  # polling for the gateway's log line after openconnect's DISCONNECT
  done
  if grep -q 'session ended' "$work/gw.err"; then
    pass "openconnect: DISCONNECT ends the session at our gateway"
  else
    fail "openconnect: no session end in the gateway log: $(tail -2 "$work/gw.err")"
  fi
  oc_pid=
fi

# The SDK against our gateway: connect time and the status page.
cat >"$work/ours.json" <<JSON
{"name": "ours", "transport": "tls", "gateway": "https://$GW_IP:$gw_port/",
 "pin": "$OCS_PIN", "username": "$OCS_USER", "password": "$OCS_PASS",
 "dtls": true}
JSON
run_client ocs-cli "$work/ours" --profile="$work/ours.json" --lan=10.99.0.1 \
  --http_port=80 --index_text="Stowaway gateway" --udp_echo=true \
  --dns_name= --iperf_s=0 --figure_prefix=tls --name=ours_dtls
if grep -q 'DTLS up: ' "$work/ours.err"; then
  pass "SDK to our gateway: $(grep -o 'DTLS up: [^;]*' "$work/ours.err" | head -1)"
else
  fail "SDK to our gateway: DTLS never came up ($(grep -o 'DTLS[^;]*' "$work/ours.err" | head -1))"
fi
exec 7>&-
wait "$gw_pid" 2>/dev/null
gw_pid=

finish
