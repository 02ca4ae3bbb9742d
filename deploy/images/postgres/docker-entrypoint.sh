#!/bin/sh
# The primary (or a standalone server): initdb on the first start, the init scripts once, then the
# server in the foreground. `postgres -c name=value …` as the command, like the official image.
set -eu
export POSTGRES_USER="${POSTGRES_USER:-postgres}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  : "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD (the superuser's password)}"
  pwfile=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
  initdb -D "$PGDATA" -U "$POSTGRES_USER" --pwfile="$pwfile" --encoding=UTF8 --locale=C.UTF-8 \
    --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  rm -f "$pwfile"
  # Passwords over the network (the compose network is private; nothing is published).
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  if [ -n "$(ls /docker-entrypoint-initdb.d/ 2>/dev/null)" ]; then
    # A server on a socket only, for the init scripts; then stopped, and started for real below.
    pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -c unix_socket_directories=/tmp" -w start >/dev/null
    for script in /docker-entrypoint-initdb.d/*.sh; do
      echo "postgres: running $script"
      PGHOST=/tmp bash "$script"
    done
    pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
  fi
fi
[ "${1:-}" = postgres ] && shift
exec postgres -D "$PGDATA" -c listen_addresses='*' -c unix_socket_directories=/tmp "$@"
