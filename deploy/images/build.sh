#!/usr/bin/env bash
# Build every image docker-compose.yml runs, from Debian packages, on one base (made by base.sh when it
# can't be pulled), printing each build's duration and size. Server image tags carry the Debian
# package's upstream version; the Node services carry the project's version.
#   deploy/images/build.sh [--missing] [--base IMAGE] [NAME…]
#     --missing   build only images that are not there yet (what `make up` does)
#     --base      the base image (default: TASKFLEET_BASE_IMAGE, else debian:bookworm-slim)
#     NAME…       only these (postgres, pgbouncer, redis, rabbitmq, nginx, prometheus, alertmanager,
#                 postgres-exporter, pgbouncer-exporter, redis-exporter, nginx-exporter,
#                 node-exporter, blackbox-exporter, tasks, users, worker, gateway, autoscaler)
set -euo pipefail
cd "$(dirname "$0")/../.."
base=${TASKFLEET_BASE_IMAGE:-debian:bookworm-slim}
missing=false
only=()
while [ $# -gt 0 ]; do
  case $1 in
    --missing) missing=true ;;
    --base) base=${2:?--base needs an image}; shift ;;
    -*) echo "usage: $0 [--missing] [--base IMAGE] [NAME…]" >&2; exit 2 ;;
    *) only+=("$1") ;;
  esac
  shift
done

# name  tag  how (context directory, or node:PACKAGE:ENTRY for deploy/node/Dockerfile)
IMAGES="
postgres     taskfleet/postgres:15.20        deploy/images/postgres
pgbouncer    taskfleet/pgbouncer:1.18        deploy/pgbouncer
redis        taskfleet/redis:7.0.15          deploy/images/redis
rabbitmq     taskfleet/rabbitmq:3.10.8       deploy/images/rabbitmq
nginx        taskfleet/nginx:1.22.1          deploy/images/nginx
prometheus   taskfleet/prometheus:2.42.0     deploy/images/prometheus
alertmanager taskfleet/alertmanager:0.25.0   deploy/images/alertmanager
postgres-exporter  taskfleet/postgres-exporter:0.11.1  deploy/images/postgres-exporter
pgbouncer-exporter taskfleet/pgbouncer-exporter:1.7    deploy/images/pgbouncer-exporter
redis-exporter     taskfleet/redis-exporter:1.45.0     deploy/images/redis-exporter
nginx-exporter     taskfleet/nginx-exporter:0.11.0     deploy/images/nginx-exporter
node-exporter      taskfleet/node-exporter:1.5.0       deploy/images/node-exporter
blackbox-exporter  taskfleet/blackbox-exporter:0.23.0  deploy/images/blackbox-exporter
tasks        taskfleet/tasks:0.1.0           node:@taskfleet/tasks:services/tasks/src/server.ts
users        taskfleet/users:0.1.0           node:@taskfleet/users:services/users/src/server.ts
worker       taskfleet/worker:0.1.0          node:@taskfleet/worker:services/worker/src/server.ts
gateway      taskfleet/gateway:0.1.0         node:@taskfleet/gateway:gateway/src/server.ts
autoscaler   taskfleet/autoscaler:0.1.0      node:@taskfleet/autoscaler:services/autoscaler/src/server.ts
"

wanted() { [ ${#only[@]} -eq 0 ] && return 0; local n; for n in "${only[@]}"; do [ "$n" = "$1" ] && return 0; done; return 1; }
for n in "${only[@]}"; do
  grep -qE "^$n " <<<"$IMAGES" || { echo "images: no image named $n" >&2; exit 2; }
done

started=$(date +%s)
based=false
built=0
while read -r name tag how; do
  [ -n "$name" ] && wanted "$name" || continue
  if $missing && docker image inspect "$tag" >/dev/null 2>&1; then continue; fi
  $based || { deploy/images/base.sh "$base"; based=true; }
  echo "image: building $tag …"
  if [[ $how == node:* ]]; then
    IFS=: read -r _ package entry <<<"$how"
    deploy/node/build.sh "$package" "$entry" "$tag" "$base"
  else
    t0=$(date +%s)
    # The legacy builder: Debian's engine 20.10 has no buildx, and nothing here needs BuildKit.
    # Quiet unless it fails (the legacy builder's deprecation notice is noise here).
    if ! out=$(DOCKER_BUILDKIT=0 docker build --build-arg BASE="$base" -t "$tag" "$how" 2>&1); then
      echo "$out" | tail -20 >&2
      echo "image: $tag FAILED" >&2
      exit 1
    fi
    echo "image: $tag built in $(( $(date +%s) - t0 )) s ($(docker image inspect -f '{{.Size}}' "$tag" | awk '{ printf "%d MB", $1 / 1e6 }'))"
  fi
  built=$((built + 1))
done <<<"$IMAGES"
if [ "$built" -gt 0 ]; then echo "images: $built built in $(( $(date +%s) - started )) s"
else echo "images: all present"; fi
