#!/usr/bin/env python3
"""Where service_knee's asyncio latency comes from: a virtual-time model of the loop.

python/service_knee.py serves requests on one asyncio loop; near saturation
CPython's p50 is about 1.35x gilsim's (docs/gil.md, "Service near
saturation"). This program replays that service in virtual time on one
loop thread, with the CPU per request that gilsim charges, under three
orders of the ready work and two ways for a request to reach its handler.

schedulers
  asyncio   CPython's BaseEventLoop._run_once: each iteration asks the
            selector once, appends the callbacks of every fd that became
            ready and every due timer to the ready queue, then runs exactly
            the handles that were in the queue at that moment; handles they
            schedule (call_soon) wait for the next iteration.
  fifo      one ready queue, polled one task at a time, IO noticed between
            any two tasks: the model engine's order for an async backend
            (src/model/exec.rs).
  tokio     tokio 1.x current_thread, what the real engine runs: the
            driver's spawns go to the inject queue at once; an IO reply is
            seen when the runtime polls its IO driver (when it has nothing
            to run, or every 61st poll) and wakes its task into the local
            queue; every 31st poll takes the inject queue first.

request paths (what runs on the loop before the handler's first line)
  reader    what service_knee.py does: the request socket's fd callback
            wakes the reader task, whose step calls create_task, whose step
            is the handler: 3 handles on asyncio; on fifo and tokio the
            reader's step, which spawns the handler's task (2 polls).
  direct    a callback that creates the task, then the handler's step (what
            call_soon_threadsafe(create_task) does: 2 handles on asyncio);
            on fifo and tokio the handler's task alone, which is what
            gilsim's driver spawns.
  An IO reply takes two handles on asyncio (the fd callback sets the
  future; the task's wake-up runs next iteration) and one poll elsewhere.

Costs are gilsim's [gil.cost] defaults (config/model.rs), charged where
gilsim charges them: the handler's first step `task` + `io_call`, its
resumption `resume` + the work. Callbacks and the reader's step cost
nothing here (gilsim's `resume` already holds a callback's cost), so any
difference between rows is the order alone. `--hop-us` charges each extra
handle, to see how much the loop's own handles add.

    python3 python/asyncio_loop_model.py [--rate 1200] [--jobs 200000] [--json]

Stdlib only; deterministic for a seed; about 3 s for 200,000 requests.
"""

from __future__ import annotations

import argparse
import heapq
import json
import random
import sys
from collections import deque
from dataclasses import dataclass, field

SCHEDULERS = ("asyncio", "fifo", "tokio")
PATHS = ("reader", "direct")


@dataclass
class Service:
    """The service and its costs, in seconds (defaults: service_knee.toml)."""

    rate: float = 1200.0
    jobs: int = 200_000
    io: float = 2.035e-3        # the 2 ms round trip plus gilsim's default IO overshoot
    work: float = 500e-6
    task: float = 4e-6          # [gil.cost] task
    io_call: float = 4e-6       # [gil.cost] io_call
    resume: float = 45e-6       # [gil.cost] resume
    hop: float = 0.0            # each callback / reader step
    seed: int = 1
    due: list[float] | None = None  # fixed due times instead of Poisson ones (tests)


@dataclass
class Result:
    """Per-request times, in seconds, in completion order."""

    latency: list[float] = field(default_factory=list)
    start: list[float] = field(default_factory=list)
    resume_wait: list[float] = field(default_factory=list)


def arrivals(s: Service) -> list[float]:
    """The requests' due times: Poisson, unless given."""
    if s.due is not None:
        return list(s.due)
    rng = random.Random(s.seed)
    t, out = 0.0, []
    for _ in range(s.jobs):
        t += rng.expovariate(s.rate)
        out.append(t)
    return out


def simulate(s: Service, scheduler: str, path: str) -> Result:
    """Runs every request on one loop thread; see the module doc."""
    if scheduler not in SCHEDULERS or path not in PATHS:
        raise ValueError(f"unknown scheduler {scheduler!r} or path {path!r}")
    loop = _Loop(s, path)
    if scheduler == "tokio":
        loop.run_tokio()
    else:
        loop.run_ready_queue(batch=scheduler == "asyncio")
    return loop.out


class _Loop:
    """One loop thread's state: the external events, the ready work, the clock."""

    def __init__(self, s: Service, path: str) -> None:
        self.s = s
        self.path = path
        self.due = arrivals(s)
        self.replied = [0.0] * len(self.due)
        # External events: (time, kind, job); kind 0 = request, 1 = IO reply.
        self.ext = [(t, 0, j) for j, t in enumerate(self.due)]
        heapq.heapify(self.ext)
        self.out = Result()
        self.now = 0.0

    def run(self, name: str, j: int, schedule) -> None:
        """Runs one handle (or task poll) `name` of request j; `schedule`
        takes the handle it schedules."""
        s = self.s
        if name in _NEXT:
            self.now += s.hop
            schedule((_NEXT[name], j))
        elif name == "handler":
            self.out.start.append(self.now - self.due[j])
            self.now += s.task + s.io_call
            heapq.heappush(self.ext, (self.now + s.io, 1, j))
        else:  # resume
            self.out.resume_wait.append(self.now - self.replied[j])
            self.now += s.resume + s.work
            self.out.latency.append(self.now - self.due[j])

    def external(self, upto: float):
        """The external events due by `upto`, in time order."""
        while self.ext and self.ext[0][0] <= upto:
            t, kind, j = heapq.heappop(self.ext)
            if kind == 1:
                self.replied[j] = t
            yield kind, j

    def run_ready_queue(self, batch: bool) -> None:
        """asyncio (batch) or fifo: one ready queue."""
        ready: deque[tuple[str, int]] = deque()
        while self.ext or ready:
            if not ready and self.ext[0][0] > self.now:
                self.now = self.ext[0][0]
            for kind, j in self.external(self.now):
                ready.append((self._first(kind, batch), j))
            for _ in range(len(ready) if batch else 1):
                self.run(*ready.popleft(), ready.append)

    def _first(self, kind: int, batch: bool) -> str:
        """The first handle an external event schedules."""
        if kind == 1:
            return "reply_cb" if batch else "resume"
        if self.path == "reader":
            return "reader_cb" if batch else "reader_step"
        return "create_cb" if batch else "handler"

    def run_tokio(self) -> None:
        """tokio 1.x current_thread: requests are spawned (or the reader is
        woken) from the driver's thread into the inject queue at once; an IO
        reply's timerfd is seen only when the runtime polls its IO driver,
        which wakes the task into the local queue; every 31st poll takes the
        inject queue first, and the driver is polled every 61st poll or when
        there is nothing to run."""
        local: deque[tuple[str, int]] = deque()
        inject: deque[tuple[str, int]] = deque()
        requests = deque(range(len(self.due)))
        ticks = 0

        def poll_driver() -> None:
            for kind, j in self.external(self.now):
                local.append(("resume", j))

        # Requests go to the inject queue when due, not through the driver.
        self.ext = [e for e in self.ext if e[1] == 1]
        while requests or self.ext or local or inject:
            while requests and self.due[requests[0]] <= self.now:
                j = requests.popleft()
                inject.append(("reader_step" if self.path == "reader" else "handler", j))
            if ticks and ticks % 61 == 0:
                poll_driver()
            if inject and (ticks % 31 == 0 or not local):
                task = inject.popleft()
            elif local:
                task = local.popleft()
            else:
                poll_driver()
                if not local:
                    nexts = [self.ext[0][0]] if self.ext else []
                    if requests:
                        nexts.append(self.due[requests[0]])
                    self.now = max(self.now, min(nexts))
                continue
            ticks += 1
            self.run(*task, local.append)


# What each hop schedules (call_soon: the next iteration on asyncio).
_NEXT = {
    "reader_cb": "reader_step",
    "reader_step": "handler",
    "create_cb": "handler",
    "reply_cb": "resume",
}


def pct(xs: list[float], q: float) -> float:
    """The q-quantile of xs, in ms (nearest rank below)."""
    ys = sorted(xs)
    return ys[min(len(ys) - 1, int(len(ys) * q))] * 1e3


def summary(r: Result) -> dict[str, float]:
    """p50/p99 latency and the two waits, in ms."""
    return {
        "p50_ms": pct(r.latency, 0.5),
        "p99_ms": pct(r.latency, 0.99),
        "start_p50_ms": pct(r.start, 0.5),
        "resume_wait_p50_ms": pct(r.resume_wait, 0.5),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=Service.rate)
    ap.add_argument("--jobs", type=int, default=Service.jobs)
    ap.add_argument("--hop-us", type=float, default=0.0, help="CPU of each callback / reader step")
    ap.add_argument("--seed", type=int, default=Service.seed)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.jobs < 100 or args.rate <= 0 or args.hop_us < 0:
        print("need --jobs >= 100, --rate > 0, --hop-us >= 0", file=sys.stderr)
        return 2
    s = Service(rate=args.rate, jobs=args.jobs, hop=args.hop_us * 1e-6, seed=args.seed)
    rows = {f"{sch}/{path}": summary(simulate(s, sch, path)) for sch in SCHEDULERS for path in PATHS}
    if args.json:
        print(json.dumps(rows))
        return 0
    print(f"{s.jobs} requests at {s.rate:g}/s, hop {args.hop_us:g} us (times in ms)")
    print(f"{'scheduler/path':<16} {'p50':>6} {'p99':>6} {'start p50':>10} {'resume wait p50':>16}")
    for name, r in rows.items():
        print(f"{name:<16} {r['p50_ms']:6.2f} {r['p99_ms']:6.2f} {r['start_p50_ms']:10.2f} {r['resume_wait_p50_ms']:16.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
