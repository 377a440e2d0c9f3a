#!/usr/bin/env bash
# The whole Olist timeline as the daily schedule meets it: for every day from the first event to
# the last, the day's bronze is landed (without a broker: examples/land-bronze --each-day, which
# keeps the prepared data loaded) and silver-build, gold-bcg and gold-leadtime run for that day.
# Prints the three jobs' wall time summed over all days, per job, with the slowest day and the
# mean per day in each quarter of the timeline; then one full refresh of the same bronze on the
# same lake, and the rows of every silver and gold table before and after it. (In place, not
# on a copy: a copy's catalog would still point at this lake's files, which Iceberg names by
# absolute path, so the two would share them.)
# Usage: benches/timeline.sh [SCALE] (default 1). PROFILE=release for release binaries.
source "$(dirname "$0")/common.sh"
SCALE="${1:-1}"
build --bins --example land-bronze
export BIN WORK # for the per-day script below

"$BIN/olist-synth" --scale "$SCALE" --out "$WORK/raw" >/dev/null 2>&1
"$BIN/olist-prepare" --input "$WORK/raw" --out "$WORK/prepared" >/dev/null 2>&1
export OLISTLAKE_WAREHOUSE="$WORK/lake"

# one line per job and day: day job wall_s exit_code
cat >"$WORK/day.sh" <<'SH'
#!/usr/bin/env bash
for job in silver-build gold-bcg gold-leadtime; do
  /usr/bin/time -f "%e" -o "$WORK/t" "$BIN/$job" --start "$1" --end "$2" >"$WORK/out" 2>"$WORK/err"
  code=$?
  if [ "$code" != 0 ] && [ "$code" != 99 ]; then echo "$job $1 exited $code" >&2; tail -3 "$WORK/err" >&2; exit 1; fi
  echo "$1 $job $(tail -1 "$WORK/t") $code" >>"$WORK/days"
done
SH
chmod +x "$WORK/day.sh"
started=$(date +%s)
"$BIN/examples/land-bronze" "$WORK/prepared" --each-day "$WORK/day.sh" >/dev/null
elapsed=$(( $(date +%s) - started ))

TABLES="silver.order_timestamp silver.order_product silver.delivered_order_timestamp
  silver.delivered_order_product silver.user_location gold.sale_stats
  gold.health_beauty_sales_stats_bcg gold.delivered_order_product_bcg gold.order_location
  gold.review_metadata_product gold.timestamp_stats_wide"
# counts FILE: each table's row count in the lake as it is, one line per table
counts() {
  local t
  for t in $TABLES; do
    echo "$t $("$BIN/olistlake" --json sql "SELECT count(*) AS n FROM $t" \
      | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["n"])')"
  done >"$1"
}
counts "$WORK/rows-days"
full=0
for job in silver-build gold-bcg gold-leadtime; do
  /usr/bin/time -f "%e" -o "$WORK/t" "$BIN/$job" --full-refresh >/dev/null 2>&1
  full=$(python3 -c "print(round($full + $(tail -1 "$WORK/t"), 2))")
done
counts "$WORK/rows-full"

python3 - "$WORK/days" "$SCALE" "$elapsed" "$full" <<'PY'
import collections, sys
rows = [l.split() for l in open(sys.argv[1])]
days = sorted({r[0] for r in rows})
print(f"scale {sys.argv[2]}: {len(days)} days, {days[0]} .. {days[-1]}; "
      f"landing and running took {int(sys.argv[3]) // 60} min {int(sys.argv[3]) % 60} s")
print(f"{'job':<14} {'total_s':>8} {'nothing':>8} {'slowest_s':>10}  mean_s per quarter of the timeline")
total = 0
for job in ["silver-build", "gold-bcg", "gold-leadtime"]:
    mine = [(r[0], float(r[2]), r[3]) for r in rows if r[1] == job]
    s = sum(w for _, w, _ in mine)
    total += s
    slow = max(mine, key=lambda m: m[1])
    q = len(mine) // 4 or 1
    means = [sum(w for _, w, _ in mine[i * q:(i + 1) * q]) / q for i in range(4)]
    skipped = sum(1 for _, _, c in mine if c == "99")
    print(f"{job:<14} {s:>8.1f} {skipped:>8} {slow[1]:>10.2f}  "
          + "  ".join(f"{m:.2f}" for m in means) + f"   (slowest: {slow[0]})")
print(f"three jobs, every day: {total:.1f} s ({total / 60:.1f} min); one full refresh: {sys.argv[4]} s")
PY

echo "rows per table (day by day | full refresh):"
paste -d ' ' "$WORK/rows-days" "$WORK/rows-full" | while read -r t days _ full_rows; do
  printf '  %-36s %10s %10s\n' "$t" "$days" "$full_rows"
done
