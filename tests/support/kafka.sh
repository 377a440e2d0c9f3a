#!/usr/bin/env bash
# Apache Kafka (KRaft mode) as plain Java processes on free 127.0.0.1 ports: the broker of the
# tests, the demo and the benchmarks. Its jars come from Maven Central into the cache.
#
#   kafka.sh install            fetch the jars (once) into $OLISTLAKE_CACHE/tools/kafka-VERSION
#   kafka.sh start DIR [NODES]  first call: pick ports, write configs, format the storage of NODES
#                               nodes (default 1; each is broker and controller); every call: start
#                               each node of DIR that is not running and wait until all are up.
#                               Prints the bootstrap list (host:port,...).
#   kafka.sh kill DIR [NODE]    SIGKILL one node (1-based) or all; data stays for a restart
#   kafka.sh stop DIR [NODE]    SIGTERM (controlled shutdown) and wait
#   kafka.sh pids DIR           "NODE PID" of each running node
#
# Replication follows the node count: one node → factor 1; three → factor 3 with
# min.insync.replicas=2 (topics the project creates ask for the factor they need).
set -euo pipefail
# shellcheck source=tests/support/ports.sh
. "$(dirname "$0")/ports.sh"

VERSION="${OLISTLAKE_KAFKA_VERSION:-4.1.1}"
CACHE="${OLISTLAKE_CACHE:-$HOME/.cache/olistlake}"
HOME_DIR="$CACHE/tools/kafka-$VERSION"
LIBS="$HOME_DIR/libs"

log() { echo "[kafka] $*" >&2; }

install() {
  if [ -f "$LIBS/.complete" ]; then return; fi
  command -v mvn >/dev/null || { log "Maven (mvn) is required to fetch Kafka's jars"; exit 1; }
  mkdir -p "$HOME_DIR"
  # kafka_2.13 holds the broker (kafka.Kafka) and the storage tool; log4j-slf4j-impl routes
  # its slf4j logging to log4j2, configured per node below.
  cat >"$HOME_DIR/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>olistlake</groupId><artifactId>kafka-runtime</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>2.24.3</version></dependency>
  </dependencies>
</project>
EOF
  log "fetching Apache Kafka $VERSION from Maven Central"
  rm -rf "$LIBS"
  mvn -q -B -f "$HOME_DIR/pom.xml" dependency:copy-dependencies -DoutputDirectory="$LIBS" >&2
  touch "$LIBS/.complete"
}

port_free() { # PORT → 0 when nothing listens on it
  python3 -c 'import socket,sys; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", int(sys.argv[1])))' "$1" 2>/dev/null
}

java_node() { # DIR NODE ARGS...: runs a Kafka class with node NODE's logging (exec'd, so a
  # background call's $! is the JVM's own pid)
  local dir="$1" n="$2"; shift 2
  # The JIT's C1 tier only (OLISTLAKE_KAFKA_JVM_OPTS overrides): these brokers live for a test
  # or a benchmark on two cores, where C2's compiling took half the broker's CPU during a
  # replay (a scale-1 replay took 8.4 s with both tiers, 7.5 s with C1 alone).
  # shellcheck disable=SC2086 # OLISTLAKE_KAFKA_JVM_OPTS is a list of options
  exec java -Xms128m -Xmx${OLISTLAKE_KAFKA_HEAP:-768m} -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    ${OLISTLAKE_KAFKA_JVM_OPTS--XX:TieredStopAtLevel=1} \
    -Djava.awt.headless=true -Dlog4j2.configurationFile="$dir/log4j2.properties" \
    -Dkafka.logs.dir="$dir/node-$n" -cp "$LIBS/*" "$@"
}

write_configs() { # DIR NODES: fresh free ports and every node's configuration
  local dir="$1" nodes="$2" voters="" i
  mkdir -p "$dir"
  local free
  mapfile -t free < <(ports $(printf '0 %.0s' $(seq $((2 * nodes)))))
  for i in $(seq "$nodes"); do
    echo "${free[2 * i - 2]} ${free[2 * i - 1]}" >"$dir/ports-$i"
  done
  for i in $(seq "$nodes"); do
    read -r _ c <"$dir/ports-$i"
    voters="${voters:+$voters,}$i@127.0.0.1:$c"
  done
  local rf=1 isr=1
  if [ "$nodes" -ge 3 ]; then rf=3; isr=2; fi
  cat >"$dir/log4j2.properties" <<'EOF'
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
appender.file.type = File
appender.file.name = file
appender.file.fileName = ${sys:kafka.logs.dir}/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.request.name = kafka.request.logger
logger.request.level = WARN
EOF
  for i in $(seq "$nodes"); do
    read -r p c <"$dir/ports-$i"
    mkdir -p "$dir/node-$i/data"
    cat >"$dir/node-$i/server.properties" <<EOF
process.roles=broker,controller
node.id=$i
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$p,CONTROLLER://127.0.0.1:$c
advertised.listeners=PLAINTEXT://127.0.0.1:$p
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$dir/node-$i/data
num.partitions=1
default.replication.factor=$rf
min.insync.replicas=$isr
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$isr
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=$isr
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
# the replay's record timestamps lie years in the past: never delete by time
log.retention.ms=-1
log.message.timestamp.before.max.ms=9223372036854775807
num.network.threads=2
num.io.threads=4
background.threads=4
EOF
  done
}

configure() { # DIR NODES: configuration and formatted storage of a new cluster
  local dir="$1" nodes="$2" i
  write_configs "$dir" "$nodes"
  local cluster
  cluster=$( (java_node "$dir" 1 kafka.tools.StorageTool random-uuid) 2>/dev/null | tail -1)
  for i in $(seq "$nodes"); do
    (java_node "$dir" "$i" kafka.tools.StorageTool format -t "$cluster" \
      -c "$dir/node-$i/server.properties") >"$dir/node-$i/format.log" 2>&1 \
      || { cat "$dir/node-$i/format.log" >&2; exit 1; }
  done
  echo "$nodes" >"$dir/nodes"
}

running() { # DIR NODE → 0 when the node's process is alive
  local pidf="$1/node-$2/pid"
  [ -f "$pidf" ] && kill -0 "$(cat "$pidf")" 2>/dev/null
}

bootstrap() {
  local dir="$1" out="" i p
  for i in $(seq "$(cat "$dir/nodes")"); do
    read -r p _ <"$dir/ports-$i"
    out="${out:+$out,}127.0.0.1:$p"
  done
  echo "$out"
}

start() { # DIR [NODES]
  local dir="$1" nodes="${2:-1}" i
  install
  if [ ! -f "$dir/nodes" ]; then
    configure "$dir" "$nodes"
  else
    nodes=$(cat "$dir/nodes")
    # a cluster started again from nothing running (the demo's second run) keeps its ports
    # (clients know them) unless one was given to someone else meanwhile
    local up=0 taken=0 p c
    for i in $(seq "$nodes"); do
      running "$dir" "$i" && up=1
      read -r p c <"$dir/ports-$i"
      port_free "$p" && port_free "$c" || taken=1
    done
    if [ "$up" = 0 ] && [ "$taken" = 1 ]; then write_configs "$dir" "$nodes"; fi
  fi
  local started=()
  for i in $(seq "$nodes"); do
    running "$dir" "$i" && continue
    mkdir -p "$dir/node-$i"
    rm -f "$dir/node-$i/server.log"
    (java_node "$dir" "$i" kafka.Kafka "$dir/node-$i/server.properties") \
      >"$dir/node-$i/stdout.log" 2>&1 </dev/null &
    echo $! >"$dir/node-$i/pid"
    started+=("$i")
  done
  # up = the broker logged its start (in KRaft it first catches up with the metadata quorum
  # and is unfenced)
  local deadline=$((SECONDS + ${OLISTLAKE_KAFKA_START_TIMEOUT_S:-90}))
  for i in "${started[@]}"; do
    until grep -q "Kafka Server started" "$dir/node-$i/server.log" 2>/dev/null; do
      if ! running "$dir" "$i"; then
        log "node $i exited; its logs:"; tail -n 30 "$dir/node-$i/stdout.log" "$dir/node-$i/server.log" >&2 || true
        exit 1
      fi
      if [ $SECONDS -ge $deadline ]; then
        log "node $i did not start in time; see $dir/node-$i/server.log"; exit 1
      fi
      sleep 0.2
    done
  done
  bootstrap "$dir"
}

signal_nodes() { # SIGNAL DIR [NODE]: signals the nodes at once, waits for them to exit;
  # a graceful stop that takes over 30 s (the last nodes of a cluster cannot reach a quorum
  # for their controlled shutdown) ends with SIGKILL
  local sig="$1" dir="$2" node="${3:-}" i pids=()
  for i in $(seq "$(cat "$dir/nodes")"); do
    [ -n "$node" ] && [ "$node" != "$i" ] && continue
    if running "$dir" "$i"; then
      pids+=("$(cat "$dir/node-$i/pid")")
      kill "-$sig" "${pids[-1]}" 2>/dev/null || true
    fi
    rm -f "$dir/node-$i/pid"
  done
  local waited=0 pid
  for pid in "${pids[@]}"; do
    # gone, or a zombie its parent has not reaped yet
    while kill -0 "$pid" 2>/dev/null && ! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null; do
      if [ $waited -ge 300 ]; then kill -KILL "$pid" 2>/dev/null || true; fi
      sleep 0.1; waited=$((waited + 1))
    done
  done
}

case "${1:-}" in
  install) install ;;
  start) start "${2:?DIR}" "${3:-1}" ;;
  kill) signal_nodes KILL "${2:?DIR}" "${3:-}" ;;
  stop) signal_nodes TERM "${2:?DIR}" "${3:-}" ;;
  pids)
    for i in $(seq "$(cat "${2:?DIR}/nodes")"); do
      running "$2" "$i" && echo "$i $(cat "$2/node-$i/pid")"
    done ;;
  bootstrap) bootstrap "${2:?DIR}" ;;
  *) sed -n '2,14p' "$0" >&2; exit 2 ;;
esac
