"""Who gets the GIL at a forced switch: CPython 3.11 against gilsim.

Four CPU-bound threads share the GIL for 2 s; every switch hands it from one
thread to one of the three waiting. This measures how often the thread that
gets it is the one that has waited longest (the one that ran least recently):

  1.0  strict FIFO hand-off (round robin),
  0.33 a random pick among the three waiters.

CPython measures ~0.55 and gilsim ~0.9 (from the GIL track of its --trace
file): gilsim's GIL wakes waiters in arrival order, CPython's hand-off is
looser, for reasons not pinned down yet (see the README). This is why gilsim's worst
asyncio tick beside a thread pool (configs/python/asyncio_offload.toml) is
shorter than CPython's: the loop thread is passed over less often.

Usage:
    python3 python/gil_wake_order.py                     # CPython only
    python3 python/gil_wake_order.py --gilsim target/release/gilsim

Prints one JSON object: {"cpython": fraction, "gilsim": fraction or null}.
Not part of compare.py: the gilsim side needs a trace, not a report.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import threading
import time
from pathlib import Path

THREADS = 4
SECONDS = 2.0

CONFIG = f"""
name = "gil_wake_order"
[[backend]]
kind = "threads"
gil = true
[[group]]
name = "cpu"
jobs = {THREADS}
steps = [{{ cpu = "{int(SECONDS * 1000)}ms" }}]
"""


def longest_waiter_fraction(holders: list[int]) -> float | None:
    """Fraction of hand-offs that went to the thread that ran least recently.

    `holders` is the sequence of GIL holders, one entry per hold (repeats of
    the same holder are merged). The first hand-offs, before every thread
    has held the GIL once, are not counted.
    """
    seq = [h for i, h in enumerate(holders) if i == 0 or holders[i - 1] != h]
    threads = set(seq)
    last_ran: dict[int, int] = {}
    hits = total = 0
    for k, holder in enumerate(seq):
        if len(last_ran) == len(threads) and k > 0:
            waiting = [t for t in threads if t != seq[k - 1]]
            longest = min(waiting, key=lambda t: last_ran[t])
            hits += holder == longest
            total += 1
        last_ran[holder] = k
    return hits / total if total else None


def cpython_holders() -> list[int]:
    holders: list[int] = []
    stop = time.perf_counter() + SECONDS

    def worker(me: int) -> None:
        while time.perf_counter() < stop:
            if not holders or holders[-1] != me:
                holders.append(me)
            for _ in range(200):
                pass

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return holders


def gilsim_holders(exe: str) -> list[int]:
    with tempfile.TemporaryDirectory() as d:
        config = Path(d, "gil_wake_order.toml")
        config.write_text(CONFIG)
        trace = Path(d, "trace.json")
        subprocess.run(
            [exe, "run", str(config), "--trace", str(trace), "--quiet", "--format", "json"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        events = json.loads(trace.read_text())
    if isinstance(events, dict):
        events = events["traceEvents"]
    holds = [e for e in events if e.get("ph") == "X" and "holder" in e.get("args", {})]
    holds.sort(key=lambda e: e["ts"])
    # While the last jobs finish, fewer threads are left: keep the part where
    # all were running (the first 70% of the run's hand-offs).
    holders = [e["args"]["holder"] for e in holds]
    return holders[: int(len(holders) * 0.7)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gilsim", help="path to the gilsim binary to measure as well")
    args = ap.parse_args()
    out = {
        "cpython": longest_waiter_fraction(cpython_holders()),
        "gilsim": longest_waiter_fraction(gilsim_holders(args.gilsim)) if args.gilsim else None,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
