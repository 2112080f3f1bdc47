//! The report model. Field names are the stable names of SPEC §4; fields
//! beyond the spec are additions, documented in the README.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::config::CpuMode;
use crate::metrics::{GroupMetrics, RunMeasurement};
use crate::plan::{at_speed, Plan};
use crate::stats::Summary;
use crate::stop::Stopped;
use crate::work::counter::CounterResult;
use crate::work::gil::GilStats;

use super::detail::{encode_histogram, GilTimeline, PlanSummary};

/// The gilsim version written into reports.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Everything one config's runs produced.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// gilsim's version.
    pub gilsim: String,
    /// The config's name.
    pub config: String,
    /// The seed the plan was drawn with.
    pub seed: u64,
    /// SHA-256 of the resolved plan (SPEC §8; see
    /// [`crate::plan::digest`]): equal for two reports of the same
    /// experiment.
    #[serde(default)]
    pub plan_sha256: String,
    /// Whether every selected backend ran every requested repetition to its
    /// last job; false when any run stopped early or never started (SPEC §8).
    #[serde(default = "yes")]
    pub complete: bool,
    /// Why the runs stopped early; `null` when complete.
    #[serde(default)]
    pub stopped: Option<Stopped>,
    /// Backends selected but never started because the runs stopped first
    /// (addition; absent when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_run: Vec<String>,
    /// The machine the runs happened on.
    pub machine: Machine,
    /// One entry per backend, in config order.
    pub runs: Vec<RunReport>,
    /// Plain sentences: who wins and why the others lose (addition).
    pub verdict: Vec<String>,
    /// The config as run: description and groups (addition; absent in
    /// reports saved by older versions). Written as `resolved_plan`: a
    /// top-level `plan` key marks a `gilsim plan` document (SPEC §5).
    #[serde(
        rename = "resolved_plan",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub plan: Option<PlanSummary>,
    /// `real` or `model`: which engine ran the runs (SPEC §6). Always
    /// written; a report saved before the field existed reads as `real`.
    #[serde(default = "real_engine")]
    pub engine: String,
    /// The model engine's own figures; absent for real runs (SPEC §6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sim: Option<SimReport>,
}

fn real_engine() -> String {
    "real".into()
}

/// What a model run adds to a report (SPEC §6 `"sim"`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SimReport {
    /// Events processed over all runs of the config.
    pub events: u64,
    /// Real seconds the simulations took (the only figure that differs
    /// between two model runs of the same config and seed).
    pub wall_s: f64,
    /// The calibrated costs the model used, µs (addition).
    pub costs_us: std::collections::BTreeMap<String, f64>,
    /// Where they came from: `defaults` or the costs file (addition).
    pub costs_source: String,
}

impl SimReport {
    /// What the model runs of one config add up to; `None` for real runs.
    pub fn of<'a>(
        sims: impl IntoIterator<Item = &'a crate::metrics::sim::SimStats>,
    ) -> Option<Self> {
        let sims: Vec<_> = sims.into_iter().collect();
        let first = sims.first()?;
        Some(Self {
            events: sims.iter().map(|s| s.events).sum(),
            wall_s: round6(sims.iter().map(|s| s.wall.as_secs_f64()).sum()),
            costs_us: first
                .costs_us
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            costs_source: first.costs_source.clone(),
        })
    }
}

/// A lower bound on a run's wall time: no backend can beat the largest of
/// these, so `wall_s / ideal_s` is how much the backend lost.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Default)]
pub struct Ideal {
    /// max(cpu_s, longest_job_s, arrival_span_s).
    pub ideal_s: f64,
    /// CPU work over the parallelism the backend can use for it (1 for
    /// interpreted work under a GIL), at the run's `kernel_speed`.
    pub cpu_s: f64,
    /// The longest job's own service time.
    pub longest_job_s: f64,
    /// When the last job can arrive at the earliest.
    pub arrival_span_s: f64,
    /// ideal_s / wall_s: 1 is perfect.
    pub efficiency: f64,
}

/// Facts about the machine.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Machine {
    /// Cores available to gilsim.
    pub cores: usize,
    /// The CPU kernel's calibration; `None` (JSON `null`) on the model
    /// engine, which runs no kernel and so measures none: a model report
    /// then depends on nothing but its config and seed.
    #[serde(default)]
    pub cpu_kernel_iters_per_us: Option<f64>,
}

impl Machine {
    /// The kernel's rate as a header says it: `kernel 484.3 iters/µs`
    /// when `short` (the terminal table), `CPU kernel 484.3 iterations/µs`
    /// otherwise (files); `model engine` on a model report, which has none.
    pub fn kernel_words(&self, short: bool) -> String {
        match (self.cpu_kernel_iters_per_us, short) {
            (None, _) => "model engine".to_string(),
            (Some(x), true) => format!("kernel {x:.1} iters/µs"),
            (Some(x), false) => format!("CPU kernel {x:.1} iterations/µs"),
        }
    }
}

/// One backend's run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunReport {
    /// The backend's label.
    pub backend: String,
    /// `threads`, `rayon`, `tokio`, `async-std` or `smol`.
    pub kind: String,
    /// Whether it ran under the GIL. SPEC §4 lists `"gil": true` here and
    /// also `"gil": {stats}` in the same object; one key cannot hold both, so
    /// `gil` carries the stats (or `null`, per the spec's text) and this
    /// flag is named `gil_enabled`.
    pub gil_enabled: bool,
    /// Workers used (0 = one OS thread per job).
    pub workers: usize,
    /// tokio's flavor (addition; absent for other kinds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flavor: Option<String>,
    /// Where async backends ran CPU steps (addition; absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_mode: Option<String>,
    /// First arrival to last completion, seconds.
    pub wall_s: f64,
    /// Jobs completed.
    pub jobs: u64,
    /// jobs / wall_s.
    pub throughput_per_s: f64,
    /// Process CPU time / (wall × cores).
    pub cpu_utilization: f64,
    /// The CPU kernel's speed during this run over its calibrated speed
    /// (addition): 1.07 means CPU steps ran about 7% shorter than requested
    /// because the machine sped up after calibration. `null` when no CPU
    /// step was long enough (200 µs) to measure.
    pub kernel_speed: Option<f64>,
    /// Jobs that waited in gilsim's driver, not in the backend, because the
    /// run was at its in-flight bound (`--max-in-flight`, or the thread
    /// limit for a thread per job); their wait is in `queue` (addition).
    pub held_back_jobs: u64,
    /// CPU time the hypervisor took from this machine while the run ran,
    /// in ms, summed over its CPUs (addition): a virtual machine's host
    /// pausing a CPU stalls every job in flight. `null` on the model engine
    /// and where the kernel does not report steal time.
    #[serde(default)]
    pub host_steal_ms: Option<f64>,
    /// The lower bound on wall for this plan on this backend (addition).
    pub ideal: Ideal,
    /// Per group.
    pub groups: Vec<GroupReport>,
    /// GIL statistics; `null` without a GIL.
    #[serde(rename = "gil")]
    pub gil_stats: Option<GilReport>,
    /// Counters; empty when no step uses one.
    pub counters: Vec<CounterResult>,
    /// Who held the GIL when, over a window from the run's start (addition;
    /// absent without a GIL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gil_timeline: Option<GilTimeline>,
    /// With `processes > 1` (addition): how jobs were dispatched, and each
    /// process's jobs and GIL figures. Absent for one process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<DeploymentReport>,
    /// Whether the run reached its last job, in every requested repetition
    /// (addition, SPEC §8).
    #[serde(default = "yes")]
    pub complete: bool,
    /// Why it stopped early; `null` when complete.
    #[serde(default)]
    pub stopped: Option<Stopped>,
    /// Mean, spread and 95% interval of the main figures over repetitions
    /// (`--runs N`); absent unless at least two repetitions were measured.
    /// The plain figures above then hold the means (see
    /// [`super::repeat`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<RunStats>,
}

/// A backend run as several processes (SPEC §2 `processes`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeploymentReport {
    /// How many processes.
    pub processes: usize,
    /// `shared_queue` or `random`.
    pub dispatch: String,
    /// The busiest process's jobs over the mean per process: 1 is a
    /// perfectly even spread, `processes` is every job on one process.
    pub load_spread: f64,
    /// One entry per process, in order.
    pub per_process: Vec<ProcessReport>,
}

/// One process of a deployment.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProcessReport {
    /// Index, from 0.
    pub process: usize,
    /// Jobs it completed.
    pub jobs: u64,
    /// Its share of the run's jobs.
    pub share: f64,
    /// completion − due over its jobs, µs.
    pub latency_us: Quantiles,
    /// Its own GIL's figures; `null` without a GIL.
    pub gil: Option<GilReport>,
}

impl DeploymentReport {
    fn of(m: &RunMeasurement) -> Option<Self> {
        if m.processes.is_empty() {
            return None;
        }
        let total: u64 = m.processes.iter().map(|p| p.jobs).sum();
        let most = m.processes.iter().map(|p| p.jobs).max().unwrap_or(0);
        Some(Self {
            processes: m.processes.len(),
            dispatch: m.backend.dispatch.as_str().to_string(),
            load_spread: if total > 0 {
                round3(most as f64 * m.processes.len() as f64 / total as f64)
            } else {
                1.0
            },
            per_process: m
                .processes
                .iter()
                .enumerate()
                .map(|(i, p)| ProcessReport {
                    process: i,
                    jobs: p.jobs,
                    share: round3(if total > 0 {
                        p.jobs as f64 / total as f64
                    } else {
                        0.0
                    }),
                    latency_us: Quantiles::of(&p.latency),
                    gil: p.gil.as_ref().map(GilReport::from),
                })
                .collect(),
        })
    }
}

/// Figures of one backend over repeated runs of the same plan.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunStats {
    /// Repetitions measured (warm-up runs excluded).
    pub n: usize,
    pub wall_s: Summary,
    pub throughput_per_s: Summary,
    pub cpu_utilization: Summary,
    /// Per group, in plan order.
    pub groups: Vec<GroupStats>,
}

/// One group's latency over repeated runs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GroupStats {
    /// The group's name.
    pub name: String,
    /// Each latency figure (µs) over the repetitions.
    pub latency_us: QuantileStats,
}

/// Every key of [`Quantiles`], summarised over repetitions.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct QuantileStats {
    pub min: Summary,
    pub mean: Summary,
    pub p50: Summary,
    pub p90: Summary,
    pub p99: Summary,
    pub p999: Summary,
    pub max: Summary,
}

/// `true`, for `#[serde(default = ...)]` of fields that older files lack.
pub(crate) fn yes() -> bool {
    true
}

/// One group of one run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GroupReport {
    /// The group's name.
    pub name: String,
    /// Jobs completed.
    pub jobs: u64,
    /// completion − due, µs.
    pub latency_us: Quantiles,
    /// start − due, µs.
    pub queue_us: Quantiles,
    /// completion − start, µs.
    pub service_us: Quantiles,
    /// Summed time breakdown, seconds.
    pub time_s: TimeSeconds,
    /// Each part's share of the group's job time (addition).
    pub shares: Shares,
    /// The latency histogram itself, HdrHistogram's compressed V2 encoding
    /// in base64, µs (addition; absent when no job completed). The `.hgrm`
    /// files are rendered from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_histogram: Option<String>,
}

/// Where a group's job time (completion − due, summed) went, as fractions.
/// The measured parts plus `unaccounted` add up to 1; `unaccounted` is what
/// no timer covered (harness overhead, scheduling between steps).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Default)]
pub struct Shares {
    pub cpu: f64,
    pub native: f64,
    pub io: f64,
    pub gil_wait: f64,
    pub lock_wait: f64,
    /// Due but not started, plus waiting for an offload pool.
    pub queue: f64,
    pub executor_blocked: f64,
    pub unaccounted: f64,
}

impl Shares {
    fn of(g: &GroupMetrics) -> Self {
        let total = (g.queue_total + g.service_total).as_secs_f64();
        if total <= 0.0 {
            return Self::default();
        }
        let f = |d: std::time::Duration| round3(d.as_secs_f64() / total);
        let t = &g.times;
        let mut s = Self {
            cpu: f(t.cpu),
            native: f(t.native),
            io: f(t.io),
            gil_wait: f(t.gil_wait),
            lock_wait: f(t.lock_wait),
            queue: f(g.queue_total + t.offload_wait),
            executor_blocked: f(t.executor_blocked),
            unaccounted: 0.0,
        };
        s.unaccounted = round3(1.0 - s.parts().iter().map(|p| p.1).sum::<f64>());
        s
    }

    /// The measured parts with their names, in a fixed order.
    pub fn parts(&self) -> [(&'static str, f64); 7] {
        [
            ("cpu", self.cpu),
            ("native", self.native),
            ("io", self.io),
            ("gil wait", self.gil_wait),
            ("lock wait", self.lock_wait),
            ("queue", self.queue),
            ("executor blocked", self.executor_blocked),
        ]
    }
}

/// Summary of a microsecond histogram.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Quantiles {
    pub min: u64,
    pub mean: f64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

impl Quantiles {
    /// Summarises `h` (all zero when empty).
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self {
                min: 0,
                mean: 0.0,
                p50: 0,
                p90: 0,
                p99: 0,
                p999: 0,
                max: 0,
            };
        }
        Self {
            min: h.min(),
            mean: round3(h.mean()),
            p50: h.value_at_quantile(0.5),
            p90: h.value_at_quantile(0.9),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
        }
    }
}

/// Where a group's job time went, summed over its jobs, seconds.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Default)]
pub struct TimeSeconds {
    pub cpu: f64,
    pub native: f64,
    pub io: f64,
    pub gil_wait: f64,
    pub lock_wait: f64,
    /// Time due but not started (addition).
    pub queue: f64,
    /// Waiting for an offload pool to start CPU work (addition).
    pub offload_wait: f64,
    /// Async tasks ready to run while their thread was busy (addition).
    pub executor_blocked: f64,
}

/// GIL statistics of a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GilReport {
    pub acquisitions: u64,
    pub forced_switches: u64,
    pub wait_s: f64,
    pub hold_us: HoldQuantiles,
}

/// Hold-time percentiles, µs.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct HoldQuantiles {
    pub p50: u64,
    pub p99: u64,
    pub max: u64,
}

impl Report {
    /// Builds the report of one config from its plan and runs.
    /// `iters_per_us` is the CPU kernel's calibration, `None` on the model
    /// engine.
    pub fn new(
        plan: &Plan,
        cores: usize,
        iters_per_us: Option<f64>,
        runs: &[RunMeasurement],
    ) -> Self {
        let sim = SimReport::of(runs.iter().filter_map(|m| m.sim.as_ref()));
        let runs = runs.iter().map(|m| RunReport::of(plan, m)).collect();
        Self::from_runs(plan, cores, iters_per_us, runs).with_sim(sim)
    }

    /// Marks the report as the model engine's when `sim` is some (SPEC §6:
    /// `"engine": "model"` and `"sim"`).
    pub fn with_sim(mut self, sim: Option<SimReport>) -> Self {
        self.engine = if sim.is_some() { "model" } else { "real" }.into();
        self.sim = sim;
        self
    }

    /// Builds the report of one config from run reports already made (for
    /// example each the [`super::repeat`] of several repetitions). It is
    /// complete when every run is.
    pub fn from_runs(
        plan: &Plan,
        cores: usize,
        iters_per_us: Option<f64>,
        runs: Vec<RunReport>,
    ) -> Self {
        Self {
            gilsim: VERSION.to_string(),
            config: plan.name.clone(),
            seed: plan.seed,
            plan_sha256: plan.sha256.clone(),
            complete: runs.iter().all(|r| r.complete),
            stopped: runs.iter().find_map(|r| r.stopped),
            not_run: Vec::new(),
            machine: Machine {
                cores,
                cpu_kernel_iters_per_us: iters_per_us.map(round3),
            },
            verdict: super::verdict::verdict(&runs),
            runs,
            plan: Some(PlanSummary::of(plan, None)),
            engine: "real".into(),
            sim: None,
        }
    }

    /// Adds the config's description to the plan summary.
    pub fn with_description(mut self, description: Option<String>) -> Self {
        if let Some(p) = &mut self.plan {
            p.description = description;
        }
        self
    }

    /// Marks the report as stopped early by `why`, with the backends that
    /// never started. The verdict says so first, since figures of runs cut
    /// short are not comparable with complete ones.
    pub fn mark_stopped(&mut self, why: Stopped, not_run: Vec<String>) {
        if self.complete && not_run.is_empty() {
            return;
        }
        self.complete = false;
        self.stopped = Some(why);
        self.not_run = not_run;
        let cut: Vec<&str> = self
            .runs
            .iter()
            .filter(|r| !r.complete)
            .map(|r| r.backend.as_str())
            .collect();
        let note = super::incomplete(
            why,
            &cut,
            &self.not_run,
            "Figures of runs cut short cover only the jobs that finished.",
        );
        self.verdict.insert(0, note);
    }
}

impl Ideal {
    fn of(plan: &Plan, m: &RunMeasurement) -> Self {
        let t = plan.totals();
        let cores = m.cores.max(1) as f64;
        let b = &m.backend;
        // Threads beyond the cores do not add CPU; a pool below them caps it;
        // an inline async runtime computes only on its worker threads.
        let mut parallel = if m.workers == 0 {
            cores
        } else {
            (m.workers as f64).min(cores)
        };
        if b.kind.is_async() && b.cpu_mode() != CpuMode::Inline {
            parallel = cores;
        }
        // The bound is for the work as this run executed it: when the
        // machine ran the kernel faster than calibrated, the CPU steps were
        // shorter than requested, and so is the bound.
        let speed = m.kernel_speed.unwrap_or(1.0);
        let secs = |d| at_speed(d, speed).as_secs_f64();
        let all_cpu = secs(t.all_cpu()) / parallel;
        // Interpreted work serializes on the GIL, unless an async backend
        // ships it to a process pool (cpu_mode = "rayon").
        let offloaded_out_of_gil = b.kind.is_async() && b.cpu_mode() == CpuMode::Rayon;
        let interpreted = if b.gil && !offloaded_out_of_gil {
            secs(t.cpu + t.locked_cpu)
        } else {
            0.0
        };
        let cpu_s = all_cpu.max(interpreted);
        let longest_job_s = plan.longest_job(speed).as_secs_f64();
        let arrival_span_s = plan.arrival_span(speed).as_secs_f64();
        let ideal_s = cpu_s.max(longest_job_s).max(arrival_span_s);
        let wall = m.wall.as_secs_f64();
        Self {
            ideal_s: round6(ideal_s),
            cpu_s: round6(cpu_s),
            longest_job_s: round6(longest_job_s),
            arrival_span_s: round6(arrival_span_s),
            efficiency: round3(if wall > 0.0 {
                (ideal_s / wall).min(1.0)
            } else {
                0.0
            }),
        }
    }
}

impl RunReport {
    /// The report of one measured run of `plan`, with its ideal bound. It
    /// is complete when every planned job finished; `stopped` is for the
    /// caller, who knows why a run was cut short.
    pub fn of(plan: &Plan, m: &RunMeasurement) -> Self {
        let mut r = RunReport::from(m);
        r.ideal = Ideal::of(plan, m);
        r.complete = m.complete;
        r
    }
}

impl From<&RunMeasurement> for RunReport {
    fn from(m: &RunMeasurement) -> Self {
        let wall = m.wall.as_secs_f64();
        let capacity = wall * m.cores.max(1) as f64;
        Self {
            backend: m.backend.name.clone(),
            kind: m.backend.kind.as_str().to_string(),
            gil_enabled: m.backend.gil,
            workers: m.workers,
            flavor: m.backend.flavor.map(|f| f.as_str().to_string()),
            cpu_mode: m.backend.cpu_mode.map(|c| c.as_str().to_string()),
            wall_s: round6(wall),
            jobs: m.jobs,
            throughput_per_s: round_rate(if wall > 0.0 {
                m.jobs as f64 / wall
            } else {
                0.0
            }),
            cpu_utilization: round3(if capacity > 0.0 {
                m.process_cpu.as_secs_f64() / capacity
            } else {
                0.0
            }),
            kernel_speed: m.kernel_speed.map(round3),
            held_back_jobs: m.held_back.as_ref().map_or(0, |h| h.jobs),
            host_steal_ms: m.host_steal.map(|d| round3(d.as_secs_f64() * 1e3)),
            ideal: Ideal::default(),
            groups: m
                .groups
                .iter()
                .map(|(name, g)| GroupReport::new(name, g))
                .collect(),
            gil_stats: m.gil.as_ref().map(GilReport::from),
            counters: m.counters.clone(),
            gil_timeline: m
                .gil
                .as_ref()
                .and_then(|g| GilTimeline::of(&m.gil_holds, m.started, g.acquisitions)),
            deployment: DeploymentReport::of(m),
            complete: true,
            stopped: None,
            stats: None,
        }
    }
}

impl GroupReport {
    fn new(name: &str, g: &GroupMetrics) -> Self {
        let s = |d: std::time::Duration| round6(d.as_secs_f64());
        Self {
            name: name.to_string(),
            jobs: g.jobs,
            latency_us: Quantiles::of(&g.latency),
            queue_us: Quantiles::of(&g.queue),
            service_us: Quantiles::of(&g.service),
            time_s: TimeSeconds {
                cpu: s(g.times.cpu),
                native: s(g.times.native),
                io: s(g.times.io),
                gil_wait: s(g.times.gil_wait),
                lock_wait: s(g.times.lock_wait),
                queue: s(g.queue_total),
                offload_wait: s(g.times.offload_wait),
                executor_blocked: s(g.times.executor_blocked),
            },
            shares: Shares::of(g),
            latency_histogram: encode_histogram(&g.latency),
        }
    }
}

impl From<&GilStats> for GilReport {
    fn from(g: &GilStats) -> Self {
        let q = |p: f64| {
            if g.hold_us.is_empty() {
                0
            } else {
                g.hold_us.value_at_quantile(p)
            }
        };
        Self {
            acquisitions: g.acquisitions,
            forced_switches: g.forced_switches,
            wait_s: round6(g.wait.as_secs_f64()),
            hold_us: HoldQuantiles {
                p50: q(0.5),
                p99: q(0.99),
                max: g.hold_us.max(),
            },
        }
    }
}

pub(crate) fn round3(x: f64) -> f64 {
    (x * 1e3).round() / 1e3
}

/// A rate rounded to three decimals, or below 1 to three significant
/// digits: one job an hour is 0.000278/s, which three decimals round to 0.
pub(crate) fn round_rate(x: f64) -> f64 {
    let a = x.abs();
    if a >= 1.0 || a == 0.0 || !x.is_finite() {
        return round3(x);
    }
    // Through the decimal text: scaling by 10^k and back is off in the
    // last bit for tiny rates (1e-300 came back as 9.999…e-301).
    format!("{x:.2e}").parse().unwrap_or(x)
}

pub(crate) fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Recorder;
    use std::path::Path;
    use std::time::{Duration, Instant};

    /// Three decimals for rates of a job a second or more; three
    /// significant digits below, so a slow run's rate is not 0.
    #[test]
    fn rates_keep_three_significant_digits_below_one() {
        assert_eq!(round_rate(1234.56789), 1234.568);
        assert_eq!(round_rate(1.0 / 3600.0), 0.000278);
        assert_eq!(round_rate(0.5), 0.5);
        assert_eq!(round_rate(0.0), 0.0);
        assert_eq!(round_rate(1e-300), 1e-300);
    }

    /// A real report states its kernel's rate in both lengths; a model
    /// report, which has none, says so, and its JSON carries `null` (a
    /// report saved without the field reads as none too).
    #[test]
    fn the_kernel_rate_is_stated_where_a_kernel_ran() {
        let real = Machine {
            cores: 2,
            cpu_kernel_iters_per_us: Some(484.31),
        };
        assert_eq!(real.kernel_words(true), "kernel 484.3 iters/µs");
        assert_eq!(real.kernel_words(false), "CPU kernel 484.3 iterations/µs");
        let model = Machine {
            cores: 64,
            cpu_kernel_iters_per_us: None,
        };
        assert_eq!(model.kernel_words(true), "model engine");
        let json = serde_json::to_string(&model).unwrap();
        assert_eq!(json, r#"{"cores":64,"cpu_kernel_iters_per_us":null}"#);
        let back: Machine = serde_json::from_str(r#"{"cores":64}"#).unwrap();
        assert_eq!(back.cpu_kernel_iters_per_us, None);
        let old: Machine = serde_json::from_str(&serde_json::to_string(&real).unwrap()).unwrap();
        assert_eq!(old.cpu_kernel_iters_per_us, Some(484.31));
    }

    fn measurement(plan: &Plan, kernel_speed: Option<f64>) -> RunMeasurement {
        let set = crate::config::parse(
            "name = \"m\"\n[[backend]]\nkind = \"threads\"\n[[group]]\nname = \"g\"\nsteps = [{ cpu = \"1ms\" }]\n",
            Path::new("m.toml"),
        )
        .unwrap();
        let groups = Recorder::new(plan.groups.len()).finish();
        RunMeasurement {
            gave_up: None,
            backend: set.backends[0].clone(),
            workers: 0,
            cores: 2,
            wall: Duration::from_secs(1),
            jobs: 4,
            process_cpu: Duration::ZERO,
            host_steal: None,
            kernel_speed,
            held_back: None,
            groups: plan.name_groups(groups),
            gil: None,
            counters: vec![],
            gil_holds: vec![],
            processes: vec![],
            started: Instant::now(),
            complete: true,
            sim: None,
        }
    }

    #[test]
    fn ideal_follows_the_speed_the_kernel_ran_at() {
        let set = crate::config::parse(
            "name = \"i\"\n[[backend]]\nkind = \"threads\"\n[[group]]\nname = \"g\"\njobs = 4\nsteps = [{ cpu = \"100ms\" }, { io = \"50ms\" }]\n",
            Path::new("i.toml"),
        )
        .unwrap();
        let plan = Plan::new(&set);
        let as_calibrated = Ideal::of(&plan, &measurement(&plan, None));
        assert_eq!(as_calibrated.cpu_s, 0.2, "400 ms of CPU on 2 cores");
        assert_eq!(as_calibrated.longest_job_s, 0.15);
        let fast = Ideal::of(&plan, &measurement(&plan, Some(1.25)));
        assert_eq!(fast.cpu_s, 0.16, "CPU work ran 1.25× as fast");
        assert_eq!(fast.longest_job_s, 0.13, "IO does not speed up");
        assert_eq!(fast.ideal_s, 0.16);
    }
}
