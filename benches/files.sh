#!/usr/bin/env bash
# Data files per table as runs accumulate (not a timing): fixture-scale data (1%) replayed into
# a local Apache Kafka node, the history before 2017-11-01 loaded and transformed in one run
# each, then 30 daily runs of bronze-load → silver-build → gold-bcg → gold-leadtime, then the
# maintenance DAG's compaction (`olistlake rewrite-data-files`); prints each table's file count
# after the history, after the 30 days and after the compaction.
# Usage: benches/files.sh
source "$(dirname "$0")/common.sh"
build --bins
trap 'tests/support/kafka.sh kill "$WORK/broker" 2>/dev/null || true; rm -rf "$WORK"' EXIT
tests/support/kafka.sh install
export OLISTLAKE_KAFKA_BOOTSTRAP="$(tests/support/kafka.sh start "$WORK/broker")"
export OLISTLAKE_WAREHOUSE="$WORK/lakehouse" OLISTLAKE_METRICS_ADDR="" OLISTLAKE_LOG=error
export OLISTLAKE_SCHEMA_REGISTRY="file:$WORK/registry.json"
"$BIN/olist-synth" --scale 0.01 --seed 42 --out "$WORK/raw" >/dev/null
"$BIN/olist-prepare" --input "$WORK/raw" --out "$WORK/prepared" >/dev/null 2>&1
"$BIN/olist-replay" --prepared "$WORK/prepared" --speed max >/dev/null

# 0 and 99 (nothing to do) are both fine here
run() { local c=0; "$@" >/dev/null || c=$?; [ "$c" = 0 ] || [ "$c" = 99 ] || { echo "exit $c: $*" >&2; exit 1; }; }
run "$BIN/bronze-load" --end 2017-11-01T00:00:00+00:00
for job in silver-build gold-bcg gold-leadtime; do
  run "$BIN/$job" --full-refresh --end 2017-11-01T00:00:00+00:00
done
"$BIN/olistlake" tables >"$WORK/history.txt"
day=2017-11-01
for _ in $(seq 30); do
  next=$(date -u -d "$day + 1 day" +%F)
  for job in bronze-load silver-build gold-bcg gold-leadtime; do
    run "$BIN/$job" --start "${day}T00:00:00+00:00" --end "${next}T00:00:00+00:00"
  done
  day=$next
done
"$BIN/olistlake" tables >"$WORK/days.txt"
"$BIN/olistlake" rewrite-data-files >/dev/null
"$BIN/olistlake" tables >"$WORK/compacted.txt"
printf '%-36s %14s %16s %16s\n' table files_history files_+30_days after_compaction
paste <(awk 'NR > 1 {print $1, $3}' "$WORK/history.txt") <(awk 'NR > 1 {print $3}' "$WORK/days.txt") \
  <(awk 'NR > 1 {print $3}' "$WORK/compacted.txt") \
  | awk '{printf "%-36s %14s %16s %16s\n", $1, $2, $3, $4}'
