#!/usr/bin/env bash
# Benchmark of the data tools: wall time and peak memory of olist-synth and olist-prepare at
# several scales. Usage: benches/data.sh [SCALE ...]   (default: 0.1 1 10)
# Builds the binaries with the dev profile (dependencies at opt-level 1, as the tests use);
# set PROFILE=release for optimised figures.
source "$(dirname "$0")/common.sh"
build --bin olist-synth --bin olist-prepare
scales=("$@")
[ ${#scales[@]} -gt 0 ] || scales=(0.1 1 10)

measure() { # prints "wall_s peak_mib"
  /usr/bin/time -f "%e %M" -o "$WORK/time" "$@" >"$WORK/stdout" 2>"$WORK/stderr"
  read -r wall kib <"$WORK/time"
  echo "$wall $((kib / 1024))"
}

printf '%-14s %6s %9s %10s %12s %10s\n' step scale wall_s peak_MiB rows rows/s
for s in "${scales[@]}"; do
  read -r wall mib < <(measure "$BIN/olist-synth" --scale "$s" --seed 42 --out "$WORK/raw-$s")
  rows=$(python3 -c 'import json,sys; print(sum(json.loads(open(sys.argv[1]).read().splitlines()[-1])["rows"].values()))' "$WORK/stdout")
  printf '%-14s %6s %9s %10s %12s %10.0f\n' olist-synth "$s" "$wall" "$mib" "$rows" "$(echo "$rows / $wall" | bc -l)"
  read -r wall mib < <(measure "$BIN/olist-prepare" --input "$WORK/raw-$s" --out "$WORK/prep-$s")
  printf '%-14s %6s %9s %10s %12s %10.0f\n' olist-prepare "$s" "$wall" "$mib" "$rows" "$(echo "$rows / $wall" | bc -l)"
  rm -rf "$WORK/raw-$s" "$WORK/prep-$s"
done
