#!/usr/bin/env python3
"""Real engine vs model engine on this machine, per backend x group.

Runs every config given (default: configs/*.toml and configs/python/*.toml)
once with the real engine and once with `--engine model` (on this machine's
core count, with the costs `gilsim calibrate --save` stored, else the
defaults), and prints a markdown table: p50, p99 and throughput of both, and
model/real ratios. Stdlib only.

    python3 python/model_agreement.py [--gilsim target/release/gilsim] [CONFIG...]
"""

import argparse
import glob
import json
import subprocess
import sys


def run(gilsim, config, engine):
    cmd = [gilsim, "run", config, "--format", "json", "--quiet"]
    if engine == "model":
        cmd += ["--engine", "model"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def ratio(m, r):
    return f"{m / r:.2f}" if r else ("1.00" if not m else "inf")


def fmt_ms(us):
    return f"{us / 1000:.2f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gilsim", default="target/release/gilsim")
    ap.add_argument("configs", nargs="*")
    args = ap.parse_args()
    configs = args.configs or sorted(glob.glob("configs/*.toml")) + sorted(glob.glob("configs/python/*.toml"))
    print("| config | backend | group | p50 real ms | p50 model ms | ratio | p99 real ms | p99 model ms | ratio | jobs/s real | jobs/s model | ratio |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for config in configs:
        real = run(args.gilsim, config, "real")
        model = run(args.gilsim, config, "model")
        for rr, mr in zip(real["runs"], model["runs"]):
            for rg, mg in zip(rr["groups"], mr["groups"]):
                rl, ml = rg["latency_us"], mg["latency_us"]
                rt, mt = rr["throughput_per_s"], mr["throughput_per_s"]
                print(
                    f"| {real['config']} | {rr['backend']} | {rg['name']} | "
                    f"{fmt_ms(rl['p50'])} | {fmt_ms(ml['p50'])} | {ratio(ml['p50'], rl['p50'])} | "
                    f"{fmt_ms(rl['p99'])} | {fmt_ms(ml['p99'])} | {ratio(ml['p99'], rl['p99'])} | "
                    f"{rt:.1f} | {mt:.1f} | {ratio(mt, rt)} |"
                )
        sys.stdout.flush()


if __name__ == "__main__":
    main()
