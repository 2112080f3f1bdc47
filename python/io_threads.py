"""IO-bound work on threads (CPython 3.11).

Measures 16 threads, each doing `time.sleep(0.05)` four times, against one
thread doing the same four sleeps once through.

CPython behaviour shown: blocking calls such as time.sleep (and socket or
file IO) release the GIL while they wait, so IO-bound threads overlap almost
perfectly: 16 threads finish in about the time one thread takes, and
speedup = (16 x one-thread time) / 16-thread wall ~ 16.

Mirrored by configs/python/io_threads.toml.
"""

from __future__ import annotations

import threading
import time

from _common import emit, r, wall

THREADS = 16
SLEEPS = 4
SLEEP_S = 0.05


def io_job() -> None:
    for _ in range(SLEEPS):
        time.sleep(SLEEP_S)


def run_threads() -> None:
    threads = [threading.Thread(target=io_job) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def main() -> None:
    one_thread_s = wall(io_job)
    threads_s = wall(run_threads)
    emit({
        "threads": THREADS,
        "sleeps_per_thread": SLEEPS,
        "sleep_ms": SLEEP_S * 1e3,
        "one_thread_s": r(one_thread_s, 4),
        "threads_s": r(threads_s, 4),
        "speedup": r(THREADS * one_thread_s / threads_s),
    })


if __name__ == "__main__":
    main()
