#!/usr/bin/env bash
# End-to-end demo on the embedded default: no servers to start by hand.
#   olist-synth (fixture scale) → olist-prepare → a local Apache Kafka broker (one KRaft node,
#   started and stopped here) → olist-replay → bronze-load → silver-build → gold-bcg → gold-leadtime,
#   into ./demo/lakehouse (SQLite catalog), then the gold headline figures, the BCG segment
#   counts and a table listing. Safe to re-run: every step is idempotent.
# The first run fetches Kafka's jars from Maven Central (tests/support/kafka.sh install; once).
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/olistlake/target}"
CACHE="${OLISTLAKE_CACHE:-$HOME/.cache/olistlake}"
DEMO="$(mkdir -p "${OLISTLAKE_DEMO_DIR:-demo}" && cd "${OLISTLAKE_DEMO_DIR:-demo}" && pwd)"
step() { echo "==> $*" >&2; }

step "building (first time: fetching the broker's jars too)"
tests/support/kafka.sh install
if [ -n "${OLISTLAKE_BIN_DIR:-}" ]; then
  BIN="$OLISTLAKE_BIN_DIR"   # binaries built already (the test suite passes its own)
else
  cargo build -q --bins
  BIN="$CARGO_TARGET_DIR/debug"
fi

export OLISTLAKE_WAREHOUSE="$DEMO/lakehouse" OLISTLAKE_METRICS_ADDR="" OLISTLAKE_LOG="${OLISTLAKE_LOG:-warn}"

step "generate Olist-shaped data at fixture scale (1% of the real row counts) and prepare it"
"$BIN/olist-synth" --scale 0.01 --seed 42 --out "$DEMO/raw" >/dev/null
"$BIN/olist-prepare" --input "$DEMO/raw" --out "$DEMO/prepared" >/dev/null

step "start a local broker"
OLISTLAKE_KAFKA_BOOTSTRAP="$(tests/support/kafka.sh start "$DEMO/broker")"
export OLISTLAKE_KAFKA_BOOTSTRAP
trap 'tests/support/kafka.sh stop "$DEMO/broker"' EXIT

step "replay the history into Kafka (resumes after what is already there)"
"$BIN/olist-replay" --prepared "$DEMO/prepared" --speed max | python3 -c 'import json,sys; r=json.loads(sys.stdin.read().splitlines()[-1])["report"]; print("   sent", sum(r["sent"].values()), "events, skipped", r["skipped_already_in_kafka"], "already in Kafka")'

step "bronze-load (exactly once; a re-run with nothing new exits 99)"
set +e
"$BIN/bronze-load" >"$DEMO/bronze-load.json"
code=$?
set -e
[ "$code" = 0 ] || [ "$code" = 99 ] || { tail -1 "$DEMO/bronze-load.json"; exit "$code"; }
python3 -c 'import json,sys; s=json.loads(open(sys.argv[1]).read().splitlines()[-1]); print("  ", s["status"], "-", s["metrics"].get("rows_loaded", 0), "rows loaded,", s["metrics"].get("quarantined", 0), "quarantined")' "$DEMO/bronze-load.json"

for job in silver-build gold-bcg gold-leadtime; do
  step "$job (full refresh; a scheduler passes --start/--end instead)"
  set +e
  "$BIN/$job" --full-refresh >"$DEMO/$job.json"
  code=$?
  set -e
  [ "$code" = 0 ] || [ "$code" = 99 ] || { tail -1 "$DEMO/$job.json"; exit "$code"; }
done

step "gold headline figures"
python3 - "$DEMO" <<'PY'
import json, sys
last = lambda job: json.loads(open(f"{sys.argv[1]}/{job}.json").read().splitlines()[-1])
lt, bcg = last("gold-leadtime")["metrics"]["figures"], last("gold-bcg")["metrics"]["figures"]
d, m, h = lt["deliveries"], lt["monitor"], lt["lead_time_hours"]
print(f"   deliveries: {d['delivered_orders']}, late: {d['late_orders']} ({100 * d['late_share']:.1f}%)")
print(f"   purchase to delivery: median {h['total']['median'] / 24:.1f} days, p90 {h['total']['p90'] / 24:.1f} days")
print(f"   open orders as of {m['as_of']}: {m['open_orders']}, overdue: {m['overdue_orders']}")
print("   BCG segments (health_beauty, whole history):")
for seg, v in sorted(bcg["segments"].items()):
    print(f"     {seg:<15} {v['products']:>4} products {v['items']:>5} items {v['sales']:>12,.2f} BRL")
PY

step "tables"
"$BIN/olistlake" tables
