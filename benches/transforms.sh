#!/usr/bin/env bash
# Benchmark of the transform jobs: silver-build, gold-bcg and gold-leadtime, each as a full
# refresh, as one day's interval (Black Friday 2017, the busiest day) and as a day without
# events (2018-11-30, after the timeline: exit 99 is expected), at the given scales.
# `files` is the data files the run's scans opened, over every table it read (a file read by
# two statements counts twice: metrics.inputs.*.file_opens).
# Bronze is landed without a broker (cargo run --example land-bronze). Prints wall time and
# peak memory per run. Usage: benches/transforms.sh [SCALE...] (default: 1 10)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/olistlake/target}"
PROFILE="${PROFILE:-dev}"
cargo build -q --profile "$PROFILE" --bins --example land-bronze
BIN="$CARGO_TARGET_DIR/$([ "$PROFILE" = dev ] && echo debug || echo "$PROFILE")"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
export OLISTLAKE_METRICS_ADDR= OLISTLAKE_LOG=warn

# (time prints "Command exited with non-zero status N" first when the exit is not 0)
measure() { /usr/bin/time -f "%e %M" -o "$WORK/time" "$@" >"$WORK/out" 2>"$WORK/err" || true; read -r w k < <(tail -1 "$WORK/time"); echo "$w $((k / 1024))"; }
field() { python3 -c 'import json,sys; s=json.loads(open(sys.argv[1]).read().splitlines()[-1]); print(eval(sys.argv[2]))' "$WORK/out" "$1"; }

printf '%-14s %6s %-14s %8s %9s %10s %7s\n' job scale run wall_s peak_MiB rows_written files
for SCALE in "${@:-1 10}"; do
  for s in $SCALE; do
    rm -rf "$WORK/raw" "$WORK/prepared" "$WORK/lake"
    "$BIN/olist-synth" --scale "$s" --out "$WORK/raw" >/dev/null 2>&1
    "$BIN/olist-prepare" --input "$WORK/raw" --out "$WORK/prepared" >/dev/null 2>&1
    export OLISTLAKE_WAREHOUSE="$WORK/lake"
    read -r wall mib < <(measure "$BIN/examples/land-bronze" "$WORK/prepared")
    printf '%-14s %6s %-14s %8s %9s %10s\n' land-bronze "$s" "" "$wall" "$mib" "$(cat "$WORK/out")"
    for run in full day empty; do
      args=(--full-refresh --end 2018-11-01)
      [ "$run" = day ] && args=(--start 2017-11-24 --end 2017-11-25)
      [ "$run" = empty ] && args=(--start 2018-11-30 --end 2018-12-01)
      for job in silver-build gold-bcg gold-leadtime; do
        read -r wall mib < <(measure "$BIN/$job" "${args[@]}") || true
        if ! grep -q '"status":"\(ok\|nothing_to_do\)"' "$WORK/out"; then echo "$job failed:"; tail -3 "$WORK/err"; tail -1 "$WORK/out" | cut -c1-500; exit 1; fi
        rows=$(field 'sum(v["rows_written"] for v in s["metrics"].get("tables", {}).values())')
        files=$(field 'sum(v["file_opens"] for v in s["metrics"].get("inputs", {}).values())')
        printf '%-14s %6s %-14s %8s %9s %10s %7s\n' "$job" "$s" "$run" "$wall" "$mib" "$rows" "$files"
      done
    done
  done
done
