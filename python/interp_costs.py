"""The interpreter's own cost per operation, measured on this CPython.

gilsim charges these under the GIL on its Python-like backends (`[gil.cost]`
in a config; docs/gil.md says when each is charged). Each is measured here
in a tight loop on one thread, as CPU time (time.process_time, so another
process on the machine does not inflate it), and the median of ROUNDS
rounds is kept:

  task      asyncio: loop.create_task(coro()) for a coroutine that returns
            at once, and running that task to completion
  resume    asyncio: what a round trip whose reply arrives after the task
            blocked costs beyond one whose reply is already there (reader
            registered, future, selector, callback, resume); at least the
            cost of awaiting a future resolved by a loop callback
  io_call   one request/reply through a socket's Python methods with the
            data already there (sendall + recv on a socketpair), i.e. the
            Python side of one IO round trip plus its two system calls;
            `io_call_asyncio` is the same through loop.sock_sendall /
            loop.sock_recv (printed for reference)
  submit    ThreadPoolExecutor.submit(fn) while the worker is busy (future,
            work item, queue put)
  complete  the worker's side of one submitted call (queue get, run, set the
            future's result, notify) and the caller's result()

Usage: python3 python/interp_costs.py [--json]
Prints a [gil.cost] table to paste into a config (or one JSON object).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

N = 10_000
ROUNDS = 5


def per_op_us(run, n: int = N) -> float:
    """Median over ROUNDS of CPU time per operation, in µs."""
    samples = []
    for _ in range(ROUNDS):
        t = time.process_time()
        run(n)
        samples.append((time.process_time() - t) / n * 1e6)
    return statistics.median(samples)


async def _noop() -> None:
    return None


def task_cost(n: int) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        tasks = [loop.create_task(_noop()) for _ in range(n)]
        while not all(t.done() for t in tasks):
            await asyncio.sleep(0)
    asyncio.run(main())


def resume_cost(n: int) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        for _ in range(n):
            fut = loop.create_future()
            loop.call_soon(fut.set_result, None)
            await fut
    asyncio.run(main())


def _pair() -> tuple[socket.socket, socket.socket]:
    a, b = socket.socketpair()
    for s in (a, b):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    return a, b


BATCH = 200


def _refill(b: socket.socket) -> None:
    """Drain the requests sent so far and queue the next BATCH replies
    (one-byte sends take a whole buffer each, so they cannot pile up)."""
    b.setblocking(False)
    try:
        while b.recv(65536):
            pass
    except BlockingIOError:
        pass
    b.setblocking(True)
    b.sendall(b"y" * BATCH)


def io_call_cost(n: int) -> None:
    a, b = _pair()
    for i in range(n):
        if i % BATCH == 0:
            _refill(b)
        a.sendall(b"x")
        a.recv(1)
    a.close()
    b.close()


def io_call_asyncio_cost(n: int) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        a, b = _pair()
        a.setblocking(False)
        for i in range(n):
            if i % BATCH == 0:
                _refill(b)
            await loop.sock_sendall(a, b"x")
            await loop.sock_recv(a, 1)
        a.close()
        b.close()
    asyncio.run(main())


def io_wait_asyncio_cost(n: int) -> None:
    """One asyncio round trip whose reply arrives after the task blocked:
    sock_recv finds nothing, registers a reader and a future, the loop's
    selector reports the socket, the callback reads and resolves the future,
    and the task resumes."""
    async def main() -> None:
        loop = asyncio.get_running_loop()
        a, b = _pair()
        a.setblocking(False)
        for i in range(n):
            if i % BATCH == 0:
                _refill(b)
                a.recv(BATCH)
            await loop.sock_sendall(a, b"x")
            loop.call_soon(b.send, b"y")
            await loop.sock_recv(a, 1)
        a.close()
        b.close()
    asyncio.run(main())


def _noop_fn() -> None:
    return None


def submit_and_complete(n: int) -> tuple[float, float]:
    """(submit, complete) per call in µs: submits while the worker is held,
    then lets it drain the queue."""
    gate = threading.Event()
    with ThreadPoolExecutor(1) as ex:
        ex.submit(gate.wait)
        t = time.process_time()
        futures = [ex.submit(_noop_fn) for _ in range(n)]
        submit = (time.process_time() - t) / n * 1e6
        t = time.process_time()
        gate.set()
        for f in futures:
            f.result()
        complete = (time.process_time() - t) / n * 1e6
    return submit, complete


def measure() -> dict[str, float]:
    sub_comp = [submit_and_complete(N) for _ in range(ROUNDS)]
    ready = per_op_us(io_call_asyncio_cost)
    out = {
        "task": per_op_us(task_cost),
        # The await's resumption: a blocked round trip over a ready one.
        "resume": max(per_op_us(io_wait_asyncio_cost) - ready, per_op_us(resume_cost)),
        "io_call": per_op_us(io_call_cost),
        "io_call_asyncio": ready,
        "submit": statistics.median(s for s, _ in sub_comp),
        "complete": statistics.median(c for _, c in sub_comp),
    }
    return {k: round(v, 2) for k, v in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of TOML")
    args = ap.parse_args()
    costs = measure()
    if args.json:
        json.dump({"python": sys.version.split()[0], "us": costs}, sys.stdout)
        print()
        return
    print(f"# measured by python/interp_costs.py on CPython {sys.version.split()[0]}")
    print("[gil.cost]")
    for key in ("task", "resume", "io_call", "submit", "complete"):
        print(f'{key} = "{costs[key]:.1f}us"')
    print(f"# io_call through asyncio's loop.sock_* (for reference): {costs['io_call_asyncio']:.1f}us")


if __name__ == "__main__":
    main()
