#!/usr/bin/env bash
# Builds the fuzz targets with clang + libFuzzer (+ASan/UBSan) and runs each
# for a while. The clang build uses its own Bazel output base, so it never
# evicts the gcc build's cache. Findings are written to .deps/fuzz-findings/
# and make the script exit non-zero.
#   tools/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]   (default 60, all)
# Prints one line per target: "fuzz <name>: ok (<runs> runs, <n> exec/s)"
# or "fuzz <name>: FAILED (...)".
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
"$root/tools/setup.sh" >&2 || exit 1
seconds=${1:-60}
shift || true
all=(
  //netstack/fuzz:ip_input_fuzzer
  //sdk/tunnel/ipsec/esp/fuzz:esp_decap_fuzzer
  //sdk/tunnel/ipsec/esp/fuzz:udp_encap_demux_fuzzer
  //sdk/gateway/services/fuzz:http_request_fuzzer
  //sdk/gateway/services:dns_query_fuzzer
  //sdk/proxy/fuzz:socks5_request_fuzzer
  //sdk/proxy/fuzz:socks5_udp_fuzzer
  //sdk/proxy/fuzz:http_proxy_request_fuzzer
  //sdk/tunnel/ipsec/ike/crypto/fuzz:ike_fragment_fuzzer
  //sdk/tunnel/ipsec/ike/codec/fuzz:ike_message_fuzzer
  //sdk/tunnel/ipsec/ike/negotiation/fuzz:negotiation_fuzzer
  //sdk/dns/fuzz:dns_response_fuzzer
  //sdk/dns/fuzz:dns_tcp_reader_fuzzer
  //sdk/tunnel/ipsec/ike/crypto:cert_auth_fuzzer
  //sdk/tunnel/ipsec/ike/sa/fuzz:ike_sa_fuzzer
  //sdk/tunnel/tls/fuzz:cstp_reader_fuzzer
  //sdk/tunnel/tls/fuzz:http_response_fuzzer
  //sdk/tunnel/tls/fuzz:auth_xml_fuzzer
  //sdk/tunnel/tls/fuzz:dtls_engine_fuzzer
  //sdk/gateway/tls/fuzz:anyconnect_request_fuzzer
  //sdk/gateway/tls/fuzz:dtls_client_hello_fuzzer
)
targets=("${@:-${all[@]}}")
[ $# -eq 0 ] && targets=("${all[@]}")

bz() { bazel --output_base="$root/.deps/bazel-fuzz" "$@"; }
if ! bz build --symlink_prefix=/ --repo_env=CC=clang --config=fuzz \
    "${targets[@]}" >&2; then
  echo "fuzz: build FAILED"
  exit 1
fi
bin=$(bz info --repo_env=CC=clang --config=fuzz bazel-bin 2>/dev/null)
findings="$root/.deps/fuzz-findings"
mkdir -p "$findings"
failed=0
for label in "${targets[@]}"; do
  name=${label##*:}
  path=${label#//}
  path=${path%%:*}
  corpus="$root/.deps/fuzz-corpus/$name"
  mkdir -p "$corpus"
  log="$findings/$name.log"
  "$bin/$path/$name" -max_total_time="$seconds" -print_final_stats=1 \
    -artifact_prefix="$findings/$name-" "$corpus" >"$log" 2>&1
  rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
  if [ "$rc" -eq 0 ]; then
    echo "fuzz $name: ok (${runs:-?} runs, ${speed:-?} exec/s, ${seconds}s)"
  else
    failed=$((failed + 1))
    echo "fuzz $name: FAILED (exit $rc; see $log)"
    grep -E "ERROR|SUMMARY|artifact" "$log" | head -5
  fi
done
[ "$failed" -eq 0 ]
