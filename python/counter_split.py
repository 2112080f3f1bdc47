"""Where a forced switch lands in a `counter = counter + CALL` loop (CPython 3.11).

CPython serves a drop request at the first eval-breaker check after it was
set. One iteration of

    for _ in range(n):
        counter = counter + int(1)        # or: counter + f()

has two checks: one inside the read..write window (after the call to
`int(1)` returns, or at the RESUME of `f()`), and the loop's back edge
(JUMP_BACKWARD), after the write. A switch served at the first loses
updates; one served at the back edge does not. The share served inside is
the share of the iteration's time that lies between the back-edge check and
the inside check (the request arrives at a time unrelated to the loop).

This program measures that share directly. Thread A runs exactly the loop
above. Thread B is an observer: each time it gets the GIL it reads the
counter and then moves it to a fresh base far above every value seen so
far (with no eval-breaker check between the read and the write). If A was
switched out at the back edge, A's next read sees B's base, so B later
finds a value above the base; if A was switched out inside the window, A
writes back its stale value, which lies below the base. B counts both.

Prints one JSON object: `inside_share` for each variant (`int_call`:
`counter + int(1)`, `py_call`: `counter + f()`), the counts, and the
iteration time in ns. `gilsim`'s `[gil] counter_inside_share` default comes
from `int_call` on CPython 3.11.7.

Usage: python3 python/counter_split.py [--seconds S]
"""

from __future__ import annotations

import argparse
import sys
import threading
import time

from _common import emit, r

counter = 0
STEP = 10**15


def f() -> int:
    return 1


def loop_int(n: int) -> None:
    global counter
    for _ in range(n):
        counter = counter + int(1)


def loop_py(n: int) -> None:
    global counter
    for _ in range(n):
        counter = counter + f()


def observe(worker: threading.Thread) -> tuple[int, int]:
    """B's side: classify every hand-back from A as inside or outside."""
    global counter
    base = 0
    inside = outside = 0
    while worker.is_alive():
        c = counter
        if c != base:
            # No eval-breaker check between the read above and the write below.
            if c > base:
                outside += 1
            else:
                inside += 1
            base += STEP
            counter = base
    return inside, outside


def iteration_ns(body, n: int = 300_000) -> float:
    t = time.perf_counter()
    body(n)
    return (time.perf_counter() - t) / n * 1e9


def measure(body, seconds: float) -> dict[str, float]:
    global counter
    ns = min(iteration_ns(body) for _ in range(3))
    n = int(seconds * 1e9 / ns)
    counter = 0
    a = threading.Thread(target=body, args=(n,))
    result: list[tuple[int, int]] = []
    b = threading.Thread(target=lambda: result.append(observe(a)))
    a.start()
    b.start()
    a.join()
    b.join()
    inside, outside = result[0]
    # The first observation (before A's first switch-out) is not a landing.
    total = inside + outside
    return {
        "inside_share": r(inside / total, 3) if total else float("nan"),
        "inside": inside,
        "outside": outside,
        "iteration_ns": r(ns, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=3.0, help="run time of A's loop per variant")
    args = ap.parse_args()
    emit({
        "int_call": measure(loop_int, args.seconds),
        "py_call": measure(loop_py, args.seconds),
    })


if __name__ == "__main__":
    sys.exit(main())
