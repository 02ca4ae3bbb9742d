#!/usr/bin/env bash
# Runs once, on the primary's first start (docker-entrypoint-initdb.d): the roles and the database.
# The native stack does the same in shared/infra/src/components/postgres.ts.
set -euo pipefail
: "${TASKFLEET_DB_PASSWORD:?}" "${REPLICATION_PASSWORD:?}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v app_password="$TASKFLEET_DB_PASSWORD" -v repl_password="$REPLICATION_PASSWORD" <<'SQL'
CREATE ROLE taskfleet LOGIN PASSWORD :'app_password';
CREATE ROLE replicator REPLICATION LOGIN PASSWORD :'repl_password';
CREATE DATABASE taskfleet OWNER taskfleet;
SQL
# Replicas stream as `replicator` from the compose network only.
echo "host replication replicator samenet scram-sha-256" >> "$PGDATA/pg_hba.conf"
