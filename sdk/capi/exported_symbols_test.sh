#!/usr/bin/env bash
# libstowaway.so must export exactly the symbols in the golden list
# (sdk/include/stowaway/exported_symbols.txt): adding one is a deliberate
# API change, and anything else leaking out (absl, BoringSSL, lwIP) is a
# bug.
set -euo pipefail
actual=$1
golden=$2
if ! diff -u "$golden" "$actual"; then
  echo "FAIL: exported symbols differ from $golden (- golden, + actual)"
  exit 1
fi
count=$(wc -l <"$actual")
[ "$count" -gt 0 ] || { echo "FAIL: no symbols exported"; exit 1; }
echo "PASS: $count exported symbols match the golden list"
