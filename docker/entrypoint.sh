#!/bin/sh
# Runs one olistlake binary: the first argument is the job name (silver-build, gold-bcg, ...,
# or olistlake for the admin CLI), the rest its flags. The exit code is the job's own
# (0 ok, 1 fatal, 75 retryable, 99 nothing to do), which Airflow maps.
set -eu
if [ "$#" -eq 0 ]; then
  exec olistlake --help
fi
case "$1" in
  olistlake|olist-synth|olist-prepare|olist-replay|bronze-load|silver-build|gold-bcg|gold-leadtime)
    exec "$@" ;;
  *)
    echo "unknown job '$1': expected olistlake, olist-synth, olist-prepare, olist-replay, bronze-load, silver-build, gold-bcg or gold-leadtime" >&2
    exit 1 ;;
esac
