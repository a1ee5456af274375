#!/usr/bin/env bash
# Installs everything Stowaway builds and tests with, from Debian packages, and
# fetches lwIP 2.1.3's Debian source package into .deps/ (ignored by git)
# without touching the system's apt configuration. Unattended and idempotent:
# with everything present it only checks, in seconds.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
deps="$root/.deps"

packages=(
  bazel-bootstrap g++ libuv1-dev libabsl-dev libgtest-dev libgmock-dev
  android-libboringssl-dev nlohmann-json3-dev clang libclang-rt-14-dev
  iproute2 iputils-ping xz-utils ca-certificates python3 iperf3
  # The strongSwan interop harness (../shared/interop/strongswan); it
  # installs anything else it needs itself.
  strongswan-charon strongswan-swanctl strongswan-pki libcharon-extra-plugins
  libstrongswan-standard-plugins libstrongswan-extra-plugins dnsmasq-base curl
  # The Python and Java bindings' tests (Debian's python3 + pytest, a JDK).
  python3-pytest openjdk-17-jdk-headless openssl
)

# lwIP 2.1.3 upstream tarball as shipped in Debian's source package
# lwip_2.1.3+dfsg1-2 (its .dsc lists the same checksum).
lwip_orig=lwip_2.1.3+dfsg1.orig.tar.xz
lwip_sha256=0a8276d09fc4e97bbba2f953d74af2388fc2195ea156be9d7589e297a68fde24

log() { echo "setup: $*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
else
  SUDO=
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

verify_lwip() {
  [ -f "$deps/lwip/$lwip_orig" ] &&
    echo "$lwip_sha256  $deps/lwip/$lwip_orig" | sha256sum --check --status &&
    [ -f "$deps/lwip/lwip-2.1.3/src/core/tcp.c" ] &&
    [ -f "$deps/lwip/.unpacked" ]
}

if ! verify_lwip; then
  log "fetching lwIP 2.1.3 source package"
  work="$deps/apt-src"
  rm -rf "$work" "$deps/lwip"
  mkdir -p "$work/parts" "$work/lists/partial" "$deps/lwip"
  # Source entries mirroring the system's own binary entries, in a private
  # directory: the system's apt configuration is not changed.
  found=0
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    if grep -q '^Types:.*deb' "$f"; then
      sed -E 's/^Types:.*/Types: deb-src/' "$f" >"$work/parts/$(basename "$f")"
      found=1
    fi
  done
  if [ -f /etc/apt/sources.list ]; then
    grep -E '^deb ' /etc/apt/sources.list | sed 's/^deb /deb-src /' \
      >"$work/parts/from-sources-list.list" || true
    [ -s "$work/parts/from-sources-list.list" ] && found=1
  fi
  if [ "$found" -eq 0 ]; then
    log "no apt sources found to derive source entries from"
    exit 1
  fi
  apt_opts=(
    -o "Dir::Etc::SourceParts=$work/parts"
    -o "Dir::Etc::SourceList=/dev/null"
    -o "Dir::State::Lists=$work/lists"
    -o "APT::Sandbox::User=root"
  )
  apt-get "${apt_opts[@]}" update -q >&2
  (cd "$deps/lwip" && apt-get "${apt_opts[@]}" source --download-only lwip=2.1.3+dfsg1-2 >&2 ||
    apt-get "${apt_opts[@]}" source --download-only lwip >&2)
  echo "$lwip_sha256  $deps/lwip/$lwip_orig" | sha256sum --check --status || {
    log "lwIP tarball checksum mismatch"
    exit 1
  }
  tar -xJf "$deps/lwip/$lwip_orig" -C "$deps/lwip"
  touch "$deps/lwip/.unpacked"
  rm -rf "$work"
  verify_lwip || {
    log "lwIP source did not verify after unpacking"
    exit 1
  }
fi
log "ok (lwIP 2.1.3 verified in .deps/lwip)"
