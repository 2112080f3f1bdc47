"""Lost updates with 2 threads and `counter = counter + int(1)` (CPython 3.11).

2 threads, each doing 1,000,000 `counter = counter + int(1)`, started
together on a threading.Barrier. The call int(1) ends with an eval-breaker
check between the read of `counter` and its write; the loop's back edge
has another after the write. A forced switch is served at the first check
after the drop request, so only the switches that land at the call lose
updates (python/counter_split.py measures that share).

Figures: expected (2,000,000), lost (mean fraction lost over ROUNDS rounds),
per_round (every round's lost count).
Mirrored by configs/python/counter_pair.toml.
"""

from __future__ import annotations

import threading

from _common import emit

THREADS = 2
INCREMENTS = 1_000_000
ROUNDS = 3

counter = 0


def body(n: int) -> None:
    global counter
    for _ in range(n):
        counter = counter + int(1)


def lost() -> int:
    global counter
    counter = 0
    barrier = threading.Barrier(THREADS)

    def worker() -> None:
        barrier.wait()
        body(INCREMENTS)

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return THREADS * INCREMENTS - counter


def main() -> None:
    rounds = [lost() for _ in range(ROUNDS)]
    expected = THREADS * INCREMENTS
    emit({
        "threads": THREADS,
        "increments_per_thread": INCREMENTS,
        "expected": expected,
        "lost": sum(rounds) / len(rounds) / expected,
        "per_round": rounds,
    })


if __name__ == "__main__":
    main()
