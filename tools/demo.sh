#!/usr/bin/env bash
# The demo: sets up what is missing, builds, starts the gateway on 127.0.0.1
# as an IKEv2 responder with a fresh pre-shared key, and runs the demo client:
# IKE_SA_INIT and IKE_AUTH, then through the ESP tunnel the status page, a
# 100 MiB download with its SHA-256 checked, ping and the counters. Stops the
# gateway and exits 0 when everything worked.
#   tools/demo.sh [--transport ipsec|tls] [MIB]
# With --transport tls the gateway serves the AnyConnect-compatible protocol
# on TCP (and DTLS on UDP) with a fresh self-signed certificate and a fresh
# password, and the client logs in over TLS, pinning the certificate's key.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
transport=ipsec
if [ "${1:-}" = "--transport" ]; then
  transport=${2:-}
  shift 2
fi
case "$transport" in
  ipsec | tls) ;;
  *) echo "tools/demo.sh: --transport must be ipsec or tls" >&2; exit 2 ;;
esac
mib=${1:-100}

"$root/tools/setup.sh"
echo "== building"
bazel build //samples/gateway //samples/demo 2>&1 | tail -1
bin=$(bazel info bazel-bin 2>/dev/null)

work=$(mktemp -d)
gateway_pid=
cleanup() {
  if [ -n "$gateway_pid" ] && kill -0 "$gateway_pid" 2>/dev/null; then
    kill -TERM "$gateway_pid" 2>/dev/null || true
    wait "$gateway_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# A fresh pre-shared key for this run, known to the gateway and the client.
head -c 24 /dev/urandom | base64 >"$work/psk"
chmod 600 "$work/psk"

# For TLS: a throwaway certificate for the gateway and a password.
tls_args=()
if [ "$transport" = tls ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$work/gw.key" -out "$work/gw.pem" -days 2 \
    -subj "/CN=gw.stowaway.test" \
    -addext "subjectAltName=DNS:gw.stowaway.test,IP:127.0.0.1" 2>/dev/null
  pin="pin-sha256:$(openssl x509 -in "$work/gw.pem" -pubkey -noout |
    openssl pkey -pubin -outform der | openssl dgst -sha256 -binary |
    openssl base64 -A)"
  password=$(head -c 18 /dev/urandom | base64)
  tls_args=(--tls_listen=127.0.0.1:0 --tls_cert="$work/gw.pem"
            --tls_key="$work/gw.key" --tls_user="demo:$password" --dtls)
fi

# start_gateway ADDRESS: starts it in the background; 0 once it is READY.
start_gateway() {
  : >"$work/gateway.out"
  "$bin/samples/gateway/gateway" --listen="$1" --ike \
    --psk_file="$work/psk" --id=fqdn:gw.stowaway.test "${tls_args[@]}" \
    >"$work/gateway.out" 2>"$work/gateway.log" &
  gateway_pid=$!
  for _ in $(seq 150); do
    grep -q '^READY ' "$work/gateway.out" && return 0
    kill -0 "$gateway_pid" 2>/dev/null || break
    sleep 0.1
  done
  wait "$gateway_pid" 2>/dev/null || true
  gateway_pid=
  return 1
}

echo "== starting the gateway"
if ! start_gateway 127.0.0.1:4500; then
  cat "$work/gateway.log" >&2
  echo "(port 4500 unavailable: using any free port)"
  start_gateway 127.0.0.1:0 || { cat "$work/gateway.log" >&2; exit 1; }
fi
address=$(sed -n 's/^READY //p' "$work/gateway.out")
cat "$work/gateway.log"
shown=$(wc -l <"$work/gateway.log")

# The client's IKE profile: the gateway's NAT-T port (UDP encapsulation
# from the first message), our identity, the gateway's, and the key.
cat >"$work/client.json" <<EOF
{"name": "demo", "gateway": "$address",
 "local_id": "email:demo@stowaway.test", "remote_id": "fqdn:gw.stowaway.test",
 "auth": {"psk": "$(cat "$work/psk")"}}
EOF
chmod 600 "$work/client.json"
status=0
if [ "$transport" = tls ]; then
  tls_address=$(sed -n 's/.*TLS (AnyConnect) on \([0-9.]*:[0-9]*\).*/\1/p' \
    "$work/gateway.log" | head -1)
  cat >"$work/tls.json" <<EOF
{"name": "demo-tls", "transport": "tls",
 "gateway": "https://gw.stowaway.test/", "address": "$tls_address",
 "pin": "$pin", "username": "demo", "password": "$password", "dtls": true}
EOF
  chmod 600 "$work/tls.json"
  "$bin/samples/demo/demo" --tls_profile="$work/tls.json" --mib="$mib" ||
    status=$?
else
  "$bin/samples/demo/demo" --ike_profile="$work/client.json" \
    --gateway="$address" --mib="$mib" || status=$?
fi

echo
echo "== stopping the gateway"
kill -TERM "$gateway_pid"
gateway_status=0
wait "$gateway_pid" || gateway_status=$?
gateway_pid=
tail -n +"$((shown + 1))" "$work/gateway.log"
if [ "$status" -ne 0 ] || [ "$gateway_status" -ne 0 ]; then
  echo "demo FAILED (demo exit $status, gateway exit $gateway_status)"
  exit 1
fi
echo "demo OK"
