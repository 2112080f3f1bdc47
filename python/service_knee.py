"""A request service near saturation: asyncio vs a thread pool (CPython 3.11).

Requests arrive over a socket as a Poisson stream (RATE per second, JOBS in
all). Each request makes one round trip to a delay server (it answers
DELAY_MS after the request, like a database or a backend service) and then
does CPU_MS of pure-Python work. Arrivals and the delay both come from a
helper process (this file run with --harness) that has its own GIL and
sleeps with a 1 ns timer slack, so IO wakes precisely: no asyncio.sleep,
whose timers round up to whole milliseconds.

Served two ways:
  asyncio  one event loop: a reader task turns each request into a task
           (loop.create_task); the task awaits loop.sock_sendall /
           loop.sock_recv on a delay connection, then runs the CPU work;
  pool     a receiving thread submits each request to a
           ThreadPoolExecutor(WORKERS); a worker does a blocking
           sendall/recv on its own delay connection, then the CPU work.

Latency runs from each request's scheduled arrival (CLOCK_MONOTONIC, shared
by both processes) to the end of its CPU work. At RATE the GIL is about
70-80% busy, where the interpreter's own costs decide the queueing.

The CPU work is CPU_MS of this thread's CPU time, not a loop count fixed at
start-up: the loop runs in chunks sized from a calibration, and stops once
`time.thread_time()` has advanced by CPU_MS. On the shared VMs this is run
on, the interpreter's speed moves by 10-20% between one calibration and the
next (three calibrations in a row gave 7,639, 8,924 and 9,454 iterations for
0.5 ms), and near the knee a tenth more work per request moves the p50 by
half: with a fixed count, runs of this program read an asyncio p50 of 3.9
to 11.4 ms. The thread's CPU clock does not advance while it waits for the
GIL, so the work is still interpreted CPU that holds the GIL and checks the
eval breaker, as gilsim's `cpu` step is.

Figures, per mode (asyncio, pool):
  {mode}_p50_ms, {mode}_p99_ms   latency
  {mode}_busy                    the process's CPU time over the run's wall
                                 time (about the GIL's busy share)
  {mode}_work_us                 mean CPU time of one request's work
  {mode}_start_p50_ms            due time to the handler's first line (the
                                 reader or receiving thread, the submit, the
                                 wait for a worker and for the GIL)
  {mode}_cpu_us                  process CPU time per request (user and
                                 system, every thread)
  {mode}_overhead_us             {mode}_cpu_us beyond the work: what the
                                 interpreter, its event loop or threads and
                                 the kernel spend per request
Mirrored by configs/python/service_knee.toml.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import queue
import random
import socket
import struct
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from _common import calibrate, emit, r, spin

RATE = 1200.0
JOBS = 3600
DELAY_MS = 2.0
CPU_MS = 0.5
WORKERS = 8
CONNECTIONS = 64
SEED = 1
REQ = struct.Struct("d")
# The first chunk is this share of the work's estimated loop count; the
# rest runs in chunks of half the remaining estimate each, so the last check
# of the CPU clock (~0.3 µs each) comes within a few µs of the end.
FIRST_CHUNK = 0.6


class Work:
    """CPU_MS of interpreted work per call, timed by the thread's CPU clock
    (see the module doc), and the CPU time each call took."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.per_s = calibrate(seconds) / seconds    # loop iterations per CPU second
        self.used: list[float] = []
        self.lock = threading.Lock()

    def __call__(self) -> None:
        t0 = time.thread_time()
        end = t0 + self.seconds
        n = int(self.per_s * self.seconds * FIRST_CHUNK)
        spin(n)
        while (t := time.thread_time()) < end:
            chunk = max(20, int(self.per_s * (end - t) * 0.5))
            spin(chunk)
            n += chunk
        used = time.thread_time() - t0
        with self.lock:
            self.used.append(used)
            # Follow the interpreter's speed as it moves (see the module doc).
            self.per_s = 0.9 * self.per_s + 0.1 * n / max(used, 1e-6)

    def mean_us(self) -> float:
        """Mean CPU time of the calls so far, in µs, and forget them."""
        with self.lock:
            used, self.used = self.used, []
        return sum(used) / max(1, len(used)) * 1e6


def precise_timers() -> None:
    """Timer slack 1 ns for this thread (Linux; a no-op elsewhere)."""
    try:
        ctypes.CDLL(None).prctl(29, 1, 0, 0, 0)   # PR_SET_TIMERSLACK
    except (OSError, AttributeError):
        pass


# --------------------------------------------------------------------------
# The harness process: arrivals and the delay server
# --------------------------------------------------------------------------

def delay_conn(conn: socket.socket) -> None:
    precise_timers()
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    delay = DELAY_MS / 1e3
    while conn.recv(1):
        t = time.perf_counter()
        time.sleep(max(0.0, delay - (time.perf_counter() - t)))
        conn.sendall(b"y")


def harness(rate: float, jobs: int) -> None:
    precise_timers()
    lst = socket.create_server(("127.0.0.1", 0))
    port = lst.getsockname()[1]
    print(port, flush=True)

    def accept() -> None:
        while True:
            conn, _ = lst.accept()
            threading.Thread(target=delay_conn, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    # The server connects CONNECTIONS delay connections, then the request one.
    req_lst = socket.create_server(("127.0.0.1", 0))
    print(req_lst.getsockname()[1], flush=True)
    conn, _ = req_lst.accept()
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    conn.recv(1)                               # the server is ready
    rng = random.Random(SEED)
    due = time.perf_counter() + 0.05
    for _ in range(jobs):
        due += rng.expovariate(rate)
        wait = due - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        conn.sendall(REQ.pack(due))
    conn.sendall(REQ.pack(-1.0))
    conn.recv(1)


# --------------------------------------------------------------------------
# The server under test
# --------------------------------------------------------------------------

def start_harness(rate: float, jobs: int) -> tuple[subprocess.Popen, int, int]:
    proc = subprocess.Popen([sys.executable, __file__, "--harness", str(rate), str(jobs)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, int(proc.stdout.readline()), int(proc.stdout.readline())


def connect(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def requests_from(conn: socket.socket, buf: bytearray, data: bytes) -> list[float]:
    buf += data
    n = len(buf) // REQ.size
    out = [REQ.unpack_from(buf, i * REQ.size)[0] for i in range(n)]
    del buf[: n * REQ.size]
    return out


def run_asyncio(work: Work, rate: float, jobs: int) -> tuple[list[float], list[float], float]:
    proc, dport, rport = start_harness(rate, jobs)
    latencies: list[float] = []
    starts: list[float] = []

    async def main() -> float:
        loop = asyncio.get_running_loop()
        pool: asyncio.Queue[socket.socket] = asyncio.Queue()
        for _ in range(CONNECTIONS):
            c = connect(dport)
            c.setblocking(False)
            pool.put_nowait(c)
        req = connect(rport)
        req.setblocking(False)
        tasks = set()

        async def handle(due: float) -> None:
            starts.append(time.perf_counter() - due)
            c = await pool.get()
            await loop.sock_sendall(c, b"x")
            await loop.sock_recv(c, 1)
            pool.put_nowait(c)
            work()
            latencies.append(time.perf_counter() - due)

        await loop.sock_sendall(req, b"g")
        t0, c0 = time.perf_counter(), time.process_time()
        buf = bytearray()
        done = False
        while not done:
            for due in requests_from(req, buf, await loop.sock_recv(req, 4096)):
                if due < 0:
                    done = True
                    break
                t = loop.create_task(handle(due))
                tasks.add(t)
                t.add_done_callback(tasks.discard)
        while tasks:
            await asyncio.gather(*tasks)
        busy = (time.process_time() - c0) / (time.perf_counter() - t0)
        await loop.sock_sendall(req, b"e")
        return busy

    busy = asyncio.run(main())
    proc.wait()
    return latencies, starts, busy


def run_pool(work: Work, rate: float, jobs: int) -> tuple[list[float], list[float], float]:
    proc, dport, rport = start_harness(rate, jobs)
    latencies: list[float] = []
    starts: list[float] = []
    conns: queue.Queue[socket.socket] = queue.Queue()
    for _ in range(WORKERS):
        conns.put(connect(dport))
    local = threading.local()

    def handle(due: float) -> None:
        starts.append(time.perf_counter() - due)
        c = getattr(local, "conn", None)
        if c is None:
            c = local.conn = conns.get()
        c.sendall(b"x")
        c.recv(1)
        work()
        latencies.append(time.perf_counter() - due)

    req = connect(rport)
    with ThreadPoolExecutor(WORKERS) as ex:
        # Start every worker before the run, as a running service has.
        for f in [ex.submit(time.sleep, 0.01) for _ in range(WORKERS)]:
            f.result()
        req.sendall(b"g")
        t0, c0 = time.perf_counter(), time.process_time()
        buf = bytearray()
        done = False
        while not done:
            for due in requests_from(req, buf, req.recv(4096)):
                if due < 0:
                    done = True
                    break
                ex.submit(handle, due)
    busy = (time.process_time() - c0) / (time.perf_counter() - t0)
    req.sendall(b"e")
    proc.wait()
    return latencies, starts, busy


def pct(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(q * len(s)))] * 1e3


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--harness":
        harness(float(sys.argv[2]), int(sys.argv[3]))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", type=float, default=RATE)
    ap.add_argument("--jobs", type=int, default=JOBS)
    args = ap.parse_args()
    work = Work(CPU_MS / 1e3)
    figures: dict[str, object] = {"rate": args.rate, "jobs": args.jobs, "delay_ms": DELAY_MS,
                                  "cpu_ms": CPU_MS, "workers": WORKERS}
    for name, run in (("asyncio", run_asyncio), ("pool", run_pool)):
        lat, starts, busy = run(work, args.rate, args.jobs)
        work_us = work.mean_us()
        figures[f"{name}_p50_ms"] = r(pct(lat, 0.50))
        figures[f"{name}_p99_ms"] = r(pct(lat, 0.99))
        figures[f"{name}_busy"] = r(busy)
        figures[f"{name}_work_us"] = r(work_us, 1)
        figures[f"{name}_start_p50_ms"] = r(pct(starts, 0.50))
        figures[f"{name}_cpu_us"] = r(busy / args.rate * 1e6, 1)
        figures[f"{name}_overhead_us"] = r(busy / args.rate * 1e6 - work_us, 1)
        figures[f"{name}_completed"] = len(lat)
    emit(figures)


if __name__ == "__main__":
    main()
