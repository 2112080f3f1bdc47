#!/usr/bin/env python3
"""Checks that two gilsim binaries give the same model-engine results.

A change that is meant to make the model engine faster must not change what
it computes. This runs both binaries, with the same deterministic costs
(`GILSIM_MODEL_COSTS=defaults`, and all-zero costs for the speed reference),
over:

- every config of configs/, configs/python/ and configs/capacity/,
- a config that uses every backend and step kind (as tests/model.rs),
- the speed reference (`gilsim bench --model`'s model, 20,000 jobs),
- `--random N` generated configs (step kinds, distributions, repeats,
  arrivals, backends, GIL or not, locks, counters: a fixed seed),
- `--fast N` generated configs of the fast path's class (thread per job,
  no GIL, cpu/native/io steps; some with a small `--max-in-flight`),

each at `--cores 1, 3 and 64`, and compares the JSON reports with
`sim.wall_s` removed (the only field that may differ), byte for byte after
a canonical dump. With `--traces` it also compares the `--trace` file of
the all-backends config, timestamps made relative to the first event.
Exit status 0 when everything is identical, 1 otherwise. Stdlib only.

    python3 python/model_identical.py OLD_GILSIM NEW_GILSIM [--random 40] [--fast 40] [--traces]
"""

import argparse
import glob
import json
import os
import random
import subprocess
import sys
import tempfile

CORES = (1, 3, 64)

# The config that uses every backend and step kind (shared with tests/model.rs).
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "everything.toml")) as f:
    EVERYTHING = f.read()

REFERENCE = """
name = "reference"
seed = 1
[[backend]]
kind = "threads"
workers = 0
[[group]]
name = "jobs"
jobs = 20000
arrival = { rate = 50000.0, process = "poisson" }
steps = [{ cpu = { dist = "exp", mean = "1ms" } }, { io = { dist = "exp", mean = "2ms" } }]
"""

ZERO_COSTS = """thread_start_us = 0.0
wake_us = 0.0
gil_handoff_us = 0.0
io_overshoot_us = 0.0
job_overhead_us = 0.0
"""


def duration(rng):
    """A random duration spec (TOML inline value)."""
    us = rng.choice([1, 20, 100, 500, 2000])
    kind = rng.choice(["fixed", "exp", "uniform", "normal", "lognormal"])
    if kind == "fixed":
        return f'"{us}us"'
    if kind == "exp":
        return f'{{ dist = "exp", mean = "{us}us" }}'
    if kind == "uniform":
        return f'{{ dist = "uniform", min = "{us}us", max = "{us * 3}us" }}'
    if kind == "normal":
        return f'{{ dist = "normal", mean = "{us}us", stddev = "{us // 2 + 1}us" }}'
    return f'{{ dist = "lognormal", median = "{us}us", p99 = "{us * 10}us" }}'


def steps(rng, depth, plain):
    """A random step list; `plain` keeps to cpu/native/io."""
    out = []
    for _ in range(rng.randint(1, 4)):
        kinds = ["cpu", "io", "native"]
        if not plain:
            kinds += ["lock", "counter"]
        if depth < 2:
            kinds.append("repeat")
        k = rng.choice(kinds)
        if k in ("cpu", "io", "native"):
            out.append(f"{{ {k} = {duration(rng)} }}")
        elif k == "lock":
            out.append(f'{{ lock = "l{rng.randint(0, 1)}", cpu = {duration(rng)} }}')
        elif k == "counter":
            guard = rng.choice(["none", "lock", "atomic"])
            inside = "true" if guard == "none" and rng.random() < 0.5 else "false"
            out.append(
                f'{{ counter = "c{rng.randint(0, 1)}", add = {rng.choice([1, 50, 400])}, '
                f'guard = "{guard}", switch_inside = {inside} }}'
            )
        else:
            out.append(f"{{ repeat = {rng.randint(1, 3)}, steps = [{', '.join(steps(rng, depth + 1, plain))}] }}")
    return out


def groups(rng, lines, job_counts, rates, max_clients, plain):
    """Appends 1-3 random groups to `lines`: a job count from `job_counts`,
    an arrival (batch, Poisson or uniform at one of `rates`, or up to
    `max_clients` closed-loop clients) and random steps."""
    for g in range(rng.randint(1, 3)):
        jobs = rng.choice(job_counts)
        arrival = rng.choice(
            [
                "",
                f'arrival = {{ rate = {rng.choice(rates)}, process = "poisson" }}',
                f'arrival = {{ rate = {rng.choice(rates[:2])}, process = "uniform" }}',
                f"arrival = {{ closed = {rng.randint(1, max_clients)} }}",
                f'arrival = {{ closed = {rng.randint(1, max_clients)}, think = {{ dist = "exp", mean = "300us" }} }}',
            ]
        )
        lines += ["[[group]]", f'name = "g{g}"', f"jobs = {jobs}"]
        if arrival:
            lines.append(arrival)
        lines.append(f"steps = [{', '.join(steps(rng, 0, plain))}]")


def random_config(rng, i):
    """A random valid config; about half of them use only cpu/native/io steps."""
    plain = rng.random() < 0.5
    lines = [f'name = "random{i}"', f"seed = {rng.randint(0, 1 << 40)}"]
    if rng.random() < 0.5:
        lines += ["[gil]", f'switch_interval = "{rng.choice(["1ms", "5ms", "200us"])}"']
    backends = [
        'kind = "threads"',
        'kind = "threads"\nworkers = 0',
        f'kind = "threads"\nworkers = {rng.randint(1, 5)}',
        'kind = "rayon"',
        'kind = "tokio"',
        'kind = "tokio"\nflavor = "current_thread"\ncpu_mode = "spawn_blocking"',
        'kind = "smol"\ncpu_mode = "rayon"',
        'kind = "async-std"',
    ]
    for j, b in enumerate(rng.sample(backends, rng.randint(1, 3))):
        gil = "\ngil = true" if rng.random() < 0.4 else ""
        lines += ["[[backend]]", f'name = "b{j}"', b + gil]
    groups(rng, lines, [1, 7, 50, 300], [100, 2000, 50000], 6, plain)
    return "\n".join(lines) + "\n"


def fast_class_config(rng, i):
    """A random config of the model's fast-path class (docs/model.md):
    thread per job, no GIL, only cpu/native/io steps (repeats allowed)."""
    lines = [f'name = "fast{i}"', f"seed = {rng.randint(0, 1 << 40)}", "[[backend]]", 'kind = "threads"']
    groups(rng, lines, [1, 10, 200, 2000], [500, 5000, 50000], 30, True)
    return "\n".join(lines) + "\n"


def run(binary, config, cores, costs, extra=()):
    # The kernel calibration is pinned and left out of the comparison: a
    # binary from before 0.2 measured one for model runs and stated it in the
    # report (it varies run to run); later ones state none (null).
    env = dict(os.environ, GILSIM_MODEL_COSTS=costs, GILSIM_ITERS_PER_US="500")
    cmd = [binary, "run", config, "--engine", "model", "--cores", str(cores), "--format", "json", "--quiet", *extra]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        return f"exit {out.returncode}: {out.stderr.strip()}"
    reports = []
    for line in out.stdout.splitlines():
        if line.strip():
            r = json.loads(line)
            r.get("sim", {}).pop("wall_s", None)
            r.get("machine", {}).pop("cpu_kernel_iters_per_us", None)
            reports.append(json.dumps(r, sort_keys=True))
    return "\n".join(reports)


def relative_trace(path):
    with open(path) as f:
        t = json.load(f)
    events = t["traceEvents"] if isinstance(t, dict) else t
    ts = [e["ts"] for e in events if "ts" in e]
    t0 = min(ts) if ts else 0
    for e in events:
        if "ts" in e:
            e["ts"] = round(e["ts"] - t0, 3)
    return json.dumps(events, sort_keys=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--random", type=int, default=40, help="random configs to add (default 40)")
    ap.add_argument("--fast", type=int, default=40, help="random configs of the fast path's class to add (default 40)")
    ap.add_argument("--random-seed", type=int, default=8)
    ap.add_argument("--traces", action="store_true")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="model-identical-")
    zero = os.path.join(tmp, "zero-costs.toml")
    with open(zero, "w") as f:
        f.write(ZERO_COSTS)
    cases = []
    for c in sorted(glob.glob("configs/*.toml") + glob.glob("configs/python/*.toml") + glob.glob("configs/capacity/*.toml")):
        cases.append((c, "defaults", ()))
    for name, text, costs in [("everything", EVERYTHING, "defaults"), ("reference", REFERENCE, zero)]:
        p = os.path.join(tmp, name + ".toml")
        with open(p, "w") as f:
            f.write(text)
        cases.append((p, costs, ()))
    rng = random.Random(args.random_seed)
    for i in range(args.random):
        p = os.path.join(tmp, f"random{i}.toml")
        with open(p, "w") as f:
            f.write(random_config(rng, i))
        cases.append((p, rng.choice(["defaults", zero]), ()))
    for i in range(args.fast):
        p = os.path.join(tmp, f"fast{i}.toml")
        with open(p, "w") as f:
            f.write(fast_class_config(rng, i))
        bound = rng.choice([(), (), ("--max-in-flight", str(rng.choice([1, 4, 50])))])
        cases.append((p, rng.choice(["defaults", zero]), bound))
    same = differ = 0
    for config, costs, extra in cases:
        for cores in CORES:
            a = run(args.old, config, cores, costs, extra)
            b = run(args.new, config, cores, costs, extra)
            if a != b:
                differ += 1
                print(f"DIFFERENT: {config} --cores {cores} (costs {costs})")
                print(f"  old: {a[:300]}\n  new: {b[:300]}")
            else:
                same += 1
                if a.startswith("exit"):
                    print(f"  (both refused: {config} --cores {cores}: {a.splitlines()[0][:160]})")
    if args.traces:
        # One backend per trace: each backend's virtual time 0 is its own
        # run's start, so only a single run's trace can be made relative.
        p = os.path.join(tmp, "everything.toml")
        backends = [r["backend"] for r in json.loads(run(args.old, p, 3, "defaults").splitlines()[0])["runs"]]
        for cores in CORES:
            for backend in backends:
                ta, tb = os.path.join(tmp, "a.trace.json"), os.path.join(tmp, "b.trace.json")
                run(args.old, p, cores, "defaults", ["--trace", ta, "--backend", backend])
                run(args.new, p, cores, "defaults", ["--trace", tb, "--backend", backend])
                if relative_trace(ta) == relative_trace(tb):
                    same += 1
                else:
                    differ += 1
                    print(f"DIFFERENT trace: everything --cores {cores} --backend {backend}")
    print(f"{same} identical, {differ} different ({len(cases)} configs x cores {CORES}{' + traces' if args.traces else ''})")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
