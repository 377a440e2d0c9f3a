#!/usr/bin/env bash
# Benchmark of the Kafka path through a real broker: for each scale, an unpaced replay into a
# fresh local Apache Kafka node (one KRaft node, tests/support/kafka.sh), then bronze-load of
# all of it into a fresh local lake. Prints wall time, peak memory (of our process, and the
# broker's JVM), messages, messages/s and the data files bronze-load wrote; then the same
# phases without a broker (`examples/kafka-path`) to separate the project's own cost.
# Usage: benches/kafka.sh [SCALE...] (default 1)
source "$(dirname "$0")/common.sh"
SCALES=("${@:-1}")
build --bins --example kafka-path
EXAMPLES="$BIN/examples"
trap 'tests/support/kafka.sh kill "$WORK/broker" 2>/dev/null || true; rm -rf "$WORK"' EXIT
tests/support/kafka.sh install

measure() { /usr/bin/time -f "%e %M" -o "$WORK/time" "$@" >"$WORK/out" 2>"$WORK/err"; read -r w k <"$WORK/time"; echo "$w $((k / 1024))"; }
last() { python3 -c 'import json,sys; s=json.loads(open(sys.argv[1]).read().splitlines()[-1]); print(eval(sys.argv[2]))' "$WORK/out" "$1"; }
broker_mib() { awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$(tests/support/kafka.sh pids "$WORK/broker" | awk '{print $2}')/status"; }

printf '%-14s %6s %9s %9s %11s %10s %12s %7s\n' step scale wall_s peak_MiB broker_MiB messages per_s files
for SCALE in "${SCALES[@]}"; do
  rm -rf "$WORK/raw" "$WORK/prepared" "$WORK/lake"
  tests/support/kafka.sh kill "$WORK/broker" 2>/dev/null || true
  rm -rf "$WORK/broker"
  "$BIN/olist-synth" --scale "$SCALE" --out "$WORK/raw" >/dev/null 2>&1
  "$BIN/olist-prepare" --input "$WORK/raw" --out "$WORK/prepared" >/dev/null 2>&1
  OLISTLAKE_KAFKA_BOOTSTRAP="$(tests/support/kafka.sh start "$WORK/broker")"
  export OLISTLAKE_KAFKA_BOOTSTRAP OLISTLAKE_WAREHOUSE="$WORK/lake" OLISTLAKE_METRICS_ADDR= OLISTLAKE_LOG=warn

  read -r wall mib < <(measure "$BIN/olist-replay" --prepared "$WORK/prepared" --speed max)
  n=$(last 'sum(s["report"]["sent"].values())')
  printf '%-14s %6s %9s %9s %11s %10s %12.0f %7s\n' olist-replay "$SCALE" "$wall" "$mib" "$(broker_mib)" "$n" "$(echo "$n / $wall" | bc -l)" -
  read -r wall mib < <(measure "$BIN/bronze-load") || true
  if ! grep -q '"status":"ok"' "$WORK/out"; then echo "bronze-load failed:"; tail -3 "$WORK/err"; tail -1 "$WORK/out"; exit 1; fi
  n=$(last 's["metrics"]["rows_loaded"] + s["metrics"]["quarantined"]')
  files=$(last 'sum(c["added_files"] for c in s["commits"])')
  printf '%-14s %6s %9s %9s %11s %10s %12.0f %7s\n' bronze-load "$SCALE" "$wall" "$mib" "$(broker_mib)" "$n" "$(echo "$n / $wall" | bc -l)" "$files"

  # the same phases without a broker
  "$EXAMPLES/kafka-path" "$WORK/prepared" | sed "s/^/  no broker, scale $SCALE: /"
done
