"""Native (C-extension) work that releases the GIL, on threads (CPython 3.11).

Stands in for numpy-style work with the standard library only: hashing a
16 MiB buffer with hashlib.sha256. CPython's hashlib releases the GIL while
it hashes any input of 2 KiB or more (HASHLIB_GIL_MINSIZE), just as numpy
releases it inside its C loops. Each job hashes the buffer enough times to
take ~200 ms alone. Four jobs run sequentially, then on
4 x threading.Thread(target=native_job).

CPython behaviour shown: the GIL only serializes bytecode. Work done inside
a C extension that drops the GIL runs in parallel on threads, so
speedup = sequential wall / threads wall ~ number of cores (for 4 jobs on
<= 4 cores), unlike the pure-Python loop of cpu_threads.py.

Mirrored by configs/python/native_threads.toml.
"""

from __future__ import annotations

import hashlib
import threading

from _common import emit, r, wall

JOBS = 4
JOB_SECONDS = 0.200
BUFFER = bytes(range(256)) * (16 * 1024 * 1024 // 256)  # 16 MiB


def native_job(reps: int) -> None:
    for _ in range(reps):
        hashlib.sha256(BUFFER).digest()


def run_threads(reps: int) -> None:
    threads = [threading.Thread(target=native_job, args=(reps,)) for _ in range(JOBS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def main() -> None:
    one_hash_s = min(wall(lambda: native_job(1)) for _ in range(3))
    reps = max(1, round(JOB_SECONDS / one_hash_s))
    job_s = wall(lambda: native_job(reps))
    sequential_s = wall(lambda: [native_job(reps) for _ in range(JOBS)])
    threads_s = wall(lambda: run_threads(reps))
    emit({
        "jobs": JOBS,
        "buffer_mib": len(BUFFER) / 2**20,
        "hashes_per_job": reps,
        "job_ms": r(job_s * 1e3, 1),
        "sequential_s": r(sequential_s),
        "threads_s": r(threads_s),
        "speedup": r(sequential_s / threads_s),
    })


if __name__ == "__main__":
    main()
