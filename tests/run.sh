#!/usr/bin/env bash
# The project's test command (README, CI): installs the test tools if missing, then runs
# formatting and lint checks and the whole test suite. Integration tests start and stop their
# own services (s3s-fs, PostgreSQL) on free 127.0.0.1 ports.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/olistlake/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

step() { echo "==> $*" >&2; }

step "tools (s3s-fs, PostgreSQL, pyiceberg venv)"
tests/support/setup.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --locked -- -D warnings

step "cargo test"
cargo test --all-targets --locked -- --test-threads "${OLISTLAKE_TEST_THREADS:-2}"
