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

# REPEAT: how many times the scripts time each job run (default 3). Runs vary by a quarter
# from hour to hour on this shared virtual machine, and a run can cost up to 0.4 s more when it
# touches memory the guest freed seconds before (the host backs it again on first touch: `sys`
# time in the kernel's page zeroing), so a table gives the median and the spread.
REPEAT="${REPEAT:-3}"

# summarise "WALL_S PEAK_MIB"...: the repetitions of one run as "median_s min_s max_s peak_MiB"
# (the largest peak)
summarise() {
  printf '%s\n' "$@" | python3 -c '
import statistics, sys
runs = [line.split() for line in sys.stdin if line.strip()]
walls = sorted(float(w) for w, _ in runs)
print(f"{statistics.median(walls):.2f} {walls[0]:.2f} {walls[-1]:.2f} {max(int(m) for _, m in runs)}")'
}

# next_day DATE: the day after DATE (YYYY-MM-DD)
next_day() { date -u -d "$1 + 1 day" +%F; }

# caught_up_lake SCALE UNTIL [JOBS_BIN]: a replay of SCALE prepared in $WORK/prepared (once),
# and the lake $OLISTLAKE_WAREHOUSE with bronze landed up to UNTIL and that history caught up
# in one interval of each transform job of JOBS_BIN (default $BIN), as the daily schedule
# finds it on its first day. Needs `build --bins --example land-bronze`.
caught_up_lake() {
  if [ ! -d "$WORK/prepared" ]; then
    "$BIN/olist-synth" --scale "$1" --out "$WORK/raw" >/dev/null 2>&1
    "$BIN/olist-prepare" --input "$WORK/raw" --out "$WORK/prepared" >/dev/null 2>&1
  fi
  "$BIN/examples/land-bronze" "$WORK/prepared" --until "$2" >/dev/null
  local job
  for job in silver-build gold-bcg gold-leadtime; do
    "${3:-$BIN}/$job" --start 2016-01-01 --end "$2" >/dev/null 2>&1 || [ $? = 99 ]
  done
}

# copy_lake SRC DST: DST replaced by a copy of the lake SRC, flushed to disk before anything is
# timed on it. Otherwise the kernel writes the copy's dirty pages back while the timed run
# writes its own files: at scale 10 (a 2.8 GB lake) that stretched silver-build's commits from
# 0.7–0.9 s to 1–3 s, run to run.
copy_lake() {
  rm -rf "$2"
  cp -r "$1" "$2"
  sync
}
