#!/bin/sh
# Creates Temporal's own PostgreSQL databases (persistence and SQL visibility) and migrates each to the
# newest schema of the temporal-sql-tool's server version. One script for both places that need it:
# the `temporal-schema` job of docker-compose.yml (image temporalio/admin-tools, whose defaults are
# used below) and `npm run start:cluster` / the cluster test (infra/temporal-cluster.ts runs it with
# the cached tool and schemas). Idempotent: run it before every start of the server.
#
# Connection: temporal-sql-tool's own variables SQL_PLUGIN (postgres12), SQL_HOST, SQL_PORT,
# SQL_USER, SQL_PASSWORD. Retries until PostgreSQL answers, up to SETUP_TIMEOUT_SECONDS.
set -eu

SQL_PLUGIN="${SQL_PLUGIN:-postgres12}"
export SQL_PLUGIN
TOOL="${TEMPORAL_SQL_TOOL:-temporal-sql-tool}"
SCHEMA_DIR="${TEMPORAL_SCHEMA_DIR:-/etc/temporal/schema/postgresql/v12}"
TEMPORAL_DB="${TEMPORAL_DB:-temporal}"
VISIBILITY_DB="${TEMPORAL_VISIBILITY_DB:-temporal_visibility}"
TIMEOUT="${SETUP_TIMEOUT_SECONDS:-120}"

STARTED=$(date +%s)

log() { echo "temporal-schema: $*"; }

# setup <database> <schema>: create the database (no-op when it exists), put the version tables in
# (no-op when they are there), then apply every versioned step newer than the database's version.
setup() {
  db=$1
  versioned="$SCHEMA_DIR/$2/versioned"
  if [ ! -d "$versioned" ]; then
    log "no schema directory $versioned" >&2
    exit 1
  fi
  until "$TOOL" --db "$db" create-database; do
    if [ $(($(date +%s) - STARTED)) -ge "$TIMEOUT" ]; then
      log "gave up after ${TIMEOUT}s: PostgreSQL at ${SQL_HOST:-?}:${SQL_PORT:-?} does not accept connections" >&2
      exit 1
    fi
    log "waiting for PostgreSQL at ${SQL_HOST:-?}:${SQL_PORT:-?}"
    sleep 2
  done
  "$TOOL" --db "$db" setup-schema -v 0.0
  "$TOOL" --db "$db" update-schema -d "$versioned"
  log "$db is at the newest $2 schema of $SCHEMA_DIR"
}

setup "$TEMPORAL_DB" temporal
setup "$VISIBILITY_DB" visibility
