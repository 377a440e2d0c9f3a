#!/usr/bin/env bash
# Prometheus + Pushgateway + Superset on 127.0.0.1 over the demo's lake, without Docker.
#
#   ./monitoring.sh up        start them (installs them first: tests/support/setup.sh monitoring)
#   ./monitoring.sh refresh   rebuild Superset's DuckDB views after gold jobs committed
#   ./monitoring.sh status    what runs, and where
#   ./monitoring.sh down      stop what `up` started
#
# `up` prints the URLs and writes them to $OLISTLAKE_MONITORING_DIR/env (default
# demo/monitoring/env) as shell variables; source it and the jobs push their metrics:
#   . demo/monitoring/env && ./demo.sh
# Ports: PROMETHEUS_PORT (9090), PUSHGATEWAY_PORT (9091), SUPERSET_PORT (8088); 0 picks a free
# one. REPLAY_METRICS_ADDR (127.0.0.1:9464) is the producer Prometheus scrapes;
# SCRAPE_INTERVAL (15s). Superset's admin password: SUPERSET_ADMIN_PASSWORD, else a random one
# kept in the env file. The lake: OLISTLAKE_WAREHOUSE / OLISTLAKE_CATALOG_URI, else ./demo.
set -euo pipefail
cd "$(dirname "$0")"
ROOT="$(pwd)"
CACHE="${OLISTLAKE_CACHE:-$HOME/.cache/olistlake}"
DEMO="${OLISTLAKE_DEMO_DIR:-demo}"
DIR="${OLISTLAKE_MONITORING_DIR:-$DEMO/monitoring}"
mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"
SUPERSET_VENV="$CACHE/venv-superset"
export OLISTLAKE_WAREHOUSE="${OLISTLAKE_WAREHOUSE:-$(cd "$DEMO" 2>/dev/null && pwd)/lakehouse}"

step() { echo "==> $*" >&2; }
die() { echo "error: $*" >&2; exit 1; }

# ports PORT...: distinct free ports for the 0s
# shellcheck source=tests/support/ports.sh
. tests/support/ports.sh

# start NAME CMD...: runs CMD in its own process group, logs in $DIR/NAME.log
start() {
  local name="$1"; shift
  if [ -f "$DIR/$name.pid" ] && kill -0 "$(cat "$DIR/$name.pid")" 2>/dev/null; then
    die "$name already runs (pid $(cat "$DIR/$name.pid")); ./monitoring.sh down first"
  fi
  setsid "$@" >"$DIR/$name.log" 2>&1 </dev/null &
  echo $! >"$DIR/$name.pid"
}

wait_http() {
  local name="$1" url="$2" tries="${3:-120}"
  for _ in $(seq "$tries"); do
    if python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$url" 2>/dev/null; then
      return 0
    fi
    kill -0 "$(cat "$DIR/$name.pid")" 2>/dev/null || break
    sleep 0.5
  done
  tail -20 "$DIR/$name.log" >&2
  die "$name did not answer at $url (log: $DIR/$name.log)"
}

# Superset's settings (its secret key is set in `up`), for the setup commands and the server
export SUPERSET_HOME="$DIR/superset" SUPERSET_CONFIG_PATH="$ROOT/docker/superset/superset_config.py" \
  FLASK_APP=superset
superset() { "$SUPERSET_VENV/bin/superset" "$@"; }

refresh_views() {
  "$SUPERSET_VENV/bin/python" docker/superset/olistlake_views.py --duckdb "$DIR/lake.duckdb"
}

up() {
  tests/support/setup.sh monitoring
  local prom push sup replay="${REPLAY_METRICS_ADDR:-127.0.0.1:9464}"
  { read -r prom; read -r push; read -r sup; } < <(ports "${PROMETHEUS_PORT:-9090}" \
    "${PUSHGATEWAY_PORT:-9091}" "${SUPERSET_PORT:-8088}")
  local password="${SUPERSET_ADMIN_PASSWORD:-}"
  if [ -z "$password" ] && [ -f "$DIR/env" ]; then
    password=$(sed -n 's/^SUPERSET_ADMIN_PASSWORD=//p' "$DIR/env")
  fi
  [ -n "$password" ] || password=$(python3 -c 'import secrets; print(secrets.token_urlsafe(12))')
  local secret
  secret=$(cat "$DIR/superset-secret" 2>/dev/null || python3 -c 'import secrets; print(secrets.token_urlsafe(32))')
  (umask 077; echo "$secret" >"$DIR/superset-secret")

  step "Pushgateway on 127.0.0.1:$push (kept in $DIR/pushgateway.db)"
  start pushgateway prometheus-pushgateway --web.listen-address="127.0.0.1:$push" \
    --persistence.file="$DIR/pushgateway.db" --persistence.interval=30s

  step "Prometheus on 127.0.0.1:$prom (scrapes the Pushgateway and $replay)"
  cp docker/prometheus/rules.yml "$DIR/rules.yml"
  sed -e "s/replay:9464/$replay/" -e "s/pushgateway:9091/127.0.0.1:$push/" \
    -e "s/scrape_interval: 15s/scrape_interval: ${SCRAPE_INTERVAL:-15s}/" \
    -e "s/evaluation_interval: 15s/evaluation_interval: ${SCRAPE_INTERVAL:-15s}/" \
    docker/prometheus/prometheus.yml >"$DIR/prometheus.yml"
  promtool check config "$DIR/prometheus.yml" >/dev/null
  start prometheus prometheus --config.file="$DIR/prometheus.yml" \
    --storage.tsdb.path="$DIR/prometheus-data" --web.listen-address="127.0.0.1:$prom" \
    --web.enable-lifecycle

  step "Superset on 127.0.0.1:$sup over $OLISTLAKE_WAREHOUSE"
  refresh_views >/dev/null 2>"$DIR/refresh.log" \
    || echo "   no gold tables yet ($(tail -1 "$DIR/refresh.log")): run ./monitoring.sh refresh after the gold jobs" >&2
  mkdir -p "$DIR/superset"
  export SUPERSET_SECRET_KEY="$secret"
  superset db upgrade >"$DIR/superset-setup.log" 2>&1 || { tail -20 "$DIR/superset-setup.log" >&2; die "superset db upgrade failed"; }
  if ! superset fab list-users 2>/dev/null | grep -q "username:admin"; then
    superset fab create-admin --username admin --firstname olistlake --lastname admin \
      --email admin@localhost --password "$password" >>"$DIR/superset-setup.log" 2>&1
  else
    superset fab reset-password --username admin --password "$password" >>"$DIR/superset-setup.log" 2>&1
  fi
  superset init >>"$DIR/superset-setup.log" 2>&1
  "$SUPERSET_VENV/bin/python" docker/superset/bundle.py zip --duckdb "$DIR/lake.duckdb" \
    --out "$DIR/dashboards.zip" >/dev/null
  superset import-dashboards -p "$DIR/dashboards.zip" -u admin >>"$DIR/superset-setup.log" 2>&1 \
    || { tail -20 "$DIR/superset-setup.log" >&2; die "importing the dashboards failed"; }
  start superset "$SUPERSET_VENV/bin/superset" run -h 127.0.0.1 -p "$sup" --with-threads

  wait_http pushgateway "http://127.0.0.1:$push/-/ready"
  wait_http prometheus "http://127.0.0.1:$prom/-/ready"
  wait_http superset "http://127.0.0.1:$sup/health" 240
  (umask 077; : >"$DIR/env")  # it holds the admin password
  cat >"$DIR/env" <<EOF
PROMETHEUS_URL=http://127.0.0.1:$prom
PUSHGATEWAY_URL=http://127.0.0.1:$push
SUPERSET_URL=http://127.0.0.1:$sup
SUPERSET_ADMIN_PASSWORD=$password
export OLISTLAKE_PUSHGATEWAY=http://127.0.0.1:$push
EOF
  status
  echo "Superset user: admin, password in $DIR/env. After gold jobs: ./monitoring.sh refresh" >&2
}

status() {
  local name
  for name in pushgateway prometheus superset; do
    if [ -f "$DIR/$name.pid" ] && kill -0 "$(cat "$DIR/$name.pid")" 2>/dev/null; then
      echo "$name: running (pid $(cat "$DIR/$name.pid"), log $DIR/$name.log)"
    else
      echo "$name: stopped"
    fi
  done
  [ -f "$DIR/env" ] && grep _URL= "$DIR/env" | grep -v "^export" || true
}

down() {
  local name pid
  for name in superset prometheus pushgateway; do
    [ -f "$DIR/$name.pid" ] || continue
    pid=$(cat "$DIR/$name.pid")
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    rm -f "$DIR/$name.pid"
    echo "$name: stopped"
  done
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  refresh) refresh_views ;;
  *) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
