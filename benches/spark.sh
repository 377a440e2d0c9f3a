#!/usr/bin/env bash
# The seed system's engine beside the project's: the silver and gold transforms as a full
# refresh on Apache Spark (PySpark 3.5, local[2], Iceberg Spark runtime;
# benches/spark_transforms.py runs the project's models in Spark SQL) and on olistlake
# (full refresh, and one day: Black Friday 2017), on the same bronze Iceberg tables, at the
# given scales. Prints wall time and peak memory of the whole process tree (the JVM included),
# then the rows each engine wrote per table.
# Usage: benches/spark.sh [SCALE...] (default: 1 10). PROFILE=release for release binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/olistlake/target}"
PROFILE="${PROFILE:-dev}"
tests/support/spark.sh install
cargo build -q --profile "$PROFILE" --bins --example land-bronze
BIN="$CARGO_TARGET_DIR/$([ "$PROFILE" = dev ] && echo debug || echo "$PROFILE")"
SPARK_PY="$(tests/support/spark.sh python)"
export OLISTLAKE_SPARK_JARS="$(tests/support/spark.sh jars)"
export OLISTLAKE_SPARK_MEMORY="${OLISTLAKE_SPARK_MEMORY:-4g}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
export OLISTLAKE_METRICS_ADDR= OLISTLAKE_LOG=warn
END=2018-11-01

measure() { python3 benches/peak.py "$WORK/out" "$@"; }
rows_of() { python3 -c 'import json,sys; s=json.loads(open(sys.argv[1]).read().splitlines()[-1]); [print(k, v["rows_written"]) for k, v in s["metrics"]["tables"].items()]' "$WORK/out"; }

printf '%-9s %6s %-5s %8s %9s\n' engine scale run wall_s peak_MiB
for s in ${@:-1 10}; do
  rm -rf "$WORK/raw" "$WORK/prepared" "$WORK/lake" "$WORK/rows-"*
  "$BIN/olist-synth" --scale "$s" --out "$WORK/raw" >/dev/null 2>&1
  "$BIN/olist-prepare" --input "$WORK/raw" --out "$WORK/prepared" >/dev/null 2>&1
  export OLISTLAKE_WAREHOUSE="$WORK/lake"
  "$BIN/examples/land-bronze" "$WORK/prepared" >/dev/null

  # Spark first: it writes its own namespaces, which olistlake never reads
  read -r wall mib < <(measure "$SPARK_PY" benches/spark_transforms.py \
    --uri "sqlite:$WORK/lake/catalog.db" --warehouse "file://$WORK/lake" --end "$END") \
    || { echo "Spark failed:"; tail -20 "$WORK/out.err"; exit 1; }
  printf '%-9s %6s %-5s %8s %9s\n' spark "$s" full "$wall" "$mib"
  python3 -c 'import json,sys; [print(k, v) for k, v in json.load(open(sys.argv[1])).items()]' \
    "$WORK/out" >"$WORK/rows-spark"

  for run in full day; do
    args=(--full-refresh --end "$END")
    [ "$run" = day ] && args=(--start 2017-11-24 --end 2017-11-25)
    total=0 peak=0
    for job in silver-build gold-bcg gold-leadtime; do
      read -r wall mib < <(measure "$BIN/$job" "${args[@]}") || true
      if ! grep -q '"status":"ok"' "$WORK/out"; then echo "$job failed:"; tail -3 "$WORK/out.err"; exit 1; fi
      [ "$run" = full ] && rows_of >>"$WORK/rows-olistlake"
      total=$(python3 -c "print(round($total + $wall, 2))")
      peak=$(( mib > peak ? mib : peak ))
    done
    printf '%-9s %6s %-5s %8s %9s\n' olistlake "$s" "$run" "$total" "$peak"
  done

  echo "rows written by the full refresh, scale $s:"
  printf '  %-36s %10s %10s\n' table spark olistlake
  sort "$WORK/rows-spark" | while read -r table n; do
    printf '  %-36s %10s %10s\n' "$table" "$n" "$(awk -v t="$table" '$1 == t {print $2}' "$WORK/rows-olistlake")"
  done
done
