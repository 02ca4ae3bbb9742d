#!/bin/sh
# Render nginx/nginx.conf.template (the same template the native stack renders) and run nginx in the
# foreground. Extra arguments go to nginx (`docker-entrypoint.sh -t` checks the rendered config).
#   GATEWAY_UPSTREAMS  "host:port host:port …" — fixed upstream servers (names resolved once, at start)
#   GATEWAY_DISCOVER   "name:port" — instead: every address the name resolves to (Docker's DNS gives one
#                      per replica) whose GATEWAY_READY_PATH answers 2xx, checked every
#                      NGINX_RESOLVE_INTERVAL seconds; when the set changes the config is rendered again
#                      and nginx reloads gracefully (open source nginx resolves upstream server names
#                      only once). A replica joins once it is ready and leaves as soon as it drains
#                      (readiness 503 from SIGTERM), before it closes. No ready replica keeps the last set.
#   NGINX_LOG_DIR      a folder to keep nginx-access.log and nginx-error.log in; unset: the container's
#                      output (access log on stdout, errors on stderr: docker logs, the log shipper)
set -eu
export NGINX_RUN_DIR="${NGINX_RUN_DIR:-/tmp/nginx}"
logs_to_output=
[ -n "${NGINX_LOG_DIR:-}" ] || logs_to_output=yes
export NGINX_LOG_DIR="${NGINX_LOG_DIR:-$NGINX_RUN_DIR}"
export NGINX_LISTEN_ADDR="${NGINX_LISTEN_ADDR:-0.0.0.0}" NGINX_HTTP_PORT="${NGINX_HTTP_PORT:-8080}"
export NGINX_HTTPS_PORT="${NGINX_HTTPS_PORT:-8443}" NGINX_TLS_DIR="${NGINX_TLS_DIR:-/etc/taskfleet/tls}"
export NGINX_STATUS_LISTEN="${NGINX_STATUS_LISTEN:-0.0.0.0}" NGINX_STATUS_PORT="${NGINX_STATUS_PORT:-8081}"
export NGINX_IP_RATE="${NGINX_IP_RATE:-100r/s}" NGINX_IP_BURST="${NGINX_IP_BURST:-200}"
export NGINX_IP_CONNECTIONS="${NGINX_IP_CONNECTIONS:-256}"
template="${NGINX_TEMPLATE:-/etc/taskfleet/nginx.conf.template}"
conf="$NGINX_RUN_DIR/nginx.conf"

# The ready addresses of GATEWAY_DISCOVER's name, sorted, as "host:port " words (empty if none).
discover() {
  name=${GATEWAY_DISCOVER%:*} port=${GATEWAY_DISCOVER##*:}
  for addr in $(getent ahostsv4 "$name" 2>/dev/null | awk -v p="$port" '$2 == "STREAM" { print $1 ":" p }' | sort -u); do
    # As patient as Docker's own health check (3 s): a cold replica's first checks can be slow.
    curl -fsS -m 3 -o /dev/null "http://$addr${GATEWAY_READY_PATH:-/health/ready}" 2>/dev/null && printf '%s ' "$addr"
  done
  return 0 # a replica that isn't ready is left out, not an error (set -e would end the caller)
}

render() { # render "host:port host:port …"
  if [ -n "$1" ]; then
    NGINX_GATEWAY_SERVERS=$(for u in $1; do printf '    server %s max_fails=3 fail_timeout=5s;\n' "$u"; done)
  else
    NGINX_GATEWAY_SERVERS='    server 127.0.0.1:9 down; # no gateway in this stack yet'
  fi
  export NGINX_GATEWAY_SERVERS
  envsubst '${NGINX_RUN_DIR} ${NGINX_LOG_DIR} ${NGINX_GATEWAY_SERVERS} ${NGINX_LISTEN_ADDR} ${NGINX_HTTP_PORT} ${NGINX_HTTPS_PORT} ${NGINX_TLS_DIR} ${NGINX_STATUS_LISTEN} ${NGINX_STATUS_PORT} ${NGINX_IP_RATE} ${NGINX_IP_BURST} ${NGINX_IP_CONNECTIONS}' \
    < "$template" > "$conf.next"
  mv "$conf.next" "$conf"
}

mkdir -p "$NGINX_RUN_DIR" "$NGINX_LOG_DIR"
if [ -n "$logs_to_output" ]; then
  # The log files become links to this process's own output, which nginx (exec'd below, same user)
  # opens again. Only where it can be opened again (Docker's pipes; not a socket, nor a terminal of
  # another user's): tried on a copy of the descriptor, so a failure says nothing on it; else files.
  (: >>/dev/fd/3) 3>&1 2>/dev/null && ln -sf /dev/stdout "$NGINX_LOG_DIR/nginx-access.log"
  (: >>/dev/fd/3) 3>&2 2>/dev/null && ln -sf /dev/stderr "$NGINX_LOG_DIR/nginx-error.log"
fi
if [ -n "${GATEWAY_DISCOVER:-}" ]; then
  servers=$(discover)
  render "$servers"
  [ "$#" -eq 0 ] || exec nginx -c "$conf" "$@" # a one-off (nginx -t): no watcher
  # The watcher: a child of this shell, which becomes nginx's master below (it reaps the watcher if
  # it ever ends). A config that fails `nginx -t` is not loaded; the running one stays.
  (
    set +e # nothing here may end the watcher: a failed round is tried again next round
    while sleep "${NGINX_RESOLVE_INTERVAL:-3}"; do
      now=$(discover)
      [ -n "$now" ] && [ "$now" != "$servers" ] || continue
      render "$now"
      if nginx -q -t -c "$conf" 2>/dev/null && nginx -c "$conf" -s reload 2>/dev/null; then
        echo "nginx: gateways now ${now}(were ${servers:-none})" >&2
        servers=$now
      fi
    done
  ) &
else
  render "${GATEWAY_UPSTREAMS:-}"
fi
exec nginx -c "$conf" "$@"
