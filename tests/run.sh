#!/usr/bin/env bash
# The project's test command (README, CI): installs the test tools if missing, then runs
# formatting and lint checks and the whole test suite. Integration tests start and stop their
# own services (Apache Kafka, s3s-fs, PostgreSQL, an Iceberg REST catalog, Spark local[2],
# Prometheus, Pushgateway, Superset, podman's Docker API) on free 127.0.0.1 ports or private
# sockets.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/olistlake/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
CACHE="${OLISTLAKE_CACHE:-$HOME/.cache/olistlake}"
mkdir -p "$CACHE"

step() { echo "==> $*" >&2; }

step "tools: PostgreSQL, docker-compose, Prometheus, Pushgateway, Chromium, podman and its local base image; the pyiceberg, DuckDB, Airflow and Superset venvs"
tests/support/setup.sh quick

# On a cold machine the S3 store takes minutes to build: build it (and fetch Kafka's jars) in
# the background while the project itself is checked and compiled, and wait before the tests.
step "tools: s3s-fs, Apache Kafka, the Iceberg REST catalog server, PySpark and the Iceberg Spark runtime (background; log in $CACHE/tools-build.log)"
tests/support/setup.sh tools >"$CACHE/tools-build.log" 2>&1 &
tools_pid=$!
trap 'kill $tools_pid 2>/dev/null || true' EXIT

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --locked -- -D warnings

step "cargo test (build)"
cargo test --all-targets --locked --no-run

step "waiting for the tool builds"
if ! wait "$tools_pid"; then
  cat "$CACHE/tools-build.log" >&2
  echo "building the test tools failed" >&2
  exit 1
fi
trap - EXIT

step "cargo test"
cargo test --all-targets --locked -- --test-threads "${OLISTLAKE_TEST_THREADS:-2}"

# The image the container tests built (tests/containers.rs), from this build's binaries.
if size=$(tests/support/podman.sh size localhost/olistlake:test 2>/dev/null); then
  step "image localhost/olistlake:test (debug binaries): $(( size / 1000000 )) MB"
fi
