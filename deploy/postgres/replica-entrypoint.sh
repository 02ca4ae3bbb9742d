#!/usr/bin/env bash
# Streaming replica: on first start, clone the primary with pg_basebackup (-R writes standby.signal and
# primary_conninfo; -C -S creates a replication slot so the primary keeps the WAL this replica needs),
# then run the stock entrypoint. The native stack does the same in shared/infra.
set -euo pipefail
: "${PRIMARY_HOST:?}" "${REPLICA_NAME:?}" "${REPLICATION_PASSWORD:?}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  mkdir -p "$PGDATA" && chown postgres:postgres "$PGDATA" && chmod 700 "$PGDATA"
  export PGPASSWORD="$REPLICATION_PASSWORD"
  until gosu postgres pg_basebackup -h "$PRIMARY_HOST" -U replicator -D "$PGDATA" -R -X stream \
      -C -S "$REPLICA_NAME" -c fast; do
    echo "replica $REPLICA_NAME: waiting for the primary…" >&2
    rm -rf "${PGDATA:?}"/* && sleep 2
  done
  unset PGPASSWORD
fi
# cluster_name doubles as the replica's application_name in pg_stat_replication (as natively).
exec docker-entrypoint.sh "$@" -c cluster_name="$REPLICA_NAME"
