"""Tests for python/compare.py (stdlib unittest; no gilsim binary needed).

Run from the repository root:
    python3 -m unittest discover -s python -p 'test_*.py' -v
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import tempfile
import tomllib
import unittest
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent))

import compare  # noqa: E402


def latency(mean: float, p50: float | None = None, mx: float | None = None) -> dict:
    p50 = mean if p50 is None else p50
    mx = mean if mx is None else mx
    return {"min": p50 * 0.9, "mean": mean, "p50": p50, "p90": mx, "p99": mx, "p999": mx, "max": mx}


def group(name: str, jobs: int, lat: dict) -> dict:
    return {
        "name": name, "jobs": jobs, "latency_us": lat, "queue_us": latency(0), "service_us": lat,
        "time_s": {"cpu": 0, "native": 0, "io": 0, "gil_wait": 0, "lock_wait": 0},
    }


def run(backend: str, wall_s: float, groups: list, counters: list | None = None,
        kind: str = "threads", gil: bool = True) -> dict:
    return {
        "backend": backend, "kind": kind, "gil": gil, "workers": 0, "wall_s": wall_s,
        "jobs": sum(g["jobs"] for g in groups), "throughput_per_s": 1.0, "cpu_utilization": 0.5,
        "groups": groups,
        "gil": ({"acquisitions": 1, "forced_switches": 0, "wait_s": 0,
                 "hold_us": {"p50": 1, "p99": 1, "max": 1}} if gil else None),
        "counters": counters or [],
    }


def report(config: str, runs: list) -> dict:
    return {"gilsim": "0.1.0", "config": config, "seed": 1,
            "machine": {"cores": 2, "cpu_kernel_iters_per_us": 300.0}, "runs": runs}


# Canned, SPEC section 4-shaped reports, as gilsim would print them.
CONVOY = report("convoy", [
    run("python-threads", 2.05, [group("cpu", 1, latency(2.05e6)),
                                 group("io", 200, latency(6150.0, 6100.0, 7000.0))]),
    run("threads-nogil", 2.0, [group("cpu", 1, latency(2.0e6)),
                               group("io", 200, latency(1080.0))], gil=False),
])
CPU_THREADS = report("cpu_threads", [
    run("sequential", 0.80, [group("cpu", 4, latency(5e5))]),
    run("python-threads", 0.82, [group("cpu", 4, latency(8e5))]),
    run("multiprocessing-pool", 0.40, [group("cpu", 4, latency(4e5))], kind="rayon", gil=False),
])
COUNTER_RACE = report("counter_race", [
    run("python-threads", 0.1, [group(g, 4, latency(1e4)) for g in ("plus_equals", "plus_call", "locked")],
        counters=[
            {"name": "plus_equals", "expected": 800000, "observed": 800000, "lost": 0},
            {"name": "plus_call", "expected": 800000, "observed": 600000, "lost": 200000},
            {"name": "locked", "expected": 800000, "observed": 800000, "lost": 0},
        ]),
])
ASYNCIO = report("asyncio_offload", [
    run(f"asyncio-{v}", 0.6, [group("ticker", 200, latency(3000.0, p50, mx)), group("cpu", 4, latency(2e5))],
        kind="tokio")
    for v, p50, mx in (("inline", 1100.0, 400_000.0), ("threadpool", 1100.0, 40_000.0),
                       ("processpool", 1050.0, 2_000.0))
])


def figure(phenomenon: str, name: str) -> compare.Figure:
    ph = next(p for p in compare.PHENOMENA if p.name == phenomenon)
    return next(f for f in ph.figures if f.name == name)


class GilsimExtractors(unittest.TestCase):
    def test_convoy_penalty_is_mean_excess_over_the_nogil_run(self):
        self.assertAlmostEqual(figure("convoy", "penalty_ms_5ms").gilsim(CONVOY), 5.07)

    def test_convoy_figures_read_their_own_configs(self):
        self.assertEqual(compare.PHENOMENA[2].configs, ("convoy", "convoy_2_5ms"))
        self.assertEqual(figure("convoy", "penalty_ms_2_5ms").config, "convoy_2_5ms")

    def test_speedups_are_wall_ratios_against_sequential(self):
        self.assertAlmostEqual(figure("cpu_threads", "threads_speedup").gilsim(CPU_THREADS), 0.80 / 0.82)
        self.assertAlmostEqual(figure("cpu_threads", "pool_speedup").gilsim(CPU_THREADS), 2.0)

    def test_counter_expected_and_lost_fractions(self):
        self.assertEqual(figure("counter_race", "expected").gilsim(COUNTER_RACE), 800000)
        self.assertEqual(figure("counter_race", "lost_plus_equals").gilsim(COUNTER_RACE), 0)
        self.assertAlmostEqual(figure("counter_race", "lost_plus_call").gilsim(COUNTER_RACE), 0.25)
        self.assertEqual(figure("counter_race", "lost_locked").gilsim(COUNTER_RACE), 0)

    def test_asyncio_ticker_stats_in_ms(self):
        self.assertAlmostEqual(figure("asyncio_offload", "inline_max_ms").gilsim(ASYNCIO), 400.0)
        self.assertAlmostEqual(figure("asyncio_offload", "threadpool_max_ms").gilsim(ASYNCIO), 40.0)
        self.assertAlmostEqual(figure("asyncio_offload", "processpool_p50_ms").gilsim(ASYNCIO), 1.05)

    def test_service_rows_read_cpu_per_job_and_queue_time(self):
        served = group("requests", 1000, latency(4000.0))
        served["time_s"]["cpu"] = 0.55           # 550 µs of charged CPU a job
        served["queue_us"] = latency(800.0, 700.0)
        rep = report("service_knee", [run("asyncio", 1.0, [served]), run("pool", 1.0, [served])])
        self.assertAlmostEqual(figure("service_knee", "pool_cpu_us").gilsim(rep), 550.0)
        self.assertAlmostEqual(figure("service_knee", "asyncio_start_p50_ms").gilsim(rep), 0.7)
        self.assertAlmostEqual(figure("service_knee", "pool_busy").gilsim(rep), 0.55)

    def test_missing_backend_names_the_labels_present(self):
        with self.assertRaisesRegex(compare.ExtractError, r"'multiprocessing-pool'.*'sequential'"):
            figure("cpu_threads", "pool_speedup").gilsim(report("cpu_threads", CPU_THREADS["runs"][:2]))

    def test_missing_group_and_counter(self):
        with self.assertRaisesRegex(compare.ExtractError, r"no group 'io' in run 'python-threads'"):
            figure("convoy", "penalty_ms_5ms").gilsim(report("convoy", [
                run("python-threads", 1.0, [group("cpu", 1, latency(1.0))])]))
        no_counters = report("counter_race", [run("python-threads", 0.1, [])])
        with self.assertRaisesRegex(compare.ExtractError, r"no counter 'plus_call'.*\(has: none\)"):
            figure("counter_race", "lost_plus_call").gilsim(no_counters)

    def test_non_numeric_field_is_an_error(self):
        broken = json.loads(json.dumps(CPU_THREADS))
        broken["runs"][0]["wall_s"] = None
        with self.assertRaisesRegex(compare.ExtractError, "sequential.wall_s"):
            figure("cpu_threads", "threads_speedup").gilsim(broken)


class CPythonExtractors(unittest.TestCase):
    def test_plain_and_fraction(self):
        out = {"expected": 800000, "lost_plus_call": 200000.0, "threads_speedup": 0.99}
        self.assertEqual(figure("cpu_threads", "threads_speedup").cpython(out), 0.99)
        self.assertAlmostEqual(figure("counter_race", "lost_plus_call").cpython(out), 0.25)

    def test_missing_key(self):
        with self.assertRaisesRegex(compare.ExtractError, "no 'speedup'"):
            figure("io_threads", "speedup").cpython({})


class Rows(unittest.TestCase):
    def test_ratio_row(self):
        row = compare.compare_figure("cpu_threads", figure("cpu_threads", "pool_speedup"),
                                     {"pool_speedup": 2.5}, {"cpu_threads": CPU_THREADS})
        self.assertAlmostEqual(row.ratio, 0.8)
        self.assertIsNone(row.agreement)
        self.assertIsNone(row.error)

    def test_loss_rows_report_agreement_not_ratio(self):
        out = {"expected": 800000, "lost_plus_equals": 0, "lost_plus_call": 150000, "lost_locked": 10}
        rows = {f.name: compare.compare_figure("counter_race", f, out, {"counter_race": COUNTER_RACE})
                for f in compare.PHENOMENA[3].figures}
        self.assertEqual(rows["lost_plus_equals"].agreement, "both 0")
        self.assertEqual(rows["lost_plus_call"].agreement, "both > 0")
        self.assertEqual(rows["lost_locked"].agreement, "CPython > 0, gilsim 0")
        self.assertTrue(all(rows[k].ratio is None for k in rows if k.startswith("lost_")))
        self.assertEqual(rows["expected"].ratio, 1.0)

    def test_agreement_both_ways(self):
        self.assertEqual(compare.loss_agreement(0, 0.1), "CPython 0, gilsim > 0")
        self.assertEqual(compare.loss_agreement(0.2, 0.1), "both > 0")

    def test_failed_side_gives_no_value_and_no_extra_error(self):
        row = compare.compare_figure("io_threads", figure("io_threads", "speedup"), None, {})
        self.assertEqual((row.cpython, row.gilsim, row.ratio, row.error), (None, None, None, None))
        self.assertIn("FAILED", compare.render_table([row]))

    def test_zero_cpython_value_has_no_ratio(self):
        row = compare.compare_figure("convoy", figure("convoy", "penalty_ms_5ms"),
                                     {"penalty_ms_5ms": 0}, {"convoy": CONVOY})
        self.assertIsNone(row.ratio)
        self.assertIn("n/a", compare.render_table([row]))

    def test_table_and_json_render(self):
        row = compare.compare_figure("counter_race", figure("counter_race", "lost_plus_call"),
                                     {"expected": 800000, "lost_plus_call": 80000},
                                     {"counter_race": COUNTER_RACE})
        table = compare.render_table([row])
        self.assertIn("10.00%", table)
        self.assertIn("25.00%", table)
        self.assertIn("both > 0", table)
        data = json.loads(compare.render_json([row], ["x failed"]))
        self.assertEqual(data["rows"][0]["agreement"], "both > 0")
        self.assertEqual(data["failures"], ["x failed"])


class Rounds(unittest.TestCase):
    """Several interleaved rounds: medians compared, each side's spread shown."""

    @staticmethod
    def asyncio_report(max_ms: float) -> dict:
        rep = json.loads(json.dumps(ASYNCIO))
        run_of = {r["backend"]: r for r in rep["runs"]}
        run_of["asyncio-threadpool"]["groups"][0]["latency_us"]["max"] = max_ms * 1e3
        return rep

    def test_medians_and_every_rounds_value(self):
        fig = figure("asyncio_offload", "threadpool_max_ms")
        py = [{"threadpool_max_ms": v} for v in (30.0, 110.0, 50.0)]
        reps = [{"asyncio_offload": self.asyncio_report(v)} for v in (90.0, 60.0, 70.0)]
        row = compare.compare_rounds("asyncio_offload", fig, py, reps)
        self.assertEqual((row.cpython, row.gilsim), (50.0, 70.0))
        self.assertAlmostEqual(row.ratio, 70.0 / 50.0)
        self.assertEqual(row.cpython_runs, [30.0, 110.0, 50.0])
        self.assertEqual(row.gilsim_runs, [90.0, 60.0, 70.0])
        table = compare.render_table([row])
        self.assertIn("median of 3: CPython 30-110, gilsim 60-90", table)
        self.assertEqual(json.loads(compare.render_json([row], []))["rows"][0]["gilsim_runs"],
                         [90.0, 60.0, 70.0])

    def test_a_failed_round_is_left_out_of_its_sides_median(self):
        fig = figure("asyncio_offload", "threadpool_max_ms")
        py = [{"threadpool_max_ms": 40.0}, None, {"threadpool_max_ms": 60.0}]
        reps = [{"asyncio_offload": self.asyncio_report(v)} for v in (10.0, 20.0, 30.0)]
        row = compare.compare_rounds("asyncio_offload", fig, py, reps)
        self.assertEqual((row.cpython, row.gilsim), (50.0, 20.0))
        self.assertIsNone(row.error)

    def test_one_round_is_a_plain_row_without_a_spread_column(self):
        row = compare.compare_rounds("cpu_threads", figure("cpu_threads", "pool_speedup"),
                                     [{"pool_speedup": 2.5}], [{"cpu_threads": CPU_THREADS}])
        self.assertIsNone(row.cpython_runs)
        self.assertNotIn("spread", compare.render_table([row]))

    def test_sides_run_interleaved_round_by_round(self):
        ph = next(p for p in compare.PHENOMENA if p.name == "asyncio_offload")
        self.assertGreater(ph.rounds, 1)
        calls: list[str] = []

        def cpython(_ph):
            calls.append("cpython")
            return {"threadpool_max_ms": 50.0}

        def gilsim(_path, config):
            calls.append("gilsim")
            return self.asyncio_report(60.0)

        with mock.patch.object(compare, "run_cpython", cpython), \
                mock.patch.object(compare, "run_gilsim", gilsim), \
                contextlib.redirect_stderr(io.StringIO()):
            rows = compare.run_phenomenon(ph, Path("gilsim"), [], rounds=3)
        self.assertEqual(calls, ["cpython", "gilsim"] * 3)
        row = next(r for r in rows if r.figure == "threadpool_max_ms")
        self.assertEqual(len(row.cpython_runs), 3)

    def test_rounds_must_be_positive(self):
        with contextlib.redirect_stderr(io.StringIO()), self.assertRaises(SystemExit) as exc:
            compare.parse_args(["--rounds", "0"])
        self.assertEqual(exc.exception.code, 2)


# --------------------------------------------------------------------------
# The configs in configs/python/ must provide every label the extractors use,
# and use only the keys of SPEC section 2 (gilsim rejects unknown keys).
# --------------------------------------------------------------------------

TOP_KEYS = {"name", "description", "seed", "gil", "backend", "group"}
GIL_KEYS = {"switch_interval", "tick", "counter_inside_share", "timer_slack", "cost"}  # gilsim adds the last three (docs/gil.md)
BACKEND_KEYS = {"kind", "gil", "name", "workers", "flavor", "cpu_mode"}
GROUP_KEYS = {"name", "jobs", "arrival", "steps"}
PLAIN_STEPS = [{"cpu"}, {"native"}, {"io"}, {"lock", "cpu"}, {"repeat", "steps"}]
COUNTER_STEP = {"counter", "add", "guard", "switch_inside"}


def step_is_spec_shaped(step: dict) -> bool:
    keys = set(step)
    return keys in PLAIN_STEPS or {"counter", "add"} <= keys <= COUNTER_STEP


def load_config(stem: str) -> dict:
    with open(compare.CONFIG_DIR / f"{stem}.toml", "rb") as fh:
        return tomllib.load(fh)


def iter_steps(steps):
    for step in steps:
        yield step
        yield from iter_steps(step.get("steps", []))


def synthetic_report(stem: str) -> dict:
    """A SPEC-shaped report with the backends, groups and counters the config declares."""
    cfg = load_config(stem)
    groups = [group(g["name"], g.get("jobs", 1), latency(1000.0 + i)) for i, g in enumerate(cfg["group"])]
    counters = [{"name": s["counter"], "expected": 4 * s["add"], "observed": 4 * s["add"], "lost": 0}
                for g in cfg["group"] for s in iter_steps(g["steps"]) if "counter" in s]
    runs = [run(b["name"], 1.0 + i, groups, counters, kind=b["kind"], gil=b.get("gil", False))
            for i, b in enumerate(cfg["backend"])]
    return report(cfg.get("name", stem), runs)


ALL_CONFIGS = sorted({f.config for ph in compare.PHENOMENA for f in ph.figures})


class Configs(unittest.TestCase):
    def test_every_config_and_script_exists(self):
        for ph in compare.PHENOMENA:
            self.assertTrue(ph.script.is_file(), ph.script)
        on_disk = sorted(p.stem for p in compare.CONFIG_DIR.glob("*.toml"))
        self.assertEqual(on_disk, ALL_CONFIGS)

    def test_configs_use_only_spec_keys(self):
        for stem in ALL_CONFIGS:
            with self.subTest(config=stem):
                text = (compare.CONFIG_DIR / f"{stem}.toml").read_text()
                self.assertTrue(text.startswith("#"), "starts with a comment block")
                cfg = load_config(stem)
                self.assertEqual(cfg["name"], stem)
                self.assertLessEqual(set(cfg), TOP_KEYS)
                self.assertLessEqual(set(cfg.get("gil", {})), GIL_KEYS)
                labels = [b["name"] for b in cfg["backend"]]
                self.assertEqual(len(labels), len(set(labels)), "backend labels are unique")
                for b in cfg["backend"]:
                    self.assertLessEqual(set(b), BACKEND_KEYS)
                    self.assertIn(b["kind"], {"threads", "rayon", "tokio", "async-std"})
                for g in cfg["group"]:
                    self.assertLessEqual(set(g), GROUP_KEYS)
                    for step in iter_steps(g["steps"]):
                        self.assertTrue(step_is_spec_shaped(step), step)

    def test_every_figure_extracts_from_its_config(self):
        for ph in compare.PHENOMENA:
            for fig in ph.figures:
                with self.subTest(phenomenon=ph.name, figure=fig.name):
                    value = fig.gilsim(synthetic_report(fig.config))
                    self.assertIsInstance(value, float)


# --------------------------------------------------------------------------
# The command line, with a fake gilsim that prints canned reports.
# --------------------------------------------------------------------------

class CommandLine(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)

    def fake_gilsim(self, body: str) -> Path:
        path = Path(self.tmp.name) / "gilsim"
        path.write_text(f"#!{sys.executable}\nimport json, sys, pathlib\n{body}\n")
        path.chmod(0o755)
        return path

    def reporting_gilsim(self) -> Path:
        reports = Path(self.tmp.name) / "reports.json"
        reports.write_text(json.dumps({stem: synthetic_report(stem) for stem in ALL_CONFIGS}))
        return self.fake_gilsim(
            "assert sys.argv[1] == 'run' and sys.argv[3:] == ['--format', 'json'], sys.argv\n"
            f"print(json.dumps(json.load(open({str(reports)!r}))[pathlib.Path(sys.argv[2]).stem]))")

    def main(self, *argv: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = compare.main(list(argv))
            except SystemExit as exc:
                code = exc.code
        return code, out.getvalue(), err.getvalue()

    def test_unknown_phenomenon_is_usage_error(self):
        code, _, err = self.main("--only", "nope")
        self.assertEqual(code, 2)
        self.assertIn("unknown phenomenon nope", err)

    def test_missing_binary_says_how_to_build(self):
        code, out, err = self.main("--gilsim", str(Path(self.tmp.name) / "absent"), "--only", "convoy")
        self.assertEqual(code, 1)
        self.assertEqual(out, "")
        self.assertIn("cargo build --release", err)

    def test_config_stem_selects_its_phenomenon(self):
        parser = mock.Mock()
        self.assertEqual([p.name for p in compare.select(["convoy_2_5ms", "convoy"], parser)], ["convoy"])

    def test_end_to_end_with_a_real_cpython_program(self):
        code, out, err = self.main("--gilsim", str(self.reporting_gilsim()), "--only", "io_threads", "--json")
        self.assertEqual(code, 0, err)
        (row,) = json.loads(out)["rows"]
        self.assertEqual((row["phenomenon"], row["figure"]), ("io_threads", "speedup"))
        self.assertGreater(row["cpython"], 8)        # 16 sleeping threads overlap under the GIL
        self.assertAlmostEqual(row["gilsim"], 1.0 / 2.0)  # synthetic walls: sequential 1.0, threads 2.0
        self.assertIsNotNone(row["ratio"])

    def test_failing_gilsim_is_reported_with_its_stderr(self):
        gilsim = self.fake_gilsim("sys.stderr.write('error: boom at line 3\\n'); sys.exit(2)")
        with mock.patch.object(compare, "run_cpython", return_value={"penalty_ms_5ms": 5.0,
                                                                     "penalty_ms_2_5ms": 2.5}):
            code, out, err = self.main("--gilsim", str(gilsim), "--only", "convoy")
        self.assertEqual(code, 1)
        self.assertIn("FAILED", out)
        self.assertIn("gilsim configs/python/convoy.toml: exit status 2", err)
        self.assertIn("boom at line 3", err)

    def test_report_missing_a_backend_fails_the_run(self):
        gilsim = self.fake_gilsim(f"print(json.dumps({json.dumps(report('convoy', []))}))")
        with mock.patch.object(compare, "run_cpython", return_value={"penalty_ms_5ms": 5.0,
                                                                     "penalty_ms_2_5ms": 2.5}):
            code, _, err = self.main("--gilsim", str(gilsim), "--only", "convoy")
        self.assertEqual(code, 1)
        self.assertIn("no backend 'python-threads' in runs[]", err)

    def test_table_output_with_canned_sides(self):
        canned = {"expected": 800000, "lost_plus_equals": 0, "lost_plus_call": 1000.0, "lost_locked": 0}
        with mock.patch.object(compare, "run_cpython", return_value=canned):
            code, out, err = self.main("--gilsim", str(self.reporting_gilsim()), "--only", "counter_race")
        self.assertEqual(code, 0, err)
        lines = out.splitlines()
        self.assertTrue(lines[0].startswith("phenomenon"))
        self.assertEqual(len(lines), 2 + 4)
        self.assertIn("both 0", out)
        self.assertIn("CPython > 0, gilsim 0", out)


if __name__ == "__main__":
    unittest.main()
