//! Virtual cores: egalitarian processor sharing.
//!
//! With `k` threads runnable on `n` cores, each progresses at rate
//! `min(1, n/k)`: every runnable thread gets an equal share, and no thread
//! runs faster than one core. That is what Linux's fair scheduler converges
//! to over a few milliseconds, and it is the model chosen here (over
//! round-robin with a time slice) because:
//! - it needs no slice events: a 64-core run with thousands of threads would
//!   otherwise spend most of its events rescheduling slices;
//! - every operation is O(log k): the shares are tracked as one global
//!   "attained service" clock `s` (what each runnable thread has received
//!   so far), and a thread's CPU segment ends when `s` reaches its start
//!   value plus its work, so a priority queue keyed by that value (a
//!   calendar queue, `calendar.rs`, positioned by the value's whole part)
//!   gives the next completion however often `k` changes;
//! - it does not invent a slice length that the real kernel does not have
//!   (CFS's slices depend on load and wake-up preemption).
//!
//! What it gives up: the slice-level jitter of a real scheduler (a thread
//! that wakes when every core is busy waits for a tick there; here it starts
//! at once at a reduced rate). docs/model.md discusses the effect.

use super::calendar::Calendar;
use super::clock::Ns;
use crate::plan::dist::{f64_to_u64, u64_to_f64};

/// The heap key of a pending completion: attained service `at_s`, then
/// thread id, then generation, packed into one `u128` whose integer order
/// is exactly `(at_s.total_cmp, tid, gen)` (the order the model has always
/// used), so ties between threads finishing at the same service resolve
/// deterministically and a comparison is one integer compare.
#[inline]
fn finish_key(at_s: f64, tid: u32, gen: u32) -> u128 {
    (u128::from(total_order_bits(at_s)) << 64) | (u128::from(tid) << 32) | u128::from(gen)
}

/// The `(at_s, tid, gen)` of a [`finish_key`].
#[inline]
fn finish_of(key: u128) -> (f64, u32, u32) {
    let (tid, gen) = thread_of(key);
    (from_total_order_bits((key >> 64) as u64), tid, gen)
}

/// The `(tid, gen)` of a [`finish_key`], without decoding its time.
#[inline]
fn thread_of(key: u128) -> (u32, u32) {
    ((key >> 32) as u32, key as u32)
}

/// `x`'s bits mapped so that unsigned integer order is `f64::total_cmp`'s
/// order (the same transform `total_cmp` applies, then the sign bit
/// flipped to turn signed order into unsigned).
#[inline]
fn total_order_bits(x: f64) -> u64 {
    let b = x.to_bits() as i64;
    let t = b ^ ((((b >> 63) as u64) >> 1) as i64);
    (t as u64) ^ (1 << 63)
}

/// The inverse of [`total_order_bits`] (the transform is an involution).
#[inline]
fn from_total_order_bits(u: u64) -> f64 {
    let t = (u ^ (1 << 63)) as i64;
    let b = t ^ ((((t >> 63) as u64) >> 1) as i64);
    f64::from_bits(b as u64)
}

/// `n` cores shared by the runnable threads.
pub struct Cores {
    n: f64,
    /// `n` as an integer: whether the runnable threads fit on the cores is
    /// asked several times per event, and an integer comparison needs no
    /// conversion (the same answer: `n` is a whole number).
    n_whole: u32,
    /// Attained service per runnable thread since the start, ns of work.
    s: f64,
    /// When `s` was last brought up to date.
    last: Ns,
    runnable: u32,
    /// Pending completions by [`finish_key`].
    heap: Calendar<()>,
    /// The heap's smallest key and its service value, kept on every push
    /// and pop: the cores are asked for their next completion on nearly
    /// every event, and change far less often.
    front: Option<(u128, f64)>,
    /// Entries in `heap` withdrawn by [`Cores::reschedule`] and not popped
    /// yet. Only a reschedule withdraws an entry (a thread on the cores
    /// runs no ops, so nothing else ends its segment early), so while this
    /// is zero the top is live without asking the caller.
    withdrawn: u32,
    /// Core-nanoseconds spent running threads (the process's CPU time).
    pub busy_ns: f64,
}

impl Cores {
    /// `n` idle cores.
    pub fn new(n: usize) -> Self {
        Self {
            n: n.max(1) as f64,
            n_whole: u32::try_from(n.max(1)).unwrap_or(u32::MAX),
            s: 0.0,
            last: 0,
            runnable: 0,
            heap: Calendar::new(),
            front: None,
            withdrawn: 0,
            busy_ns: 0.0,
        }
    }

    /// Rate at which each runnable thread progresses now.
    pub fn rate(&self) -> f64 {
        if self.runnable <= self.n_whole {
            1.0
        } else {
            self.n / self.runnable as f64
        }
    }

    /// Given one runnable thread on a core, the chance that another given
    /// runnable thread is on a core at the same instant.
    pub fn others_on_cores(&self) -> f64 {
        let k = self.runnable as f64;
        if k <= 1.0 {
            1.0
        } else {
            ((self.n - 1.0) / (k - 1.0)).min(1.0)
        }
    }

    /// Brings the service clock up to `now`; returns how much service each
    /// runnable thread received since the last call.
    #[inline(always)]
    pub fn advance(&mut self, now: Ns) -> f64 {
        if now <= self.last {
            return 0.0;
        }
        let dt = u64_to_f64(now - self.last);
        // At full speed the rate is exactly 1 (`dt * 1.0 == dt`), and the
        // busy cores are the runnable threads: the same values as
        // `dt * self.rate()` and `dt * (runnable as f64).min(n)`, without
        // the float `min`'s NaN handling (both operands are whole numbers
        // below 2^32, exact as `f64`).
        let (ds, busy) = if self.runnable <= self.n_whole {
            (dt, f64::from(self.runnable))
        } else {
            (dt * self.rate(), self.n)
        };
        self.s += ds;
        self.busy_ns += dt * busy;
        self.last = now;
        ds
    }

    /// The service clock now (call [`Cores::advance`] first).
    pub fn service(&self) -> f64 {
        self.s
    }

    /// Makes thread `tid` runnable until it has received `until_s` on the
    /// service clock. `gen` tells a live entry from a withdrawn one.
    #[inline(always)]
    pub fn run(&mut self, tid: u32, gen: u32, until_s: f64) {
        self.runnable += 1;
        self.push(tid, gen, until_s);
    }

    /// Moves the end of a running thread's segment (the caller bumped its
    /// generation, so the old entry is skipped).
    pub fn reschedule(&mut self, tid: u32, gen: u32, until_s: f64) {
        self.withdrawn += 1;
        self.push(tid, gen, until_s);
    }

    /// Adds thread `tid`'s segment end to the heap, and to the front if
    /// it comes first.
    #[inline(always)]
    fn push(&mut self, tid: u32, gen: u32, until_s: f64) {
        let key = finish_key(until_s, tid, gen);
        self.heap.push(key, position(until_s), ());
        if self.front.map_or(true, |(k, _)| key < k) {
            self.front = Some((key, until_s));
        }
    }

    /// Takes the heap's top and finds the next.
    #[inline(always)]
    fn pop(&mut self) -> Option<u128> {
        let (top, ()) = self.heap.pop()?;
        self.front = self.heap.peek_key().map(|k| (k, finish_of(k).0));
        Some(top)
    }

    /// When the next segment ends, if that is before `limit` (any time
    /// with `None`), given which entries are still live. The end is
    /// compared with the limit without rounding it up to whole ns first
    /// where it is exact to: most events come before the next completion.
    #[inline(always)]
    pub fn finish_before(
        &mut self,
        limit: Option<Ns>,
        live: impl Fn(u32, u32) -> bool,
    ) -> Option<Ns> {
        while let Some((top, at_s)) = self.front {
            let (tid, gen) = thread_of(top);
            if self.withdrawn == 0 || live(tid, gen) {
                debug_assert!(live(tid, gen), "a live entry at the top");
                let left = (at_s - self.s).max(0.0);
                // At full speed (k <= n) the rate is exactly 1: skip the
                // division (x / 1.0 == x), which sits on the critical path
                // of every event.
                let dt = if self.runnable <= self.n_whole {
                    left
                } else {
                    divide(left, self.rate())
                };
                return match limit {
                    Some(e) if !ends_within(dt, e.checked_sub(self.last + 1)) => None,
                    _ => Some(self.last + ceil_ns(dt)),
                };
            }
            self.pop();
            self.withdrawn -= 1;
        }
        None
    }

    /// Takes the segment that ends next (after [`Cores::finish_before`]).
    #[inline(always)]
    pub fn pop_finished(&mut self) -> Option<(u32, u32)> {
        let top = self.pop()?;
        self.runnable -= 1;
        let (_, tid, gen) = finish_of(top);
        Some((tid, gen))
    }
}

/// Whether `ceil_ns(dt) <= m` (`m`: none, below zero), mostly without
/// rounding `dt`: for an integer `m`, `ceil(dt) <= m` exactly when
/// `dt <= m`, where both are exact as `f64`. A negative `dt` needs no
/// lower bound: it is below every `m`, and its ceiling (0) is at most any.
#[inline]
fn ends_within(dt: f64, m: Option<Ns>) -> bool {
    let Some(m) = m else { return false };
    // False for NaN, which takes the general path.
    if dt < 4.6e18 && m < 1 << 53 {
        dt <= m as i64 as f64
    } else {
        ceil_ns(dt) <= m
    }
}

/// A segment end's position in the completions' calendar: the service
/// value's whole part, in the order of [`finish_key`] (negative values and
/// a NaN with its sign set first, a positive NaN and infinity last).
#[inline]
fn position(until_s: f64) -> u64 {
    if (0.0..4.6e18).contains(&until_s) {
        f64_to_u64(until_s)
    } else if until_s.is_nan() {
        if until_s.is_sign_negative() {
            0
        } else {
            u64::MAX
        }
    } else {
        // Saturates: negatives to 0, beyond u64 and infinity to the max.
        until_s as u64
    }
}

/// `a / b`, kept out of line: inlined, the compiler merges the two arms
/// above into one division by a selected divisor (1.0 at full speed), and
/// a division is the slowest instruction on the path of every event.
#[inline(never)]
fn divide(a: f64, b: f64) -> f64 {
    a / b
}

/// `x.ceil() as Ns` for the non-negative `x` above, without a libm call
/// (baseline x86-64 has no rounding instruction, and this runs once per
/// event): the same value for every input, NaN and infinity included.
#[inline]
fn ceil_ns(x: f64) -> Ns {
    // Below 2^62 the conversions are exact and one instruction each (see
    // `f64_to_u64`); NaN and the rest take the general path.
    if (0.0..4.6e18).contains(&x) {
        let t = f64_to_u64(x);
        return if (t as i64 as f64) < x { t + 1 } else { t };
    }
    let t = x as Ns; // truncates; saturates at 0 and Ns::MAX
    if (t as f64) < x {
        t.saturating_add(1)
    } else {
        t
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn finish_keys_order_as_total_cmp_then_thread_then_generation() {
        use std::cmp::Ordering;
        let xs = [
            0.0,
            -0.0,
            1e-300,
            0.5,
            1.0,
            1.0 + f64::EPSILON,
            123_456.789,
            9.0e15,
            f64::INFINITY,
            f64::NAN,
            -1.0,
            -f64::INFINITY,
        ];
        let old = |a: (f64, u32, u32), b: (f64, u32, u32)| -> Ordering {
            a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2))
        };
        for &x in &xs {
            assert_eq!(
                super::from_total_order_bits(super::total_order_bits(x)).to_bits(),
                x.to_bits()
            );
            for &y in &xs {
                for (ta, tb) in [(0, 0), (1, 2), (2, 1), (u32::MAX, 0)] {
                    for (ga, gb) in [(0, 0), (3, 1), (1, u32::MAX)] {
                        let (a, b) = ((x, ta, ga), (y, tb, gb));
                        let (ka, kb) = (super::finish_key(x, ta, ga), super::finish_key(y, tb, gb));
                        assert_eq!(ka.cmp(&kb), old(a, b), "{a:?} {b:?}");
                        let back = super::finish_of(ka);
                        assert_eq!((back.0.to_bits(), back.1, back.2), (x.to_bits(), ta, ga));
                    }
                }
            }
        }
    }

    #[test]
    fn ceil_ns_is_ceil() {
        let xs = [
            0.0,
            -0.0,
            0.3,
            1.0,
            1.5,
            2.0 - f64::EPSILON,
            4_503_599_627_370_495.5,
            9.0e15,
            1.8e19,
            1.0e300,
            f64::INFINITY,
            f64::NAN,
            -3.5,
        ];
        for x in xs {
            assert_eq!(super::ceil_ns(x), x.ceil() as super::Ns, "{x}");
        }
        let mut x = 0.0f64;
        while x < 1e7 {
            assert_eq!(super::ceil_ns(x), x.ceil() as super::Ns, "{x}");
            x = x * 1.37 + 0.013;
        }
    }

    use super::*;

    #[test]
    fn ends_within_is_the_ceiling_compared() {
        let dts = [
            f64::NEG_INFINITY,
            -1e300,
            -3.5,
            -0.0,
            0.0,
            0.3,
            1.0,
            7.0 - 1e-9,
            7.0,
            7.5,
            9.0e15,
            4.6e18,
            1.8e19,
            f64::INFINITY,
            f64::NAN,
        ];
        let ms = [
            0,
            1,
            6,
            7,
            8,
            9_000_000_000_000_000,
            1 << 53,
            (1 << 53) + 1,
            u64::MAX,
        ];
        for dt in dts {
            assert!(!ends_within(dt, None), "{dt}");
            for m in ms {
                assert_eq!(ends_within(dt, Some(m)), ceil_ns(dt) <= m, "{dt} {m}");
            }
        }
    }

    #[test]
    fn finish_before_is_the_next_end_compared_with_the_limit() {
        // Fractional service values (more threads than cores), exact
        // integers, ties at the limit, and limits around huge ones.
        use rand::{Rng, SeedableRng};
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(11);
        for round in 0..3_000 {
            let mut c = Cores::new(rng.random_range(1..5));
            let mut now = 0;
            for t in 0..rng.random_range(1..9) {
                let work = match rng.random_range(0..4) {
                    0 => f64::from(rng.random_range(0..3u32)),
                    1 => rng.random_range(0.0..5_000.0),
                    2 => 1e16 + rng.random_range(0.0..1e6),
                    _ => f64::from(rng.random_range(1..100_000u32)),
                };
                now += rng.random_range(0..2_000);
                c.advance(now);
                c.run(t, 0, c.service() + work);
            }
            let next = c.finish_before(None, |_, _| true).unwrap();
            for limit in [
                next - 1,
                next,
                next + 1,
                now + 1,
                next.saturating_mul(2),
                u64::MAX,
            ]
            .into_iter()
            .filter(|&e| e > now)
            {
                let want = (next < limit).then_some(next);
                assert_eq!(
                    c.finish_before(Some(limit), |_, _| true),
                    want,
                    "round {round}, limit {limit}"
                );
            }
            assert_eq!(c.finish_before(None, |_, _| true), Some(next));
        }
    }

    #[test]
    fn threads_beyond_the_cores_share_them_fairly() {
        // 4 threads of 100 µs on 2 cores: all finish at 200 µs.
        let mut c = Cores::new(2);
        for t in 0..4 {
            c.run(t, 0, 100_000.0);
        }
        let at = c.finish_before(None, |_, _| true).unwrap();
        assert_eq!(at, 200_000);
        c.advance(at);
        assert!((c.busy_ns - 400_000.0).abs() < 1.0);
    }

    #[test]
    fn fewer_threads_than_cores_run_at_full_speed() {
        let mut c = Cores::new(4);
        c.run(0, 0, 50_000.0);
        c.run(1, 0, 80_000.0);
        assert_eq!(c.finish_before(None, |_, _| true), Some(50_000));
        c.advance(50_000);
        c.pop_finished();
        assert_eq!(c.finish_before(None, |_, _| true), Some(80_000));
    }
}
