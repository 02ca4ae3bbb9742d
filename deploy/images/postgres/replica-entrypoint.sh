#!/bin/sh
# A streaming replica: on the first start, clone the primary with pg_basebackup (-R writes
# standby.signal and primary_conninfo; -C -S creates a replication slot so the primary keeps the WAL
# this replica needs), then the server as a hot standby, with the primary's settings as its command
# (a hot standby refuses to run with a lower max_connections, max_wal_senders, … than its primary).
# cluster_name — last, so it wins over the primary's — doubles as the replica's application_name in
# pg_stat_replication (as natively).
set -eu
: "${PRIMARY_HOST:?}" "${REPLICA_NAME:?}" "${REPLICATION_PASSWORD:?}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  export PGPASSWORD="$REPLICATION_PASSWORD"
  until pg_basebackup -h "$PRIMARY_HOST" -U replicator -D "$PGDATA" -R -X stream -C -S "$REPLICA_NAME" -c fast; do
    echo "replica $REPLICA_NAME: waiting for the primary…" >&2
    rm -rf "${PGDATA:?}"/* && sleep 2
  done
  unset PGPASSWORD
fi
[ "${1:-}" = postgres ] && shift
exec postgres -D "$PGDATA" -c listen_addresses='*' -c unix_socket_directories=/tmp "$@" -c cluster_name="$REPLICA_NAME"
