#!/bin/bash
# Smoke test of the stow-* samples against our gateway, loopback only.
#
#   samples_smoke.sh STOW_FETCH STOW_PROXY STOW_FORWARD STOW_GATEWAY GATEWAY HELPERS_PY
#
# Starts the gateway (through the stow-gateway wrapper) with a fresh PSK, a
# DNS record and a virtual port forwarded to a local Python HTTP server,
# writes a profile, and checks each sample; prints PASS/FAIL per check and
# exits non-zero on any FAIL. Every wait is bounded (read -t / timeout).
set -u

FETCH="$1" PROXY="$2" FORWARD="$3" STOW_GATEWAY="$4" GATEWAY="$5" HELPERS="$6"
PY=/usr/bin/python3
CURL=/usr/bin/curl
N=10485760
SEED=5
URL="http://files.stowaway.test/bytes?n=$N&seed=$SEED"
# No ambient proxy settings may leak into curl.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY

WORK="$(mktemp -d "${TEST_TMPDIR:-/tmp}/samples_smoke.XXXXXX")"
FAILS=0
PIDS=()
cleanup() {
  local rc=$? pid
  if [[ $rc -ne 0 && $FAILS -eq 0 ]]; then
    CASES+=("FAIL	samples_smoke.sh ended early (exit $rc)")
  fi
  write_xml
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
}
trap cleanup EXIT

CASES=()  # "PASS|FAIL<TAB>text" per check, for the JUnit XML below.
pass() { echo "PASS $*"; CASES+=("PASS	$*"); }
fail() { echo "FAIL $*"; FAILS=$((FAILS + 1)); CASES+=("FAIL	$*"); }

# One JUnit test case per check in $XML_OUTPUT_FILE (Bazel reads it), so
# tools/count_tests.py counts checks, not just the one script.
write_xml() {
  [[ -n "${XML_OUTPUT_FILE:-}" ]] || return 0
  printf '%s\n' "${CASES[@]}" | "$PY" -c '
import sys
from xml.sax.saxutils import quoteattr
cases = [l.rstrip("\n").split("\t", 1) for l in sys.stdin if "\t" in l]
fails = sum(1 for r, _ in cases if r == "FAIL")
out = [f"<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
       f"<testsuites><testsuite name=\"samples_smoke\" tests=\"{len(cases)}\" failures=\"{fails}\" errors=\"0\">"]
for i, (r, text) in enumerate(cases):
    name = quoteattr("%02d %s" % (i + 1, text[:120]))
    body = "<failure message=%s/>" % quoteattr(text) if r == "FAIL" else ""
    out.append(f"<testcase classname=\"samples_smoke\" name={name}>{body}</testcase>")
out.append("</testsuite></testsuites>")
print("\n".join(out))' >"$XML_OUTPUT_FILE"
}

# start NAME CMD... : runs CMD with stdin and stdout on FIFOs; waits (30 s at
# most) for its "READY ..." line and stores the rest in READY_<NAME>, the
# pid in PID_<NAME> and the stdin writer fd in IN_<NAME>. Closing that fd
# is the command's end of input.
start() {
  local name="$1"; shift
  mkfifo "$WORK/$name.in" "$WORK/$name.out"
  "$@" <"$WORK/$name.in" >"$WORK/$name.out" 2>"$WORK/$name.err" &
  local pid=$!
  PIDS+=("$pid")
  local in out line
  exec {in}>"$WORK/$name.in"
  exec {out}<"$WORK/$name.out"
  if ! read -r -t 30 -u "$out" line || [[ "$line" != READY* ]]; then
    echo "--- $name did not get ready; stderr:"; cat "$WORK/$name.err"
    return 1
  fi
  printf -v "READY_$name" '%s' "${line#READY }"
  printf -v "PID_$name" '%s' "$pid"
  printf -v "IN_$name" '%s' "$in"
  printf -v "OUT_$name" '%s' "$out"
}

# stop NAME: closes its input and waits (20 s at most) for it to exit 0.
stop() {
  local name="$1" in_var="IN_$1" pid_var="PID_$1" out_var="OUT_$1"
  eval "exec ${!in_var}>&-"
  local pid="${!pid_var}" rc
  if ! timeout 20 tail --pid="$pid" -f /dev/null; then
    fail "$name did not stop at the end of its input"
    kill "$pid" 2>/dev/null
  fi
  wait "$pid"; rc=$?
  eval "exec ${!out_var}<&-"
  if [[ $rc -eq 0 ]]; then pass "$name stopped cleanly at end of input"
  else fail "$name exited $rc on stop; stderr:"; cat "$WORK/$name.err"; fi
}

sha() { sha256sum "$1" | cut -d' ' -f1; }
size() { stat -c %s "$1"; }

# ---- --help of every sample ----
for bin in "$FETCH" "$PROXY" "$FORWARD" "$STOW_GATEWAY"; do
  name="$(basename "$bin")"
  if "$bin" --help >"$WORK/help.txt" 2>&1 && grep -qi "usage\|stowaway" "$WORK/help.txt"; then
    pass "$name --help exits 0 ($(wc -l <"$WORK/help.txt") lines)"
  else
    fail "$name --help"; cat "$WORK/help.txt"
  fi
done

EXPECTED="$("$PY" "$HELPERS" pattern-sha "$N" "$SEED")"
echo "expected SHA-256 of /bytes?n=$N&seed=$SEED (computed locally): $EXPECTED"
CHUNK_N=3000001
CHUNK_EXPECTED="$("$PY" "$HELPERS" pattern-sha "$CHUNK_N" 7)"

# ---- The gateway, a host HTTP server behind a virtual port, a profile ----
start web "$PY" "$HELPERS" serve || exit 1
PSK="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
start gw "$STOW_GATEWAY" --listen=127.0.0.1:0 --ike --psk="$PSK" \
  --dns_record=files.stowaway.test=10.99.0.1 \
  --forward=10.99.0.1:8080=127.0.0.1:"$READY_web" \
  --stop_on_stdin_eof || exit 1
echo "gateway at $READY_gw, host HTTP server at 127.0.0.1:$READY_web"
PROFILE="$WORK/profile.json"
cat >"$PROFILE" <<JSON
{"name": "samples-smoke", "gateway": "$READY_gw",
 "local_id": "email:smoke@stowaway.test",
 "remote_id": "fqdn:gw.stowaway.test",
 "auth": {"psk": "$PSK"}}
JSON

# ---- stow-fetch ----
t0=$(date +%s.%N)
if "$FETCH" --profile="$PROFILE" --silent -o "$WORK/fetch.bin" "$URL" 2>"$WORK/fetch.err"; then
  t1=$(date +%s.%N)
  got="$(sha "$WORK/fetch.bin")"
  if [[ "$got" == "$EXPECTED" && "$(size "$WORK/fetch.bin")" == "$N" ]]; then
    pass "stow-fetch $URL -> $(size "$WORK/fetch.bin") bytes in $(awk "BEGIN{printf \"%.3f\", $t1 - $t0}") s (incl. tunnel setup), sha256 matches"
  else
    fail "stow-fetch body sha256 $got, want $EXPECTED"
  fi
else
  fail "stow-fetch exited $?"; cat "$WORK/fetch.err"
fi

"$FETCH" --profile="$PROFILE" "http://files.stowaway.test/" >"$WORK/status.txt" 2>"$WORK/status.err"
rc=$?
if [[ $rc -eq 0 ]] && grep -q "Stowaway gateway" "$WORK/status.txt"; then
  pass "stow-fetch of the status page (http://files.stowaway.test/)"
else fail "stow-fetch status page: exit $rc"; cat "$WORK/status.err"; fi

"$FETCH" --profile="$PROFILE" -o "$WORK/chunked.bin" \
  "http://files.stowaway.test:8080/chunked?n=$CHUNK_N&seed=7" 2>"$WORK/chunked.err"
rc=$?
if [[ $rc -eq 0 && "$(sha "$WORK/chunked.bin")" == "$CHUNK_EXPECTED" ]]; then
  pass "stow-fetch chunked body ($CHUNK_N bytes) via gateway port forward, sha256 matches"
else fail "stow-fetch chunked: exit $rc"; cat "$WORK/chunked.err"; fi

"$FETCH" --profile="$PROFILE" -o "$WORK/close.bin" \
  "http://files.stowaway.test:8080/close?n=$CHUNK_N&seed=7" 2>"$WORK/close.err"
rc=$?
if [[ $rc -eq 0 && "$(sha "$WORK/close.bin")" == "$CHUNK_EXPECTED" ]]; then
  pass "stow-fetch read-to-close body ($CHUNK_N bytes), sha256 matches"
else fail "stow-fetch read-to-close: exit $rc"; cat "$WORK/close.err"; fi

"$FETCH" --profile="$PROFILE" "http://missing.stowaway.test/" >"$WORK/nx.out" 2>"$WORK/nx.err"
rc=$?
if [[ $rc -eq 4 ]] && grep -q "NXDOMAIN" "$WORK/nx.err"; then
  pass "stow-fetch of a missing name exits $rc: $(head -1 "$WORK/nx.err")"
else fail "stow-fetch missing name: exit $rc"; cat "$WORK/nx.err"; fi

"$FETCH" --profile="$PROFILE" "http://files.stowaway.test/nope" >"$WORK/404.out" 2>"$WORK/404.err"
rc=$?
if [[ $rc -eq 6 ]] && grep -q "no resource at /nope" "$WORK/404.out" && grep -q "404" "$WORK/404.err"; then
  pass "stow-fetch of a 404 exits $rc and still prints the body: $(head -1 "$WORK/404.err")"
else fail "stow-fetch 404: exit $rc"; cat "$WORK/404.err"; fi

"$FETCH" --profile="$PROFILE" "http://10.99.0.1:4444/" >/dev/null 2>"$WORK/refused.err"
rc=$?
if [[ $rc -eq 5 ]] && grep -q "REFUSED" "$WORK/refused.err"; then
  pass "stow-fetch of a closed port exits $rc: $(head -1 "$WORK/refused.err")"
else fail "stow-fetch refused: exit $rc"; cat "$WORK/refused.err"; fi

printf '{"name": "bad",\n "gateway": "%s",\n "auth": {"psk": 5}}\n' "$READY_gw" >"$WORK/bad.json"
"$FETCH" --profile="$WORK/bad.json" "$URL" >/dev/null 2>"$WORK/bad.err"
rc=$?
if [[ $rc -eq 2 ]] && grep -q "line" "$WORK/bad.err"; then
  pass "stow-fetch with a bad profile exits $rc: $(head -1 "$WORK/bad.err")"
else fail "stow-fetch bad profile: exit $rc"; cat "$WORK/bad.err"; fi

# A gateway address nobody serves: a UDP port we hold open and never read.
exec {deaf}< <("$PY" -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1], flush=True); sys.stdin.read()')
read -r -t 10 -u "$deaf" DEAF_PORT
sed "s/$READY_gw/127.0.0.1:$DEAF_PORT/" "$PROFILE" >"$WORK/deaf.json"
"$FETCH" --profile="$WORK/deaf.json" --timeout=3 "$URL" >/dev/null 2>"$WORK/deaf.err"
rc=$?
if [[ $rc -eq 3 ]] && grep -qi "gateway unreachable" "$WORK/deaf.err"; then
  pass "stow-fetch with a silent gateway exits $rc: $(head -1 "$WORK/deaf.err")"
else fail "stow-fetch silent gateway: exit $rc"; cat "$WORK/deaf.err"; fi
exec {deaf}<&-

# ---- stow-proxy with real curl ----
curl_fetch() {  # LABEL OUT CURL-ARGS...
  local label="$1" out="$2"; shift 2
  local w
  if w="$("$CURL" -sS --max-time 120 -o "$out" -w '%{size_download} bytes in %{time_total} s (%{speed_download} B/s)' "$@" "$URL" 2>"$WORK/curl.err")"; then
    if [[ "$(sha "$out")" == "$EXPECTED" && "$(size "$out")" == "$N" ]]; then
      pass "curl $label through stow-proxy: $w, sha256 matches"
    else fail "curl $label: sha256 $(sha "$out") size $(size "$out")"; fi
  else fail "curl $label exited $?"; cat "$WORK/curl.err"; fi
}
if start proxy "$PROXY" --profile="$PROFILE" --listen=127.0.0.1:0 --stop_on_stdin_eof; then
  pass "stow-proxy READY $READY_proxy"
  curl_fetch "--socks5-hostname $READY_proxy" "$WORK/socks.bin" --socks5-hostname "$READY_proxy"
  curl_fetch "--proxy http://$READY_proxy" "$WORK/http.bin" --proxy "http://$READY_proxy"
  # The gateway hashes what it is sent: post the file back (10 MiB up).
  posted="$("$CURL" -sS --max-time 120 --proxy "http://$READY_proxy" --data-binary @"$WORK/http.bin" \
    -H 'Content-Type: application/octet-stream' http://files.stowaway.test/sha256 2>"$WORK/curl.err")"
  if [[ "$posted" == "$EXPECTED" ]]; then
    pass "curl POST of the 10 MiB file to /sha256 through stow-proxy: the gateway's sha256 matches"
  else fail "POST /sha256 answered '$posted'"; cat "$WORK/curl.err"; fi
  stop proxy
else
  fail "stow-proxy did not start"
fi

# Credentials: without them refused, with them served.
if start proxyauth "$PROXY" --profile="$PROFILE" --listen=127.0.0.1:0 --user=alice --password=s3cret --stop_on_stdin_eof; then
  code="$("$CURL" -s -o /dev/null -w '%{http_code}' --max-time 30 --proxy "http://$READY_proxyauth" http://files.stowaway.test/)"
  code_ok="$("$CURL" -s -o /dev/null -w '%{http_code}' --max-time 30 --proxy "http://alice:s3cret@$READY_proxyauth" http://files.stowaway.test/)"
  if [[ "$code" == 407 && "$code_ok" == 200 ]] &&
     "$CURL" -sS -o /dev/null --max-time 30 --socks5-hostname "alice:s3cret@$READY_proxyauth" http://files.stowaway.test/; then
    pass "stow-proxy --user/--password: 407 without, 200 with (HTTP), SOCKS5 with credentials ok"
  else fail "stow-proxy auth: without $code, with $code_ok"; fi
  stop proxyauth
else
  fail "stow-proxy with credentials did not start"
fi

# ---- stow-forward ----
if start fwd "$FORWARD" --profile="$PROFILE" -L 0:files.stowaway.test:7 \
     -L 127.0.0.1:0:10.99.0.1:80 --stop_on_stdin_eof; then
  read -r ECHO_ADDR HTTP_ADDR _ <<<"$READY_fwd"
  pass "stow-forward READY $READY_fwd"
  if out="$("$PY" "$HELPERS" echo "${ECHO_ADDR%:*}" "${ECHO_ADDR##*:}" "$N")"; then
    pass "stow-forward -L 0:files.stowaway.test:7 echo: $out"
  else fail "stow-forward echo: $out"; fi
  if w="$("$CURL" -sS --max-time 120 -o "$WORK/fwd.bin" -w '%{size_download} bytes in %{time_total} s' \
        "http://$HTTP_ADDR/bytes?n=$N&seed=$SEED")" && [[ "$(sha "$WORK/fwd.bin")" == "$EXPECTED" ]]; then
    pass "curl through stow-forward -L 127.0.0.1:0:10.99.0.1:80: $w, sha256 matches"
  else fail "curl through stow-forward HTTP"; fi
  stop fwd
else
  fail "stow-forward did not start"
fi

# ---- SIGTERM stops a sample cleanly too ----
if start sig "$PROXY" --profile="$PROFILE" --listen=127.0.0.1:0; then
  kill -TERM "$PID_sig"
  if timeout 20 tail --pid="$PID_sig" -f /dev/null; then
    wait "$PID_sig"; rc=$?
    if [[ $rc -eq 0 ]]; then pass "stow-proxy stops cleanly on SIGTERM"
    else fail "stow-proxy exit $rc after SIGTERM"; cat "$WORK/sig.err"; fi
  else fail "stow-proxy ignored SIGTERM"; fi
  exec {IN_sig}>&- {OUT_sig}<&-
fi

stop gw
exec {IN_web}>&-
timeout 10 tail --pid="$PID_web" -f /dev/null

if [[ $FAILS -ne 0 ]]; then
  echo "$FAILS check(s) FAILED"
  exit 1
fi
echo "all checks passed"
