"""Tests for python/asyncio_loop_model.py (stdlib unittest).

Run from the repository root:
    python3 -m unittest discover -s python -p 'test_*.py' -v
"""

from __future__ import annotations

import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import asyncio_loop_model as m  # noqa: E402


def hand_service() -> m.Service:
    """Three requests at 0, 0.5 and 2.2 s; each a 2 s reply then 1 s of
    work; nothing else costs anything."""
    return m.Service(
        due=[0.0, 0.5, 2.2], io=2.0, work=1.0, task=0.0, io_call=0.0, resume=0.0, hop=0.0
    )


class WorkedByHand(unittest.TestCase):
    """Request C arrives while A's work runs, and B's reply comes in
    before that work ends: who goes first at t = 3 decides C's latency."""

    def latencies(self, scheduler: str, path: str) -> list[float]:
        return sorted(m.simulate(hand_service(), scheduler, path).latency)

    def test_the_readers_extra_handle_puts_c_behind_bs_work_on_asyncio(self):
        # At 3 the selector reports C's request and B's reply together;
        # their callbacks run in that order, but C's reader step schedules
        # the handler one iteration later, behind B's resumption (3 -> 4).
        self.assertEqual(self.latencies("asyncio", "reader"), [3.0, 3.5, 4.8])

    def test_with_as_many_handles_for_a_request_as_for_a_reply_c_goes_first(self):
        self.assertEqual(self.latencies("asyncio", "direct"), [3.0, 3.5, 3.8])
        self.assertEqual(self.latencies("fifo", "direct"), [3.0, 3.5, 3.8])

    def test_fifo_puts_the_readers_spawn_behind_bs_reply(self):
        self.assertEqual(self.latencies("fifo", "reader"), [3.0, 3.5, 4.8])

    def test_tokio_runs_its_local_queue_before_polling_the_driver(self):
        # The reader's spawn lands in the local queue and runs before the
        # driver is polled for B's reply, so the reader costs C nothing.
        self.assertEqual(self.latencies("tokio", "reader"), [3.0, 3.5, 3.8])
        self.assertEqual(self.latencies("tokio", "direct"), [3.0, 3.5, 3.8])


class NearSaturation(unittest.TestCase):
    """service_knee's load, 20,000 requests (deterministic for the seed)."""

    @classmethod
    def setUpClass(cls):
        s = m.Service(jobs=20_000)
        cls.rows = {
            (sch, path): m.simulate(s, sch, path) for sch in m.SCHEDULERS for path in m.PATHS
        }

    def p50(self, sch: str, path: str) -> float:
        return m.pct(self.rows[(sch, path)].latency, 0.5)

    def test_every_request_completes(self):
        for key, r in self.rows.items():
            self.assertEqual(len(r.latency), 20_000, key)

    def test_asyncio_with_equal_handle_counts_orders_as_fifo(self):
        a = self.rows[("asyncio", "direct")].latency
        f = self.rows[("fifo", "direct")].latency
        self.assertEqual(len(a), len(f))
        for x, y in zip(sorted(a), sorted(f)):
            self.assertAlmostEqual(x, y, places=12)

    def test_the_reader_slows_asyncio_but_not_tokio(self):
        self.assertGreater(self.p50("asyncio", "reader"), 1.10 * self.p50("asyncio", "direct"))
        self.assertLess(
            abs(self.p50("tokio", "reader") / self.p50("tokio", "direct") - 1.0), 0.05
        )

    def test_no_request_is_faster_than_its_round_trip_and_cpu(self):
        floor = (2.035e-3 + 553e-6) * 1e3
        for key, r in self.rows.items():
            self.assertGreaterEqual(m.pct(r.latency, 0.0), floor - 1e-9, key)
            self.assertGreaterEqual(min(r.start), 0.0, key)
            self.assertGreaterEqual(min(r.resume_wait), 0.0, key)


class Arguments(unittest.TestCase):
    def test_unknown_names_are_refused(self):
        with self.assertRaises(ValueError):
            m.simulate(hand_service(), "trio", "direct")
        with self.assertRaises(ValueError):
            m.simulate(hand_service(), "asyncio", "socket")


if __name__ == "__main__":
    unittest.main()
