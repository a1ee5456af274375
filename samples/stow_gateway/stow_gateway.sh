#!/bin/bash
# stow-gateway: the Stowaway gateway (//samples/gateway) under the samples'
# name. Every argument goes to it unchanged, e.g.
#   stow-gateway --listen=127.0.0.1:4500 --ike --psk=SECRET \
#       --dns_record=files.stowaway.test=10.99.0.1
# prints "READY 127.0.0.1:4500" once serving. See `stow-gateway --help`.
set -u

# Finds the gateway binary in this wrapper's runfiles: `bazel run`,
# bazel-bin/samples/stow_gateway/stow-gateway, or inside a test.
find_gateway() {
  local rel="stowaway/samples/gateway/gateway" dir
  for dir in "${RUNFILES_DIR:-}" "${TEST_SRCDIR:-}" "$0.runfiles" \
             "$(dirname "$0")/stow-gateway.runfiles"; do
    if [[ -n "$dir" && -x "$dir/$rel" ]]; then
      echo "$dir/$rel"
      return 0
    fi
  done
  # Next to a copied wrapper, or in the output tree beside this package.
  for dir in "$(dirname "$0")" "$(dirname "$0")/../gateway"; do
    if [[ -x "$dir/gateway" ]]; then
      echo "$dir/gateway"
      return 0
    fi
  done
  return 1
}

gateway="$(find_gateway)" || {
  echo "stow-gateway: cannot find samples/gateway/gateway in the runfiles" >&2
  exit 9
}

for arg in "$@"; do
  case "$arg" in
    --help|-help|-h|--helpfull|-helpfull)
      # Abseil's usage flags exit with 1 after printing; help is success.
      "$gateway" "$@"
      exit 0
      ;;
  esac
done
exec -a stow-gateway "$gateway" "$@"
