//! What running one job costs on top of its work, on one thread: jobs of
//! 1 µs CPU through `RunShared::run_job_sync` against the bare kernel loop,
//! in short interleaved rounds, thread CPU time. Beside it, the *floor*: the
//! least a harness that measures each job could do (two clock readings, the
//! three spans buffered and added to three histograms every 4,096 jobs, one
//! count the driver can read), so that gilsim's own figure can be read against what any
//! per-job measurement costs on the machine.
//! `cargo run --release --example job_cost` (`CHEAP_CLOCK=0`: stamps from
//! `Instant::now()`).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gilsim::config::{Arrival, DurationSpec, GilSettings, GroupSpec, JobSet, Step};
use gilsim::exec::clock;
use gilsim::exec::{JobTicket, RunShared};
use gilsim::plan::{JobId, Plan};
use gilsim::work::kernel::{spin, Calibration};

/// Rounds, each of gilsim, the floor and the bare kernel in turn: the host's
/// speed drifts over seconds, so a per-round difference is steadier than
/// one long pair.
const ROUNDS: usize = 60;
/// Jobs per round and side.
const PER_ROUND: u64 = 10_000;

fn thread_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// Thread CPU per call of `f`, ns, over `n` calls.
fn per_call(n: u64, mut f: impl FnMut()) -> f64 {
    let t = thread_cpu();
    for _ in 0..n {
        f();
    }
    (thread_cpu() - t).as_secs_f64() * 1e9 / n as f64
}

/// The floor: two stamps, the spans buffered, three histograms, a count
/// (one writer).
struct Floor {
    hists: [hdrhistogram::Histogram<u64>; 3],
    pending: Vec<(Instant, Instant, Instant)>,
    count: AtomicU64,
}

impl Floor {
    fn new() -> Self {
        let h = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3)
            .expect("valid histogram bounds");
        Self {
            hists: [h.clone(), h.clone(), h],
            pending: Vec::with_capacity(4096),
            count: AtomicU64::new(0),
        }
    }

    fn job(&mut self, due: Instant, iters: u64) {
        let start = clock::now();
        std::hint::black_box(spin(1, iters));
        let end = clock::now();
        if self.pending.len() >= 4096 {
            for (d, s, e) in self.pending.drain(..) {
                let (q, sv) = (
                    s.saturating_duration_since(d),
                    e.saturating_duration_since(s),
                );
                for (h, v) in self.hists.iter_mut().zip([q + sv, q, sv]) {
                    h.saturating_record(v.as_micros() as u64);
                }
            }
        }
        self.pending.push((due, start, end));
        // One writer: a release store, not a read-modify-write.
        let n = self.count.load(Ordering::Relaxed);
        self.count.store(n + 1, Ordering::Release);
    }
}

fn main() {
    let c = Calibration::from_env_or_measure().unwrap_or(Calibration {
        iters_per_us: 650.0,
    });
    if std::env::var("CHEAP_CLOCK").is_ok_and(|v| v == "0") {
        clock::set_cheap_clock(false);
    }
    let set = JobSet {
        name: "cost".into(),
        description: None,
        seed: 0,
        gil: GilSettings::default(),
        backends: vec![],
        groups: vec![GroupSpec {
            name: "g".into(),
            jobs: ROUNDS as u64 * PER_ROUND,
            arrival: Arrival::Batch,
            steps: vec![Step::Cpu(DurationSpec::Fixed(Duration::from_micros(1)))],
        }],
        source: PathBuf::from("<cost>"),
        model_cores: None,
    };
    let iters = c.iters_for(Duration::from_micros(1));
    let (tx, _rx) = crossbeam_channel::unbounded();
    // As the driver runs a batch: completions are counted, not sent.
    let shared = RunShared::new(Arc::new(Plan::new(&set)), c, None, tx).sending_only(vec![false]);
    let mut floor = Floor::new();
    let due = Instant::now();
    let (mut ours, mut least) = (Vec::new(), Vec::new());
    let mut bare_sum = 0.0;
    let mut index = 0;
    for _ in 0..ROUNDS {
        let g = per_call(PER_ROUND, || {
            shared.run_job_sync(JobTicket {
                id: JobId { group: 0, index },
                due,
            });
            index += 1;
        });
        let f = per_call(PER_ROUND, || floor.job(due, iters));
        let b = per_call(PER_ROUND, || {
            std::hint::black_box(spin(1, iters));
        });
        ours.push(g - b);
        least.push(f - b);
        bare_sum += b;
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "per job over the bare kernel ({:.0} ns): gilsim {:.0} ns, floor {:.0} ns (medians of {ROUNDS} rounds)",
        bare_sum / ROUNDS as f64,
        median(&mut ours),
        median(&mut least),
    );
}
