#!/bin/bash
# libstowaway_jni.so must export JNI_OnLoad and Java_org_stowaway_* only.
set -euo pipefail
symbols="$1"
bad=$(grep -v -E '^(JNI_OnLoad|Java_org_stowaway_[A-Za-z0-9_]+)$' "$symbols" || true)
if [[ -n "$bad" ]]; then
  echo "unexpected exported symbols:"
  echo "$bad"
  exit 1
fi
grep -qx JNI_OnLoad "$symbols" || { echo "JNI_OnLoad is not exported"; exit 1; }
n=$(grep -c '^Java_org_stowaway_' "$symbols")
if (( n < 20 )); then
  echo "only $n Java_* symbols exported"
  exit 1
fi
echo "OK: JNI_OnLoad and $n Java_org_stowaway_* symbols"
