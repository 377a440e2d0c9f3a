#!/usr/bin/env bash
# The seed system's engine beside the project's: the silver and gold transforms as a full
# refresh on olistlake and on Apache Spark (PySpark 3.5,
# local[2], Iceberg Spark runtime; tests/support/spark_jobs.py, the transforms written as
# PySpark DataFrame jobs from the specification), on the same bronze Iceberg tables, at the
# given scales, then olistlake for one day (Black Friday 2017). Prints wall time and peak memory of the whole process tree (the JVM included),
# then per table the rows each engine wrote and the rows only one of them has (Spark compares
# its tables with the project's, after its timed run).
# Each olistlake job and the Spark run are timed $REPEAT times (default 3): wall_s is the median
# (olistlake's: the sum of its jobs' medians), range_s the fastest and slowest, peak_MiB the
# largest peak.
# Usage: [REPEAT=N] benches/spark.sh [SCALE...] (default: 1 10). PROFILE=release for release
# binaries.
source "$(dirname "$0")/common.sh"
tests/support/spark.sh install
build --bins --example land-bronze
SPARK_PY="$(tests/support/spark.sh python)"
export OLISTLAKE_SPARK_JARS="$(tests/support/spark.sh jars)"
export OLISTLAKE_SPARK_MEMORY="${OLISTLAKE_SPARK_MEMORY:-4g}"
END=2018-11-01

measure() { python3 benches/peak.py "$WORK/out" "$@"; }
rows_of() { python3 -c 'import json,sys; s=json.loads(open(sys.argv[1]).read().splitlines()[-1]); [print(k, v["rows_written"]) for k, v in s["metrics"]["tables"].items()]' "$WORK/out"; }

row() { printf '%-9s %6s %-5s %8s %13s %9s\n' "$@"; }
row engine scale run wall_s range_s peak_MiB
for s in ${@:-1 10}; do
  rm -rf "$WORK/raw" "$WORK/prepared" "$WORK/lake" "$WORK/rows-"*
  "$BIN/olist-synth" --scale "$s" --out "$WORK/raw" >/dev/null 2>&1
  "$BIN/olist-prepare" --input "$WORK/raw" --out "$WORK/prepared" >/dev/null 2>&1
  export OLISTLAKE_WAREHOUSE="$WORK/lake"
  "$BIN/examples/land-bronze" "$WORK/prepared" >/dev/null

  olistlake() { # full|day
    local run=$1
    args=(--full-refresh --end "$END")
    [ "$run" = day ] && args=(--start 2017-11-24 --end 2017-11-25)
    total=0 lo_total=0 hi_total=0 peak=0
    for job in silver-build gold-bcg gold-leadtime; do
      local times=() i
      for ((i = 0; i < REPEAT; i++)); do
        times+=("$(measure "$BIN/$job" "${args[@]}" || true)")
        if ! grep -q '"status":"ok"' "$WORK/out"; then echo "$job failed:"; tail -3 "$WORK/out.err"; exit 1; fi
      done
      read -r wall lo hi mib < <(summarise "${times[@]}")
      [ "$run" = full ] && rows_of >>"$WORK/rows-olistlake"
      read -r total lo_total hi_total < <(python3 -c \
        "print(round($total + $wall, 2), round($lo_total + $lo, 2), round($hi_total + $hi, 2))")
      peak=$(( mib > peak ? mib : peak ))
    done
    row olistlake "$s" "$run" "$total" "$lo_total-$hi_total" "$peak"
  }

  olistlake full

  # Spark's own namespaces, which olistlake never reads; timed without the comparison, which
  # reads olistlake's full refresh (before the day run rewrites the delivery monitor)
  spark_run=("$SPARK_PY" tests/support/spark_jobs.py --uri "sqlite:$WORK/lake/catalog.db"
    --warehouse "file://$WORK/lake" --end "$END")
  times=()
  for ((i = 0; i < REPEAT; i++)); do
    times+=("$(measure "${spark_run[@]}")") || { echo "Spark failed:"; tail -20 "$WORK/out.err"; exit 1; }
  done
  read -r wall lo hi mib < <(summarise "${times[@]}")
  row spark "$s" full "$wall" "$lo-$hi" "$mib"
  "${spark_run[@]}" --compare >"$WORK/compare" 2>"$WORK/compare.err" \
    || { echo "Spark's comparison failed:"; tail -20 "$WORK/compare.err"; exit 1; }

  olistlake day

  echo "rows written by the full refresh, scale $s (only_*: rows the other engine lacks):"
  python3 - "$WORK/compare" "$WORK/rows-olistlake" <<'PY'
import json, sys
spark = json.loads(open(sys.argv[1]).read().splitlines()[-1])
ours = dict(line.split() for line in open(sys.argv[2]))
print(f"  {'table':<36} {'spark':>10} {'olistlake':>10} {'only_spark':>11} {'only_ours':>10}")
for t, n in sorted(spark["rows"].items()):
    c = spark["compare"][t]
    print(f"  {t:<36} {n:>10} {ours.get(t, '-'):>10} {c['only_spark']:>11} {c['only_olistlake']:>10}")
PY
done
