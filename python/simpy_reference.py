#!/usr/bin/env python3
"""The model engine's reference model in SimPy, for `gilsim bench --model`.

200,000 jobs arrive as a Poisson stream at 50,000/s; each takes one of 64
cores (a simpy.Resource) for an exponential CPU time (mean 1 ms), releases
it, then waits an exponential IO time (mean 2 ms) outside the cores. Prints
how many simulated jobs per real second SimPy managed.

    python3 python/simpy_reference.py [--jobs N] [--cores C] [--json]

Needs `pip install simpy`; gilsim's CI does not install it, and the bench
skips the SimPy figures when it is missing.
"""

import argparse
import json
import random
import sys
import time


def main() -> int:
    try:
        import simpy
    except ImportError:
        print("simpy is not installed (pip install simpy)", file=sys.stderr)
        return 2
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=200_000)
    ap.add_argument("--cores", type=int, default=64)
    ap.add_argument("--rate", type=float, default=None, help="arrivals/s (default 50,000 x cores/64)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rate = args.rate if args.rate is not None else 50_000.0 * args.cores / 64
    rng = random.Random(args.seed)
    env = simpy.Environment()
    cores = simpy.Resource(env, capacity=args.cores)
    latencies = []

    def job(due):
        with cores.request() as req:
            yield req
            yield env.timeout(rng.expovariate(1000.0))  # CPU, mean 1 ms
        yield env.timeout(rng.expovariate(500.0))  # IO, mean 2 ms
        latencies.append(env.now - due)

    def source():
        for _ in range(args.jobs):
            env.process(job(env.now))
            yield env.timeout(rng.expovariate(rate))

    env.process(source())
    t = time.perf_counter()
    env.run()
    wall = time.perf_counter() - t
    latencies.sort()
    out = {
        "simpy": simpy.__version__,
        "jobs": len(latencies),
        "cores": args.cores,
        "wall_s": wall,
        "jobs_per_s": len(latencies) / wall,
        "p50_ms": latencies[len(latencies) // 2] * 1e3,
        "p99_ms": latencies[len(latencies) * 99 // 100] * 1e3,
    }
    if args.json:
        print(json.dumps(out))
    else:
        print(
            f"SimPy {out['simpy']}: {out['jobs']} jobs on {out['cores']} cores in {wall:.2f} s = "
            f"{out['jobs_per_s']:,.0f} jobs/s (latency p50 {out['p50_ms']:.2f} ms, p99 {out['p99_ms']:.2f} ms)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
