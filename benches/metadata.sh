#!/usr/bin/env bash
# What a long snapshot history costs a day's run. A day-by-day catch-up of the timeline leaves
# every table with ~730 snapshots (its metadata.json ~1.3 MB) until snapshot expiry runs; this
# measures the same day with and without such a history, everything else equal.
# The lake: bronze landed up to DAY, the history before it caught up in one interval, the day
# landed. Then the day's three jobs run on a copy of it as is, and on a copy whose every table
# has N more snapshots in its metadata (older ancestors of its current one, each a copy of the
# current snapshot's entry: same summary size, same manifest list). Prints the median wall
# time of RUNS runs per job and variant.
# The jobs' own bound on history is switched off here (OLISTLAKE_MAX_SNAPSHOTS=0): with it
# (--max-snapshots, default 100) no table holds more than 125 snapshots, and `metadata.sh 1 125`
# measures what that costs.
# Usage: benches/metadata.sh [SCALE] [N] (defaults 1 730). DAY=2018-08-01 RUNS=3.
source "$(dirname "$0")/common.sh"
export OLISTLAKE_MAX_SNAPSHOTS=0
SCALE="${1:-1}"
N="${2:-730}"
DAY="${DAY:-2018-08-01}"
RUNS="${RUNS:-3}"
build --bins --example land-bronze

# Table metadata holds absolute paths: every variant runs at the same place, $WORK/lake.
export OLISTLAKE_WAREHOUSE="$WORK/lake"
caught_up_lake "$SCALE" "$DAY"
"$BIN/examples/land-bronze" "$WORK/prepared" --from "$DAY" --until "$(next_day "$DAY")" >/dev/null
copy_lake "$WORK/lake" "$WORK/base"

# Adds N ancestors to the current snapshot of every table (in place; the catalog's pointer
# keeps naming the same file).
cat >"$WORK/grow.py" <<'PY'
import copy, json, sqlite3, sys
lake, n = sys.argv[1], int(sys.argv[2])
db = sqlite3.connect(f"{lake}/catalog.db")
for (loc,) in db.execute("SELECT metadata_location FROM iceberg_tables"):
    path = loc.removeprefix("file://")
    m = json.load(open(path))
    current = m.get("current-snapshot-id")
    if current in (None, -1):
        continue
    snaps = m["snapshots"]
    entry = next(s for s in snaps if s["snapshot-id"] == current)
    first = min(snaps, key=lambda s: s["timestamp-ms"])
    added, parent = [], None
    for i in range(n):
        s = copy.deepcopy(entry)
        s["snapshot-id"] = 10**15 + i
        s["timestamp-ms"] = first["timestamp-ms"] - (n - i) * 1000
        s["sequence-number"] = 0
        s.pop("parent-snapshot-id", None)
        if parent is not None:
            s["parent-snapshot-id"] = parent
        parent = s["snapshot-id"]
        added.append(s)
    first["parent-snapshot-id"] = parent
    m["snapshots"] = added + snaps
    m["snapshot-log"] = [
        {"snapshot-id": s["snapshot-id"], "timestamp-ms": s["timestamp-ms"]} for s in added
    ] + m.get("snapshot-log", [])
    json.dump(m, open(path, "w"))
PY

for variant in as_is "plus_$N"; do
  for r in $(seq "$RUNS"); do
    copy_lake "$WORK/base" "$WORK/lake"
    [ "$variant" = as_is ] || python3 "$WORK/grow.py" "$WORK/lake" "$N"
    for job in silver-build gold-bcg gold-leadtime; do
      /usr/bin/time -f "%e" -o "$WORK/t" "$BIN/$job" --start "$DAY" --end "$(next_day "$DAY")" \
        >/dev/null 2>"$WORK/err" || { echo "$job failed:"; tail -3 "$WORK/err"; exit 1; }
      echo "$variant $job $(tail -1 "$WORK/t")" >>"$WORK/times"
    done
  done
done
size=$(python3 -c 'import os,sys; print(max(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(sys.argv[1]) for f in fs if f.endswith(".metadata.json")) // 1024)' "$WORK/lake")
python3 - "$WORK/times" "$SCALE" "$DAY" "$N" "$size" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
print(f"scale {sys.argv[2]}, day {sys.argv[3]}; largest metadata.json with {sys.argv[4]} more snapshots: {sys.argv[5]} KiB")
print(f"{'job':<14} {'as_is_s':>8} {'plus_' + sys.argv[4] + '_s':>11} {'extra_s':>8}")
for job in ["silver-build", "gold-bcg", "gold-leadtime"]:
    a = statistics.median(float(r[2]) for r in rows if r[1] == job and r[0] == "as_is")
    b = statistics.median(float(r[2]) for r in rows if r[1] == job and r[0] != "as_is")
    print(f"{job:<14} {a:>8.2f} {b:>11.2f} {b - a:>8.2f}")
PY
