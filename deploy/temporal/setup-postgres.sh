#!/usr/bin/env bash
# Creates and migrates the Temporal databases on Postgres with Temporal's own SQL tool.
# Usage: TEMPORAL_DB_HOST=db.example.org TEMPORAL_DB_PASSWORD=... ./setup-postgres.sh
# TEMPORAL_DB_NAME and TEMPORAL_VISIBILITY_DB_NAME (default temporal, temporal_visibility) name the
# databases, as temporal-server.yaml reads them.
# Needs: temporal-sql-tool and the schema directory of the same server version, both from
#   go install go.temporal.io/server/cmd/tools/sql@v1.29.1   (binary: sql, install as temporal-sql-tool)
#   and $(go env GOMODCACHE)/go.temporal.io/server@v1.29.1/schema (or set SCHEMA_DIR).
set -euo pipefail
VERSION=v1.29.1
SQL_TOOL="${SQL_TOOL:-temporal-sql-tool}"
SCHEMA_DIR="${SCHEMA_DIR:-$(go env GOMODCACHE)/go.temporal.io/server@${VERSION}/schema/postgresql/v12}"
HOST="${TEMPORAL_DB_HOST:-127.0.0.1}"
export SQL_PASSWORD="${TEMPORAL_DB_PASSWORD:-}"
common=(--plugin postgres12 --ep "$HOST" -p 5432 -u "${TEMPORAL_DB_USER:-temporal}")

main_db="${TEMPORAL_DB_NAME:-temporal}"
visibility_db="${TEMPORAL_VISIBILITY_DB_NAME:-temporal_visibility}"
for db in "$main_db" "$visibility_db"; do
  "$SQL_TOOL" "${common[@]}" --db "$db" create-database || true # exists already: fine
done
"$SQL_TOOL" "${common[@]}" --db "$main_db" setup-schema -v 0.0
"$SQL_TOOL" "${common[@]}" --db "$main_db" update-schema -d "$SCHEMA_DIR/temporal/versioned"
"$SQL_TOOL" "${common[@]}" --db "$visibility_db" setup-schema -v 0.0
"$SQL_TOOL" "${common[@]}" --db "$visibility_db" update-schema -d "$SCHEMA_DIR/visibility/versioned"
echo "Temporal schemas are at the ${VERSION} level on ${HOST}."
