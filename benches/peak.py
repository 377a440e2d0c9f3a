"""Runs a command and reports its wall time and the peak resident memory of its whole process
tree (a JVM started by Python counts), sampled every 50 ms from /proc.

    peak.py OUT_FILE CMD ARGS...   → stdout/stderr of CMD to OUT_FILE(.err); prints "wall_s peak_MiB"
"""
import os
import subprocess
import sys
import time


def tree_rss_kib(root):
    children = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(pid))
        except (OSError, IndexError, ValueError):
            pass
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def main():
    out = sys.argv[1]
    start = time.monotonic()
    with open(out, "w") as o, open(out + ".err", "w") as e:
        p = subprocess.Popen(sys.argv[2:], stdout=o, stderr=e)
        peak = 0
        while p.poll() is None:
            peak = max(peak, tree_rss_kib(p.pid))
            time.sleep(0.05)
    wall = time.monotonic() - start
    print(f"{wall:.2f} {peak // 1024}")
    sys.exit(p.returncode)


if __name__ == "__main__":
    main()
