"""Tests for python/service_knee.py's CPU work (stdlib unittest).

Run from the repository root:
    python3 -m unittest discover -s python -p 'test_*.py' -v
"""

from __future__ import annotations

import sys
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import service_knee  # noqa: E402


class WorkByCpuClock(unittest.TestCase):
    def test_each_call_uses_its_cpu_time_and_is_recorded(self):
        work = service_knee.Work(0.002)
        for _ in range(20):
            t = time.thread_time()
            work()
            used = time.thread_time() - t
            # Never short of the work; over it by at most a chunk and a
            # check (generous: a shared machine can stall a chunk).
            self.assertGreaterEqual(used, 0.002)
            self.assertLess(used, 0.002 * 1.5)
        mean = work.mean_us()
        self.assertGreaterEqual(mean, 2000.0)
        self.assertLess(mean, 3000.0)
        self.assertEqual(work.mean_us(), 0.0, "mean_us forgets the calls it reported")

    def test_a_wrong_calibration_is_followed(self):
        work = service_knee.Work(0.002)
        work.per_s *= 3            # as if the interpreter had slowed to a third
        for _ in range(30):
            work()
        work.mean_us()
        for _ in range(10):
            t = time.thread_time()
            work()
            self.assertLess(time.thread_time() - t, 0.002 * 1.5)


if __name__ == "__main__":
    unittest.main()
