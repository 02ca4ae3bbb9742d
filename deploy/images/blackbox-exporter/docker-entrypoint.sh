#!/bin/sh
# The blackbox exporter under compose: render the probe modules from the template the native stack
# renders too (prometheus/blackbox.yml, mounted at /etc/taskfleet/blackbox.yml.template), make sure the
# probe account exists, then run the exporter.
#
# The probe account's password is made here once (random, mode 600 in the /var/lib/blackbox volume,
# never printed) and registered with the users service; registering an address that exists changes
# nothing, so a restart keeps the account. The exporter starts at once; the account is made in the
# background as soon as the users service answers (until then authenticated-read fails, as it should).
set -eu
export BLACKBOX_CA_FILE="${BLACKBOX_CA_FILE:-/etc/taskfleet/tls/tls.crt}"
export BLACKBOX_SERVER_NAME="${BLACKBOX_SERVER_NAME:-localhost}"
export PROBE_CLIENT_ID="${PROBE_CLIENT_ID:-synthetic-probe@taskfleet.local}"
export PROBE_SECRET_FILE=/var/lib/blackbox/probe-secret
USERS_URL="${PROBE_USERS_URL:-http://users:3000}"
export PROBE_TOKEN_URL="${PROBE_TOKEN_URL:-$USERS_URL/v1/auth/token}"

config=/tmp/blackbox.yml
# shellcheck disable=SC2016 # envsubst's own list of the variables to replace
envsubst '${BLACKBOX_CA_FILE} ${BLACKBOX_SERVER_NAME} ${PROBE_CLIENT_ID} ${PROBE_SECRET_FILE} ${PROBE_TOKEN_URL}' \
  </etc/taskfleet/blackbox.yml.template >"$config"

if [ ! -s "$PROBE_SECRET_FILE" ]; then
  (umask 077 && head -c 24 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n' >"$PROBE_SECRET_FILE")
fi

make_account() {
  secret=$(cat "$PROBE_SECRET_FILE")
  body=$(printf '{"email":"%s","password":"%s"}' "$PROBE_CLIENT_ID" "$secret")
  said=false
  while :; do
    # The body on stdin: the password never appears in a process list.
    code=$(printf '%s' "$body" | curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
      -H 'content-type: application/json' --data-binary @- "$USERS_URL/v1/auth/register" || true)
    [ "$code" = 201 ] && break
    $said || { echo "blackbox: the users service does not register the probe account yet (HTTP $code); retrying"; said=true; }
    sleep 2
  done
  # The credentials in a curl config on stdin (HTTP Basic), again out of the process list.
  code=$(printf 'user = "%s:%s"\n' "$PROBE_CLIENT_ID" "$secret" | curl -s -o /dev/null -w '%{http_code}' \
    --max-time 5 -K - --data grant_type=client_credentials "$PROBE_TOKEN_URL" || true)
  if [ "$code" = 200 ]; then echo "blackbox: the probe account $PROBE_CLIENT_ID gets tokens"
  else echo "blackbox: the probe account $PROBE_CLIENT_ID exists but gets no token (HTTP $code): its password was lost with this container's volume; delete the account in the users database, then restart this container" >&2
  fi
}
make_account &

exec /usr/bin/prometheus-blackbox-exporter --config.file="$config" --web.listen-address=:9115 "$@"
