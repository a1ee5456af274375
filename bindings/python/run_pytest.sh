#!/usr/bin/env bash
# Runs the binding's pytest suite with the system interpreter, pointing the
# package at the libstowaway.so and gateway from the runfiles.
#   run_pytest.sh <libstowaway.so> <gateway>   (runfiles-relative paths)
set -euo pipefail
lib=$(readlink -f "$1")
gateway=$(readlink -f "$2")
here=$(pwd)/bindings/python

export STOWAWAY_LIB=$lib
export STOWAWAY_GATEWAY=$gateway
export PYTHONPATH=$here
export PYTHONDONTWRITEBYTECODE=1

# Sanitizer builds: an ASan-instrumented library must have its runtime
# loaded first, and CPython's own allocations at exit are not leaks of ours.
if asan=$(ldd "$lib" | awk '/libasan/ {print $3; exit}') && [ -n "$asan" ]; then
  export LD_PRELOAD=$asan
  export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
fi

junit=()
if [ -n "${XML_OUTPUT_FILE:-}" ]; then
  junit=(--junitxml="$XML_OUTPUT_FILE")
fi
exec /usr/bin/python3 -m pytest -q -p no:cacheprovider "${junit[@]}" \
  "$here/tests/test_stowaway.py"
