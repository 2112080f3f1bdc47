#!/usr/bin/env python3
"""Run each CPython reference program and its gilsim config, and compare the figures.

Usage:
    python3 python/compare.py [--gilsim PATH] [--only NAME...] [--rounds N] [--json]

For every phenomenon it runs `python3 python/NAME.py` (one JSON object on
stdout) and `GILSIM run configs/python/CONFIG.toml --format json` (the report
of SPEC section 4), computes the same figure on both sides and prints one row
per figure: phenomenon, figure, unit, CPython value, gilsim value, and
gilsim/CPython. Loss figures (lost updates of counter_race) are compared as
lost fractions, and the last column says whether both sides agree that
updates are lost ("both > 0", "both 0") instead of giving a ratio.

A phenomenon whose figure varies a lot from run to run on CPython itself
(asyncio_offload: the worst tick of one run spans 3-4x between runs on an
idle machine) is run several rounds, the two sides interleaved (CPython,
gilsim, CPython, gilsim, ...) so that both see the same machine conditions;
each side's figure is then the median of its rounds, the ratio is the ratio
of the medians, and the table prints each side's spread (min-max).
`--rounds N` sets the number of rounds for every phenomenon selected.

Exit status: 0 when everything ran, 1 when a side failed (or the gilsim
binary is missing), 2 on bad usage.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

ROOT = Path(__file__).resolve().parent.parent
PYTHON_DIR = ROOT / "python"
CONFIG_DIR = ROOT / "configs" / "python"
DEFAULT_GILSIM = ROOT / "target" / "release" / "gilsim"

PYTHON_TIMEOUT_S = 120
GILSIM_TIMEOUT_S = 600

Json = dict[str, Any]
Extractor = Callable[[Json], float]


class ExtractError(Exception):
    """A figure could not be read from a program's output or a gilsim report."""


class SideFailure(Exception):
    """A CPython program or a gilsim run failed; the message says which and why."""


# --------------------------------------------------------------------------
# Reading a gilsim report (SPEC section 4)
# --------------------------------------------------------------------------

def _find(items: Iterable[Json] | None, key: str, value: str, what: str, where: str) -> Json:
    items = list(items or [])
    for item in items:
        if item.get(key) == value:
            return item
    known = ", ".join(repr(i.get(key)) for i in items) or "none"
    raise ExtractError(f"no {what} {value!r} in {where} (has: {known})")


def run_of(report: Json, backend: str) -> Json:
    """The entry of runs[] whose `backend` label is `backend`."""
    return _find(report.get("runs"), "backend", backend, "backend", "runs[]")


def group_of(run: Json, group: str) -> Json:
    return _find(run.get("groups"), "name", group, "group", f"run {run.get('backend')!r}")


def counter_of(run: Json, counter: str) -> Json:
    return _find(run.get("counters"), "name", counter, "counter", f"run {run.get('backend')!r}")


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ExtractError(f"{where} is {value!r}, not a number")
    return float(value)


def _ratio(num: float, den: float, where: str) -> float:
    if den == 0:
        raise ExtractError(f"{where}: division by zero")
    return num / den


# gilsim-side figure builders: each returns an extractor over one report.

def _group_cpu_s(run: Json, backend: str, group: str) -> float:
    """A group's `time_s.cpu`: its cpu steps and the interpreter costs
    charged under the GIL, in seconds."""
    return _number((group_of(run, group).get("time_s") or {}).get("cpu"),
                   f"{backend}/{group}.time_s.cpu")


def wall_ratio(numerator: str, denominator: str) -> Extractor:
    """wall_s of backend `numerator` / wall_s of backend `denominator` (a speed-up)."""
    def extract(report: Json) -> float:
        num = _number(run_of(report, numerator).get("wall_s"), f"{numerator}.wall_s")
        den = _number(run_of(report, denominator).get("wall_s"), f"{denominator}.wall_s")
        return _ratio(num, den, f"{numerator}.wall_s / {denominator}.wall_s")
    return extract


def latency_ms(backend: str, group: str, stat: str) -> Extractor:
    """A group's latency_us statistic (mean, p50, max, ...), in ms."""
    def extract(report: Json) -> float:
        lat = group_of(run_of(report, backend), group).get("latency_us") or {}
        return _number(lat.get(stat), f"{backend}/{group}.latency_us.{stat}") / 1e3
    return extract


def queue_ms(backend: str, group: str, stat: str) -> Extractor:
    """A group's queue_us statistic (due time to the job's start), in ms."""
    def extract(report: Json) -> float:
        q = group_of(run_of(report, backend), group).get("queue_us") or {}
        return _number(q.get(stat), f"{backend}/{group}.queue_us.{stat}") / 1e3
    return extract


def cpu_per_job_us(backend: str, group: str) -> Extractor:
    """A group's CPU time per job, in µs: its cpu steps and every
    interpreter cost charged under the GIL."""
    def extract(report: Json) -> float:
        run = run_of(report, backend)
        cpu = _group_cpu_s(run, backend, group)
        jobs = _number(group_of(run, group).get("jobs"), f"{backend}/{group}.jobs")
        return _ratio(cpu * 1e6, jobs, f"{backend} cpu / jobs")
    return extract


def latency_mean_excess_ms(backend: str, baseline: str, group: str) -> Extractor:
    """Mean latency of `group` under `backend` minus under `baseline`, in ms."""
    with_, without = latency_ms(backend, group, "mean"), latency_ms(baseline, group, "mean")
    return lambda report: with_(report) - without(report)


def counter_field(backend: str, counter: str, field: str) -> Extractor:
    def extract(report: Json) -> float:
        return _number(counter_of(run_of(report, backend), counter).get(field),
                       f"{backend}/counter {counter}.{field}")
    return extract


def counter_lost_fraction(backend: str, counter: str) -> Extractor:
    lost, expected = counter_field(backend, counter, "lost"), counter_field(backend, counter, "expected")
    return lambda report: _ratio(lost(report), expected(report), f"counter {counter}: lost / expected")


def cpu_busy(backend: str, group: str) -> Extractor:
    """A group's CPU time over the run's wall time (about the GIL's busy
    share when every job runs under one GIL)."""
    def extract(report: Json) -> float:
        run = run_of(report, backend)
        cpu = _group_cpu_s(run, backend, group)
        return _ratio(cpu, _number(run.get("wall_s"), f"{backend}.wall_s"), f"{backend} cpu / wall")
    return extract


# CPython-side figure builders: each returns an extractor over the program's JSON.

def py_value(key: str) -> Extractor:
    def extract(out: Json) -> float:
        if key not in out:
            raise ExtractError(f"the CPython program printed no {key!r}")
        return _number(out[key], f"CPython {key}")
    return extract


def py_fraction(key: str, total: str = "expected") -> Extractor:
    part, whole = py_value(key), py_value(total)
    return lambda out: _ratio(part(out), whole(out), f"CPython {key} / {total}")


# --------------------------------------------------------------------------
# The phenomena
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class Figure:
    name: str
    unit: str                 # "x" (speed-up), "ms", "count", or "fraction" (a loss)
    cpython: Extractor        # over the CPython program's JSON
    config: str               # stem of the gilsim config in configs/python/
    gilsim: Extractor         # over that config's gilsim report

    @property
    def is_loss(self) -> bool:
        return self.unit == "fraction"


@dataclass(frozen=True)
class Phenomenon:
    name: str                 # python/NAME.py
    figures: tuple[Figure, ...]
    rounds: int = 1           # interleaved runs of both sides; medians compared when > 1

    @property
    def script(self) -> Path:
        return PYTHON_DIR / f"{self.name}.py"

    @property
    def configs(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f.config for f in self.figures))


# Backend labels looked up in the reports (set by `name` in each config).
THREADS = "python-threads"
SEQUENTIAL = "sequential"
NOGIL = "threads-nogil"


# Rounds of the asyncio_offload case (see PHENOMENA): the median of 7 is its
# 4th value, so up to 3 outlying runs on each side do not move it.
ASYNCIO_ROUNDS = 7


def _speedup(name: str, config: str, backend: str) -> Figure:
    return Figure(name, "x", py_value(name), config, wall_ratio(SEQUENTIAL, backend))


def _loss(variant: str) -> Figure:
    key = f"lost_{variant}"
    return Figure(key, "fraction", py_fraction(key), "counter_race", counter_lost_fraction(THREADS, variant))


def _tick(variant: str, stat: str) -> Figure:
    key = f"{variant}_{stat}_ms"
    return Figure(key, "ms", py_value(key), "asyncio_offload",
                  latency_ms(f"asyncio-{variant}", "ticker", stat))


def _service(backend: str, stat: str) -> Figure:
    key = f"{backend}_{stat}_ms"
    return Figure(key, "ms", py_value(key), "service_knee", latency_ms(backend, "requests", stat))


def _convoy(suffix: str, config: str) -> Figure:
    key = f"penalty_ms_{suffix}"
    return Figure(key, "ms", py_value(key), config, latency_mean_excess_ms(THREADS, NOGIL, "io"))


PHENOMENA: tuple[Phenomenon, ...] = (
    Phenomenon("cpu_threads", (
        _speedup("threads_speedup", "cpu_threads", THREADS),
        _speedup("pool_speedup", "cpu_threads", "multiprocessing-pool"),
    )),
    Phenomenon("io_threads", (_speedup("speedup", "io_threads", THREADS),)),
    Phenomenon("convoy", (_convoy("5ms", "convoy"), _convoy("2_5ms", "convoy_2_5ms"))),
    Phenomenon("counter_race", (
        Figure("expected", "count", py_value("expected"), "counter_race",
               counter_field(THREADS, "plus_equals", "expected")),
        _loss("plus_equals"),
        _loss("plus_call"),
        _loss("locked"),
    )),
    # A share, not a loss figure: both sides lose, and how much is compared.
    Phenomenon("counter_pair", (
        Figure("lost", "share", py_value("lost"), "counter_pair",
               counter_lost_fraction(THREADS, "plus_call")),
    )),
    Phenomenon("native_threads", (_speedup("speedup", "native_threads", THREADS),)),
    # The worst tick is the longest of ~20 GIL waits, each a run of lost
    # hand-offs: one run of CPython on an idle machine gives anything from
    # ~30 to ~140 ms. One run per side cannot be judged against a 0.6-1.6x
    # tolerance, a median of ASYNCIO_ROUNDS interleaved runs can.
    Phenomenon("asyncio_offload", tuple(
        _tick(variant, stat)
        for variant in ("inline", "threadpool", "processpool")
        for stat in ("max", "p50")
    ), rounds=ASYNCIO_ROUNDS),
    # The last two kinds of rows say why the latencies differ: the CPU each
    # request costs (CPython: the whole process's, kernel included; gilsim:
    # the work and the [gil.cost] charges), and the time from a request's
    # due time to its handler's start (gilsim: the job's queue time).
    Phenomenon("service_knee", (
        *(_service(b, stat) for b in ("asyncio", "pool") for stat in ("p50", "p99")),
        *(Figure(f"{b}_busy", "share", py_value(f"{b}_busy"), "service_knee", cpu_busy(b, "requests"))
          for b in ("asyncio", "pool")),
        *(Figure(f"{b}_cpu_us", "us", py_value(f"{b}_cpu_us"), "service_knee", cpu_per_job_us(b, "requests"))
          for b in ("asyncio", "pool")),
        *(Figure(f"{b}_start_p50_ms", "ms", py_value(f"{b}_start_p50_ms"), "service_knee",
                 queue_ms(b, "requests", "p50"))
          for b in ("asyncio", "pool")),
    )),
)


# --------------------------------------------------------------------------
# Comparing
# --------------------------------------------------------------------------

@dataclass
class Row:
    phenomenon: str
    figure: str
    unit: str
    cpython: float | None
    gilsim: float | None
    ratio: float | None = None       # gilsim / CPython, for non-loss figures
    agreement: str | None = None     # for loss figures
    error: str | None = None         # a side ran but its output lacks this figure
    # With several rounds: every round's value per side (cpython and gilsim
    # are then their medians).
    cpython_runs: list[float] | None = None
    gilsim_runs: list[float] | None = None


def loss_agreement(cpython: float, gilsim: float) -> str:
    if cpython == 0 and gilsim == 0:
        return "both 0"
    if cpython > 0 and gilsim > 0:
        return "both > 0"
    return "CPython 0, gilsim > 0" if cpython == 0 else "CPython > 0, gilsim 0"


def _extract(fn: Extractor, data: Json | None, side: str) -> tuple[float | None, str | None]:
    """(value, None), or (None, why) when the output lacks the figure, or (None, None)
    when the side did not run at all (that failure is reported on its own)."""
    if data is None:
        return None, None
    try:
        return fn(data), None
    except ExtractError as exc:
        return None, f"{side}: {exc}"


def compare_figure(phenomenon: str, figure: Figure, py_out: Json | None,
                   reports: dict[str, Json]) -> Row:
    """One row: the figure from the CPython output and from its config's gilsim report."""
    cpy, err_py = _extract(figure.cpython, py_out, "CPython")
    gil, err_gil = _extract(figure.gilsim, reports.get(figure.config), f"gilsim ({figure.config})")
    row = Row(phenomenon, figure.name, figure.unit, cpy, gil,
              error="; ".join(e for e in (err_py, err_gil) if e) or None)
    if cpy is not None and gil is not None:
        if figure.is_loss:
            row.agreement = loss_agreement(cpy, gil)
        elif cpy != 0:
            row.ratio = gil / cpy
    return row


def median(values: Sequence[float]) -> float:
    """The median (the mean of the middle two for an even count)."""
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def compare_rounds(phenomenon: str, figure: Figure, py_outs: Sequence[Json | None],
                   reports: Sequence[dict[str, Json]]) -> Row:
    """One row from several interleaved rounds: each side's median over the
    rounds it completed, and every round's value. One round is compare_figure."""
    if len(py_outs) == 1 and len(reports) == 1:
        return compare_figure(phenomenon, figure, py_outs[0], reports[0])
    rounds = [compare_figure(phenomenon, figure, py, rep) for py, rep in zip(py_outs, reports)]
    cpy = [r.cpython for r in rounds if r.cpython is not None]
    gil = [r.gilsim for r in rounds if r.gilsim is not None]
    errors = dict.fromkeys(r.error for r in rounds if r.error)
    row = Row(phenomenon, figure.name, figure.unit,
              median(cpy) if cpy else None, median(gil) if gil else None,
              error="; ".join(e for e in errors if e) or None,
              cpython_runs=cpy, gilsim_runs=gil)
    if row.cpython is not None and row.gilsim is not None:
        if figure.is_loss:
            row.agreement = loss_agreement(row.cpython, row.gilsim)
        elif row.cpython != 0:
            row.ratio = row.gilsim / row.cpython
    return row


# --------------------------------------------------------------------------
# Running the two sides
# --------------------------------------------------------------------------

def run_json(cmd: Sequence[str], what: str, timeout: float) -> Json:
    """Run cmd and parse its stdout as one JSON object; SideFailure on any problem."""
    try:
        proc = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired as exc:
        raise SideFailure(f"{what}: timed out after {timeout:.0f} s\n{_text(exc.stderr)}") from None
    except OSError as exc:
        raise SideFailure(f"{what}: could not start: {exc}") from None
    if proc.returncode != 0:
        raise SideFailure(f"{what}: exit status {proc.returncode}\n{proc.stderr}")
    try:
        out = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise SideFailure(f"{what}: stdout is not one JSON object ({exc})\n"
                          f"stdout began: {proc.stdout[:300]!r}\n{proc.stderr}") from None
    if not isinstance(out, dict):
        raise SideFailure(f"{what}: stdout is JSON but not an object")
    return out


def _text(data: str | bytes | None) -> str:
    if isinstance(data, bytes):
        return data.decode(errors="replace")
    return data or ""


def run_cpython(ph: Phenomenon) -> Json:
    rel = ph.script.relative_to(ROOT)
    return run_json([sys.executable, str(ph.script)], f"CPython {rel}", PYTHON_TIMEOUT_S)


def run_gilsim(gilsim: Path, config: str) -> Json:
    path = CONFIG_DIR / f"{config}.toml"
    rel = path.relative_to(ROOT)
    return run_json([str(gilsim), "run", str(path), "--format", "json"], f"gilsim {rel}",
                    GILSIM_TIMEOUT_S)


def run_phenomenon(ph: Phenomenon, gilsim: Path, failures: list[str],
                   rounds: int | None = None) -> list[Row]:
    """Runs both sides `rounds` times (default: the phenomenon's own), interleaved."""
    def attempt(fn: Callable[[], Json]) -> Json | None:
        try:
            return fn()
        except SideFailure as exc:
            failures.append(str(exc).rstrip())
            return None

    n = rounds or ph.rounds
    py_outs: list[Json | None] = []
    all_reports: list[dict[str, Json]] = []
    for k in range(n):
        of = f" (round {k + 1} of {n})" if n > 1 else ""
        _progress(f"running {ph.script.relative_to(ROOT)}{of}")
        py_outs.append(attempt(lambda: run_cpython(ph)))
        reports: dict[str, Json] = {}
        for config in ph.configs:
            _progress(f"running gilsim on configs/python/{config}.toml{of}")
            report = attempt(lambda: run_gilsim(gilsim, config))
            if report is not None:
                reports[config] = report
        all_reports.append(reports)
    rows = [compare_rounds(ph.name, fig, py_outs, all_reports) for fig in ph.figures]
    # A side that ran but lacks what a figure needs is a failure too.
    failures.extend(f"{ph.name}/{r.figure}: {r.error}" for r in rows if r.error)
    return rows


def _progress(msg: str) -> None:
    print(f"compare: {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------

def format_value(value: float | None, unit: str) -> str:
    if value is None:
        return "FAILED"
    if unit in ("fraction", "share"):
        return f"{value * 100:.2f}%"
    if unit == "count":
        return f"{value:,.0f}"
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def format_last(row: Row) -> str:
    if row.agreement is not None:
        return row.agreement
    if row.ratio is not None:
        return f"{row.ratio:.3g}"
    return "n/a"


def format_spread(row: Row) -> str:
    """Each side's min-max over its rounds, or "" for a single round."""
    if row.cpython_runs is None and row.gilsim_runs is None:
        return ""

    def side(values: list[float] | None) -> str:
        if not values:
            return "-"
        return f"{format_value(min(values), row.unit)}-{format_value(max(values), row.unit)}"

    n = max(len(row.cpython_runs or ()), len(row.gilsim_runs or ()))
    return f"median of {n}: CPython {side(row.cpython_runs)}, gilsim {side(row.gilsim_runs)}"


def render_table(rows: Sequence[Row]) -> str:
    header: tuple[str, ...] = ("phenomenon", "figure", "unit", "CPython", "gilsim", "gilsim/CPython")
    body = [(r.phenomenon, r.figure, r.unit, format_value(r.cpython, r.unit),
             format_value(r.gilsim, r.unit), format_last(r)) for r in rows]
    if any(format_spread(r) for r in rows):
        header += ("spread",)
        body = [(*b, format_spread(r)) for b, r in zip(body, rows)]
    widths = [max(len(line[i]) for line in (header, *body)) for i in range(len(header))]
    numeric = {3, 4, 5}

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if i in numeric else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(b) for b in body)])


def render_json(rows: Sequence[Row], failures: Sequence[str]) -> str:
    def finite(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return None
        return [finite(x) for x in v] if isinstance(v, list) else v

    def clean(row: Row) -> Json:
        return {k: finite(v) for k, v in asdict(row).items()}
    return json.dumps({"rows": [clean(r) for r in rows], "failures": list(failures)}, indent=2)


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------

def select(names: Sequence[str] | None, parser: argparse.ArgumentParser) -> list[Phenomenon]:
    """Phenomena named on the command line (a phenomenon or one of its config stems)."""
    if not names:
        return list(PHENOMENA)
    by_name = {ph.name: ph for ph in PHENOMENA}
    by_name.update({cfg: ph for ph in PHENOMENA for cfg in ph.configs})
    unknown = [n for n in names if n not in by_name]
    if unknown:
        parser.error(f"unknown phenomenon {', '.join(unknown)}; choose from: "
                     f"{', '.join(ph.name for ph in PHENOMENA)}")
    return list(dict.fromkeys(by_name[n] for n in names))


def parse_args(argv: Sequence[str] | None) -> tuple[argparse.Namespace, list[Phenomenon]]:
    parser = argparse.ArgumentParser(
        prog="compare.py",
        description="Run the CPython reference programs in python/ and the matching gilsim "
                    "configs in configs/python/, and compare their figures.")
    parser.add_argument("--gilsim", metavar="PATH", type=Path, default=DEFAULT_GILSIM,
                        help="the gilsim binary (default: target/release/gilsim in the repository)")
    parser.add_argument("--only", metavar="NAME", nargs="+",
                        help="run only these phenomena: " + ", ".join(ph.name for ph in PHENOMENA))
    parser.add_argument("--rounds", metavar="N", type=int,
                        help="run both sides N times, interleaved, and compare medians "
                             "(default: 1, and %d for asyncio_offload)" % ASYNCIO_ROUNDS)
    parser.add_argument("--json", action="store_true", help="print the table as JSON")
    args = parser.parse_args(argv)
    if args.rounds is not None and args.rounds < 1:
        parser.error("--rounds must be at least 1")
    return args, select(args.only, parser)


def main(argv: Sequence[str] | None = None) -> int:
    args, phenomena = parse_args(argv)
    gilsim: Path = args.gilsim
    if not (gilsim.is_file() and os.access(gilsim, os.X_OK)):
        print(f"compare: gilsim binary not found at {gilsim}.\n"
              f"Build it first with `cargo build --release` in {ROOT}, "
              f"or pass --gilsim PATH.", file=sys.stderr)
        return 1

    rows: list[Row] = []
    failures: list[str] = []
    for ph in phenomena:
        rows.extend(run_phenomenon(ph, gilsim, failures, args.rounds))

    print(render_json(rows, failures) if args.json else render_table(rows))
    for failure in failures:
        print(f"\ncompare: FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
