#!/usr/bin/env bash
# Benchmark of the Kafka path: unpaced replay of a scale into a local Apache Kafka broker (one
# KRaft node, tests/support/kafka.sh), then bronze-load of all of it into a local lake. Prints events/s and rows/s with
# wall time and peak memory. Usage: benches/kafka.sh [SCALE] (default 1)
# The broker-free part (timeline, encode, decode, Parquet write) is measured separately by
# `cargo run --example kafka-path -- PREPARED_DIR`.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/olistlake/target}"
SCALE="${1:-1}"
PROFILE="${PROFILE:-dev}"
cargo build -q --profile "$PROFILE" --bins
BIN="$CARGO_TARGET_DIR/$([ "$PROFILE" = dev ] && echo debug || echo "$PROFILE")"
WORK="$(mktemp -d)"
BOOTSTRAP="$(tests/support/kafka.sh start "$WORK/broker")"
trap 'tests/support/kafka.sh kill "$WORK/broker"; rm -rf "$WORK"' EXIT

"$BIN/olist-synth" --scale "$SCALE" --out "$WORK/raw" >/dev/null 2>&1
"$BIN/olist-prepare" --input "$WORK/raw" --out "$WORK/prepared" >/dev/null 2>&1
export OLISTLAKE_KAFKA_BOOTSTRAP="$BOOTSTRAP" OLISTLAKE_WAREHOUSE="$WORK/lake" OLISTLAKE_METRICS_ADDR= OLISTLAKE_LOG=warn

measure() { /usr/bin/time -f "%e %M" -o "$WORK/time" "$@" >"$WORK/out" 2>"$WORK/err"; read -r w k <"$WORK/time"; echo "$w $((k / 1024))"; }

printf '%-14s %6s %9s %10s %12s %12s\n' step scale wall_s peak_MiB messages per_s
read -r wall mib < <(measure "$BIN/olist-replay" --prepared "$WORK/prepared" --speed max)
n=$(python3 -c 'import json,sys; print(sum(json.loads(open(sys.argv[1]).read().splitlines()[-1])["report"]["sent"].values()))' "$WORK/out")
printf '%-14s %6s %9s %10s %12s %12.0f\n' olist-replay "$SCALE" "$wall" "$mib" "$n" "$(echo "$n / $wall" | bc -l)"
read -r wall mib < <(measure "$BIN/bronze-load") || true
if ! grep -q '"status":"ok"' "$WORK/out"; then echo "bronze-load failed:"; tail -3 "$WORK/err"; tail -1 "$WORK/out"; exit 1; fi
n=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).read().splitlines()[-1])["metrics"]["rows_loaded"])' "$WORK/out")
printf '%-14s %6s %9s %10s %12s %12.0f\n' bronze-load "$SCALE" "$wall" "$mib" "$n" "$(echo "$n / $wall" | bc -l)"
