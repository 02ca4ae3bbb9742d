#!/bin/sh
# Render nginx/nginx.conf.template (the same template the native stack renders) and run nginx in the
# foreground. Extra arguments go to nginx (`docker-entrypoint.sh -t` checks the rendered config).
#   GATEWAY_UPSTREAMS  "host:port host:port …" — empty until the gateway service exists
set -eu
export NGINX_RUN_DIR="${NGINX_RUN_DIR:-/tmp/nginx}"
export NGINX_LOG_DIR="${NGINX_LOG_DIR:-$NGINX_RUN_DIR}"
export NGINX_LISTEN_ADDR="${NGINX_LISTEN_ADDR:-0.0.0.0}" NGINX_HTTP_PORT="${NGINX_HTTP_PORT:-8080}"
export NGINX_HTTPS_PORT="${NGINX_HTTPS_PORT:-8443}" NGINX_TLS_DIR="${NGINX_TLS_DIR:-/etc/taskfleet/tls}"
export NGINX_STATUS_LISTEN="${NGINX_STATUS_LISTEN:-0.0.0.0}" NGINX_STATUS_PORT="${NGINX_STATUS_PORT:-8081}"
export NGINX_IP_RATE="${NGINX_IP_RATE:-100r/s}" NGINX_IP_BURST="${NGINX_IP_BURST:-200}"
export NGINX_IP_CONNECTIONS="${NGINX_IP_CONNECTIONS:-256}"
template="${NGINX_TEMPLATE:-/etc/taskfleet/nginx.conf.template}"
if [ -n "${GATEWAY_UPSTREAMS:-}" ]; then
  NGINX_GATEWAY_SERVERS=$(for u in $GATEWAY_UPSTREAMS; do printf '    server %s max_fails=3 fail_timeout=5s;\n' "$u"; done)
else
  NGINX_GATEWAY_SERVERS='    server 127.0.0.1:9 down; # no gateway in this stack yet'
fi
export NGINX_GATEWAY_SERVERS
mkdir -p "$NGINX_RUN_DIR" "$NGINX_LOG_DIR"
envsubst '${NGINX_RUN_DIR} ${NGINX_LOG_DIR} ${NGINX_GATEWAY_SERVERS} ${NGINX_LISTEN_ADDR} ${NGINX_HTTP_PORT} ${NGINX_HTTPS_PORT} ${NGINX_TLS_DIR} ${NGINX_STATUS_LISTEN} ${NGINX_STATUS_PORT} ${NGINX_IP_RATE} ${NGINX_IP_BURST} ${NGINX_IP_CONNECTIONS}' \
  < "$template" > "$NGINX_RUN_DIR/nginx.conf"
exec nginx -c "$NGINX_RUN_DIR/nginx.conf" "$@"
