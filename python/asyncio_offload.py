"""Keeping an asyncio event loop responsive beside CPU work (CPython 3.11).

A "ticker" task does 200 x `await asyncio.sleep(0.001)` and times each tick
with time.perf_counter(). Beside it, 4 CPU jobs (a pure-Python loop of
~100 ms each) run in one of three ways:

  inline       each job is a coroutine that calls the loop directly, so it
               blocks the event loop while it runs;
  threadpool   `await loop.run_in_executor(None, cpu_job)`: the loop's default
               ThreadPoolExecutor (min(32, cores + 4) >= 4 workers). The loop
               stays free, but the workers still hold the GIL;
  processpool  `await loop.run_in_executor(ProcessPoolExecutor(cores), cpu_job)`:
               the work runs in other processes, outside this GIL.

Both pools are started (warmed up) before the ticker starts, so the figures
show a running service's steady state, not pool start-up.

CPython behaviour shown: inline CPU work stalls every other coroutine for
its whole duration (all 4 jobs start in the same loop iteration, so one tick
takes ~400 ms). A thread pool removes that stall, but each time the loop
thread wakes it must win the GIL back from a CPU-bound worker: it waits one
switch interval (5 ms) before it may ask for a forced switch, and when the
holder drops the GIL another waiting worker may win it instead, so ticks
take 5 ms to a few tens of ms while the jobs run (the convoy effect, worse
with more CPU threads). A process pool leaves ticks at ~1 ms. After the
jobs finish the ticker runs undisturbed, so p50 is ~1 ms in every variant;
max and p90 carry the signal.

Figures (ms, per variant): inline_max_ms, inline_p50_ms, threadpool_max_ms,
threadpool_p50_ms, processpool_max_ms, processpool_p50_ms; *_p90_ms and
*_mean_ms are printed too (p90 sits near the edge of the ~25 slow ticks out
of 200 in the threadpool variant, so it jumps between ~1 and ~5 ms).
Mirrored by configs/python/asyncio_offload.toml.
"""

from __future__ import annotations

import asyncio
import os
import time
from concurrent.futures import Executor, ProcessPoolExecutor

from _common import calibrate, emit, ms_stats, r, spin

TICKS = 200
TICK_S = 0.001
JOBS = 4
JOB_SECONDS = 0.100


async def ticker() -> list[float]:
    samples = []
    for _ in range(TICKS):
        t0 = time.perf_counter()
        await asyncio.sleep(TICK_S)
        samples.append(time.perf_counter() - t0)
    return samples


async def inline_job(n: int) -> None:
    spin(n)


async def executor_job(n: int, executor: Executor | None) -> None:
    await asyncio.get_running_loop().run_in_executor(executor, spin, n)


async def warm_up(pool: Executor | None) -> None:
    """Make the executor start all JOBS workers before anything is measured."""
    loop = asyncio.get_running_loop()
    await asyncio.gather(*(loop.run_in_executor(pool, time.sleep, 0.01) for _ in range(JOBS)))


async def scenario(n: int, variant: str, pool: Executor | None) -> list[float]:
    if variant != "inline":
        await warm_up(pool)
    tick = asyncio.create_task(ticker())
    if variant == "inline":
        jobs = [inline_job(n) for _ in range(JOBS)]
    else:
        jobs = [executor_job(n, pool) for _ in range(JOBS)]
    await asyncio.gather(*jobs)
    return await tick


def main() -> None:
    n = calibrate(JOB_SECONDS)
    cores = os.cpu_count() or 1
    figures: dict[str, object] = {"ticks": TICKS, "tick_ms": TICK_S * 1e3, "jobs": JOBS,
                                  "job_ms": JOB_SECONDS * 1e3, "process_workers": cores}
    with ProcessPoolExecutor(cores) as processes:
        for variant, pool in (("inline", None), ("threadpool", None), ("processpool", processes)):
            stats = ms_stats(asyncio.run(scenario(n, variant, pool)))
            for key in ("max_ms", "p50_ms", "p90_ms", "mean_ms"):
                figures[f"{variant}_{key}"] = r(stats[key])
    emit(figures)


if __name__ == "__main__":
    main()
