#!/usr/bin/env bash
# One-off setup of the compose stack's Superset: metadata database, admin user, the DuckDB
# views over the gold tables (when they exist yet) and the dashboards bundle. Idempotent.
set -euo pipefail
superset db upgrade
superset fab create-admin --username "${SUPERSET_ADMIN_USER:-admin}" --firstname olistlake \
  --lastname admin --email admin@localhost --password "${SUPERSET_ADMIN_PASSWORD:?}" || true
superset init
olistlake-refresh-views || echo "no gold tables yet: the pipeline's refresh_dashboards task creates the views"
python /app/olistlake/bundle.py zip --duckdb "$OLISTLAKE_DUCKDB" \
  --secret-directory "$(dirname "$OLISTLAKE_DUCKDB")/duckdb-secrets" --out /tmp/olistlake-dashboards.zip
superset import-dashboards -p /tmp/olistlake-dashboards.zip -u "${SUPERSET_ADMIN_USER:-admin}"
