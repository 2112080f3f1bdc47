"""CPU-bound work on threads vs. a process pool (CPython 3.11).

Measures four CPU-bound jobs, each a pure-Python loop calibrated to take
~200 ms alone on one core, run three ways:

  * sequentially in the main thread;
  * on 4 x threading.Thread(target=cpu_job);
  * on multiprocessing.Pool(os.cpu_count()).map(cpu_job, range(4)).

CPython behaviour shown: the GIL lets only one thread run bytecode at a time,
so threads give no speed-up on CPU-bound Python (threads_speedup ~ 1.0,
sometimes a little below because of forced switches), while separate
processes each have their own interpreter and GIL and scale with the cores
(pool_speedup ~ os.cpu_count() for 4 jobs on <= 4 cores).

Figures: threads_speedup = sequential wall / threads wall,
         pool_speedup    = sequential wall / pool wall.
Mirrored by configs/python/cpu_threads.toml.
"""

from __future__ import annotations

import multiprocessing
import os
import threading

from _common import calibrate, emit, r, spin, wall

JOBS = 4
JOB_SECONDS = 0.200


def run_threads(n: int) -> None:
    threads = [threading.Thread(target=spin, args=(n,)) for _ in range(JOBS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def main() -> None:
    n = calibrate(JOB_SECONDS)
    job_s = wall(lambda: spin(n))
    sequential_s = wall(lambda: [spin(n) for _ in range(JOBS)])
    threads_s = wall(lambda: run_threads(n))
    with multiprocessing.Pool(os.cpu_count()) as pool:
        pool.map(spin, [1] * (os.cpu_count() or 1))  # start the workers first
        pool_s = wall(lambda: pool.map(spin, [n] * JOBS, chunksize=1))
    emit({
        "jobs": JOBS,
        "job_ms": r(job_s * 1e3, 1),
        "sequential_s": r(sequential_s),
        "threads_s": r(threads_s),
        "pool_s": r(pool_s),
        "pool_workers": os.cpu_count(),
        "threads_speedup": r(sequential_s / threads_s),
        "pool_speedup": r(sequential_s / pool_s),
    })


if __name__ == "__main__":
    main()
