#!/usr/bin/env bash
# Build every server image of the stack from Debian packages, on the base (made by base.sh when it
# can't be pulled), printing each build's duration. Tags carry the Debian package's upstream version.
#   deploy/images/build.sh [--base IMAGE]     (from anywhere; BASE default debian:bookworm-slim)
set -euo pipefail
cd "$(dirname "$0")/../.."
base=debian:bookworm-slim
[ "${1:-}" = --base ] && base=$2

started=$(date +%s)
deploy/images/base.sh "$base"
# The legacy builder: Debian's engine 20.10 has no buildx, and nothing here needs BuildKit.
build() { # build TAG CONTEXT [DOCKERFILE]
  local tag=$1 context=$2 t0
  t0=$(date +%s)
  # Quiet unless it fails (the legacy builder's deprecation notice is noise here).
  if ! out=$(DOCKER_BUILDKIT=0 docker build --build-arg BASE="$base" -t "$tag" "$context" 2>&1); then
    echo "$out" | tail -20 >&2
    echo "image: $tag FAILED" >&2
    exit 1
  fi
  echo "image: $tag built in $(( $(date +%s) - t0 )) s ($(docker image inspect -f '{{.Size}}' "$tag" | awk '{ printf "%d MB", $1 / 1e6 }'))"
}
build taskfleet/postgres:15.20 deploy/images/postgres
build taskfleet/pgbouncer:1.18 deploy/pgbouncer
build taskfleet/redis:7.0.15 deploy/images/redis
build taskfleet/rabbitmq:3.10.8 deploy/images/rabbitmq
build taskfleet/nginx:1.22.1 deploy/images/nginx
build taskfleet/prometheus:2.42.0 deploy/images/prometheus
build taskfleet/alertmanager:0.25.0 deploy/images/alertmanager
echo "images: all built in $(( $(date +%s) - started )) s"
