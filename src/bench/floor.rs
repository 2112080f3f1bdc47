//! What measuring each job costs at the least, on this machine, beside what
//! gilsim's own job path costs: the yardstick for the harness-against-bare
//! ratios of `gilsim bench`.
//!
//! A simulator that reports per-job latencies must at least read a clock
//! when a job starts and when it ends, keep the three spans (latency, queue,
//! service) until it adds them to histograms, and count the completion
//! where a driver can see it. That *floor* is measured here with nothing
//! else: a buffer, three histograms filled every 4,096 jobs, and a
//! release store of the count (one writer, no read-modify-write). On a
//! 1 µs job it is what no harness of that kind can avoid, so a bare program
//! that measures nothing stays ahead by at least that much.
//!
//! All three (gilsim, floor, bare kernel) run on the calling thread in short
//! interleaved rounds and are timed by the thread's CPU clock: the host's
//! speed drifts over seconds, and a difference taken within one round is
//! steadier than one taken across long runs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;

use super::{group, job_set, median};
use crate::config::{Arrival, DurationSpec, Step};
use crate::exec::{clock, JobTicket, RunShared};
use crate::hist::new_histogram;
use crate::metrics::spans;
use crate::plan::{JobId, Plan};
use crate::stamp::Stamp;
use crate::work::kernel::{spin, thread_cpu_ns, Calibration};

/// Spans the floor keeps before adding them to its histograms (as gilsim's
/// recorder shards do).
const PENDING: usize = 4096;

/// The CPU work of each measured job.
pub const JOB_CPU: Duration = Duration::from_micros(1);

/// Per-job costs on one thread, ns of thread CPU time (medians over rounds).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PerJobCosts {
    /// A bare [`JOB_CPU`] kernel call.
    pub bare_ns: f64,
    /// What gilsim's job path (`RunShared::run_job_sync`) adds to it.
    pub gilsim_ns: f64,
    /// What the least per-job measurement adds to it.
    pub floor_ns: f64,
}

impl PerJobCosts {
    /// The most a harness that only adds the floor could reach, as a
    /// fraction of the bare kernel's throughput on one thread.
    pub fn floor_ceiling(&self) -> f64 {
        self.bare_ns / (self.bare_ns + self.floor_ns).max(1e-9)
    }
}

/// The floor's state: stamps, buffered spans, histograms, a count.
struct Floor {
    /// Latency, queue and service, in µs.
    hists: [Histogram<u64>; 3],
    pending: Vec<(Stamp, Stamp, Stamp)>,
    count: AtomicU64,
}

impl Floor {
    fn new() -> Self {
        Self {
            hists: [new_histogram(), new_histogram(), new_histogram()],
            pending: Vec::with_capacity(PENDING),
            count: AtomicU64::new(0),
        }
    }

    /// One job due at `due`: `iters` of kernel work, measured.
    fn job(&mut self, due: Stamp, iters: u64) {
        let start = clock::stamp();
        std::hint::black_box(spin(1, iters));
        let end = clock::stamp();
        if self.pending.len() >= PENDING {
            self.flush();
        }
        self.pending.push((due, start, end));
        let n = self.count.load(Ordering::Relaxed);
        self.count.store(n + 1, Ordering::Release);
    }

    fn flush(&mut self) {
        for (due, start, end) in self.pending.drain(..) {
            let (latency, queue, service) = spans(due.ns(), start.ns(), end.ns());
            for (h, ns) in self.hists.iter_mut().zip([latency, queue, service]) {
                h.saturating_record(ns / 1_000);
            }
        }
    }
}

/// Thread CPU time per call of `f` over `n` calls, ns.
fn per_call(n: u64, mut f: impl FnMut()) -> f64 {
    let t = thread_cpu_ns();
    for _ in 0..n {
        f();
    }
    thread_cpu_ns().saturating_sub(t) as f64 / n.max(1) as f64
}

/// Measures [`PerJobCosts`] in `rounds` rounds of `per_round` jobs each
/// (gilsim, the floor, the bare kernel in turn).
pub fn per_job_costs(c: Calibration, rounds: usize, per_round: u64) -> PerJobCosts {
    let rounds = rounds.max(1);
    let iters = c.iters_for(JOB_CPU);
    let jobs = rounds as u64 * per_round;
    let set = job_set(vec![group(
        jobs,
        Arrival::Batch,
        Step::Cpu(DurationSpec::Fixed(JOB_CPU)),
    )]);
    let plan = Arc::new(Plan::new(&set));
    let (tx, _rx) = crossbeam_channel::unbounded();
    // As the driver runs a batch: completions are counted, not sent.
    let shared = RunShared::new(plan, c, None, tx).sending_only(vec![false]);
    let mut floor = Floor::new();
    let due = clock::stamp();
    let (mut gilsim, mut least, mut bare) = (Vec::new(), Vec::new(), Vec::new());
    let mut index = 0;
    for _ in 0..rounds {
        let g = per_call(per_round, || {
            shared.run_job_sync(JobTicket {
                id: JobId { group: 0, index },
                due,
            });
            index += 1;
        });
        let f = per_call(per_round, || floor.job(due, iters));
        let b = per_call(per_round, || {
            std::hint::black_box(spin(1, iters));
        });
        gilsim.push(g - b);
        least.push(f - b);
        bare.push(b);
    }
    PerJobCosts {
        bare_ns: median(&bare),
        gilsim_ns: median(&gilsim),
        floor_ns: median(&least),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The floor's histograms get every job once its buffer is flushed,
    /// with the spans it stamped (the measurement is real work, not a
    /// loop the compiler could drop).
    #[test]
    fn the_floor_records_every_job() {
        let mut f = Floor::new();
        let due = clock::stamp();
        for _ in 0..PENDING + 10 {
            f.job(due, 10);
        }
        f.flush();
        assert_eq!(f.count.load(Ordering::Acquire), PENDING as u64 + 10);
        for h in &f.hists {
            assert_eq!(h.len(), PENDING as u64 + 10);
        }
    }

    /// A few rounds give finite costs, and the floor's ceiling is the bare
    /// kernel's share of a floor-measured job. Whether gilsim's cost is
    /// above the floor is for `gilsim bench` to report, not to assert on a
    /// shared machine.
    #[test]
    fn costs_are_measured_and_the_ceiling_follows_from_them() {
        let c = Calibration {
            iters_per_us: 100.0,
        };
        let p = per_job_costs(c, 3, 200);
        assert!(p.bare_ns.is_finite() && p.bare_ns > 0.0, "{p:?}");
        assert!(p.gilsim_ns.is_finite() && p.floor_ns.is_finite(), "{p:?}");
        let costs = PerJobCosts {
            bare_ns: 900.0,
            gilsim_ns: 200.0,
            floor_ns: 100.0,
        };
        assert!((costs.floor_ceiling() - 0.9).abs() < 1e-12);
    }
}
