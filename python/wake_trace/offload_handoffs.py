"""Where the asyncio thread-pool worst tick goes: GIL hand-offs on both sides.

    gcc -O2 -shared -fPIC -o shim.so shim.c -ldl
    SHIM_OUT=t.txt LD_PRELOAD=./shim.so python3 offload_handoffs.py --run > t.json
    python3 offload_handoffs.py --cpython t.txt t.json
    gilsim run ../../configs/python/asyncio_offload.toml --backend asyncio-threadpool \\
        --trace g.json --format json > /dev/null
    python3 offload_handoffs.py --gilsim g.json      # real or model engine trace

`--run` runs the threadpool variant of python/asyncio_offload.py (a 1 ms
ticker on the event loop beside 4 x 100 ms jobs in the default executor)
under the tracer of shim.c and prints the ticks and the loop thread's id.
The other two read a trace and print one JSON line:

  back_to_requester  of the hand-offs away from a pool worker whose
                     previous holder was a pool worker too, the share that
                     went back to that previous holder. At a forced switch
                     the previous holder is nearly always the requester
                     (it was forced out last, so its first full wait ends
                     first), so this is the requester's share of the race
                     of docs/gil.md section 5, measured the same way on
                     both sides from the order of GIL holders alone.
  loop_waits         how many hand-offs the loop thread's GIL waits took,
                     counting the one to the loop thread: {hand-offs: waits}.
                     The worst tick is the longest of these waits.
  worst_tick_ms      the longest tick.
"""

from __future__ import annotations

import asyncio
import collections
import json
import sys
import threading
import time
from pathlib import Path


def run() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import asyncio_offload as ao
    from _common import calibrate

    async def ticker() -> list[tuple[int, int]]:
        ticks = []
        for _ in range(ao.TICKS):
            t0 = time.monotonic_ns()           # CLOCK_MONOTONIC, as the tracer's
            await asyncio.sleep(ao.TICK_S)
            ticks.append((t0, time.monotonic_ns()))
        return ticks

    async def scenario(n: int):
        await ao.warm_up(None)
        tick = asyncio.create_task(ticker())
        t0 = time.monotonic_ns()
        await asyncio.gather(*(ao.executor_job(n, None) for _ in range(ao.JOBS)))
        return await tick, (t0, time.monotonic_ns())

    ticks, jobs = asyncio.run(scenario(calibrate(ao.JOB_SECONDS)))
    json.dump({"loop": threading.get_native_id(), "ticks": ticks, "jobs": jobs}, sys.stdout)


def summarise(holders: list, loop, loop_waits: list[int], worst_ms: float) -> dict:
    seq = [h for k, h in enumerate(holders) if k == 0 or holders[k - 1] != h]
    pairs = [(a, c) for a, b, c in zip(seq, seq[1:], seq[2:]) if loop not in (a, b)]
    back = sum(a == c for a, c in pairs)
    return {
        "back_to_requester": round(back / max(1, len(pairs)), 3),
        "hand_offs": len(pairs),
        "loop_waits": dict(sorted(collections.Counter(loop_waits).items())),
        "worst_tick_ms": round(worst_ms, 1),
    }


def cpython(trace: str, out: str) -> dict:
    d = json.loads(Path(out).read_text())
    loop, (a, b) = d["loop"], d["jobs"]
    recs = [line.split() for line in Path(trace).read_text().splitlines()]
    gil_cond = collections.Counter(r[2] for r in recs if r[0] == "1").most_common(1)[0][0]
    # take_gil signals switch_cond on every take: one record per hold.
    takes = sorted((int(r[3]), int(r[1])) for r in recs if r[0] == "3" and r[2] != gil_cond)
    holders = [tid for t, tid in takes if a <= t <= b]
    # The loop thread's waits: from its first timed wait after a tick began
    # to its next take, counting the hand-offs in between.
    waits_begin = sorted(int(r[3]) for r in recs if r[0] == "1" and r[2] == gil_cond and int(r[1]) == loop)
    loop_waits, i = [], 0
    for t, tid in takes:
        if not a <= t <= b or tid != loop:
            continue
        begun = [w for w in waits_begin if i <= w < t]
        if begun:
            between = [h for s, h in takes if begun[0] <= s <= t]
            loop_waits.append(sum(1 for k, h in enumerate(between) if k == 0 or between[k - 1] != h))
        i = t
    worst = max((e - s) / 1e6 for s, e in d["ticks"])
    return summarise(holders, loop, loop_waits, worst)


def gilsim(trace: str) -> dict:
    ev = json.loads(Path(trace).read_text())
    ev = ev["traceEvents"] if isinstance(ev, dict) else ev
    names = {e["tid"]: e["args"]["name"] for e in ev
             if e.get("ph") == "M" and e.get("name") == "thread_name" and e.get("pid") == 1}
    loop_names = ("asyncio-threadpool", "asyncio-threadpool-0 (virtual)")
    ltid = next(t for t, n in names.items() if n in loop_names)
    holds = sorted((e["ts"], e["name"]) for e in ev if e.get("pid") == 2 and e.get("ph") == "X")
    loop = next(n for _, n in holds if n in loop_names)
    spans, begun = [], None
    for e in sorted((e for e in ev if e.get("name") == "gil_wait" and e.get("tid") == ltid),
                    key=lambda e: e["ts"]):
        if e["ph"] == "X" and "forced" not in json.dumps(e.get("args", {})):
            spans.append((e["ts"], e["ts"] + e["dur"]))
        elif e["ph"] == "B":
            begun = e["ts"]
        elif e["ph"] == "E" and begun is not None:
            spans.append((begun, e["ts"]))
            begun = None
    loop_waits = []
    for s, e in spans:
        between = [h for t, h in holds if s - 1 <= t <= e + 50]
        n = sum(1 for k, h in enumerate(between) if k == 0 or between[k - 1] != h)
        if n:
            loop_waits.append(n)
    starts = [t for t, n in holds if n == loop]
    worst = max((b - a) / 1e3 for a, b in zip(starts, starts[1:]))
    return summarise([n for _, n in holds], loop, loop_waits, worst)


def main() -> None:
    args = sys.argv[1:]
    if args == ["--run"]:
        run()
    elif len(args) == 3 and args[0] == "--cpython":
        print(json.dumps({"cpython": cpython(args[1], args[2])}))
    elif len(args) == 2 and args[0] == "--gilsim":
        print(json.dumps({"gilsim": gilsim(args[1])}))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
