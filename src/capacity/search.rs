//! `gilsim plan` (SPEC §5): per backend, the highest value of one key at
//! which every SLO holds, or with `--least` the least. (Named `search` so
//! as not to clash with [`crate::plan`], the job plan.)
//!
//! Which values are probed is [`super::bisect`]'s: an exponential climb
//! from LO (or descent from HI) until a probe fails, then bisection. It
//! assumes what holds at a value also holds below it (more load, more
//! latency), or with `--least` above it (more workers, cores, think).
//! The answer is then confirmed by probes `confirm` times as long, which
//! can only move it towards the safe end ([`super::bisect::confirm`]).
//!
//! Each probe is a full run through [`crate::engine::run`] of a config
//! with the key set, made long enough for its statistic to mean something:
//! every open- or closed-loop group gets at least W + N jobs, where N =
//! 100 / (1 − q) for the strictest quantile q among the SLOs (p99: 10,000)
//! and the first W = max(200, N / 10) jobs of each such group are a
//! warm-up left out of the histograms. An open-loop probe must also
//! achieve ≥ 99% of its offered rate.
//!
//! A probe on the real engine that misses an SLO while the host stole CPU
//! time from this machine ([`crate::metrics::host`]) is measured again, at
//! most [`HOST_RETRIES`] more times, and holds if any measurement holds:
//! a hypervisor pausing a virtual CPU only ever adds latency and takes
//! throughput, so one measurement that meets every SLO is what the
//! workload does. Each disturbed measurement is kept in the probe's
//! `attempts`. Only a miss the stolen time can account for is measured
//! again (`steal_explains`): a p99 100 ms over its bound with 10 ms
//! stolen is the workload's, not the host's.
//!
//! A stop (Ctrl-C, SIGTERM: [`crate::stop`]) ends a backend's search
//! after the probe in progress winds down. That probe is dropped (part of
//! a probe is not a measurement); the backend's result is
//! [`Status::Interrupted`] with the probes that finished, and the plan is
//! marked incomplete ([`PlanResult::mark_stopped`]).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::config::{Arrival, JobSet};
use crate::engine::{self, Engine};
use crate::error::Error;
use crate::metrics::GroupMetrics;
use crate::options::{Progress, RunOptions, DEFAULT_MAX_IN_FLIGHT};
use crate::plan::{ArrivalPlan, Plan};
use crate::report::{Report, RunReport, Shares};
use crate::stop::Stopped;
use crate::work::kernel::Calibration;

use super::bisect::{confirm, search};
pub use super::bisect::{Find, Status};
use super::keys::{Base, Key, KeyError, Target, Value, ValueKind};
use super::slo::{jobs_for_quantile, warmup_for, Objective, Slo};

/// An open-loop probe must complete at least this share of its offered
/// rate (SPEC §5).
pub const MIN_ACHIEVED_RATIO: f64 = 0.99;

/// Re-measurements of a probe that missed an SLO while the host stole CPU
/// time: two, so a pause has to hit three measurements in a row to turn a
/// holding value into a failing one.
pub const HOST_RETRIES: usize = 2;

/// How much more than the stolen time a miss may exceed its bound by and
/// still be put down to the host (see [`steal_explains`]).
const STEAL_FACTOR: f64 = 2.0;

/// `/proc/stat` counts steal in ticks of 10 ms (`USER_HZ` = 100 on
/// Linux), so a reading of 0 ms may hide up to one tick.
const STEAL_TICK_MS: f64 = 10.0;

/// How long each probe runs (the rule in the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ProbeLength {
    /// The strictest quantile among the SLOs.
    pub quantile: f64,
    /// Measured jobs per open- or closed-loop group, at least.
    pub measured_jobs: u64,
    /// Warm-up jobs before them, left out of the histograms.
    pub warmup_jobs: u64,
}

impl ProbeLength {
    /// The length the strictest of `slos` needs.
    pub fn for_slos(slos: &[Slo]) -> Self {
        let quantile = slos.iter().map(Slo::quantile).fold(0.5, f64::max);
        let measured_jobs = jobs_for_quantile(quantile);
        Self {
            quantile,
            measured_jobs,
            warmup_jobs: warmup_for(measured_jobs),
        }
    }

    /// This length with `factor` times the measured jobs (the warm-up
    /// stays), for a confirmation probe.
    pub fn times(&self, factor: u32) -> Self {
        Self {
            measured_jobs: self.measured_jobs.saturating_mul(u64::from(factor)),
            ..*self
        }
    }

    /// Gives every open- or closed-loop group of `set` at least W + N jobs
    /// (a group that already has more keeps its count). Batch groups have
    /// no steady state: they run as written and are measured whole.
    pub fn lengthen(&self, set: &mut JobSet) {
        let want = self.warmup_jobs + self.measured_jobs;
        for g in &mut set.groups {
            if !matches!(g.arrival, Arrival::Batch) {
                g.jobs = g.jobs.max(want);
            }
        }
    }
}

/// One probe of one backend.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Probe {
    /// The key's value.
    pub value: f64,
    /// Whether every SLO held (and the achieved rate was high enough).
    pub met: bool,
    /// What the SLOs looked at (`requests.p99_us`, `throughput_per_s`).
    pub figures: BTreeMap<String, f64>,
    /// Open loop: completed over offered rate over the measured jobs;
    /// `null` without an open-loop group.
    pub achieved_ratio: Option<f64>,
    /// Measured jobs (addition).
    pub jobs: u64,
    /// Warm-up jobs per open or closed group, not measured (addition).
    pub warmup_jobs: u64,
    /// How long the probe took, every measurement of it, seconds
    /// (addition).
    pub elapsed_s: f64,
    /// CPU time the host stole from this machine during the deciding
    /// measurement, ms (addition; `null` on the model engine).
    #[serde(default)]
    pub host_steal_ms: Option<f64>,
    /// Earlier measurements of this value that missed an SLO while the
    /// host stole CPU time, so were measured again (addition; empty when
    /// the first measurement decided).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<Attempt>,
    /// Jobs already unfinished longer than an SLO's bound when the probe
    /// was stopped because that SLO had failed for certain
    /// ([`super::doom`]); absent when it ran to the end (addition). Its
    /// figures then cover only the jobs that finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gave_up: Option<u64>,
    /// Whether the host stole enough CPU time during this measurement to
    /// account for every way it missed (`steal_explains`).
    #[serde(skip)]
    pub steal_explains: bool,
}

/// A measurement of a probe that missed an SLO while the host stole CPU
/// time, superseded by a re-measurement.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Attempt {
    /// What the SLOs looked at.
    pub figures: BTreeMap<String, f64>,
    /// As in [`Probe::achieved_ratio`].
    pub achieved_ratio: Option<f64>,
    /// CPU time the host stole during it, ms.
    pub host_steal_ms: Option<f64>,
}

impl Probe {
    /// Whether the host stole enough CPU time from the machine while this
    /// measurement missed its SLOs to account for the miss: then it says
    /// more about the host than about the workload.
    fn disturbed_miss(&self) -> bool {
        // A probe given up on was decided by more late jobs than a host's
        // stall can make.
        !self.met && self.gave_up.is_none() && self.steal_explains
    }

    /// Keeps `earlier` (a disturbed miss) in this later measurement's
    /// attempts.
    fn after(mut self, earlier: Probe) -> Probe {
        self.attempts = earlier.attempts;
        self.elapsed_s = round3(self.elapsed_s + earlier.elapsed_s);
        self.attempts.push(Attempt {
            figures: earlier.figures,
            achieved_ratio: earlier.achieved_ratio,
            host_steal_ms: earlier.host_steal_ms,
        });
        self
    }
}

/// The value a backend's search found, under the name of what it looked
/// for: `"max"` (SPEC §5) or, with `--least`, `"min"`; `null` for doom.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    /// The highest value that held.
    Max(Option<f64>),
    /// The least value that held.
    Min(Option<f64>),
}

impl Answer {
    /// `value` as the answer to `find`.
    pub fn new(find: Find, value: Option<f64>) -> Self {
        match find {
            Find::Max => Answer::Max(value),
            Find::Min => Answer::Min(value),
        }
    }

    /// The value found (`None` for doom).
    pub fn value(self) -> Option<f64> {
        match self {
            Answer::Max(v) | Answer::Min(v) => v,
        }
    }

    /// What was looked for.
    pub fn find(self) -> Find {
        match self {
            Answer::Max(_) => Find::Max,
            Answer::Min(_) => Find::Min,
        }
    }
}

/// One backend's answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackendResult {
    /// The backend's label.
    pub backend: String,
    /// found, doom, not_reached, or interrupted (the search was stopped).
    pub status: Status,
    /// The value found, as `"max"` or `"min"`.
    #[serde(flatten)]
    pub answer: Answer,
    /// The dominant loss at the first failing probe; `null` when none
    /// failed.
    pub limit: Option<String>,
    /// Every probe, in order (of an interrupted search: those that
    /// finished).
    pub probes: Vec<Probe>,
    /// The run report at the value found; `null` for doom and
    /// interrupted.
    pub report: Option<RunReport>,
}

impl BackendResult {
    /// The value found (`None` for doom).
    pub fn value(&self) -> Option<f64> {
        self.answer.value()
    }
}

/// A whole plan: the SPEC §5 `plan` object.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlanResult {
    /// The config's name.
    pub config: String,
    /// real or model.
    pub engine: String,
    /// The key searched.
    pub vary: String,
    /// What was looked for: the highest value that holds (`max`) or, with
    /// `--least`, the least (`min`) (addition).
    #[serde(default)]
    pub find: Find,
    /// LO and HI.
    pub range: [f64; 2],
    /// The SLOs as written.
    pub slo: Vec<String>,
    /// Relative precision of the bisection (addition).
    pub precision: f64,
    /// How long each probe ran (addition).
    pub probe_length: ProbeLength,
    /// The answer was confirmed by probes of this many times the measured
    /// jobs (addition; 1: not confirmed, as plans written before it).
    #[serde(default = "unconfirmed")]
    pub confirm: u32,
    /// Whether every selected backend's search ran to its answer; false
    /// after Ctrl-C or SIGTERM (SPEC §8), when `results` holds what was
    /// measured (addition; plans written before it were complete).
    #[serde(default = "crate::report::yes")]
    pub complete: bool,
    /// Why the plan stopped early; absent when complete (addition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<Stopped>,
    /// Backends selected but never searched because the plan stopped
    /// first, so that a reader can tell them from backends not selected
    /// (addition; absent when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_run: Vec<String>,
    /// One per backend searched, in config order.
    pub results: Vec<BackendResult>,
    /// Which backend carries the most load within the SLO, or with
    /// `--least` needs the least (addition).
    pub verdict: Vec<String>,
}

impl PlanResult {
    /// Marks the plan as stopped early by `why`, with the backends that
    /// were never searched, when a search was cut short or a backend not
    /// run (otherwise the plan is whole, however late the stop came). The
    /// verdict says so first: a backend cut short is not compared with
    /// the others, whatever its probes showed.
    pub fn mark_stopped(&mut self, why: Stopped, not_run: Vec<String>) {
        let cut = self.results.iter().any(|r| r.status == Status::Interrupted);
        if !cut && not_run.is_empty() {
            return;
        }
        self.complete = false;
        self.stopped = Some(why);
        self.not_run = not_run;
        let lines = super::plan_verdict::incomplete(self.find, why, &self.results, &self.not_run);
        self.verdict.splice(0..0, lines);
    }
}

/// `confirm` of a plan written before it existed.
fn unconfirmed() -> u32 {
    1
}

/// Everything a plan needs besides the backend.
pub struct PlanRequest<'a> {
    /// The loaded config.
    pub base: &'a Base,
    /// The key searched.
    pub key: Key,
    /// Which end of the values that hold to look for.
    pub find: Find,
    /// The answer is probed again with this many times the measured jobs
    /// ([`confirm`]); 1: not confirmed.
    pub confirm: u32,
    /// LO and HI, as numbers of the key ([`Value::as_f64`]).
    pub range: (f64, f64),
    /// Every SLO.
    pub slos: Vec<Slo>,
    /// Relative precision (0.05 = 5%).
    pub precision: f64,
    /// The engine probes run on.
    pub engine: Engine,
    /// The CPU kernel's calibration.
    pub calibration: Calibration,
}

/// What a probe reports as it finishes (for progress lines).
#[derive(Debug, Clone)]
pub struct ProbeEvent<'a> {
    /// The backend.
    pub backend: &'a str,
    /// 1-based probe number for this backend.
    pub number: usize,
    /// The probe.
    pub probe: &'a Probe,
}

/// Why a probe has no measurement: a stop came (the search ends, and what
/// it measured is kept), or the run failed (the plan fails). Internal to
/// the search, which turns the first into [`Status::Interrupted`].
enum Halt {
    Stopped,
    Failed(Error),
}

impl From<Error> for Halt {
    fn from(e: Error) -> Self {
        Halt::Failed(e)
    }
}

impl PlanRequest<'_> {
    /// How long each probe runs.
    pub fn probe_length(&self) -> ProbeLength {
        ProbeLength::for_slos(&self.slos)
    }

    /// Searches one backend (by label). After a stop request
    /// ([`crate::stop`]) the search ends at once, dropping the probe in
    /// progress, and the result is [`Status::Interrupted`] with the probes
    /// that finished; `Err` only when a probe failed to run.
    pub fn backend(
        &self,
        label: &str,
        on_probe: &mut dyn FnMut(ProbeEvent<'_>),
        on_progress: Option<&(dyn Fn(Progress) + Sync)>,
    ) -> Result<BackendResult, Error> {
        let length = self.probe_length();
        let mut probes: Vec<Probe> = Vec::new();
        let mut reports: Vec<RunReport> = Vec::new();
        let mut first_fail: Option<(usize, RunReport)> = None;
        let key = &self.key;
        let mut run_probe = |x: f64, length: &ProbeLength| -> Result<bool, Halt> {
            let (probe, report) = self.probe(label, x, length, on_progress)?;
            let met = probe.met;
            if !met && first_fail.is_none() {
                first_fail = Some((probes.len(), report.clone()));
            }
            probes.push(probe);
            reports.push(report);
            on_probe(ProbeEvent {
                backend: label,
                number: probes.len(),
                probe: probes.last().expect("just pushed"),
            });
            Ok(met)
        };
        let (lo, hi) = self.range;
        let snap_key = |x| snap(key, x);
        let searched = search(self.find, lo, hi, self.precision, snap_key, |x| {
            run_probe(x, &length)
        })
        .and_then(|searched| {
            if self.confirm <= 1 {
                return Ok(searched);
            }
            let long = length.times(self.confirm);
            confirm(
                self.find,
                (lo, hi),
                self.precision,
                snap_key,
                searched,
                |x| run_probe(x, &long),
            )
        });
        let limit = first_fail.map(|(i, r)| self.limit_of(&probes[i], &r));
        let searched = match searched {
            Ok(searched) => searched,
            Err(Halt::Failed(e)) => return Err(e),
            Err(Halt::Stopped) => {
                return Ok(BackendResult {
                    backend: label.to_string(),
                    status: Status::Interrupted,
                    answer: Answer::new(self.find, None),
                    limit,
                    probes,
                    report: None,
                })
            }
        };
        let report = searched.value.and_then(|m| {
            probes
                .iter()
                .zip(&reports)
                .rev()
                .find(|(p, _)| p.met && p.value == m)
                .map(|(_, r)| r.clone())
        });
        Ok(BackendResult {
            backend: label.to_string(),
            status: searched.status,
            answer: Answer::new(self.find, searched.value),
            limit,
            probes,
            report,
        })
    }

    /// Runs one probe, measuring it again while it misses an SLO with the
    /// host stealing CPU time (see the module doc). A stop during any of
    /// its measurements drops the whole probe.
    fn probe(
        &self,
        label: &str,
        x: f64,
        length: &ProbeLength,
        on_progress: Option<&(dyn Fn(Progress) + Sync)>,
    ) -> Result<(Probe, RunReport), Halt> {
        remeasure_disturbed(|| {
            self.measure(label, x, length, on_progress)?
                .ok_or(Halt::Stopped)
        })
    }

    /// Measures one probe: the config with the key at `x`, lengthened, on
    /// the backend `label`. `None` when a stop was requested before it
    /// started or cut it short: it has no measurement.
    fn measure(
        &self,
        label: &str,
        x: f64,
        length: &ProbeLength,
        on_progress: Option<&(dyn Fn(Progress) + Sync)>,
    ) -> Result<Option<(Probe, RunReport)>, Error> {
        if crate::stop::requested() {
            return Ok(None);
        }
        let value = self.key.value_from_f64(x);
        let (mut set, engine) = self.base.apply(&[(self.key.clone(), value)], self.engine)?;
        length.lengthen(&mut set);
        let spec = set
            .backends
            .iter()
            .find(|b| b.name == label)
            .cloned()
            .ok_or_else(|| KeyError(format!("no backend labelled `{label}`")))?;
        let plan = Arc::new(Plan::new(&set));
        let give_up = super::doom::give_up_points(&plan, &self.slos, length.warmup_jobs);
        let opts = RunOptions {
            calibration: self.calibration,
            max_threads: 16_384,
            record_gil_holds: false,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            progress: on_progress,
            warmup_jobs: length.warmup_jobs,
            give_up: &give_up,
        };
        let t = Instant::now();
        let m = engine::run(&engine, &spec, plan.clone(), &opts)?;
        // A run that got through every job (or was given up on, which
        // decided it before the stop could) measured the probe even if the
        // stop came as it ended; one the stop cut short did not.
        if crate::stop::requested() && !m.complete && m.gave_up.is_none() {
            return Ok(None);
        }
        let elapsed = t.elapsed();
        let gave_up = m.gave_up;
        // A probe given up on did not run its arrivals through: there is
        // no achieved rate to speak of.
        let achieved_ratio = achieved_ratio(&plan, &m.groups).filter(|_| gave_up.is_none());
        let mut report = Report::new(
            &plan,
            engine.cores(),
            engine.kernel_rate(self.calibration),
            &[m],
        );
        let run = report.runs.remove(0);
        let mut figures = BTreeMap::new();
        let mut met = true;
        for slo in &self.slos {
            for f in slo.judge(&run) {
                met &= f.met;
                figures.insert(f.name, f.value);
            }
        }
        if let Some(r) = achieved_ratio {
            met &= r >= MIN_ACHIEVED_RATIO;
        }
        met &= gave_up.is_none();
        let steal_explains = run
            .host_steal_ms
            .is_some_and(|ms| ms > 0.0 && steal_explains(&self.slos, &run, achieved_ratio, ms));
        Ok(Some((
            Probe {
                value: x,
                met,
                figures,
                achieved_ratio,
                jobs: run.jobs,
                warmup_jobs: length.warmup_jobs,
                elapsed_s: round3(elapsed.as_secs_f64()),
                host_steal_ms: run.host_steal_ms,
                attempts: Vec::new(),
                gave_up,
                steal_explains,
            },
            run,
        )))
    }

    /// The dominant loss of the failing probe (SPEC §5 `limit`).
    fn limit_of(&self, probe: &Probe, run: &RunReport) -> String {
        // The groups whose figures failed, else every group the SLOs name.
        let failing: Vec<&str> = self
            .slos
            .iter()
            .flat_map(|s| s.judge(run))
            .filter(|f| !f.met)
            .filter_map(|f| f.group)
            .filter_map(|g| run.groups.iter().find(|x| x.name == g))
            .map(|g| g.name.as_str())
            .collect();
        let slo_failed = self.slos.iter().flat_map(|s| s.judge(run)).any(|f| !f.met);
        if let (false, Some(r)) = (slo_failed, probe.achieved_ratio) {
            if r < MIN_ACHIEVED_RATIO {
                return format!("throughput: achieved {:.1}% of the offered rate", 100.0 * r);
            }
        }
        let groups = run
            .groups
            .iter()
            .filter(|g| failing.is_empty() || failing.contains(&g.name.as_str()));
        let worst = groups
            .map(|g| dominant_loss(&g.shares))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        match worst {
            Some((name, share)) if share >= 0.05 => describe_loss(name, share, run),
            _ => {
                let work = run
                    .groups
                    .iter()
                    .find(|g| failing.is_empty() || failing.contains(&g.name.as_str()))
                    .map(|g| crate::report::shares(&g.shares))
                    .unwrap_or_default();
                format!("the work itself (no queue or GIL loss): {work} of job time")
            }
        }
    }
}

/// The largest loss (time a job spent not doing its own work) in `s`.
fn dominant_loss(s: &Shares) -> (&'static str, f64) {
    [
        ("gil_wait", s.gil_wait),
        ("queue", s.queue),
        ("lock_wait", s.lock_wait),
        ("executor_blocked", s.executor_blocked),
    ]
    .into_iter()
    .max_by(|a, b| a.1.total_cmp(&b.1))
    .unwrap_or(("queue", 0.0))
}

fn describe_loss(name: &str, share: f64, run: &RunReport) -> String {
    let pct = (100.0 * share).round();
    match name {
        "gil_wait" => format!("GIL wait {pct}% of job time"),
        "lock_wait" => format!("lock wait {pct}% of job time"),
        "executor_blocked" => {
            format!("executor blocked {pct}% of job time: CPU work holds up the event loop")
        }
        _ => {
            let processes = run.deployment.as_ref().map_or(1, |d| d.processes);
            let busy = match (run.workers, processes) {
                (0, _) => "every job has its thread; jobs waited to start".to_string(),
                (1, 1) => "its 1 worker busy".to_string(),
                (w, 1) => format!("{w} workers busy"),
                (w, p) => format!("{p}×{w} workers busy"),
            };
            format!("queue {pct}% of job time: {busy}")
        }
    }
}

/// Completed over offered rate: the lowest over the open-loop groups of
/// 1/(1 + g), g the slope of their measured jobs' latency against due
/// time (`metrics::trend`). A group that keeps up has no slope beyond
/// noise, however long its latency tail; one served at μ of λ offered has
/// g = λ/μ − 1. `None` without an open-loop group with a fit (closed-loop
/// groups set their own pace).
fn achieved_ratio(plan: &Plan, groups: &[(String, GroupMetrics)]) -> Option<f64> {
    plan.groups
        .iter()
        .filter(|g| matches!(g.arrival, ArrivalPlan::Open { .. }))
        .filter_map(|g| {
            let (_, m) = groups.iter().find(|(name, _)| *name == g.name)?;
            m.trend.achieved_share()
        })
        .min_by(f64::total_cmp)
        .map(round3)
}

/// The nearest value key `key` can take to `x`, as a number.
fn snap(key: &Key, x: f64) -> f64 {
    match key.kind() {
        ValueKind::Integer => x.round(),
        ValueKind::Duration => (x * 1e9).round() / 1e9,
        ValueKind::Number => x,
    }
}

/// Refuses keys a search over numbers makes no sense for.
pub fn check_searchable(key: &Key) -> Result<(), KeyError> {
    match key.target() {
        Target::Seed => Err(KeyError(format!(
            "--vary {key}: a seed is not a quantity that can be too high; vary it with `gilsim sweep --set seed=1,2,3`"
        ))),
        _ => Ok(()),
    }
}

/// `KEY=LO..HI`, parsed and checked against the config: both ends must be
/// values the config accepts, and LO below HI.
pub fn parse_vary(base: &Base, arg: &str, engine: Engine) -> Result<(Key, f64, f64), KeyError> {
    let usage = || {
        KeyError(format!(
            "--vary {arg}: expected KEY=LO..HI, e.g. group.requests.arrival.rate=50..5000"
        ))
    };
    let (key, range) = arg.split_once('=').ok_or_else(usage)?;
    let (lo, hi) = range.split_once("..").ok_or_else(usage)?;
    let key = base.key(key)?;
    check_searchable(&key)?;
    if lo.trim().is_empty() || hi.trim().is_empty() {
        return Err(KeyError(format!(
            "--vary {arg}: the range needs both ends, LO..HI (e.g. {key}=10..1000)"
        )));
    }
    let (lo_v, hi_v) = (key.value(lo)?, key.value(hi)?);
    let number = |v: &Value| {
        v.as_f64()
            .ok_or_else(|| KeyError(format!("--vary {arg}: `{v}` is not a number")))
    };
    let (l, h) = (number(&lo_v)?, number(&hi_v)?);
    if l > h {
        return Err(KeyError(format!(
            "--vary {arg}: LO ({lo_v}) is above HI ({hi_v}); write the smaller value first"
        )));
    }
    if l == h {
        return Err(KeyError(format!(
            "--vary {arg}: the range {lo_v}..{hi_v} is empty; LO must be below HI"
        )));
    }
    for v in [lo_v, hi_v] {
        base.apply(&[(key.clone(), v)], engine)?;
    }
    Ok((key, l, h))
}

/// Parses `--precision`: `5%` or `0.05`, between 0.1% and 50%.
pub fn parse_precision(text: &str) -> Result<f64, KeyError> {
    let t = text.trim();
    let x = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|p| p / 100.0),
        None => t.parse::<f64>(),
    };
    match x {
        Ok(p) if (0.001..=0.5).contains(&p) => Ok(p),
        _ => Err(KeyError(format!(
            "--precision {t}: expected a relative precision between 0.1% and 50%, e.g. 5% or 0.05"
        ))),
    }
}

/// Takes `measure`'s measurement, and measures again, at most
/// [`HOST_RETRIES`] times, while it is a [`Probe::disturbed_miss`].
fn remeasure_disturbed<R, E>(
    mut measure: impl FnMut() -> Result<(Probe, R), E>,
) -> Result<(Probe, R), E> {
    let (mut probe, mut report) = measure()?;
    for _ in 0..HOST_RETRIES {
        if !probe.disturbed_miss() {
            break;
        }
        let (again, run) = measure()?;
        probe = again.after(probe);
        report = run;
    }
    Ok((probe, report))
}

/// Whether `steal_ms` of CPU time stolen by the host during `run` can
/// account for every way `run` missed its SLOs.
///
/// In a work-conserving system a pause of `s` delays any job by at most
/// `s` (every later job is pushed back by no more than the pause) and takes
/// at most `s / wall` of the throughput. The reading is the sum over all
/// virtual CPUs, which only overstates a pause. The allowance is twice
/// that, plus one tick of `/proc/stat`'s resolution, for what is not
/// work-conserving (a paused GIL holder that others then wait out, timers
/// that fire after the pause). A miss by more than that is the workload's.
fn steal_explains(slos: &[Slo], run: &RunReport, achieved: Option<f64>, steal_ms: f64) -> bool {
    let stall_s = STEAL_FACTOR * (steal_ms + STEAL_TICK_MS) / 1e3;
    let lost_share = stall_s / run.wall_s.max(1e-9);
    let slos_explained = slos.iter().all(|slo| match slo.objective() {
        Objective::Latency { limit, .. } => slo
            .judge(run)
            .iter()
            .filter(|f| !f.met)
            .all(|f| f.value / 1e6 - limit.as_secs_f64() <= stall_s),
        Objective::Throughput { min } => run.throughput_per_s >= min * (1.0 - lost_share),
    });
    slos_explained && achieved.map_or(true, |r| r >= MIN_ACHIEVED_RATIO - lost_share)
}

fn round3(x: f64) -> f64 {
    (x * 1e3).round() / 1e3
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A measurement that meets or misses with `steal_ms` stolen.
    fn measured(met: bool, steal_ms: Option<f64>) -> Probe {
        Probe {
            value: 100.0,
            met,
            figures: BTreeMap::from([("g.p99_us".to_string(), if met { 10.0 } else { 50.0 })]),
            achieved_ratio: Some(1.0),
            jobs: 10,
            warmup_jobs: 1,
            elapsed_s: 1.0,
            host_steal_ms: steal_ms,
            attempts: Vec::new(),
            gave_up: None,
            steal_explains: steal_ms.is_some_and(|ms| ms > 0.0),
        }
    }

    /// Runs [`remeasure_disturbed`] over a scripted sequence of
    /// measurements; returns the probe and how many were taken.
    fn remeasure(script: &[(bool, Option<f64>)]) -> (Probe, usize) {
        let mut taken = 0;
        let (probe, n) = remeasure_disturbed(|| {
            let (met, steal) = script[taken];
            taken += 1;
            Ok::<_, ()>((measured(met, steal), taken))
        })
        .unwrap();
        (probe, n)
    }

    /// The achieved ratio is the lowest open-loop group's share; a
    /// closed-loop group's slope does not count, and a plan without an
    /// open-loop group has none.
    #[test]
    fn the_achieved_ratio_is_the_lowest_open_groups_share() {
        let text = r#"
[[backend]]
kind = "threads"
[[group]]
name = "steady"
jobs = 100
arrival = { rate = 1000, process = "poisson" }
steps = [{ io = "1ms" }]
[[group]]
name = "behind"
jobs = 100
arrival = { rate = 1000, process = "uniform" }
steps = [{ io = "1ms" }]
[[group]]
name = "clients"
jobs = 100
arrival = { closed = 2 }
steps = [{ io = "1ms" }]
"#;
        let set = crate::config::parse(text, std::path::Path::new("t.toml")).unwrap();
        let plan = Plan::new(&set);
        let growing = |name: &str, g: f64| {
            let mut m = GroupMetrics::new();
            for i in 0..100 {
                let t = f64::from(i) * 1e-3;
                m.trend.add(t, 0.01 + g * t);
            }
            (name.to_string(), m)
        };
        let groups = [
            growing("steady", 0.0),
            growing("behind", 0.25),
            growing("clients", 3.0),
        ];
        assert_eq!(achieved_ratio(&plan, &groups), Some(0.8));
        assert_eq!(achieved_ratio(&plan, &groups[..1]), Some(1.0));
        let closed = text
            .replace(
                "arrival = { rate = 1000, process = \"poisson\" }",
                "arrival = { closed = 1 }",
            )
            .replace(
                "arrival = { rate = 1000, process = \"uniform\" }",
                "arrival = { closed = 1 }",
            );
        let set = crate::config::parse(&closed, std::path::Path::new("t.toml")).unwrap();
        assert_eq!(achieved_ratio(&Plan::new(&set), &groups), None);
    }

    #[test]
    fn a_miss_without_host_steal_stands() {
        let (p, n) = remeasure(&[(false, Some(0.0)), (true, Some(0.0))]);
        assert_eq!((p.met, n), (false, 1));
        let (p, n) = remeasure(&[(false, None), (true, None)]);
        assert_eq!((p.met, n), (false, 1));
        assert!(p.attempts.is_empty());
    }

    #[test]
    fn a_miss_while_the_host_stole_is_measured_again() {
        let (p, n) = remeasure(&[(false, Some(20.0)), (true, Some(10.0))]);
        assert_eq!((p.met, n), (true, 2));
        assert_eq!(p.attempts.len(), 1);
        assert_eq!(p.attempts[0].host_steal_ms, Some(20.0));
        assert_eq!(p.attempts[0].figures["g.p99_us"], 50.0);
        assert_eq!(p.elapsed_s, 2.0);
        assert_eq!(p.figures["g.p99_us"], 10.0);
    }

    #[test]
    fn remeasuring_stops_after_its_retries_or_a_clean_miss() {
        let all_stolen = [(false, Some(10.0)); 5];
        let (p, n) = remeasure(&all_stolen);
        assert_eq!((p.met, n), (false, 1 + HOST_RETRIES));
        assert_eq!(p.attempts.len(), HOST_RETRIES);
        let (p, n) = remeasure(&[(false, Some(10.0)), (false, Some(0.0)), (true, None)]);
        assert_eq!((p.met, n), (false, 2));
    }

    /// A 1 s run of one group "g" whose p99 is `p99_ms`, at 1,000 jobs/s.
    fn run_with_p99(p99_ms: u64) -> RunReport {
        use crate::report::fixtures;
        let mut q = fixtures::quantiles(1);
        q.p99 = p99_ms * 1_000;
        let g = fixtures::group("g", 1_000, q, Shares::default());
        fixtures::run("b", 1_000.0, vec![g])
    }

    #[test]
    fn only_a_miss_the_stolen_time_can_account_for_is_put_down_to_the_host() {
        let p99 = [Slo::parse("g.p99<=20ms").unwrap()];
        // 10 ms stolen (one tick): the allowance is 2 x (10 + 10) = 40 ms.
        assert!(steal_explains(&p99, &run_with_p99(45), None, 10.0));
        assert!(steal_explains(&p99, &run_with_p99(60), None, 10.0));
        assert!(!steal_explains(&p99, &run_with_p99(61), None, 10.0));
        assert!(!steal_explains(&p99, &run_with_p99(500), None, 30.0));
        // The achieved rate: 40 ms of a 1 s run is 4% of its throughput.
        assert!(steal_explains(&p99, &run_with_p99(5), Some(0.96), 10.0));
        assert!(!steal_explains(&p99, &run_with_p99(5), Some(0.90), 10.0));
        let rate = [Slo::parse("throughput>=1030").unwrap()];
        assert!(steal_explains(&rate, &run_with_p99(5), None, 10.0));
        let rate = [Slo::parse("throughput>=1100").unwrap()];
        assert!(!steal_explains(&rate, &run_with_p99(5), None, 10.0));
    }

    #[test]
    fn a_probe_given_up_on_is_not_measured_again() {
        let mut taken = 0;
        let (p, n) = remeasure_disturbed(|| {
            taken += 1;
            let mut m = measured(false, Some(30.0));
            m.gave_up = Some(4_000);
            Ok::<_, ()>((m, taken))
        })
        .unwrap();
        assert_eq!((p.met, n, p.gave_up), (false, 1, Some(4_000)));
    }

    /// An interrupted plan's JSON says so as a sweep's does, keeps what
    /// the cut backend measured, and reads back the same.
    #[test]
    fn an_interrupted_plan_round_trips_through_json() {
        use crate::capacity::plan_output::PlanDocument;
        let plan = crate::capacity::plan_chart::tests::interrupted(4, &["tokio"]);
        let doc = serde_json::to_value(PlanDocument::new(plan)).unwrap();
        let plan = &doc["plan"];
        assert_eq!(plan["complete"], false);
        assert_eq!(plan["stopped"], "interrupted");
        assert_eq!(plan["not_run"], serde_json::json!(["tokio"]));
        let cut = &plan["results"][0];
        assert_eq!(cut["status"], "interrupted");
        assert!(cut["max"].is_null() && cut["report"].is_null(), "{cut}");
        assert_eq!(cut["probes"].as_array().map(Vec::len), Some(4));
        assert_eq!(plan["results"][1]["status"], "not_reached");
        assert_eq!(plan["results"][1]["max"], 3200.0);
        assert_eq!(
            plan["verdict"][0],
            "Incomplete (interrupted): cut short: threads+gil; not run: tokio. \
             Only the backends whose search finished are compared."
        );
        assert_eq!(
            plan["verdict"][1],
            "threads+gil: interrupted after 4 probes: held at 400, failed at 800."
        );
        let back: PlanDocument = serde_json::from_value(doc.clone()).unwrap();
        assert!(!back.plan.complete);
        assert_eq!(back.plan.stopped, Some(Stopped::Interrupted));
        assert_eq!(back.plan.results[0].status, Status::Interrupted);
        assert_eq!(serde_json::to_value(&back).unwrap(), doc);
    }

    /// A complete plan writes neither `stopped` nor `not_run`, and a plan
    /// written before the fields existed reads as complete.
    #[test]
    fn a_plan_without_the_stop_fields_reads_as_complete() {
        let mut plan = crate::capacity::plan_chart::tests::plan();
        // A stop that came after every search ended leaves it whole.
        plan.mark_stopped(Stopped::Interrupted, Vec::new());
        let mut json = serde_json::to_value(&plan).unwrap();
        assert_eq!(json["complete"], true);
        let fields = json.as_object_mut().unwrap();
        assert!(!fields.contains_key("stopped") && !fields.contains_key("not_run"));
        fields.remove("complete");
        let old: PlanResult = serde_json::from_value(json).unwrap();
        assert!(old.complete);
        assert_eq!(old.stopped, None);
        assert!(old.not_run.is_empty());
        assert_eq!(old.verdict, ["rayon carries the most."]);
    }

    #[test]
    fn precision_parses() {
        assert_eq!(parse_precision("5%").unwrap(), 0.05);
        assert_eq!(parse_precision("0.02").unwrap(), 0.02);
        assert!(parse_precision("0%").is_err());
        assert!(parse_precision("80%").is_err());
        assert!(parse_precision("fast").is_err());
    }
}
