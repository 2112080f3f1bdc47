"""The convoy effect: an IO thread beside a CPU-bound thread (CPython 3.11).

Measures one thread doing 200 x `time.sleep(0.001)`, timing each operation
with time.perf_counter(), in three situations:

  * alone (no other thread);
  * beside a thread running a pure-Python CPU loop (up to ~2 s, stopped as
    soon as the IO loop ends), at sys.setswitchinterval(0.005) (the default);
  * the same at sys.setswitchinterval(0.0025).

CPython behaviour shown: the "new GIL" (Python/ceval_gil.c). While the IO
thread sleeps it has released the GIL and the CPU thread takes it. When the
sleep ends the IO thread must take the GIL back; the CPU thread never lets go
on its own, so the IO thread waits one full switch interval, then sets a drop
request, and the CPU thread yields at its next eval-breaker check. Every IO
operation therefore costs about one switch interval extra.

Figures: penalty_ms_5ms / penalty_ms_2_5ms = mean(op time beside the CPU
thread) - mean(op time alone), in ms (expect ~5 and ~2.5).
Mirrored by configs/python/convoy.toml and configs/python/convoy_2_5ms.toml.
"""

from __future__ import annotations

import statistics
import sys
import threading
import time

from _common import emit, ms_stats, r, spin

OPS = 200
IO_S = 0.001
CPU_MAX_S = 2.0


def io_loop(samples: list[float]) -> None:
    for _ in range(OPS):
        t0 = time.perf_counter()
        time.sleep(IO_S)
        samples.append(time.perf_counter() - t0)


def cpu_loop(stop: threading.Event) -> None:
    deadline = time.perf_counter() + CPU_MAX_S
    while not stop.is_set() and time.perf_counter() < deadline:
        spin(5_000)


def measure(switch_interval: float | None) -> list[float]:
    """Per-op times of the IO loop; beside a CPU thread unless switch_interval is None."""
    samples: list[float] = []
    stop = threading.Event()
    old = sys.getswitchinterval()
    threads = [threading.Thread(target=io_loop, args=(samples,))]
    if switch_interval is not None:
        sys.setswitchinterval(switch_interval)
        threads.insert(0, threading.Thread(target=cpu_loop, args=(stop,)))
    try:
        for t in threads:
            t.start()
        threads[-1].join()  # the IO loop
        stop.set()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(old)
    return samples


def main() -> None:
    alone = measure(None)
    at_5ms = measure(0.005)
    at_2_5ms = measure(0.0025)
    base = statistics.fmean(alone) * 1e3
    emit({
        "ops": OPS,
        "io_ms": IO_S * 1e3,
        "alone": {k: r(v) for k, v in ms_stats(alone).items()},
        "beside_cpu_5ms": {k: r(v) for k, v in ms_stats(at_5ms).items()},
        "beside_cpu_2_5ms": {k: r(v) for k, v in ms_stats(at_2_5ms).items()},
        "penalty_ms_5ms": r(statistics.fmean(at_5ms) * 1e3 - base),
        "penalty_ms_2_5ms": r(statistics.fmean(at_2_5ms) * 1e3 - base),
    })


if __name__ == "__main__":
    main()
