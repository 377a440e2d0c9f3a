#!/usr/bin/env bash
# An Iceberg REST catalog server on a free 127.0.0.1 port, for the tests and the demo: Apache
# Iceberg's own REST adapter and servlet (iceberg-core's test jar, the server side Iceberg's
# REST tests use) over its JdbcCatalog, run by Jetty. Jars from Maven Central into the cache;
# the one source file (rest-catalog/RestCatalogServer.java) compiled there.
#
#   rest-catalog.sh install                      fetch the jars and compile the server (once)
#   rest-catalog.sh start DIR JDBC_URI WAREHOUSE [key=value ...]
#                                                start a server whose state lives in DIR, wait
#                                                until it answers, print its base URL
#   rest-catalog.sh stop DIR                     SIGTERM and wait
#
# JDBC_URI is the catalog database (jdbc:sqlite:FILE or jdbc:postgresql://…); key=value pairs
# are Iceberg catalog properties (jdbc.user, jdbc.password, s3.endpoint, …).
set -euo pipefail
# shellcheck source=tests/support/ports.sh
. "$(dirname "$0")/ports.sh"

ICEBERG="${OLISTLAKE_REST_ICEBERG_VERSION:-1.10.0}"
CACHE="${OLISTLAKE_CACHE:-$HOME/.cache/olistlake}"
HOME_DIR="$CACHE/tools/rest-catalog-$ICEBERG"
SRC="$(cd "$(dirname "$0")/rest-catalog" && pwd)"

log() { echo "[rest-catalog] $*" >&2; }

install() {
  if [ -f "$HOME_DIR/.complete" ] && cmp -s "$SRC/RestCatalogServer.java" "$HOME_DIR/RestCatalogServer.java"; then
    return
  fi
  command -v mvn >/dev/null || { log "Maven (mvn) is required to fetch the server's jars"; exit 1; }
  mkdir -p "$HOME_DIR"
  log "fetching Apache Iceberg $ICEBERG's REST server side from Maven Central"
  rm -rf "$HOME_DIR/lib" "$HOME_DIR/classes"
  mvn -q -B -f "$SRC/pom.xml" -Diceberg.version="$ICEBERG" dependency:copy-dependencies \
    -DoutputDirectory="$HOME_DIR/lib" >&2
  mkdir -p "$HOME_DIR/classes"
  javac -nowarn -cp "$HOME_DIR/lib/*" -d "$HOME_DIR/classes" "$SRC/RestCatalogServer.java" >&2
  cp "$SRC/RestCatalogServer.java" "$HOME_DIR/"
  touch "$HOME_DIR/.complete"
}

start() { # DIR JDBC_URI WAREHOUSE [k=v...]
  local dir="$1" jdbc="$2" warehouse="$3"; shift 3
  install
  mkdir -p "$dir"
  local port
  port=$(ports 0)
  nohup java -Xms64m -Xmx${OLISTLAKE_REST_HEAP:-512m} -XX:+UseSerialGC \
    -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
    -cp "$HOME_DIR/lib/*:$HOME_DIR/classes" RestCatalogServer "$port" "$jdbc" "$warehouse" "$@" \
    >"$dir/server.log" 2>&1 &
  echo $! >"$dir/pid"
  local url="http://127.0.0.1:$port" i
  for i in $(seq 600); do
    if python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' \
      "$url/v1/config" 2>/dev/null; then
      echo "$url"
      return
    fi
    if ! kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
      cat "$dir/server.log" >&2
      log "the server exited"
      exit 1
    fi
    sleep 0.1
  done
  cat "$dir/server.log" >&2
  log "the server did not answer within 60 s"
  exit 1
}

stop() { # DIR
  local pidf="$1/pid" pid i
  [ -f "$pidf" ] || return 0
  pid=$(cat "$pidf")
  kill "$pid" 2>/dev/null || true
  for i in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$pidf"
}

cmd="${1:-}"; shift || true
case "$cmd" in
  install) install ;;
  start) start "$@" ;;
  stop) stop "$@" ;;
  *) echo "usage: $0 install | start DIR JDBC_URI WAREHOUSE [key=value ...] | stop DIR" >&2; exit 2 ;;
esac
