"""Shared helpers for the CPython reference programs in this folder.

Kept deliberately small: a pure-Python CPU kernel, its calibration, and the
one-JSON-object-on-stdout convention that python/compare.py relies on.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from typing import Callable


def spin(n: int) -> int:
    """Interpreted CPU work: n iterations of a pure-Python loop.

    Runs bytecode the whole time, so it holds the GIL and only gives it up at
    the interpreter's eval-breaker checks (the loop's backward jump), exactly
    like gilsim's `{ cpu = D }` step.
    """
    x = 0
    for i in range(n):
        x = (x + i) & 0xFFFF
    return x


def wall(fn: Callable[[], object]) -> float:
    """Seconds of wall time that fn() takes."""
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def calibrate(seconds: float) -> int:
    """Number of spin() iterations that take `seconds` alone on one core."""
    n = 50_000
    while wall(lambda: spin(n)) < 0.02:
        n *= 2
    best = min(wall(lambda: spin(n)) for _ in range(3))
    return max(1, round(n * seconds / best))


def ms_stats(samples_s: list[float]) -> dict[str, float]:
    """mean / p50 / p90 / max of a list of durations in seconds, in ms."""
    ordered = sorted(samples_s)

    def pct(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {
        "mean_ms": statistics.fmean(ordered) * 1e3,
        "p50_ms": pct(0.50) * 1e3,
        "p90_ms": pct(0.90) * 1e3,
        "max_ms": ordered[-1] * 1e3,
    }


def emit(figures: dict[str, object]) -> None:
    """Print the program's one JSON object (figures plus machine context)."""
    out = {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "cores": os.cpu_count(),
        "switch_interval_s": sys.getswitchinterval(),
    }
    out.update(figures)
    json.dump(out, sys.stdout, sort_keys=False)
    sys.stdout.write("\n")


def r(x: float, digits: int = 3) -> float:
    """Round for the JSON output."""
    return round(x, digits)
