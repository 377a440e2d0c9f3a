#!/usr/bin/env bash
# Installs everything the test suite needs that a fresh machine lacks: the S3-compatible store
# (s3s-fs), PostgreSQL (Debian), and a Python venv with pyiceberg as the independent reader.
# Idempotent: each step is skipped when its result is already cached under $OLISTLAKE_CACHE.
set -euo pipefail

CACHE="${OLISTLAKE_CACHE:-$HOME/.cache/olistlake}"
TOOLS="$CACHE/tools"
mkdir -p "$TOOLS/bin"

log() { echo "[setup] $*" >&2; }

# --- s3s-fs: S3-compatible object store serving a local directory --------------------------
if [ ! -x "$TOOLS/bin/s3s-fs" ]; then
  log "installing s3s-fs 0.14.1 (a few minutes, once)"
  cargo install s3s-fs --version 0.14.1 --locked --features binary --root "$TOOLS" -q
fi

# --- tansu: Kafka-protocol broker with its SQLite storage engine (correct offsets) ------------
# The default features compile no storage engine; this build is long (~40 CPU-minutes), once.
if [ ! -x "$TOOLS/bin/tansu" ]; then
  log "installing tansu 0.6.0 with the sqlite engine (long, once)"
  cargo install tansu --version 0.6.0 --locked --features dynostore,libsql --root "$TOOLS" -q
fi

# --- PostgreSQL server binaries (Debian) ------------------------------------------------------
if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  log "installing postgresql from apt"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq postgresql >/dev/null
fi

# --- pyiceberg venv: the independent reader ---------------------------------------------------
VENV="$CACHE/venv-pyiceberg"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import pyiceberg, pyiceberg_core, pyarrow, sqlalchemy, psycopg2' 2>/dev/null; then
  log "creating pyiceberg venv at $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q "pyiceberg[sql-sqlite,sql-postgres,pyarrow,s3fs]==0.12.*" "pyiceberg-core" "psycopg2-binary"
fi

log "tools ready in $CACHE"
