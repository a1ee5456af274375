#!/usr/bin/env bash
# Builds the fuzz targets with clang + libFuzzer (+ASan/UBSan) and runs each
# for a while. The clang build uses its own Bazel output base, so it never
# evicts the gcc build's cache.
#   tools/fuzz.sh [SECONDS_PER_TARGET]   (default 60)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
"$root/tools/setup.sh" >&2
seconds=${1:-60}
targets=(ip_input_fuzzer)

bz() { bazel --output_base="$root/.deps/bazel-fuzz" "$@"; }
for t in "${targets[@]}"; do
  bz build --repo_env=CC=clang --config=fuzz "//netstack/fuzz:$t" >&2
done
bin=$(bz info --repo_env=CC=clang --config=fuzz bazel-bin 2>/dev/null)
for t in "${targets[@]}"; do
  corpus="$root/.deps/fuzz-corpus/$t"
  mkdir -p "$corpus"
  echo "fuzzing $t for ${seconds}s (corpus in $corpus)"
  "$bin/netstack/fuzz/$t" -max_total_time="$seconds" -print_final_stats=1 \
    "$corpus"
done
