"""Who took the GIL at each forced switch, from a trace of shim.c.

    gcc -O2 -shared -fPIC -o shim.so shim.c -ldl
    SHIM_OUT=trace.txt LD_PRELOAD=./shim.so python3 analyse.py --run
    python3 analyse.py trace.txt [more traces...]

`--run` runs python/gil_wake_order.py's CPython workload (4 CPU-bound
threads, 2 s) in this process, under the tracer. For each trace this prints
one JSON line:

  share          the hand-offs that went to the longest waiter (what
                 gil_wake_order.py measures)
  oldest         the hand-offs that went to the waiter that entered its
                 current timed wait first (the head of the condvar's queue)
  requester      the hand-offs that went to the thread that had just timed
                 out and set the drop request (it entered its wait last)
  requester_on_holders_cpu
                 the switches whose requester woke on the holder's CPU (the
                 holder cannot check its eval breaker before the requester
                 has blocked again)
  react_us       p10/p50/p90 of the time from the requester's timeout
                 returning to the holder's signal, by whether the requester
                 took the GIL

docs/gil.md section 5 explains what these show.
"""

from __future__ import annotations

import collections
import json
import sys
from pathlib import Path


def load(path: str):
    recs = []
    for line in Path(path).read_text().splitlines():
        k, tid, cond, t0, t1, abst, ret, cpu0, cpu1 = line.split()
        recs.append(dict(kind=int(k), tid=int(tid), cond=cond, t0=int(t0), t1=int(t1),
                         ret=int(ret), cpu0=int(cpu0), cpu1=int(cpu1)))
    timed = [r for r in recs if r["kind"] == 1]
    gil_cond = collections.Counter(r["cond"] for r in timed).most_common(1)[0][0]
    # The workers: threads that took the GIL from another thread often (the
    # main thread mostly takes it back from itself, at start-up).
    takes = [r["tid"] for r in sorted(recs, key=lambda r: r["t0"])
             if r["kind"] == 3 and r["cond"] != gil_cond]
    switches_to = collections.Counter(b for a, b in zip(takes, takes[1:]) if a != b)
    workers = {t for t, n in switches_to.items() if n >= 20}
    events = []
    for r in recs:
        if r["tid"] not in workers:
            continue
        if r["kind"] == 3:
            events.append((r["t0"], "drop" if r["cond"] == gil_cond else "take", r["tid"], r))
        elif r["kind"] == 1:
            events.append((r["t0"], "wait", r["tid"], r))
            events.append((r["t1"], "woke", r["tid"], r))
    events.sort(key=lambda e: e[0])
    return events, workers


def pct(values: list[float]) -> list[float] | None:
    v = sorted(values)
    return [round(v[min(len(v) - 1, int(len(v) * q))], 2) for q in (0.1, 0.5, 0.9)] if v else None


def analyse(path: str) -> dict:
    events, workers = load(path)
    waiting: dict[int, int] = {}
    last_end: dict[int, int] = {}
    requester = None            # (tid, woke at, cpu)
    holder = None
    counts = collections.Counter()
    react = {True: [], False: []}
    for i, (t, kind, tid, r) in enumerate(events):
        if kind == "wait":
            waiting[tid] = t
        elif kind == "woke":
            waiting.pop(tid, None)
            if r["ret"] == 110:
                requester = (tid, t, r["cpu1"])
        elif kind == "drop" and tid == holder:
            taker = next((e[2] for e in events[i + 1:i + 60] if e[1] == "take"), None)
            if taker is None or taker == tid:
                continue
            queue = sorted(waiting, key=waiting.get)
            if len(last_end) == len(workers):
                longest = min((w for w in workers if w != tid), key=lambda w: last_end[w])
                counts["n"] += 1
                counts["share"] += taker == longest
                counts["oldest"] += bool(queue) and taker == queue[0]
                if requester and t - requester[1] < 50_000:
                    stole = taker == requester[0]
                    counts["requester"] += stole
                    counts["requester_on_holders_cpu"] += requester[2] == r["cpu0"]
                    react[stole].append((t - requester[1]) / 1e3)
            last_end[tid] = t
        if kind == "take":
            holder = tid
    n = max(1, counts["n"])
    out = {k: round(counts[k] / n, 3) for k in ("share", "oldest", "requester", "requester_on_holders_cpu")}
    out["switches"] = counts["n"]
    out["react_us"] = {"requester_took_it": pct(react[True]), "oldest_took_it": pct(react[False])}
    out["trace"] = path
    return out


def main() -> None:
    if sys.argv[1:] == ["--run"]:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        import gil_wake_order
        holders = gil_wake_order.cpython_holders()
        print(json.dumps({"cpython": gil_wake_order.longest_waiter_fraction(holders)}))
        return
    for path in sys.argv[1:]:
        print(json.dumps(analyse(path)))


if __name__ == "__main__":
    main()
