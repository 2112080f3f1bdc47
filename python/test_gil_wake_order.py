"""Tests for the hand-off statistic of python/gil_wake_order.py (stdlib unittest)."""

from __future__ import annotations

import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gil_wake_order import longest_waiter_fraction  # noqa: E402


class LongestWaiterFraction(unittest.TestCase):
    def test_round_robin_is_one(self):
        self.assertEqual(longest_waiter_fraction([0, 1, 2, 3] * 10), 1.0)

    def test_ping_pong_between_two_of_four_is_zero(self):
        # 2 and 3 held the GIL once and then waited forever: every later
        # hand-off skipped the longest waiter.
        self.assertEqual(longest_waiter_fraction([2, 3] + [0, 1] * 10), 0.0)

    def test_repeated_holds_by_one_thread_are_one_hold(self):
        self.assertEqual(longest_waiter_fraction([0, 0, 1, 1, 2, 0, 1, 2]), 1.0)

    def test_counts_only_once_every_thread_has_run(self):
        # [0, 1, 2]: the hand-off to 0 is the only one counted, and 0 had
        # waited longest.
        self.assertEqual(longest_waiter_fraction([0, 1, 2, 0]), 1.0)
        self.assertIsNone(longest_waiter_fraction([0, 1, 2]))

    def test_a_mixed_sequence(self):
        # After 0 1 2: to 1 (longest was 0: miss), to 0 (longest 0: hit).
        self.assertEqual(longest_waiter_fraction([0, 1, 2, 1, 0]), 0.5)


if __name__ == "__main__":
    unittest.main()
