#!/usr/bin/env bash
# Builds and runs every benchmark. Each prints JSON lines
# {"name","value","unit"}; compare ratios from one run, not absolute figures
# across machines. TUN figures need root.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
"$root/tools/setup.sh" >&2

benchmarks=(//tests/bench:netstack_bench)
bazel build -c opt "${benchmarks[@]}" >&2
bin=$(bazel info -c opt bazel-bin 2>/dev/null)
for b in "${benchmarks[@]}"; do
  path="$bin/${b#//}"
  path="${path/://}"
  "$path" "$@"
done
