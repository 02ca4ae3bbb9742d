#!/bin/sh
# Render the repo's pgbouncer.ini.template (the one the native stack renders) and the auth file, then
# run PgBouncer in the foreground.
set -eu
: "${PGBOUNCER_DATABASES:?}" "${PGBOUNCER_ADMIN_USER:?}" "${PGBOUNCER_ADMIN_PASSWORD:?}"
: "${PGBOUNCER_APP_USER:?}" "${PGBOUNCER_APP_PASSWORD:?}"
export PGBOUNCER_LISTEN_ADDR="${PGBOUNCER_LISTEN_ADDR:-0.0.0.0}" PGBOUNCER_PORT="${PGBOUNCER_PORT:-6432}"
# Rendered files in a tmpfs (/tmp; the root filesystem is read-only), readable by PgBouncer's user only.
run=/tmp/pgbouncer
export PGBOUNCER_AUTH_TYPE=scram-sha-256 PGBOUNCER_AUTH_FILE=$run/userlist.txt
export PGBOUNCER_MAX_CLIENT_CONN="${PGBOUNCER_MAX_CLIENT_CONN:-4000}"
umask 077
mkdir -p "$run"
envsubst '${PGBOUNCER_DATABASES} ${PGBOUNCER_LISTEN_ADDR} ${PGBOUNCER_PORT} ${PGBOUNCER_AUTH_TYPE} ${PGBOUNCER_AUTH_FILE} ${PGBOUNCER_ADMIN_USER} ${PGBOUNCER_MAX_CLIENT_CONN}' \
  < /etc/pgbouncer/pgbouncer.ini.template > "$run/pgbouncer.ini"
# PgBouncer accepts plain passwords in the auth file and speaks SCRAM with both sides.
printf '"%s" "%s"\n"%s" "%s"\n' "$PGBOUNCER_ADMIN_USER" "$PGBOUNCER_ADMIN_PASSWORD" \
  "$PGBOUNCER_APP_USER" "$PGBOUNCER_APP_PASSWORD" > "$PGBOUNCER_AUTH_FILE"
exec pgbouncer "$run/pgbouncer.ini"
