#!/usr/bin/env bash
# The base every Taskfleet image builds on (build argument BASE, default debian:bookworm-slim). With a
# registry, that is the official image, pulled. Without one (no network but the Debian mirror), the
# same name is made here: a minimal Debian 12 root filesystem by debootstrap from this machine's own
# apt source, imported as debian:bookworm-slim and labelled as locally made. Idempotent.
#   deploy/images/base.sh [IMAGE]      (as root: debootstrap needs it)
set -euo pipefail
image=${1:-debian:bookworm-slim}

if docker image inspect "$image" >/dev/null 2>&1; then echo "base: $image present"; exit 0; fi
if timeout 60 docker pull -q "$image" >/dev/null 2>&1; then echo "base: $image pulled"; exit 0; fi

command -v debootstrap >/dev/null || { echo "base: $image can't be pulled and debootstrap is missing (apt-get install debootstrap)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "base: $image can't be pulled; making it with debootstrap needs root" >&2; exit 1; }
# The machine's own Debian mirror (deb822 sources or the classic list).
mirror=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
[ -n "$mirror" ] || mirror=$(awk '$1 == "deb" { print $2; exit }' /etc/apt/sources.list 2>/dev/null || true)
mirror=${mirror:-http://deb.debian.org/debian}
rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT
echo "base: $image can't be pulled; debootstrap bookworm from $mirror (about a minute)"
started=$(date +%s)
debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >/dev/null
# The same suites as this machine (security and updates too), so images get the versions it has.
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
  rm -f "$rootfs/etc/apt/sources.list"
  cp /etc/apt/sources.list.d/debian.sources "$rootfs/etc/apt/sources.list.d/debian.sources"
fi
# What the official slim image also leaves out, and what a container never needs.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc/* \
  "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/*
tar -C "$rootfs" -c . | docker import \
  --change 'LABEL org.opencontainers.image.description="Debian 12 minbase made by debootstrap (deploy/images/base.sh)"' \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["bash"]' - "$image" >/dev/null
echo "base: $image made in $(( $(date +%s) - started )) s ($(docker image inspect -f '{{.Size}}' "$image" | awk '{ printf "%d MB", $1 / 1e6 }'))"
