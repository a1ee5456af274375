#!/bin/bash
# Throughput through one real ocserv 1.1.6 (the harness in
# ../shared/interop/ocserv), three clients in one run:
#   sdk     the SDK (tests/interop:interop_client, -c opt): its own HTTP GET
#           of the 100 MiB file and its own iperf3 client, over its lwIP
#           netstack inside the tunnel;
#   ocproxy openconnect --script-tun + ocproxy (lwIP): curl through SOCKS5
#           and through ocproxy's -L port forward, iperf3 through -L;
#   tun     openconnect with a tun device (kernel TCP): curl, iperf3.
# For each of TLS (CSTP only) and DTLS, then TLS through delay_relay.py
# (RELAY_DELAY_MS each way, iperf3 only). openconnect runs come from the
# harness's bench-ocserv.sh (same commands, same idle-CPU gate); the SDK runs
# here with the same gate. "dtls" asks for DTLS; what each client actually
# used (from its own log) is in the table's "data path" column.
#
# Prints {"name","value","unit"} JSON lines (medians, Mbit/s), e.g.
# ocserv_sdk_tls_http_get, ocserv_ocproxy_dtls_iperf_down,
# ocserv_tun_relay10_iperf_up, then a markdown table; the table, the raw runs
# and every log go to a directory under /tmp (printed at the end).
#
# Root only; prints SKIP and exits 0 without root or without the harness.
# Holds /tmp/ocs-harness.lock (flock) while it uses the harness. Brings the
# harness up if needed and leaves it up, with no openconnect running; never
# takes it down.
#
#   tools/bench_ocserv.sh [BAZEL_STARTUP_ARGS...]   e.g. --output_base=...
#
# Env: RUNS_GET (3) RUNS_IPERF (2) IPERF_SECS (10) TRANSPORTS ("tls dtls")
#      CLIENTS ("sdk ocproxy tun") RELAY_DELAY_MS (10; 0 skips the relay part)
#      QUIET_MAX_WAIT (15: seconds each run waits for an idle CPU)
#      LOCK_WAIT (900) INTEROP_CLIENT (a built interop_client: skips the build)
#      STOW_OCS_HARNESS (the harness directory) BENCH_OUT (results directory)
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
self="$root/tools/$(basename "$0")"
lockfile=/tmp/ocs-harness.lock

RUNS_GET=${RUNS_GET:-3} RUNS_IPERF=${RUNS_IPERF:-2} IPERF_SECS=${IPERF_SECS:-10}
TRANSPORTS=${TRANSPORTS:-"tls dtls"} CLIENTS=${CLIENTS:-"sdk ocproxy tun"}
RELAY_DELAY_MS=${RELAY_DELAY_MS:-10} LOCK_WAIT=${LOCK_WAIT:-900}
export QUIET_MAX_WAIT=${QUIET_MAX_WAIT:-15} QUIET_IDLE_PCT=${QUIET_IDLE_PCT:-85}

log() { echo "bench_ocserv: $*" >&2; }

harness='' candidates=("$root/../shared/interop/ocserv" /work/shared/interop/ocserv)
[ -n "${STOW_OCS_HARNESS:-}" ] && candidates=("$STOW_OCS_HARNESS")
for d in "${candidates[@]}"; do
  if [ -d "$d" ] && [ -x "$d/gw-ocserv.sh" ] && [ -x "$d/bench-ocserv.sh" ] &&
     [ -f "$d/delay_relay.py" ]; then
    harness=$(cd "$d" && pwd)
    break
  fi
done
if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP ocserv bench: needs root"
  exit 0
fi
if [ -z "$harness" ]; then
  echo "SKIP ocserv bench: harness not found (set STOW_OCS_HARNESS)"
  exit 0
fi
gw=$harness/gw-ocserv.sh

# ---- phase 1 (no lock): build, then run phase 2 under the harness lock ----
if [ "${STOW_OCS_BENCH_PHASE:-}" != measure ]; then
  start=$(date +%s)
  if [ -z "${INTEROP_CLIENT:-}" ]; then
    cd "$root" || exit 1
    if ! bazel "$@" build -c opt --symlink_prefix=/ \
        //tests/interop:interop_client >/tmp/stow-bench-ocserv-build.log 2>&1; then
      tail -20 /tmp/stow-bench-ocserv-build.log
      echo "FAIL ocserv bench: build of //tests/interop:interop_client" \
           "(log /tmp/stow-bench-ocserv-build.log)"
      exit 1
    fi
    INTEROP_CLIENT=$(bazel "$@" info -c opt bazel-bin 2>/dev/null)/tests/interop/interop_client
  fi
  [ -x "$INTEROP_CLIENT" ] || { echo "FAIL ocserv bench: no $INTEROP_CLIENT"; exit 1; }
  log "waiting for $lockfile (up to ${LOCK_WAIT}s)"
  # -o: the lock's descriptor is not inherited, so openconnect (which
  # daemonizes) or a relay can never keep the harness locked.
  STOW_OCS_BENCH_PHASE=measure INTEROP_CLIENT=$INTEROP_CLIENT BENCH_START=$start \
    flock -o -E 75 -w "$LOCK_WAIT" "$lockfile" "$self"
  rc=$?
  if [ "$rc" -eq 75 ]; then
    echo "SKIP ocserv bench: $lockfile held by someone else for ${LOCK_WAIT}s"
    exit 0
  fi
  exit "$rc"
fi

# ---- phase 2: measurements, holding the lock ----
client=$INTEROP_CLIENT
measure_start=$(date +%s)
out=${BENCH_OUT:-/tmp/stow-bench-ocserv-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$out"
runs=$out/runs.csv notes=$out/notes.tsv
echo "client,transport,test,run,mbit_s" >"$runs"
: >"$notes"
relay_pid=
cleanup() {
  if [ -n "$relay_pid" ]; then
    kill "$relay_pid" 2>/dev/null
    wait "$relay_pid" 2>/dev/null
    rm -f "${OCS_STATE:-/run/ocs-harness}/pids/delay_relay.pid"
  fi
  "$gw" disconnect >>"$out/harness.log" 2>&1
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if ! "$gw" up >"$out/up.log" 2>&1; then
  tail -20 "$out/up.log"
  echo "FAIL ocserv bench: gw-ocserv.sh up (log $out/up.log)"
  exit 1
fi
# shellcheck disable=SC1091
. "${OCS_STATE:-/run/ocs-harness}/env"
"$gw" disconnect >>"$out/harness.log" 2>&1  # nobody else's openconnect in our runs
file=${OCS_HTTP_URL##*/}
file_sha=$(sha256sum "$OCS_STATE/www/$file" | cut -d' ' -f1)
gw_ip=${OCS_URL#https://}
gw_ip=${gw_ip%%:*}
gw_port=${OCS_URL##*:}
gw_port=${gw_port%/}
relay_port=8443  # where bench-ocserv.sh puts its relay too
log "harness $harness up; results in $out; load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)" >"$out/load.txt"

note() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$notes"; }

idle_pct() {  # CPU idle % over 1 s (the gate bench-ocserv.sh applies to its runs)
  local a b
  read -r -a a </proc/stat; sleep 1; read -r -a b </proc/stat
  awk -v a="${a[*]}" -v b="${b[*]}" 'BEGIN{split(a, x); split(b, y); t = 0
    for (i = 2; i <= 9; i++) t += y[i] - x[i]
    idle = (y[5] - x[5]) + (y[6] - x[6]); printf "%d", (t > 0 ? 100 * idle / t : 100)}'
}
wait_quiet() {
  local w=0 idle
  while :; do
    idle=$(idle_pct)
    [ "$idle" -ge "$QUIET_IDLE_PCT" ] && return 0
    [ "$w" -ge "$QUIET_MAX_WAIT" ] && { log "CPU only ${idle}% idle, running anyway"; return 0; }
    sleep 1; w=$((w + 2))
  done
}

# figure NAME FILE -> the value of the JSON figure line NAME in FILE
figure() {
  sed -n "s/^{\"name\": \"$1\", \"value\": \([0-9.]*\),.*/\1/p" "$2" | head -1
}

# sdk_runs TRANSPORT(tls|dtls|relayN) : RUNS_GET GETs and RUNS_IPERF iperf3
# pairs, one SDK session per run.
sdk_runs() {
  local tr=$1 dtls=false address='' i n get iperf label base detail said first='' dtls_up
  [ "$tr" = dtls ] && dtls=true
  case $tr in relay*) address=", \"address\": \"$gw_ip:$relay_port\"" ;; esac
  cat >"$out/sdk-$tr.json" <<EOF
{"name": "ocserv", "transport": "tls", "gateway": "https://$gw_ip/"$address,
 "pin": "$OCS_PIN", "username": "$OCS_USER", "password": "$OCS_PASS",
 "dtls": $dtls}
EOF
  n=$RUNS_IPERF dtls_up=0
  case $tr in relay*) ;; *) [ "$RUNS_GET" -gt "$n" ] && n=$RUNS_GET ;; esac
  for ((i = 1; i <= n; i++)); do
    get=$file_sha iperf=$IPERF_SECS
    case $tr in relay*) get= ;; *) [ "$i" -gt "$RUNS_GET" ] && get= ;; esac
    [ "$i" -gt "$RUNS_IPERF" ] && iperf=0
    label=ocserv_${tr}_$i base=$out/sdk-$tr-$i
    wait_quiet
    timeout $((4 * IPERF_SECS + 240)) ip netns exec ocs-cli "$client" \
      --profile="$out/sdk-$tr.json" --lan="$OCS_SRV_IP" --name="$label" \
      --figure_prefix=tls --index_text="$file" --file="/$file" \
      --file_sha="$get" --udp_echo=false --dns_name=files.vpn.test \
      --iperf_s="$iperf" >"$base.out" 2>"$base.err"
    local rc=$? v
    grep -E '^(PASS|FAIL)' "$base.out" | sed "s/^/  [sdk\/$tr#$i] /" >&2
    [ "$rc" -ne 0 ] && log "sdk/$tr#$i: exit $rc (see $base.err)"
    v=$(figure "http_get_$label" "$base.out")
    [ -n "$get" ] && echo "sdk,$tr,http_get,$i,${v:-0}" >>"$runs"
    if [ "$iperf" -gt 0 ]; then
      v=$(figure "tcp_lan_to_sdk_$label" "$base.out")
      echo "sdk,$tr,iperf_down,$i,${v:-0}" >>"$runs"
      v=$(figure "tcp_sdk_to_lan_$label" "$base.out")
      echo "sdk,$tr,iperf_up,$i,${v:-0}" >>"$runs"
    fi
    v=$(figure "tls_connect_ms_$label" "$base.out")
    [ -n "$v" ] && echo "sdk,$tr,connect_ms,$i,$v" >>"$runs"
    # What the SDK said about its data path: the connected line, and any
    # session line about DTLS.
    detail=$(sed -n 's/^PASS connect: in [0-9]* ms: //p' "$base.out" | head -1)
    said=$(printf '%s\n' "$detail" | tr ';' '\n' | grep -E 'CSTP|DTLS' | sed 's/^ *//' | paste -sd';' -)
    local dline
    dline=$(grep -i 'dtls' "$base.err" | grep -v '^ ' | head -3 | sed 's/^[0-9:.]* session //' | paste -sd'|' -)
    [ "$i" -eq 1 ] && first="${said:-no connected line}${dline:+ | log: $dline}"
    grep -q 'DTLS up' "$base.err" && dtls_up=$((dtls_up + 1))
  done
  note sdk "$tr" "$first (\"DTLS up\" logged in $dtls_up of $n sessions)"
}

# oc_runs MODE(tun|ocproxy) TRANSPORT(tls|dtls|relayN): bench-ocserv.sh
# for one mode and transport; its per-run CSV is folded into ours.
oc_runs() {
  local mode=$1 tr=$2 dir=$out/oc-$1-$2 tests env=() csv said
  mkdir -p "$dir"
  tests="http-get iperf-down iperf-up"
  [ "$mode" = ocproxy ] && tests="http-get http-get-fwd iperf-down iperf-up"
  case $tr in
    relay*) tests="iperf-down iperf-up"; env=(RELAY_DELAY_MS="${tr#relay}") ;;
  esac
  env "${env[@]}" MODES="$mode" TRANSPORTS="${tr/relay*/tls}" TESTS="$tests" BASELINES=0 \
    RUNS_CURL="$RUNS_GET" RUNS_IPERF="$RUNS_IPERF" IPERF_SECS="$IPERF_SECS" \
    OCS_RESULTS="$dir" "$harness/bench-ocserv.sh" >"$dir/stdout.log" 2>"$dir/stderr.log"
  local rc=$?
  grep -E '^\[bench\] (tun|ocproxy)/|FAILED|^  \[' "$dir/stderr.log" | sed 's/^/  /' >&2
  [ "$rc" -ne 0 ] && log "bench-ocserv.sh $mode/$tr: exit $rc (see $dir/stderr.log)"
  csv=$(find "$dir" -maxdepth 1 -name "bench-*.csv" | head -1)
  [ -n "$csv" ] && awk -F, -v c="$mode" -v t="$tr" 'NR > 1 {
      test = $3; gsub("-", "_", test); print c "," t "," test "," $4 "," ($7 == "" ? 0 : $7) }' \
      "$csv" >>"$runs"
  if grep -q 'Established DTLS' "$OCS_STATE/logs/openconnect.log" 2>/dev/null; then
    said=$(grep -m1 'Established DTLS' "$OCS_STATE/logs/openconnect.log")
  else
    said="no DTLS in openconnect.log: CSTP over TLS"
  fi
  note "$mode" "$tr" "$said"
}

run_client() {  # CLIENT TRANSPORT
  case " $CLIENTS " in *" $1 "*) ;; *) return 0 ;; esac
  log "--- $1 / $2"
  if [ "$1" = sdk ]; then sdk_runs "$2"; else oc_runs "$1" "$2"; fi
}

for tr in $TRANSPORTS; do
  for c in sdk ocproxy tun; do run_client "$c" "$tr"; done
done

if [ "${RELAY_DELAY_MS:-0}" -gt 0 ]; then
  tr=relay$RELAY_DELAY_MS
  # The SDK through delay_relay.py, started as bench-ocserv.sh starts it
  # (ocs-gw, $gw_ip:8443 -> ocserv); bench-ocserv.sh starts its own for the
  # openconnect runs.
  ip netns exec ocs-gw python3 "$harness/delay_relay.py" "$gw_ip" "$relay_port" \
    "$gw_ip" "$gw_port" "$RELAY_DELAY_MS" </dev/null >"$out/delay_relay.log" 2>&1 &
  relay_pid=$!
  echo "$relay_pid" >"$OCS_STATE/pids/delay_relay.pid"
  for ((i = 0; i < 50; i++)); do
    ip netns exec ocs-gw ss -Hlnt "sport = :$relay_port" | grep -q . && break
    sleep 0.1
  done
  case " $CLIENTS " in *" sdk "*)
    log "--- sdk / $tr"; sdk_runs "$tr" ;; esac
  kill "$relay_pid" 2>/dev/null; wait "$relay_pid" 2>/dev/null
  relay_pid=
  rm -f "$OCS_STATE/pids/delay_relay.pid"
  for c in ocproxy tun; do run_client "$c" "$tr"; done
fi

"$gw" disconnect >>"$out/harness.log" 2>&1
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/load.txt"
elapsed="$(($(date +%s) - measure_start)) s measuring, $(($(date +%s) - ${BENCH_START:-$measure_start})) s with build and lock wait"

# ---- medians: JSON lines, then the table ----
python3 - "$runs" "$notes" "$out/table.md" "$RUNS_GET" "$RUNS_IPERF" "$IPERF_SECS" \
  "$RELAY_DELAY_MS" "$elapsed" "$(paste -sd',' "$out/load.txt" | sed 's/,/, /')" <<'EOF'
import csv, json, re, statistics, sys
runs, notes, md, rg, ri, secs, delay, elapsed, load = sys.argv[1:]
groups, failed = {}, {}
for r in csv.DictReader(open(runs)):
    key = (r["client"], r["transport"], r["test"])
    v = float(r["mbit_s"] or 0)
    if v > 0:
        groups.setdefault(key, []).append(v)
    else:
        failed[key] = failed.get(key, 0) + 1
said = {}
for line in open(notes):
    c, t, n = line.rstrip("\n").split("\t", 2)
    said[(c, t)] = n
for (c, t, test), vs in groups.items():
    unit = "ms" if test == "connect_ms" else "Mbit/s"
    print(json.dumps({"name": f"ocserv_{c}_{t}_{test}",
                      "value": round(statistics.median(vs), 1), "unit": unit}))
names = {"sdk": "SDK (lwIP netstack in-app)", "ocproxy": "openconnect + ocproxy (lwIP)",
         "tun": "openconnect tun (kernel TCP)"}
tests = [("http_get", "HTTP GET 100 MiB"), ("http_get_fwd", "GET via ocproxy -L"),
         ("iperf_down", "iperf3 down"), ("iperf_up", "iperf3 up")]
def cell(key):
    vs = groups.get(key)
    f = failed.get(key, 0)
    if not vs:
        return f"failed ×{f}" if f else "–"
    s = f"{statistics.median(vs):.0f}"
    if len(vs) > 1:
        s += f" ({min(vs):.0f}–{max(vs):.0f})"
    if f:
        s += f" +{f} failed"
    return s
def transport_name(t):
    if t == "tls": return "TLS only"
    if t == "dtls": return "DTLS asked"
    if t.startswith("relay"): return f"TLS, relay {t[5:]} ms each way"
    return t
def short(c, t):
    n = said.get((c, t), "?")
    if c == "sdk":
        m = re.search(r' \("DTLS up" logged in (\d+) of (\d+) sessions\)$', n)
        up, total = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
        connected = n[:m.start()] if m else n
        connected = connected.partition(" | log: ")[0]
        if up and up == total:
            return f"DTLS (SDK log 'DTLS up', {up}/{total} sessions)"
        if up:
            return f"mixed: DTLS up in {up}/{total} sessions"
        if "DTLS" in connected: return "DTLS (SDK connected line)"
        return "TLS (SDK: 'CSTP over TLS')" if "CSTP over TLS" in connected else connected[:40]
    return "DTLS" if "Established DTLS" in n else "TLS"
transports = []
for (c, t, _) in list(groups) + list(failed):
    if t not in transports: transports.append(t)
lines = [f"ocserv 1.1.6, one run. Mbit/s, median (min–max); GET ×{rg}, iperf3 {secs} s ×{ri} "
         f"(relay: iperf3 only). \"down\" = LAN host → client. 2 vCPUs shared by everything; {load}; "
         f"{elapsed}.", "",
         "| client | transport | data path used | " + " | ".join(n for _, n in tests) + " |",
         "|---|---|---|" + "---|" * len(tests)]
for t in transports:
    for c in ("sdk", "ocproxy", "tun"):
        if not any(k[0] == c and k[1] == t for k in list(groups) + list(failed)):
            continue
        lines.append(f"| {names[c]} | {transport_name(t)} | {short(c, t)} | " +
                     " | ".join(cell((c, t, k)) for k, _ in tests) + " |")
ms = [(t, groups[("sdk", t, "connect_ms")]) for t in transports if ("sdk", t, "connect_ms") in groups]
if ms:
    lines += ["", "SDK connect time (profile start → tunnel up), median ms: " +
              ", ".join(f"{transport_name(t)} {statistics.median(v):.0f}" for t, v in ms)]
lines += ["", "Data path as each client logged it (SDK: first session, openconnect: last connection):"]
for (c, t), n in said.items():
    lines.append(f"- {c} / {t}: {n}")
txt = "\n".join(lines)
open(md, "w").write(txt + "\n")
print()
print(txt)
EOF
echo
echo "bench_ocserv: table $out/table.md, runs $out/runs.csv, logs $out/"
