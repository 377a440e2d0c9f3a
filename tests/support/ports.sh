# Sourced by the scripts that start services on 127.0.0.1 (kafka.sh, rest-catalog.sh,
# ../../monitoring.sh): one way to pick ports.
#
# ports PORT...: prints each PORT as given, one per line, a 0 replaced by a free port. The
# free ones are picked while all are held open, so they are distinct: picked one by one, the
# kernel may hand out again a port it has just handed out (Prometheus and Superset once both
# got the same one).
ports() {
  python3 -c '
import socket, sys
held = []
for p in sys.argv[1:]:
    if p == "0":
        s = socket.socket(); s.bind(("127.0.0.1", 0)); held.append(s); p = s.getsockname()[1]
    print(p)' "$@"
}
