//! Measurements: what a run produced, kept as histograms and sums (never
//! per-job vectors) so that memory does not grow with the number of jobs.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use parking_lot::Mutex;

pub mod host;
pub mod sim;
pub mod trend;

pub use crate::hist::new_histogram;

use crate::config::BackendSpec;
use crate::stamp::Stamp;
use crate::work::counter::CounterResult;
use crate::work::gil::{GilStats, Hold};
use trend::Trend;

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
    /// Books an await that began at `began` and ended at `ended`: until the
    /// wake-up it is the field `waiting` picks; from the wake-up to `ended`
    /// the task was ready but not running (executor blocked).
    pub fn split_wait(
        &mut self,
        began: Instant,
        woken: Option<Instant>,
        ended: Instant,
        waiting: impl FnOnce(&mut Self) -> &mut Duration,
    ) {
        let ended = ended.max(began);
        let woken = woken.unwrap_or(ended).clamp(began, ended);
        *waiting(self) += woken - began;
        self.executor_blocked += ended - woken;
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
    pub due: Stamp,
    /// When a worker started it.
    pub start: Stamp,
    /// When it completed.
    pub end: Stamp,
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
    /// Latency against due time, for whether the run kept up.
    pub trend: Trend,
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
            trend: Trend::default(),
        }
    }

    /// Adds one finished job.
    pub fn record(&mut self, r: &JobRecord) {
        self.record_ns(r.due.ns(), r.start.ns(), r.end.ns(), &r.times);
    }

    /// Adds one finished job from its due, start and end times in ns on
    /// one time line (the real engine's [`Stamp`]s, the model's virtual
    /// time).
    #[inline]
    pub(crate) fn record_ns(&mut self, due: u64, start: u64, end: u64, times: &TimeBreakdown) {
        self.jobs += 1;
        self.record_span(due, start, end);
        self.times.add(times);
    }

    /// What [`GroupMetrics::record_ns`] adds but the job count and its
    /// time breakdown. Histograms hold whole µs, truncated.
    #[inline]
    fn record_span(&mut self, due: u64, start: u64, end: u64) {
        let (latency, queue, service) = spans(due, start, end);
        self.latency.saturating_record(latency / 1_000);
        self.queue.saturating_record(queue / 1_000);
        self.service.saturating_record(service / 1_000);
        self.queue_total += Duration::from_nanos(queue);
        self.service_total += Duration::from_nanos(service);
        self.trend
            .offer(|| (trend::ns_to_s(due), trend::ns_to_s(latency)));
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
        self.trend.merge(&other.trend);
    }
}

/// A job's latency, queue and service times, in ns, from its due, start
/// and end times (ns on one time line); each is 0 where its end comes
/// before its start.
#[inline]
pub(crate) fn spans(due: u64, start: u64, end: u64) -> (u64, u64, u64) {
    (
        end.saturating_sub(due),
        start.saturating_sub(due),
        end.saturating_sub(start),
    )
}

/// A finished job's times, kept raw until they are added to its group's
/// histograms (see [`Recorder`]).
#[derive(Debug, Clone, Copy)]
struct Span {
    due: Stamp,
    start: Stamp,
    end: Stamp,
}

/// Collects [`JobRecord`]s from many threads. Records go to one of a few
/// shards chosen by thread, so workers rarely contend, and memory stays a
/// few histograms per group, plus a bounded buffer per shard, however many
/// jobs run.
///
/// A job's due, start and end times are not added to the histograms when
/// it is recorded: they wait in its shard's buffer ([`PENDING_MAX`] jobs at
/// most), which is added in one go when it fills and when the run is
/// [finished](Recorder::finish). Three histogram records are a good part of
/// what a 1 µs job costs its worker on top of its work; deferred, they are
/// paid after the run's last job instead of while the runtime under test
/// runs (up to the buffer's size), and in a tight loop when they are paid
/// during the run. The histograms and sums that come out are the same (a
/// histogram is a count per value, whatever the order of the records;
/// tested against recording each job directly).
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
struct Shard(Mutex<Option<ShardData>>);

/// What one shard holds.
#[derive(Debug)]
struct ShardData {
    /// Per group: the jobs added so far.
    groups: Vec<GroupMetrics>,
    /// Per group: the time breakdowns of the jobs recorded since the last
    /// flush, not yet added to `groups`.
    times: Vec<BreakdownNs>,
    /// Jobs recorded but not yet added to `groups`' histograms: group, then
    /// the job's span.
    pending: Vec<(u32, Span)>,
}

impl ShardData {
    fn new(groups: usize) -> Self {
        Self {
            groups: (0..groups).map(|_| GroupMetrics::new()).collect(),
            times: vec![BreakdownNs::default(); groups],
            pending: Vec::new(),
        }
    }

    /// Adds the pending jobs to the histograms and their time breakdowns
    /// to the groups' sums; keeps the buffer's memory unless `release`.
    fn flush(&mut self, release: bool) {
        for (g, times) in self.groups.iter_mut().zip(&mut self.times) {
            g.times.add(&std::mem::take(times).total());
        }
        for (group, s) in self.pending.drain(..) {
            self.groups[group as usize].record_span(s.due.ns(), s.start.ns(), s.end.ns());
        }
        if release {
            self.pending = Vec::new();
        }
    }
}

/// A sum of [`TimeBreakdown`]s in whole ns, field by field: the recorder's
/// per-job sum. Seven `Duration` additions (each checked, each carrying
/// nanoseconds into seconds) cost a 1 µs job several ns; these are plain
/// integer additions. A `Duration` is whole ns, so the total is exactly the
/// `Duration` sum (it holds a flush's worth of jobs, 4,096 at most: far
/// from the 584 years of ns a `u64` holds).
#[derive(Debug, Clone, Copy, Default)]
struct BreakdownNs([u64; 7]);

impl BreakdownNs {
    #[inline]
    fn add(&mut self, t: &TimeBreakdown) {
        let fields = [
            t.cpu,
            t.native,
            t.io,
            t.gil_wait,
            t.lock_wait,
            t.offload_wait,
            t.executor_blocked,
        ];
        for (sum, d) in self.0.iter_mut().zip(fields) {
            *sum += d.as_nanos() as u64;
        }
    }

    fn total(self) -> TimeBreakdown {
        let [cpu, native, io, gil_wait, lock_wait, offload_wait, executor_blocked] =
            self.0.map(Duration::from_nanos);
        TimeBreakdown {
            cpu,
            native,
            io,
            gil_wait,
            lock_wait,
            offload_wait,
            executor_blocked,
        }
    }
}

/// Number of recorder shards.
const SHARDS: usize = 8;

/// Most jobs a shard keeps pending (32 bytes each: at most 128 KB a
/// shard, allocated as it fills).
///
/// Why not more: the worker that fills a buffer adds it to the histograms
/// before it runs its next job, a pause every later job queued behind it
/// sees. 4,096 jobs take about 0.2 ms, within the OS scheduler's own noise;
/// 65,536 took about 3 ms, a tail that gilsim, not the runtime, would have
/// put into long runs. Throughput on 1 µs jobs was the same with either
/// (`PENDING_RECORDS` in `examples/bare_ratios.rs`, docs/harness.md).
pub const PENDING_MAX: usize = 1 << 12;

/// The pending limit in force ([`set_pending_limit`]).
static PENDING_LIMIT: AtomicUsize = AtomicUsize::new(PENDING_MAX);

/// Sets how many jobs a shard keeps pending before adding them to the
/// histograms, for the whole process: 1 to [`PENDING_MAX`] (the default);
/// 1 adds each job as the next one is recorded. For side-by-side
/// measurements.
pub fn set_pending_limit(jobs: usize) {
    PENDING_LIMIT.store(jobs.clamp(1, PENDING_MAX), Ordering::Relaxed);
}

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
        let data = slot.get_or_insert_with(|| ShardData::new(self.groups));
        let (Some(g), Some(times)) = (data.groups.get_mut(r.group), data.times.get_mut(r.group))
        else {
            return;
        };
        times.add(&r.times);
        g.jobs += 1;
        if data.pending.len() >= PENDING_LIMIT.load(Ordering::Relaxed) {
            data.flush(false);
        }
        data.pending.push((
            r.group as u32,
            Span {
                due: r.due,
                start: r.start,
                end: r.end,
            },
        ));
    }

    /// The per-group totals over all shards. Adds every pending job first
    /// (and frees the buffers), so it is best called once all jobs have
    /// been recorded; a job recorded later is still counted by the next
    /// call.
    pub fn finish(&self) -> Vec<GroupMetrics> {
        let mut out: Vec<GroupMetrics> = (0..self.groups).map(|_| GroupMetrics::new()).collect();
        for shard in &self.shards {
            if let Some(data) = shard.0.lock().as_mut() {
                data.flush(true);
                for (o, g) in out.iter_mut().zip(&data.groups) {
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
        let t0 = Stamp::now();
        let hs: Vec<_> = (0..4)
            .map(|i| {
                let rec = rec.clone();
                std::thread::spawn(move || {
                    for _ in 0..100 {
                        rec.record(&JobRecord {
                            group: i % 2,
                            due: t0,
                            start: t0.add_ns(10_000),
                            end: t0.add_ns(110_000),
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
    fn deferred_records_come_out_as_records_added_at_once() {
        let rec = Recorder::new(2);
        let mut direct = vec![GroupMetrics::new(), GroupMetrics::new()];
        let t0 = Stamp::now();
        // More than a buffer's worth, so that it fills and is added midway.
        for i in 0..(PENDING_MAX as u64 + 1_000) {
            // Some jobs start before their due time (a chained client's
            // next job, due at an end another CPU's clock stamped), some end
            // before they start (clocks of two CPUs): spans of 0 ns.
            let due = i * 700 + if i % 7 == 0 { 3_000 } else { 0 };
            let start = i * 900 + i % 5_000;
            let end = if i % 11 == 0 {
                start.saturating_sub(400)
            } else {
                i * 1_300 + 50_000
            };
            let r = JobRecord {
                group: (i % 3 == 0) as usize,
                due: t0.add_ns(due),
                start: t0.add_ns(start),
                end: t0.add_ns(end),
                times: TimeBreakdown {
                    cpu: Duration::from_nanos(i % 977),
                    io: Duration::from_nanos(i % 13),
                    ..Default::default()
                },
            };
            rec.record(&r);
            direct[r.group].record(&r);
        }
        let check = |got: &[GroupMetrics], want: &[GroupMetrics]| {
            for (g, w) in got.iter().zip(want) {
                assert_eq!(g.jobs, w.jobs);
                assert!(g.latency == w.latency && g.queue == w.queue && g.service == w.service);
                assert_eq!(g.times, w.times);
                assert_eq!(g.queue_total, w.queue_total);
                assert_eq!(g.service_total, w.service_total);
            }
        };
        let got = rec.finish();
        assert!(got[0].jobs > 0 && got[1].jobs > 0);
        check(&got, &direct);
        // A job recorded after a finish is counted by the next one.
        let late = JobRecord {
            group: 1,
            due: t0,
            start: t0.add_ns(3_000),
            end: t0.add_ns(9_000),
            times: TimeBreakdown::default(),
        };
        rec.record(&late);
        direct[1].record(&late);
        check(&rec.finish(), &direct);
    }

    #[test]
    fn a_job_is_recorded_in_whole_microseconds_from_its_ns() {
        let mut g = GroupMetrics::new();
        // Due at 0, started 1,999 ns later, ended 5,000,999 ns after its
        // due time.
        g.record_ns(0, 1_999, 5_000_999, &TimeBreakdown::default());
        // Started 1 µs before its due time, ran 3 µs: no queue time, and
        // a latency of 2 µs.
        g.record_ns(10_000, 9_000, 12_000, &TimeBreakdown::default());
        assert_eq!(g.jobs, 2);
        assert_eq!(g.queue_total, Duration::from_nanos(1_999));
        assert_eq!(g.service_total, Duration::from_nanos(4_999_000 + 3_000));
        assert_eq!(
            (g.queue.min(), g.queue.max()),
            (0, 1),
            "truncated to whole µs"
        );
        assert_eq!(g.latency.min(), 2);
        assert!(g.latency.equivalent(g.latency.max(), 5_000));
        assert_eq!(g.service.min(), 3);
        assert!(g.service.equivalent(g.service.max(), 4_999));
    }

    #[test]
    fn process_cpu_time_advances_with_work() {
        let a = process_cpu_time();
        crate::work::kernel::spin(1, 50_000_000);
        assert!(process_cpu_time() > a);
    }
}
