"""Runs a command and reports its wall time and the peak resident memory of its whole process
tree (a JVM started by Python counts).

The wall time ends when the command is reaped (not at the next sample), and the tree's memory
is sampled every 50 ms on a thread beside the wait, walking only the command's descendants
(/proc/<pid>/task/<tid>/children), so the sampler neither rounds a short run up nor takes
much CPU from it on a small machine. The peak is the larger of the sampled sum and the
command's own peak RSS as the kernel counted it (wait4), which a short run can fall between
samples of.

    peak.py OUT_FILE CMD ARGS...   → stdout/stderr of CMD to OUT_FILE(.err); prints "wall_s peak_MiB"
"""
import os
import subprocess
import sys
import threading
import time


def children(pid):
    kids = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                kids.extend(int(c) for c in f.read().split())
    except OSError:
        pass
    return kids


def tree_rss_kib(root):
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo.extend(children(pid))
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            pass
    return total


def main():
    out = sys.argv[1]
    with open(out, "w") as o, open(out + ".err", "w") as e:
        start = time.monotonic()
        p = subprocess.Popen(sys.argv[2:], stdout=o, stderr=e)
        sampled = [0]
        done = threading.Event()

        def sample():
            while True:
                sampled[0] = max(sampled[0], tree_rss_kib(p.pid))
                if done.wait(0.05):
                    return

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.monotonic() - start
        done.set()
        sampler.join()
    # ru_maxrss is in KiB on Linux
    peak = max(sampled[0], usage.ru_maxrss)
    print(f"{wall:.2f} {peak // 1024}")
    sys.exit(os.waitstatus_to_exitcode(status))


if __name__ == "__main__":
    main()
