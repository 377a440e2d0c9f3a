# Sourced by every bench script (after its usage comment): the repository as working directory,
# the build cache outside the clone, BIN = the binaries of PROFILE (dev unless set; release
# for release binaries), a work directory WORK removed on exit (a script with services
# replaces the trap with one that also stops them), and no metrics endpoint, warnings-only logs
# and no backtraces in the jobs it runs: the iceberg reader builds (and drops) an error per file
# read, and a backtrace each would be measured too.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/olistlake/target}"
PROFILE="${PROFILE:-dev}"
BIN="$CARGO_TARGET_DIR/$([ "$PROFILE" = dev ] && echo debug || echo "$PROFILE")"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
export OLISTLAKE_METRICS_ADDR= OLISTLAKE_LOG=warn
unset RUST_BACKTRACE RUST_LIB_BACKTRACE

# build ARGS...: cargo build of the given targets in PROFILE
build() { cargo build -q --profile "$PROFILE" "$@"; }
