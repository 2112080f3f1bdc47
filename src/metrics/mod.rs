//! Measurements: what a run produced, kept as histograms and sums (never
//! per-job vectors) so that memory does not grow with the number of jobs.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use parking_lot::Mutex;

pub mod host;
pub mod sim;

pub use crate::hist::new_histogram;

use crate::config::BackendSpec;
use crate::work::counter::CounterResult;
use crate::work::gil::{GilStats, Hold};

/// GIL holds a run keeps without `--trace`: its first ones, enough for the
/// report's GIL timeline, a bounded few kB however long the run.
pub const GIL_HOLDS_KEPT: usize = 2_000;

/// Where a job's time went. Fields add up to (about) its service time.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TimeBreakdown {
    /// Running interpreted CPU work (including OS preemption).
    pub cpu: Duration,
    /// Running native CPU work.
    pub native: Duration,
    /// Waiting for IO.
    pub io: Duration,
    /// Waiting to take the GIL.
    pub gil_wait: Duration,
    /// Waiting for an application lock.
    pub lock_wait: Duration,
    /// Waiting for an offload pool (spawn_blocking, rayon) to start the work.
    pub offload_wait: Duration,
    /// Async only: woken and ready to run, but its executor thread was busy
    /// (typically with another task's inline CPU work).
    pub executor_blocked: Duration,
}

impl TimeBreakdown {
    /// Adds `other` field by field.
    pub fn add(&mut self, other: &TimeBreakdown) {
        self.cpu += other.cpu;
        self.native += other.native;
        self.io += other.io;
        self.gil_wait += other.gil_wait;
        self.lock_wait += other.lock_wait;
        self.offload_wait += other.offload_wait;
        self.executor_blocked += other.executor_blocked;
    }
}

impl TimeBreakdown {
    /// Books an await that began at `began`: until the wake-up it is the
    /// field `waiting` picks; from the wake-up to now the task was ready but
    /// not running (executor blocked).
    pub fn split_wait(
        &mut self,
        began: Instant,
        woken: Option<Instant>,
        waiting: impl FnOnce(&mut Self) -> &mut Duration,
    ) {
        let now = Instant::now();
        let woken = woken.unwrap_or(now).clamp(began, now);
        *waiting(self) += woken - began;
        self.executor_blocked += now - woken;
    }

    /// Books an offloaded action: its own breakdown, plus the time between
    /// its completion waking the task and the task running again.
    pub fn add_offloaded(&mut self, sub: Option<TimeBreakdown>, woken: Option<Instant>) {
        if let Some(sub) = sub {
            self.add(&sub);
        }
        if let Some(w) = woken {
            self.executor_blocked += w.elapsed();
        }
    }
}

/// One finished job, as the executor saw it.
#[derive(Debug, Clone, Copy)]
pub struct JobRecord {
    /// Index of the job's group.
    pub group: usize,
    /// When it was due (SPEC §1.4: latency counts from here).
    pub due: Instant,
    /// When a worker started it.
    pub start: Instant,
    /// When it completed.
    pub end: Instant,
    /// Where its time went.
    pub times: TimeBreakdown,
}

/// Everything measured for one group in one run.
#[derive(Debug, Clone)]
pub struct GroupMetrics {
    /// Jobs completed.
    pub jobs: u64,
    /// completion − due, µs.
    pub latency: Histogram<u64>,
    /// start − due, µs.
    pub queue: Histogram<u64>,
    /// completion − start, µs.
    pub service: Histogram<u64>,
    /// Summed breakdown over the group's jobs.
    pub times: TimeBreakdown,
    /// Summed queue time.
    pub queue_total: Duration,
    /// Summed service time.
    pub service_total: Duration,
}

impl Default for GroupMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl GroupMetrics {
    /// Empty metrics.
    pub fn new() -> Self {
        Self {
            jobs: 0,
            latency: new_histogram(),
            queue: new_histogram(),
            service: new_histogram(),
            times: TimeBreakdown::default(),
            queue_total: Duration::ZERO,
            service_total: Duration::ZERO,
        }
    }

    /// Adds one finished job.
    pub fn record(&mut self, r: &JobRecord) {
        let queue = r.start.saturating_duration_since(r.due);
        let service = r.end.saturating_duration_since(r.start);
        // due ≤ start ≤ end almost always: then the latency is the sum,
        // which is cheaper than a third subtraction of instants.
        let latency = if r.start >= r.due && r.end >= r.start {
            queue + service
        } else {
            r.end.saturating_duration_since(r.due)
        };
        self.jobs += 1;
        self.latency.saturating_record(micros(latency));
        self.queue.saturating_record(micros(queue));
        self.service.saturating_record(micros(service));
        self.times.add(&r.times);
        self.queue_total += queue;
        self.service_total += service;
    }

    /// Adds `other`'s jobs to these.
    pub(crate) fn merge(&mut self, other: &GroupMetrics) {
        self.jobs += other.jobs;
        // Same bounds everywhere, so adding cannot fail.
        let _ = self.latency.add(&other.latency);
        let _ = self.queue.add(&other.queue);
        let _ = self.service.add(&other.service);
        self.times.add(&other.times);
        self.queue_total += other.queue_total;
        self.service_total += other.service_total;
    }
}

/// `d` in whole µs, as `d.as_micros()` but in 64-bit arithmetic (this is
/// on every job's path; `as_micros` works in 128 bits). Saturates past
/// 584,000 years.
#[inline]
fn micros(d: Duration) -> u64 {
    d.as_secs()
        .saturating_mul(1_000_000)
        .saturating_add(u64::from(d.subsec_micros()))
}

/// Collects [`JobRecord`]s from many threads. Records go to one of a few
/// shards chosen by thread, so workers rarely contend, and memory stays a
/// few histograms per group however many jobs run.
#[derive(Debug)]
pub struct Recorder {
    groups: usize,
    shards: Vec<Shard>,
}

/// One recorder shard, alone on its cache line: two workers recording into
/// neighbouring shards would otherwise bounce one line between their cores
/// on every job.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Shard(Mutex<Option<Vec<GroupMetrics>>>);

/// Number of recorder shards.
const SHARDS: usize = 8;

impl Recorder {
    /// A recorder for a plan with `groups` groups.
    pub fn new(groups: usize) -> Self {
        Self {
            groups,
            shards: (0..SHARDS).map(|_| Shard::default()).collect(),
        }
    }

    /// Records one finished job.
    pub fn record(&self, r: &JobRecord) {
        let shard = (crate::work::gil::thread_token() as usize) % SHARDS;
        let mut slot = self.shards[shard].0.lock();
        let groups =
            slot.get_or_insert_with(|| (0..self.groups).map(|_| GroupMetrics::new()).collect());
        groups[r.group].record(r);
    }

    /// The per-group totals over all shards.
    pub fn finish(&self) -> Vec<GroupMetrics> {
        let mut out: Vec<GroupMetrics> = (0..self.groups).map(|_| GroupMetrics::new()).collect();
        for shard in &self.shards {
            if let Some(groups) = shard.0.lock().as_ref() {
                for (o, g) in out.iter_mut().zip(groups) {
                    o.merge(g);
                }
            }
        }
        out
    }
}

/// What one backend run measured: the input of every report.
#[derive(Debug, Clone)]
pub struct RunMeasurement {
    /// The backend as configured.
    pub backend: BackendSpec,
    /// Workers actually used (0 = one thread per job).
    pub workers: usize,
    /// Cores of the machine.
    pub cores: usize,
    /// First due time to last completion.
    pub wall: Duration,
    /// Jobs completed.
    pub jobs: u64,
    /// Process CPU time (user + system) spent during the run.
    pub process_cpu: Duration,
    /// CPU time the hypervisor took from this machine during the run
    /// ([`host::steal_time`]); `None` on the model engine and where the
    /// kernel does not report it.
    pub host_steal: Option<Duration>,
    /// Jobs held back at the in-flight bound; `None` when none waited.
    pub held_back: Option<HeldBack>,
    /// The CPU kernel's speed during the run over its calibrated speed
    /// (see [`crate::work::kernel::SpeedMeter`]); `None` when no CPU work was
    /// long enough to sample.
    pub kernel_speed: Option<f64>,
    /// Per group, in plan order, with the group's name.
    pub groups: Vec<(String, GroupMetrics)>,
    /// GIL statistics, when the backend ran under a GIL.
    pub gil: Option<GilStats>,
    /// Counters, in plan order.
    pub counters: Vec<CounterResult>,
    /// GIL holds: all of them when a trace asked for them, otherwise the
    /// first [`GIL_HOLDS_KEPT`].
    pub gil_holds: Vec<Hold>,
    /// Per process, when the backend ran as several (`processes > 1`);
    /// empty for one process.
    pub processes: Vec<ProcessMeasurement>,
    /// When the run's clock started (its time zero).
    pub started: Instant,
    /// Whether every job of the plan ran: false when a stop (Ctrl-C,
    /// `--timeout`) cut the run short. Warm-up jobs ran too, although the
    /// histograms leave them out.
    pub complete: bool,
    /// Jobs known to be late (unfinished past a bound) when the driver gave
    /// up on the run because its outcome was decided
    /// ([`crate::backend::GiveUp`]); `None` when it did not. The
    /// measurements of such a run are partial.
    pub gave_up: Option<u64>,
    /// What the model engine adds (`None` for real runs).
    pub sim: Option<sim::SimStats>,
}

/// What one process of a deployment of several measured.
#[derive(Debug, Clone)]
pub struct ProcessMeasurement {
    /// Jobs it completed (measured ones, past any warm-up).
    pub jobs: u64,
    /// completion − due of its jobs, every group, µs.
    pub latency: Histogram<u64>,
    /// Its own GIL's figures, when the backend runs under a GIL.
    pub gil: Option<GilStats>,
}

/// A bound on how many jobs run at once, and what sets it.
#[derive(Debug, Clone, PartialEq)]
pub struct Limiter {
    /// Most jobs in flight at once.
    pub limit: u64,
    /// What sets it, in the words of the knob a user can turn
    /// ("--max-in-flight 65536", "one OS thread per job: --max-threads 4").
    pub why: String,
}

/// Jobs the driver held back because the run was at its in-flight bound.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldBack {
    /// Jobs that had to wait for a slot (each counted once).
    pub jobs: u64,
    /// The bound they waited on.
    pub limiter: Limiter,
}

/// CPU time (user + system) this process has used so far.
pub fn process_cpu_time() -> Duration {
    // SAFETY: getrusage fills the struct we hand it; RUSAGE_SELF is valid.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return Duration::ZERO;
    }
    let tv =
        |t: libc::timeval| Duration::new(t.tv_sec.max(0) as u64, (t.tv_usec.max(0) as u32) * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn records_from_many_threads_merge() {
        let rec = Arc::new(Recorder::new(2));
        let t0 = Instant::now();
        let hs: Vec<_> = (0..4)
            .map(|i| {
                let rec = rec.clone();
                std::thread::spawn(move || {
                    for _ in 0..100 {
                        rec.record(&JobRecord {
                            group: i % 2,
                            due: t0,
                            start: t0 + Duration::from_micros(10),
                            end: t0 + Duration::from_micros(110),
                            times: TimeBreakdown {
                                cpu: Duration::from_micros(100),
                                ..Default::default()
                            },
                        });
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        let groups = rec.finish();
        assert_eq!(groups[0].jobs, 200);
        assert_eq!(groups[1].jobs, 200);
        assert_eq!(groups[0].latency.value_at_quantile(0.5), 110);
        assert_eq!(groups[0].queue.max(), 10);
        assert_eq!(groups[1].times.cpu, Duration::from_millis(20));
    }

    #[test]
    fn process_cpu_time_advances_with_work() {
        let a = process_cpu_time();
        crate::work::kernel::spin(1, 50_000_000);
        assert!(process_cpu_time() > a);
    }
}
