#!/usr/bin/env bash
# What a day's run is made of once the states carry a bronze tail (the files landed since
# silver-build last folded them into the state), phase by phase: the run summary's
# metrics.timings_s, median of RUNS runs.
# The lake: bronze landed up to DAY - TAIL days, that history caught up in one interval (which
# builds the states), then TAIL days landed and run one by one as the daily schedule runs them,
# then DAY landed: every order topic's state has a tail of TAIL + 1 files (TAIL ≤ 15: a 17th
# file folds the tail in). The day's three jobs then run RUNS times, each time on a fresh copy
# of that lake at the same place (table metadata holds absolute paths).
# With BASELINE=DIR (another build's binaries, e.g. of an older commit in a worktree), the
# lake is built a second time by DIR's jobs (each build keeps the state by its own rules), and
# every run is paired with a run of DIR's binaries on a copy of its lake, alternating which
# goes first; the table then shows both builds' medians and the median of the paired ratios
# of the three jobs' total wall time (this build / the baseline).
# Usage: benches/tail.sh [SCALE] [TAIL] (defaults 1 12). DAY=2018-08-01 RUNS=8 BASELINE=DIR.
source "$(dirname "$0")/common.sh"
SCALE="${1:-1}"
TAIL="${2:-12}"
DAY="${DAY:-2018-08-01}"
RUNS="${RUNS:-8}"
BASELINE="${BASELINE:-}"
[ "$TAIL" -le 15 ] || { echo "TAIL must be at most 15 (a longer tail is folded in)" >&2; exit 2; }
build --bins --example land-bronze
JOBS="silver-build gold-bcg gold-leadtime"

export OLISTLAKE_WAREHOUSE="$WORK/lake"
from=$(date -u -d "$DAY - $TAIL days" +%F)
# day_lake JOBS_BIN BASE: the day's lake, kept by JOBS_BIN's jobs, copied to BASE
day_lake() {
  rm -rf "$WORK/lake"
  caught_up_lake "$SCALE" "$from" "$1"
  local d=$from n job
  while [ "$d" != "$DAY" ]; do
    n=$(next_day "$d")
    "$BIN/examples/land-bronze" "$WORK/prepared" --from "$d" --until "$n" >/dev/null
    for job in $JOBS; do "$1/$job" --start "$d" --end "$n" >/dev/null 2>&1 || [ $? = 99 ]; done
    d=$n
  done
  "$BIN/examples/land-bronze" "$WORK/prepared" --from "$DAY" --until "$(next_day "$DAY")" >/dev/null
  copy_lake "$WORK/lake" "$2"
}
day_lake "$BIN" "$WORK/base"
[ -z "$BASELINE" ] || day_lake "$BASELINE" "$WORK/base_baseline"

# run BUILD DIR: the day's three jobs of DIR on a fresh copy of its lake; one summary line
# per job
run() {
  copy_lake "$WORK/base$([ "$1" = this ] || echo _baseline)" "$WORK/lake"
  for job in $JOBS; do
    local start end
    start=$(date +%s.%N)
    "$2/$job" --start "$DAY" --end "$(next_day "$DAY")" >"$WORK/out" 2>"$WORK/err" \
      || [ $? = 99 ] || { echo "$2/$job failed:"; tail -3 "$WORK/err"; exit 1; }
    end=$(date +%s.%N)
    echo "$1 $job $start $end $(tail -1 "$WORK/out")" >>"$WORK/runs"
  done
}
for r in $(seq "$RUNS"); do
  if [ -z "$BASELINE" ]; then
    run this "$BIN"
  elif [ $((r % 2)) = 1 ]; then
    run this "$BIN"; run baseline "$BASELINE"
  else
    run baseline "$BASELINE"; run this "$BIN"
  fi
done
python3 - "$WORK/runs" "$SCALE" "$DAY" "$TAIL" "$RUNS" <<'PY'
import json, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    build, job, start, end, summary = line.split(" ", 4)
    s = json.loads(summary)
    laps = s["metrics"]["timings_s"]
    models = sum(v["compute"] + v["scope"] for v in laps.values() if isinstance(v, dict))
    tail = max((t["tail_files"] for t in s["metrics"].get("state", {}).values()), default=0)
    runs.setdefault((build, job), []).append({
        "wall": float(end) - float(start), "pin_inputs": laps.get("pin_inputs", 0),
        "views": laps.get("views", 0), "models": models + laps.get("borrowed", 0),
        "checks": laps.get("checks", 0), "commits": laps.get("commits", 0), "tail": tail})
builds = sorted({b for b, _ in runs}, reverse=True)
print(f"scale {sys.argv[2]}, day {sys.argv[3]} after {sys.argv[4]} daily runs; median of {sys.argv[5]} runs (s)")
cols = ["wall", "pin_inputs", "views", "models", "checks", "commits"]
print(f"{'job':<14} {'build':<9} {'tail':>4} " + " ".join(f"{c:>10}" for c in cols))
for job in ["silver-build", "gold-bcg", "gold-leadtime"]:
    for b in builds:
        rs = runs[(b, job)]
        print(f"{job:<14} {b:<9} {rs[0]['tail']:>4} "
              + " ".join(f"{statistics.median(r[c] for r in rs):>10.3f}" for c in cols))
if len(builds) == 2:
    total = {b: [sum(x) for x in zip(*(
        [r["wall"] for r in runs[(b, j)]] for j in ["silver-build", "gold-bcg", "gold-leadtime"]))]
        for b in builds}
    ratios = [a / b for a, b in zip(total["this"], total["baseline"])]
    print(f"three jobs' total: this {statistics.median(total['this']):.3f} s, baseline "
          f"{statistics.median(total['baseline']):.3f} s; paired ratio median "
          f"{statistics.median(ratios):.3f} (min {min(ratios):.3f}, max {max(ratios):.3f})")
PY
