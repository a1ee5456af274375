#!/bin/bash
# Interop with a real strongSwan 5.9.8 (../shared/interop/strongswan), as
# root, in network namespaces the harness creates and deletes:
#   1. the SDK (tests/interop:interop_client) against strongSwan's
#      gateway with the PSK connection: HTTP, 10 MiB hash-equal, UDP echo,
#      DNS through the pushed server, iperf3 10 s each way, then hash-checked
#      echo transfers across the gateway's CHILD and IKE rekeys and an idle
#      spell for its DPD (short gateway timers, COOKIE threshold left on);
#   2. the same checks (no soak) with the ECDSA-certificate connection;
#   3. strongSwan's own initiator against strongSwan, for the throughput
#      and connect-time figures beside ours (same run);
#   4. strongSwan's initiator against our gateway (samples/gateway --ike),
#      fetching from a gateway service; and the SDK against our gateway, for
#      its connect time.
# Prints PASS/FAIL/SKIP lines and figures as JSON lines, and ends with
# "interop: N passed, N failed, N skipped". Exit 1 if anything failed.
#
#   tests/interop/strongswan.sh [BAZEL_ARGS...]   e.g. --output_base=...
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
summary=interop
# shellcheck source=tests/interop/lib.sh
. "$root/tests/interop/lib.sh"
find_harness strongSwan "${STOW_SSW_HARNESS:-}" gw-strongswan.sh \
  "$root/../shared/interop/strongswan" /work/shared/interop/strongswan
gw=$harness/gw-strongswan.sh
state=/tmp/ssw-harness

build_interop_binaries "$@"
work=$(mktemp -d /tmp/stow-interop.XXXXXX)
gw_pid=
cleanup() {
  [ -n "$gw_pid" ] && kill "$gw_pid" 2>/dev/null
  "$gw" down >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT


# --- 1. strongSwan gateway with short timers --------------------------------
export SSW_CHILD_REKEY=${SSW_CHILD_REKEY:-20s}
export SSW_IKE_REKEY=${SSW_IKE_REKEY:-35s}
export SSW_DPD_DELAY=${SSW_DPD_DELAY:-5s}
if ! "$gw" up >"$work/up.log" 2>&1; then
  tail -20 "$work/up.log"
  fail "strongSwan harness up"
  finish
fi
# shellcheck disable=SC1091
. "$state/env"
sha10m=$(grep ' 10M.bin' "$state/www/SHA256SUMS" | cut -d' ' -f1)

cat >"$work/psk.json" <<EOF
{"name": "ssw-psk", "gateway": "$SSW_GW_IP:500",
 "local_id": "email:$SSW_PSK_CLIENT_ID", "remote_id": "fqdn:$SSW_GW_ID",
 "auth": {"psk": "$SSW_PSK"}}
EOF
cat >"$work/cert.json" <<EOF
{"name": "ssw-cert", "gateway": "$SSW_GW_IP:500",
 "remote_id": "fqdn:$SSW_GW_ID",
 "auth": {"certificate": "$SSW_CLIENT_CERT", "private_key": "$SSW_CLIENT_KEY",
          "ca": "$SSW_CA_CERT"}}
EOF

run_client ssw-client "$work/psk" --profile="$work/psk.json" --lan="$SSW_LAN_IP" \
  --file=/10M.bin --file_sha="$sha10m" --iperf_s=10 --soak_s=40 --idle_s=30 \
  --name=strongswan_psk
run_client ssw-client "$work/cert" --profile="$work/cert.json" --lan="$SSW_LAN_IP" \
  --file=/10M.bin --file_sha="$sha10m" --iperf_s=10 --name=strongswan_cert
if grep -qE 'AUTH_FAILED|INVALID|error' "$SSW_GW_LOG" 2>/dev/null; then
  out "INFO gateway log mentions: $(grep -cE 'AUTH_FAILED|INVALID|error' "$SSW_GW_LOG") lines with AUTH_FAILED/INVALID/error"
fi

# --- 3. strongSwan's initiator for comparison ---------------------------------
conn=psk-aes256gcm-x25519
"$gw" client-up >"$work/client-up.log" 2>&1 || fail "strongSwan client up"
t0=$(date +%s%N)
if "$gw" swanctl-cl --initiate --ike "$conn" --child "$conn" \
    >"$work/ssw-initiate.log" 2>&1; then
  t1=$(date +%s%N)
  ms=$(( (t1 - t0) / 1000000 ))
  out "{\"name\": \"ike_connect_ms_strongswan_initiator\", \"value\": $ms, \"unit\": \"ms\"}"
  for dir in up down; do
    flag=; [ "$dir" = down ] && flag=-R
    mbit=$(ip netns exec ssw-client iperf3 -c "$SSW_LAN_IP" -p "$SSW_IPERF_PORT" \
      -t 10 -J $flag 2>/dev/null | /usr/bin/python3 -c '
import json, sys
try:
    print("%.1f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 1e6))
except Exception:
    print("")')
    name=tcp_sdk_to_lan; [ "$dir" = down ] && name=tcp_lan_to_sdk
    if [ -n "$mbit" ]; then
      out "{\"name\": \"${name}_strongswan_initiator\", \"value\": $mbit, \"unit\": \"Mbit/s\"}"
    else
      out "INFO strongSwan initiator iperf3 $dir failed"
    fi
  done
  "$gw" swanctl-cl --terminate --ike "$conn" >/dev/null 2>&1
else
  out "INFO strongSwan initiator could not connect: $(tail -2 "$work/ssw-initiate.log")"
fi

# --- 4. strongSwan's initiator against our gateway ----------------------------
# charon-gw goes; ours takes its addresses and ports. Its virtual address
# sits inside the LAN selector the strongSwan client asks for.
if [ -f "$state/pids/charon-gw.pid" ]; then
  kill "$(cat "$state/pids/charon-gw.pid")" 2>/dev/null
  for _ in $(seq 50); do
    ip netns exec ssw-gw ss -uln 2>/dev/null | grep -q ':500 ' || break
    sleep 0.1  # waiting for a process we killed to let go of its port
  done
fi
mkfifo "$work/gw.in"
ip netns exec ssw-gw "$gateway" --ike --psk="$SSW_PSK" --id="fqdn:$SSW_GW_ID" \
  --listen="$SSW_GW_IP:4500" --ike_listen="$SSW_GW_IP:500" \
  --ipv4=10.200.2.100/16 --ipv6= --pool=10.200.100.0/24 \
  --stop_on_stdin_eof <"$work/gw.in" >"$work/gw.out" 2>"$work/gw.err" &
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
else
  if "$gw" swanctl-cl --initiate --ike "$conn" --child "$conn" \
      >"$work/ssw-ours.log" 2>&1; then
    pass "strongSwan initiator connected to our gateway"
    page=$(ip netns exec ssw-client curl -s --max-time 10 http://10.200.2.100/)
    if grep -q 'Stowaway gateway' <<<"$page"; then
      pass "strongSwan initiator: status page from our gateway"
    else
      fail "strongSwan initiator: status page: '$(head -c 200 <<<"$page")'"
    fi
    head -c 10485760 /dev/urandom >"$work/up.bin"
    want=$(sha256sum "$work/up.bin" | cut -d' ' -f1)
    got=$(ip netns exec ssw-client curl -s --max-time 30 --data-binary @"$work/up.bin" \
      http://10.200.2.100/sha256 | tr -d '[:space:]')
    if [ "$got" = "$want" ]; then
      pass "strongSwan initiator: 10 MiB POST /sha256 hash-equal"
    else
      fail "strongSwan initiator: POST /sha256 got '$got' want '$want'"
    fi
    size=$(ip netns exec ssw-client curl -s --max-time 30 \
      "http://10.200.2.100/bytes?n=10485760&seed=7" | wc -c)
    if [ "$size" = 10485760 ]; then
      pass "strongSwan initiator: 10 MiB download from our gateway"
    else
      fail "strongSwan initiator: download got $size bytes"
    fi
    "$gw" swanctl-cl --terminate --ike "$conn" >/dev/null 2>&1
  else
    fail "strongSwan initiator against our gateway: $(grep -iE 'fail|error|received' "$work/ssw-ours.log" | tail -3)"
    tail -5 "$work/gw.err"
  fi
  "$gw" client-down >/dev/null 2>&1
  # The SDK against our gateway: connect time and a UDP/HTTP check.
  cat >"$work/ours.json" <<EOF
{"name": "ours", "gateway": "$SSW_GW_IP:500", "local_id": "email:sdk@ssw.test",
 "remote_id": "fqdn:$SSW_GW_ID", "auth": {"psk": "$SSW_PSK"}}
EOF
  run_client ssw-client "$work/ours" --profile="$work/ours.json" --lan=10.200.2.100 \
    --http_port=80 --index_text="Stowaway gateway" --dns_name= --iperf_s=0 \
    --name=stowaway_gateway
fi
exec 7>&-
wait "$gw_pid" 2>/dev/null
gw_pid=
finish
