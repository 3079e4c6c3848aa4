"""The peak resident memory of a command and every process it starts (Ray's raylet and workers included), sampled
once a second, against the memory its plan states; stopped with SIGTERM after a time limit, as a scheduler would.

    .venv/bin/python bench/peak_memory.py --minutes 5 -- .venv/bin/dse run --env Humanoid-v4 --budget 200 --out DIR

Prints the plan's memory line (what ``dse run`` printed), the peak of the tree's summed resident set with the time it
was reached, and how the command ended (its exit code; 137 or -9 is an out-of-memory kill).
"""

import argparse
import os
import signal
import subprocess
import sys
import threading
import time

import psutil


def tree_resident(process: psutil.Process) -> int:
    """The summed resident set of ``process`` and its descendants, in bytes (those that end while read are skipped)."""
    total = 0
    for member in [process, *process.children(recursive=True)]:
        try:
            total += member.memory_info().rss
        except psutil.Error:
            pass
    return total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    started = time.monotonic()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    process = psutil.Process(child.pid)
    peak, peak_at, lines = 0, 0.0, []
    reader = threading.Thread(target=lambda: lines.extend(child.stdout), daemon=True)
    reader.start()
    while child.poll() is None and time.monotonic() - started < args.minutes * 60:
        resident = tree_resident(process)
        if resident > peak:
            peak, peak_at = resident, time.monotonic() - started
        time.sleep(1.0)
    if child.poll() is None:
        child.send_signal(signal.SIGTERM)
    try:
        code = child.wait(timeout=300)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        code = child.wait()
    reader.join(timeout=10)
    plan = [line.strip() for line in lines if line.startswith("plan:") or "memory" in line]
    print("\n".join(plan) or "(no plan line)")
    print(f"peak resident memory of the process tree: {peak / 2**30:.2f} GiB at {peak_at:.0f} s; "
          f"machine total {psutil.virtual_memory().total / 2**30:.1f} GiB")
    print(f"ran {time.monotonic() - started:.0f} s; exit {code} ({'stopped by SIGTERM' if code in (143, -15) else 'ended'})")
    print("".join(lines[-5:]), file=sys.stderr)


if __name__ == "__main__":
    main()
