"""Lost updates on a shared counter under the GIL (CPython 3.11).

Measures 4 threads, each doing 200_000 increments of one global counter
(started together on a threading.Barrier), in three variants:

  * `counter += 1`             -- no loss expected on CPython 3.10+;
  * `counter = counter + f()`  with `def f(): return 1` -- losses expected;
  * `with lock: counter = counter + f()` (threading.Lock) -- no loss.

CPython behaviour shown: the GIL makes single bytecodes atomic, not Python
statements. A thread is only asked to drop the GIL at eval-breaker checks
(function entry, backward jumps). `counter += 1` compiles to
LOAD_GLOBAL / BINARY_OP / STORE_GLOBAL with no check in between, so since 3.10
no switch can split the read from the write. `counter + f()` calls a Python
function between the read and the write; entering f() is a check point, so a
switch can fall there and the thread later writes back a stale value, wiping
out every increment the other threads made meanwhile. A Lock makes the
read-modify-write a critical section again.

Figures: expected (4 x 200_000), lost_plus_equals, lost_plus_call,
lost_locked (expected - observed for each variant). Whether a race hits
depends on where the few forced switches of a ~35 ms run happen to fall (in
about one run in five none falls inside f()), so the two unlocked variants
are run ROUNDS times and lost_* is the mean loss per round; per_round has
every round. The locked variant cannot lose and is slow (every increment
hands a contended Lock around), so it runs once.
Mirrored by configs/python/counter_race.toml.
"""

from __future__ import annotations

import threading

from _common import emit

THREADS = 4
INCREMENTS = 200_000
ROUNDS = 5

counter = 0
lock = threading.Lock()


def f() -> int:
    return 1


def plus_equals(n: int) -> None:
    global counter
    for _ in range(n):
        counter += 1


def plus_call(n: int) -> None:
    global counter
    for _ in range(n):
        counter = counter + f()


def locked(n: int) -> None:
    global counter
    for _ in range(n):
        with lock:
            counter = counter + f()


def lost(body) -> int:
    """Run `body` on THREADS threads at once; return how many increments were lost."""
    global counter
    counter = 0
    barrier = threading.Barrier(THREADS)

    def worker() -> None:
        barrier.wait()
        body(INCREMENTS)

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return THREADS * INCREMENTS - counter


def main() -> None:
    variants = {"plus_equals": (plus_equals, ROUNDS), "plus_call": (plus_call, ROUNDS), "locked": (locked, 1)}
    per_round = {name: [lost(body) for _ in range(rounds)] for name, (body, rounds) in variants.items()}
    figures: dict[str, object] = {
        "threads": THREADS,
        "increments_per_thread": INCREMENTS,
        "rounds": ROUNDS,
        "expected": THREADS * INCREMENTS,
    }
    for name, losses in per_round.items():
        figures[f"lost_{name}"] = sum(losses) / len(losses)
    figures["per_round"] = per_round
    emit(figures)


if __name__ == "__main__":
    main()
