#!/usr/bin/env bash
# Starts a tansu broker (Kafka protocol, SQLite engine) with its data in DIR on a free
# 127.0.0.1 port, in the background, and prints "PID PORT" once it accepts connections.
# Usage: start-broker.sh DIR   (stop it with: kill PID)
set -euo pipefail
dir="$1"
mkdir -p "$dir"
CACHE="${OLISTLAKE_CACHE:-$HOME/.cache/olistlake}"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# tansu resolves the SQLite path against its working directory
(cd "$dir" && exec "$CACHE/tools/bin/tansu" broker --listener-url "tcp://127.0.0.1:$port" \
  --advertised-listener-url "tcp://127.0.0.1:$port" --storage-engine "sqlite://tansu.db") \
  >"$dir/tansu.log" 2>&1 </dev/null &
pid=$!
for _ in $(seq 100); do
  if (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "$pid $port"
    exit 0
  fi
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
echo "tansu did not start; see $dir/tansu.log" >&2
exit 1
