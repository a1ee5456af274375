#!/usr/bin/env bash
# Builds and runs every benchmark. Each prints JSON lines
# {"name","value","unit"}; compare ratios from one run, not absolute figures
# across machines. TUN and strongSwan figures need root.
#   tools/bench.sh [--mib=N]   (MiB per TCP transfer, default 256)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
"$root/tools/setup.sh" >&2

bazel build -c opt //sdk/tunnel/ipsec/esp:esp_bench //tests/bench:netstack_bench >&2
bin=$(bazel info -c opt bazel-bin 2>/dev/null)
# ESP seal/open per algorithm, one core.
"$bin/sdk/tunnel/ipsec/esp/esp_bench"
# One-stream TCP: kernel reference, netstack over TUN and the plain UDP link,
# and the SDK to the gateway over ESP.
"$bin/tests/bench/netstack_bench" "$@"
# The C API through its public header: RSS per idle connection (1000 open)
# and 1 KiB request/response rate and p50/p99 latency over 1 and 64
# connections, against the gateway process over ESP.
bazel build -c opt //tests/bench:capi_bench >&2
"$bin/tests/bench/capi_bench"
# IKEv2 against a real strongSwan, in network namespaces (root): connect
# time (request sent -> tunnel usable) of the SDK against strongSwan and
# against our gateway, of strongSwan's own initiator, and one-stream iperf3
# throughput of the SDK beside strongSwan's initiator, all in one run. The
# interop checks run too; only the figures are printed here.
if [ "$(id -u)" -eq 0 ]; then
  "$root/tests/interop/strongswan.sh" | grep '^{' || true
else
  echo "bench: IKE/strongSwan figures need root; skipped" >&2
fi
# TLS (AnyConnect/CSTP) against a real ocserv, in network namespaces (root):
# 100 MiB HTTP GET and iperf3 each way of the SDK beside openconnect +
# ocproxy and openconnect with a tun device, over TLS and DTLS, then TLS
# through a 10 ms relay, in one run (~10 min). The figures go to stdout, its
# table and other lines to stderr.
if [ "$(id -u)" -eq 0 ]; then
  "$root/tools/bench_ocserv.sh" |
    awk '/^\{/ { print; fflush(); next } { print > "/dev/stderr" }' || true
else
  echo "bench: ocserv figures need root; skipped" >&2
fi
