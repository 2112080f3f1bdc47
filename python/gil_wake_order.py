"""Who gets the GIL at a forced switch: CPython 3.11 against gilsim.

Four CPU-bound threads share the GIL for 2 s; every switch hands it from one
thread to one of the three waiting. This measures how often the thread that
gets it is the one that has waited longest (the one that ran least recently):

  1.0  strict FIFO hand-off (round robin),
  0.33 a random pick among the three waiters.

CPython measures ~0.55 on a quiet machine; gilsim measured ~0.9 (from the
GIL track of its --trace file) while its timed waits for the GIL ran with a
1 ns timer slack. Waiters re-queue on the condition variable after every
timeout, so the hand-off order is the order of their latest timeouts, and a
50 us slack (Linux's default, which CPython's threads keep) lets those
timeouts coalesce and reorder (docs/gil.md, section 5). gilsim now waits
with `[gil] timer_slack` (default 50 us). --timer-slack-ns runs both sides
with another slack: the CPython workers set theirs with prctl, gilsim's
config gets `timer_slack`. 1 ns on both sides should bring both near FIFO if
the slack is the mechanism.

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

CONFIG = """
name = "gil_wake_order"
{gil}
[[backend]]
kind = "threads"
gil = true
[[group]]
name = "cpu"
jobs = {threads}
steps = [{{ cpu = "{ms}ms" }}]
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


def set_timer_slack(ns: int | None) -> None:
    if ns is not None:
        import ctypes
        ctypes.CDLL(None).prctl(29, max(1, ns), 0, 0, 0)   # PR_SET_TIMERSLACK


def cpython_holders(slack_ns: int | None = None) -> list[int]:
    holders: list[int] = []
    stop = time.perf_counter() + SECONDS

    def worker(me: int) -> None:
        set_timer_slack(slack_ns)
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


def gilsim_holders(exe: str, slack_ns: int | None = None) -> list[int]:
    gil = "" if slack_ns is None else f'[gil]\ntimer_slack = "{max(1, slack_ns)}ns"'
    with tempfile.TemporaryDirectory() as d:
        config = Path(d, "gil_wake_order.toml")
        config.write_text(CONFIG.format(gil=gil, threads=THREADS, ms=int(SECONDS * 1000)))
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
    ap.add_argument("--timer-slack-ns", type=int, default=None,
                    help="timer slack for both sides' GIL waits (default: each side's default)")
    args = ap.parse_args()
    slack = args.timer_slack_ns
    out = {
        "cpython": longest_waiter_fraction(cpython_holders(slack)),
        "gilsim": longest_waiter_fraction(gilsim_holders(args.gilsim, slack)) if args.gilsim else None,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
