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
//!   value plus its work, so a heap keyed by that value gives the next
//!   completion however often `k` changes;
//! - it does not invent a slice length that the real kernel does not have
//!   (CFS's slices depend on load and wake-up preemption).
//!
//! What it gives up: the slice-level jitter of a real scheduler (a thread
//! that wakes when every core is busy waits for a tick there; here it starts
//! at once at a reduced rate). docs/model.md discusses the effect.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::clock::Ns;

/// A runnable thread's pending completion, keyed by attained service.
#[derive(Debug, Clone, Copy)]
struct Finish {
    at_s: f64,
    tid: u32,
    gen: u32,
}

impl PartialEq for Finish {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Finish {}
impl PartialOrd for Finish {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Finish {
    /// Reversed (min-heap); ties by thread id for determinism.
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .at_s
            .total_cmp(&self.at_s)
            .then(other.tid.cmp(&self.tid))
            .then(other.gen.cmp(&self.gen))
    }
}

/// `n` cores shared by the runnable threads.
pub struct Cores {
    n: f64,
    /// Attained service per runnable thread since the start, ns of work.
    s: f64,
    /// When `s` was last brought up to date.
    last: Ns,
    runnable: u32,
    heap: BinaryHeap<Finish>,
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
            s: 0.0,
            last: 0,
            runnable: 0,
            heap: BinaryHeap::new(),
            withdrawn: 0,
            busy_ns: 0.0,
        }
    }

    /// Rate at which each runnable thread progresses now.
    pub fn rate(&self) -> f64 {
        let k = self.runnable as f64;
        if k <= self.n {
            1.0
        } else {
            self.n / k
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
    pub fn advance(&mut self, now: Ns) -> f64 {
        if now <= self.last {
            return 0.0;
        }
        let dt = (now - self.last) as f64;
        let ds = dt * self.rate();
        self.s += ds;
        self.busy_ns += dt * (self.runnable as f64).min(self.n);
        self.last = now;
        ds
    }

    /// The service clock now (call [`Cores::advance`] first).
    pub fn service(&self) -> f64 {
        self.s
    }

    /// Makes thread `tid` runnable until it has received `until_s` on the
    /// service clock. `gen` tells a live entry from a withdrawn one.
    pub fn run(&mut self, tid: u32, gen: u32, until_s: f64) {
        self.runnable += 1;
        self.heap.push(Finish {
            at_s: until_s,
            tid,
            gen,
        });
    }

    /// Moves the end of a running thread's segment (the caller bumped its
    /// generation, so the old entry is skipped).
    pub fn reschedule(&mut self, tid: u32, gen: u32, until_s: f64) {
        self.withdrawn += 1;
        self.heap.push(Finish {
            at_s: until_s,
            tid,
            gen,
        });
    }

    /// When the next segment ends, given which entries are still live.
    pub fn next_finish(&mut self, live: impl Fn(u32, u32) -> bool) -> Option<Ns> {
        while let Some(top) = self.heap.peek() {
            if self.withdrawn == 0 || live(top.tid, top.gen) {
                debug_assert!(live(top.tid, top.gen), "a live entry at the top");
                let left = (top.at_s - self.s).max(0.0);
                // At full speed (k <= n) the rate is exactly 1: skip the
                // division (x / 1.0 == x), which sits on the critical path
                // of every event.
                let dt = if self.runnable as f64 <= self.n {
                    left
                } else {
                    left / self.rate()
                };
                return Some(self.last + ceil_ns(dt));
            }
            self.heap.pop();
            self.withdrawn -= 1;
        }
        None
    }

    /// Takes the segment that ends next (after [`Cores::next_finish`]).
    pub fn pop_finished(&mut self) -> Option<(u32, u32)> {
        let top = self.heap.pop()?;
        self.runnable -= 1;
        Some((top.tid, top.gen))
    }
}

/// `x.ceil() as Ns` for the non-negative `x` above, without a libm call
/// (baseline x86-64 has no rounding instruction, and this runs once per
/// event): the same value for every input, NaN and infinity included.
#[inline]
fn ceil_ns(x: f64) -> Ns {
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
    fn threads_beyond_the_cores_share_them_fairly() {
        // 4 threads of 100 µs on 2 cores: all finish at 200 µs.
        let mut c = Cores::new(2);
        for t in 0..4 {
            c.run(t, 0, 100_000.0);
        }
        let at = c.next_finish(|_, _| true).unwrap();
        assert_eq!(at, 200_000);
        c.advance(at);
        assert!((c.busy_ns - 400_000.0).abs() < 1.0);
    }

    #[test]
    fn fewer_threads_than_cores_run_at_full_speed() {
        let mut c = Cores::new(4);
        c.run(0, 0, 50_000.0);
        c.run(1, 0, 80_000.0);
        assert_eq!(c.next_finish(|_, _| true), Some(50_000));
        c.advance(50_000);
        c.pop_finished();
        assert_eq!(c.next_finish(|_, _| true), Some(80_000));
    }
}
