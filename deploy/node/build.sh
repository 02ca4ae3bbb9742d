#!/usr/bin/env bash
# Build one Node service image from the repository root, bringing this machine's CA bundle into the
# build (deploy/node/extra-ca/host.crt, git-ignored) so npm can reach the registry through a TLS-inspecting proxy; the
# bundle stays in the build stages, never in the final image.
#   deploy/node/build.sh PACKAGE ENTRY TAG [BASE]
set -euo pipefail
cd "$(dirname "$0")/../.."
package=$1 entry=$2 tag=$3 base=${4:-debian:bookworm-slim}
cp "${TASKFLEET_BUILD_CA:-/etc/ssl/certs/ca-certificates.crt}" deploy/node/extra-ca/host.crt
t0=$(date +%s)
if ! out=$(DOCKER_BUILDKIT=0 docker build -f deploy/node/Dockerfile --build-arg BASE="$base" \
    --build-arg PACKAGE="$package" --build-arg ENTRY="$entry" -t "$tag" . 2>&1); then
  echo "$out" | tail -30 >&2
  echo "image: $tag FAILED" >&2
  exit 1
fi
echo "image: $tag built in $(( $(date +%s) - t0 )) s ($(docker image inspect -f '{{.Size}}' "$tag" | awk '{ printf "%d MB", $1 / 1e6 }'))"
