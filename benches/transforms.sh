#!/usr/bin/env bash
# Benchmark of the transform jobs: silver-build, gold-bcg and gold-leadtime at the given scales.
# On a lake holding the whole history: a full refresh, one day at three points of the history
# (2017-01-10, 2017-11-24 = Black Friday, the busiest day, 2018-08-01) re-run as a backfill
# would, and a day without events (2018-11-30, after the timeline: exit 99 is expected).
# Then `sched` runs: a second lake where bronze is landed up to each of those days, the
# history before it caught up in one interval, then the day landed and its three jobs run,
# as the daily schedule meets it.
# `files` is the data files the run's scans opened, over every table it read (a file read by
# two statements counts twice: metrics.inputs.*.file_opens).
# Bronze is landed without a broker (cargo run --example land-bronze). Prints wall time and
# peak memory per run. Beside the full refresh, DuckDB (PyPI, its own venv) runs the same
# models (benches/duckdb_transforms.py: jobs/*.sql over the bronze Parquet files, each table
# written as Parquet), and the rows each wrote per table are printed side by side.
# Each job run and the DuckDB run are timed $REPEAT times (default 3; a re-run of an interval
# redoes its work): wall_s is the median, range_s the fastest and slowest, peak_MiB the largest
# peak; rows_written and files are the first run's (rows marked * when a re-run wrote another
# number of rows).
# Usage: [REPEAT=N] benches/transforms.sh [SCALE...] (default: 1 10)
source "$(dirname "$0")/common.sh"
build --bins --example land-bronze
tests/support/setup.sh duckdb
DUCKDB_VENV="${OLISTLAKE_CACHE:-$HOME/.cache/olistlake}/venv-duckdb"
DAYS="2017-01-10 2017-11-24 2018-08-01"

# (time prints "Command exited with non-zero status N" first when the exit is not 0)
measure() { /usr/bin/time -f "%e %M" -o "$WORK/time" "$@" >"$WORK/out" 2>"$WORK/err" || true; read -r w k < <(tail -1 "$WORK/time"); echo "$w $((k / 1024))"; }
field() { python3 -c 'import json,sys; s=json.loads(open(sys.argv[1]).read().splitlines()[-1]); print(eval(sys.argv[2]))' "$WORK/out" "$1"; }

row() { printf '%-14s %6s %-14s %7s %11s %9s %12s %7s\n' "$@"; }
row job scale run wall_s range_s peak_MiB rows_written files
for SCALE in "${@:-1 10}"; do
  for s in $SCALE; do
    rm -rf "$WORK/raw" "$WORK/prepared" "$WORK/lake"
    "$BIN/olist-synth" --scale "$s" --out "$WORK/raw" >/dev/null 2>&1
    "$BIN/olist-prepare" --input "$WORK/raw" --out "$WORK/prepared" >/dev/null 2>&1
    export OLISTLAKE_WAREHOUSE="$WORK/lake"
    read -r wall mib < <(measure "$BIN/examples/land-bronze" "$WORK/prepared")
    row land-bronze "$s" "" "$wall" "" "$mib" "$(cat "$WORK/out")"
    runs() { # label args...: the three jobs, measured
      local label=$1; shift
      for job in silver-build gold-bcg gold-leadtime; do
        local times=() written=() i
        for ((i = 0; i < REPEAT; i++)); do
          times+=("$(measure "$BIN/$job" "$@")")
          if ! grep -q '"status":"\(ok\|nothing_to_do\)"' "$WORK/out"; then echo "$job failed:"; tail -3 "$WORK/err"; tail -1 "$WORK/out" | cut -c1-500; exit 1; fi
          written+=("$(field 'sum(v["rows_written"] for v in s["metrics"].get("tables", {}).values())')")
          [ "$i" = 0 ] && files=$(field 'sum(v["file_opens"] for v in s["metrics"].get("inputs", {}).values())')
        done
        read -r wall lo hi mib < <(summarise "${times[@]}")
        # the first run's rows (a re-run that wrote other rows, e.g. folding a partition's
        # files, is flagged)
        rows=${written[0]}
        [ "$(printf '%s\n' "${written[@]}" | sort -u | wc -l)" = 1 ] || rows="$rows*"
        row "$job" "$s" "$label" "$wall" "$lo-$hi" "$mib" "$rows" "$files"
        if [ "$label" = full ]; then
          field '"\n".join(k + " " + str(v["rows_written"]) for k, v in s["metrics"]["tables"].items())' >>"$WORK/rows-olistlake"
        fi
      done
    }
    rm -f "$WORK/rows-olistlake"
    runs full --full-refresh --end 2018-11-01
    times=()
    for ((i = 0; i < REPEAT; i++)); do
      times+=("$(measure "$DUCKDB_VENV/bin/python" benches/duckdb_transforms.py \
        --lake "$WORK/lake" --out "$WORK/duckdb" --end 2018-11-01)")
      grep -q '^{' "$WORK/out" || { echo "DuckDB failed:"; tail -5 "$WORK/err"; exit 1; }
    done
    read -r wall lo hi mib < <(summarise "${times[@]}")
    cp "$WORK/out" "$WORK/rows-duckdb"
    row duckdb "$s" full "$wall" "$lo-$hi" "$mib" \
      "$(python3 -c 'import json,sys; print(sum(json.load(open(sys.argv[1])).values()))' "$WORK/rows-duckdb")"
    python3 - "$WORK/rows-duckdb" "$WORK/rows-olistlake" <<'PY'
import json, sys
duck = json.load(open(sys.argv[1]))
ours = dict(line.split() for line in open(sys.argv[2]) if line.strip())
for t, n in sorted(duck.items()):
    mark = "" if str(n) == ours.get(t) else "   <- differs"
    print(f"  rows {t:<36} duckdb {n:>9}  olistlake {ours.get(t, '-'):>9}{mark}")
PY
    for d in $DAYS; do runs "day $d" --start "$d" --end "$(next_day "$d")"; done
    runs empty --start 2018-11-30 --end 2018-12-01
    # the daily schedule: history caught up to the day, then the day landed and run
    export OLISTLAKE_WAREHOUSE="$WORK/sched"
    rm -rf "$WORK/sched"
    from=2016-01-01
    for d in $DAYS; do
      "$BIN/examples/land-bronze" "$WORK/prepared" --from "$from" --until "$d" >/dev/null
      for job in silver-build gold-bcg gold-leadtime; do
        "$BIN/$job" --start "$from" --end "$d" >/dev/null 2>&1 || [ $? = 99 ]
      done
      "$BIN/examples/land-bronze" "$WORK/prepared" --from "$d" --until "$(next_day "$d")" >/dev/null
      runs "sched $d" --start "$d" --end "$(next_day "$d")"
      from=$(next_day "$d")
    done
  done
done
