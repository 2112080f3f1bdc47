//! `gilsim sweep` (SPEC §5): the cartesian product of `--set` values, each
//! point a full run of the selected backends, `--runs` times.
//!
//! [`prepare`] does every check before anything runs: each point's values
//! are applied to the config and re-validated, the backends named, the
//! shard and the fit's needs checked. [`Prepared::run`] then drives the
//! runs through [`crate::engine::run`] only, and [`finish`] derives the
//! per-point summaries (mean and 95% interval over runs) and the USL fits
//! from the points, so a merged sweep gets them the same way.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::keys::{Assignment, Backends, Base, Key, KeyError, Target, Value};
use super::usl;
use crate::config::{BackendKind, Flavor, JobSet};
use crate::engine::Engine;
use crate::error::{Error, RunError};
use crate::options::{available_cores, RunOptions, DEFAULT_MAX_IN_FLIGHT};
use crate::plan::Plan;
use crate::preflight::check_together;
use crate::report::{GroupReport, Report, RunReport, Shares, VERSION};
use crate::stats::Summary;
use crate::stop::{self, Stopped};
use crate::work::kernel::Calibration;

/// Most runs per point `--runs` accepts.
pub const MAX_RUNS: usize = 1000;

/// Most points one sweep may have: a typo such as `rate=1,...` with a
/// thousand values times another key is refused rather than run for days.
pub const MAX_POINTS: usize = 100_000;

/// Threads a thread-per-job run may start at once, as `run`'s default.
const MAX_THREADS: u64 = 16_384;

/// One `--set`: a key and the values it takes.
#[derive(Debug, Clone)]
pub struct Axis {
    /// The key.
    pub key: Key,
    /// Its values, in the order given.
    pub values: Vec<Value>,
}

/// `--shard K/N`: this invocation runs the points whose index mod N is K.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// K, from 0.
    pub index: usize,
    /// N, at least 1.
    pub count: usize,
}

impl Shard {
    /// Whether point `index` belongs to this shard.
    pub fn has(&self, index: usize) -> bool {
        index % self.count == self.index
    }
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "--shard {s}: expected K/N with 0 <= K < N, e.g. 0/4 (K counts from 0, \
                 as $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT)"
            )
        };
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let index: usize = k.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// A sweep file: `{"gilsim": ..., "sweep": {...}}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SweepFile {
    /// gilsim's version.
    pub gilsim: String,
    /// The sweep.
    pub sweep: Sweep,
}

/// A sweep's results (SPEC §5).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sweep {
    /// The config's name.
    pub config: String,
    /// `real` or `model`.
    pub engine: String,
    /// The `--set` keys, in the order given.
    pub keys: Vec<String>,
    /// Each key's values, in the order given (addition).
    pub values: Vec<Vec<Value>>,
    /// Runs per point (addition).
    pub runs: usize,
    /// The backends run, by label (addition).
    pub backends: Vec<String>,
    /// Points in the whole sweep, over all shards (addition).
    pub points_total: usize,
    /// The shard this file holds; absent for a whole sweep (addition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
    /// SHA-256 of the config the sweep ran from, as parsed: comments and
    /// layout do not count ([`Base::sha256`](super::keys::Base::sha256));
    /// `gilsim merge` refuses shards whose configs differ (addition;
    /// absent from sweeps written before it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_sha256: Option<String>,
    /// `usl` when `--fit usl` was asked for (addition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fit_model: Option<String>,
    /// Whether every point of this sweep (or shard) ran; false after
    /// Ctrl-C or SIGTERM, when `points` holds the runs that finished
    /// (addition; `gilsim merge` refuses the gap).
    #[serde(default = "crate::report::yes")]
    pub complete: bool,
    /// Why the sweep stopped early; absent when complete (addition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<Stopped>,
    /// One entry per point and run, by point index then run.
    pub points: Vec<Point>,
    /// Per point × backend × group: figures over the runs (addition).
    pub summary: Vec<Row>,
    /// USL fits, one per backend the varied key scales; empty without
    /// `--fit usl`, and in a shard (the fit needs every point).
    pub fit: Vec<Fit>,
}

/// One run of one point.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Point {
    /// The point's position in the cartesian product (addition).
    pub index: usize,
    /// The key values of this point.
    pub set: Assignment,
    /// Which of the `--runs` runs, from 0.
    pub run: usize,
    /// The seed the plan was drawn with.
    pub seed: u64,
    /// The run report (SPEC §4).
    pub report: Report,
}

/// The figures of one point × backend × group over its runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    /// The point's index.
    pub index: usize,
    /// The point's key values.
    pub set: Assignment,
    /// The backend's label.
    pub backend: String,
    /// The group's name.
    pub group: String,
    /// Median latency, µs.
    pub p50_us: Summary,
    /// 99th-percentile latency, µs.
    pub p99_us: Summary,
    /// The backend's throughput over the whole run, jobs per second.
    pub throughput_per_s: Summary,
    /// The largest loss among the group's shares (gil wait, lock wait,
    /// queue, executor blocked), averaged over runs; `None` below 1%.
    pub dominant_loss: Option<String>,
    /// That loss's share of job time.
    pub dominant_share: f64,
}

/// One backend's USL fit.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Fit {
    /// The backend's label.
    pub backend: String,
    /// The concurrency key N was read from.
    pub key: String,
    /// `ok`, or `failed` with `reason`.
    pub status: String,
    /// Why there is no fit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Contention.
    pub sigma: Option<f64>,
    /// Coherency.
    pub kappa: Option<f64>,
    /// Throughput at N = 1, per second.
    pub lambda: Option<f64>,
    /// Standard errors.
    pub se: Option<usl::Errors>,
    /// Where throughput peaks.
    pub n_star: Option<f64>,
    /// The highest throughput the curve reaches.
    pub x_max: Option<f64>,
    /// κ indistinguishable from 0.
    pub limitless: Option<bool>,
    /// Goodness of fit.
    pub r2: Option<f64>,
    /// The (N, X) pairs fitted.
    pub data: Vec<(f64, f64)>,
}

impl Fit {
    /// The fitted model, when the fit succeeded.
    pub fn usl(&self) -> Option<usl::Usl> {
        Some(usl::Usl {
            sigma: self.sigma?,
            kappa: self.kappa?,
            lambda: self.lambda?,
            se: self.se,
            n_star: self.n_star,
            x_max: self.x_max,
            limitless: self.limitless?,
            r2: self.r2?,
        })
    }
}

/// What `gilsim sweep` was asked to do.
#[derive(Debug)]
pub struct Request<'a> {
    /// The config, loaded and validated.
    pub base: &'a Base,
    /// The `--set` keys and values, in order.
    pub axes: Vec<Axis>,
    /// The engine from `--engine`/`--cores`.
    pub engine: Engine,
    /// `--runs`.
    pub runs: usize,
    /// `--shard`.
    pub shard: Option<Shard>,
    /// `--backend` labels (empty: all).
    pub backends: Vec<String>,
    /// `--fit usl`.
    pub fit_usl: bool,
}

/// A sweep whose every point has been applied and checked; nothing has run.
#[derive(Debug)]
pub struct Prepared {
    header: Sweep,
    todo: Vec<Todo>,
    fit_key: Option<Key>,
}

#[derive(Debug)]
struct Todo {
    index: usize,
    set: Assignment,
    config: JobSet,
    engine: Engine,
}

/// Checks a sweep request and applies every point; bad input is an error
/// here, before anything runs.
pub fn prepare(req: Request<'_>) -> Result<Prepared, Error> {
    if req.axes.is_empty() {
        return Err(usage("sweep needs at least one --set KEY=V1,V2,..."));
    }
    if !(1..=MAX_RUNS).contains(&req.runs) {
        return Err(usage(&format!("--runs must be from 1 to {MAX_RUNS}")));
    }
    for (i, a) in req.axes.iter().enumerate() {
        if req.axes[..i].iter().any(|b| b.key == a.key) {
            return Err(usage(&format!(
                "--set {}: the key is given twice; list all its values in one --set",
                a.key
            )));
        }
    }
    let total = req
        .axes
        .iter()
        .try_fold(1usize, |n, a| n.checked_mul(a.values.len()))
        .filter(|n| *n <= MAX_POINTS)
        .ok_or_else(|| {
            usage(&format!(
                "the --set values make more than {MAX_POINTS} points; sweep fewer values at once"
            ))
        })?;
    check_backends(req.base.config(), &req.backends)?;
    let fit_key = if req.fit_usl {
        Some(fit_key(&req.axes)?)
    } else {
        None
    };
    let mut todo = Vec::new();
    for (index, values) in grid(&req.axes).into_iter().enumerate() {
        let (mut config, engine) = req.base.apply(&values, req.engine)?;
        if !req.backends.is_empty() {
            config.backends.retain(|b| req.backends.contains(&b.name));
        }
        if req.shard.map_or(true, |s| s.has(index)) {
            let set = Assignment(
                values
                    .iter()
                    .map(|(k, v)| (k.as_str().to_string(), v.clone()))
                    .collect(),
            );
            todo.push(Todo {
                index,
                set,
                config,
                engine,
            });
        }
    }
    if req.engine == Engine::Real {
        // async-std's executor is sized once per process: every point this
        // process runs must agree, or the sweep would fail half-way.
        let cores = available_cores();
        check_together(todo.iter().flat_map(|t| &t.config.backends), cores).map_err(Error::Run)?;
    }
    let base = req.base.config();
    let header = Sweep {
        config: base.name.clone(),
        engine: req.engine.as_str().to_string(),
        keys: req
            .axes
            .iter()
            .map(|a| a.key.as_str().to_string())
            .collect(),
        values: req.axes.iter().map(|a| a.values.clone()).collect(),
        runs: req.runs,
        backends: base
            .backends
            .iter()
            .filter(|b| req.backends.is_empty() || req.backends.contains(&b.name))
            .map(|b| b.name.clone())
            .collect(),
        points_total: total,
        shard: req.shard,
        config_sha256: Some(req.base.sha256()),
        fit_model: req.fit_usl.then(|| "usl".to_string()),
        complete: true,
        stopped: None,
        points: Vec::new(),
        summary: Vec::new(),
        fit: Vec::new(),
    };
    Ok(Prepared {
        header,
        todo,
        fit_key,
    })
}

fn usage(msg: &str) -> Error {
    Error::Usage(msg.to_string())
}

/// Every combination of the axes' values, the first axis varying slowest.
pub fn grid(axes: &[Axis]) -> Vec<Vec<(Key, Value)>> {
    let mut out: Vec<Vec<(Key, Value)>> = vec![Vec::new()];
    for axis in axes {
        out = out
            .into_iter()
            .flat_map(|prefix| {
                axis.values.iter().map(move |v| {
                    let mut p = prefix.clone();
                    p.push((axis.key.clone(), v.clone()));
                    p
                })
            })
            .collect();
    }
    out
}

fn check_backends(config: &JobSet, names: &[String]) -> Result<(), Error> {
    for name in names {
        if !config.backends.iter().any(|b| &b.name == name) {
            let labels: Vec<&str> = config.backends.iter().map(|b| b.name.as_str()).collect();
            return Err(usage(&format!(
                "--backend {name}: the config has no backend with that label (labels: {})",
                labels.join(", ")
            )));
        }
    }
    Ok(())
}

/// The one concurrency key a USL fit reads N from; every other key must
/// hold one value (`seed` may vary: its points are replicates).
fn fit_key(axes: &[Axis]) -> Result<Key, Error> {
    let refuse = |why: String| usage(&format!("--fit usl: {why}"));
    let concurrency: Vec<&Axis> = axes.iter().filter(|a| a.key.is_concurrency()).collect();
    let axis = match concurrency.as_slice() {
        [one] => *one,
        [] => {
            return Err(refuse(
                "fits throughput against a concurrency key, and no --set key is one \
                 (backend.*.workers, backend.LABEL.workers, backend.LABEL.processes, \
                 group.NAME.arrival.closed, cores)"
                    .into(),
            ))
        }
        _ => {
            return Err(refuse(format!(
                "fits against one concurrency key; {} are given",
                concurrency
                    .iter()
                    .map(|a| a.key.as_str())
                    .collect::<Vec<_>>()
                    .join(" and ")
            )))
        }
    };
    if let Some(other) = axes
        .iter()
        .find(|a| a.key != axis.key && a.key.target() != &Target::Seed && a.values.len() > 1)
    {
        return Err(refuse(format!(
            "`{}` varies too; a fit needs every key but `{}` (and seed) held at one value",
            other.key, axis.key
        )));
    }
    let levels: Vec<f64> = axis.values.iter().filter_map(Value::as_f64).collect();
    usl::check_levels(&levels).map_err(|why| refuse(format!("{} on `{}`", why, axis.key)))?;
    Ok(axis.key.clone())
}

/// Where a sweep is, for a progress display.
#[derive(Debug, Clone, Copy)]
pub struct Progress<'a> {
    /// Point runs finished.
    pub done: usize,
    /// Point runs in this invocation.
    pub total: usize,
    /// The point about to run.
    pub set: &'a Assignment,
    /// Its run number.
    pub run: usize,
}

impl Prepared {
    /// Point runs this invocation will do (points of its shard × runs).
    pub fn total_runs(&self) -> usize {
        self.todo.len() * self.header.runs
    }

    /// The sweep's header (no points yet).
    pub fn header(&self) -> &Sweep {
        &self.header
    }

    /// Runs every point of this shard `runs` times and returns the sweep.
    pub fn run(
        self,
        calibration: Calibration,
        on_progress: &mut dyn FnMut(Progress<'_>),
    ) -> Result<SweepFile, Error> {
        let Prepared {
            mut header,
            todo,
            fit_key,
        } = self;
        let total = todo.len() * header.runs;
        let mut done = 0;
        'points: for t in &todo {
            let plan = Arc::new(Plan::new(&t.config));
            for run in 0..header.runs {
                on_progress(Progress {
                    done,
                    total,
                    set: &t.set,
                    run,
                });
                let report = run_point(&t.config, &t.engine, &plan, calibration)?;
                if stop::requested() || !report.complete {
                    // A point cut short is not a measurement of it: keep
                    // only the runs that finished.
                    header.complete = false;
                    header.stopped = stop::reason();
                    break 'points;
                }
                header.points.push(Point {
                    index: t.index,
                    set: t.set.clone(),
                    run,
                    seed: plan.seed,
                    report,
                });
                done += 1;
            }
        }
        finish(&mut header, fit_key.as_ref());
        Ok(SweepFile {
            gilsim: VERSION.to_string(),
            sweep: header,
        })
    }
}

/// One full run of a point: every selected backend, one report.
fn run_point(
    config: &JobSet,
    engine: &Engine,
    plan: &Arc<Plan>,
    calibration: Calibration,
) -> Result<Report, RunError> {
    let opts = RunOptions {
        calibration,
        max_threads: MAX_THREADS,
        max_in_flight: DEFAULT_MAX_IN_FLIGHT,
        record_gil_holds: false,
        progress: None,
        // Every job is measured, as in `run`.
        warmup_jobs: 0,
        give_up: &[],
    };
    let runs = config
        .backends
        .iter()
        .map(|spec| crate::engine::run(engine, spec, plan.clone(), &opts))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Report::new(
        plan,
        engine.cores(),
        engine.kernel_rate(calibration),
        &runs,
    ))
}

/// Fills in the summary rows and, for a whole sweep with `--fit usl`, the
/// fits, from the points alone.
pub fn finish(sweep: &mut Sweep, fit_key: Option<&Key>) {
    sweep.points.sort_by_key(|p| (p.index, p.run));
    sweep.summary = summarise(&sweep.points);
    sweep.fit = match fit_key {
        Some(key) if sweep.shard.is_none() => fits(sweep, key),
        _ => Vec::new(),
    };
}

/// The key to fit against, for a sweep read back from JSON.
pub fn fit_key_of(sweep: &Sweep) -> Result<Option<Key>, KeyError> {
    if sweep.fit_model.as_deref() != Some("usl") {
        return Ok(None);
    }
    let axes = sweep
        .keys
        .iter()
        .zip(&sweep.values)
        .map(|(k, v)| {
            Ok(Axis {
                key: Key::parse(k)?,
                values: v.clone(),
            })
        })
        .collect::<Result<Vec<_>, KeyError>>()?;
    fit_key(&axes)
        .map(Some)
        .map_err(|e| KeyError(e.to_string()))
}

fn summarise(points: &[Point]) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut i = 0;
    while i < points.len() {
        let j = points[i..]
            .iter()
            .position(|p| p.index != points[i].index)
            .map_or(points.len(), |d| i + d);
        let same = &points[i..j];
        let first = &same[0].report;
        for run in &first.runs {
            for g in &run.groups {
                rows.push(row(same, &run.backend, &g.name));
            }
        }
        i = j;
    }
    rows
}

fn row(points: &[Point], backend: &str, group: &str) -> Row {
    let runs: Vec<&RunReport> = points
        .iter()
        .filter_map(|p| p.report.runs.iter().find(|r| r.backend == backend))
        .collect();
    let groups: Vec<&GroupReport> = runs
        .iter()
        .filter_map(|r| r.groups.iter().find(|g| g.name == group))
        .collect();
    let summary = |xs: Vec<f64>| {
        Summary::of(&xs).unwrap_or(Summary {
            n: 0,
            mean: f64::NAN,
            stddev: 0.0,
            ci95_lo: f64::NAN,
            ci95_hi: f64::NAN,
        })
    };
    let (dominant_loss, dominant_share) = dominant(&groups);
    Row {
        index: points[0].index,
        set: points[0].set.clone(),
        backend: backend.to_string(),
        group: group.to_string(),
        p50_us: summary(groups.iter().map(|g| g.latency_us.p50 as f64).collect()),
        p99_us: summary(groups.iter().map(|g| g.latency_us.p99 as f64).collect()),
        throughput_per_s: summary(runs.iter().map(|r| r.throughput_per_s).collect()),
        dominant_loss,
        dominant_share,
    }
}

/// Share parts that are losses (time a job was not doing its own work).
fn losses(s: &Shares) -> [(&'static str, f64); 4] {
    [
        ("gil wait", s.gil_wait),
        ("lock wait", s.lock_wait),
        ("queue", s.queue),
        ("executor blocked", s.executor_blocked),
    ]
}

/// The largest loss, averaged over runs; named only from 1% of job time.
fn dominant(groups: &[&GroupReport]) -> (Option<String>, f64) {
    if groups.is_empty() {
        return (None, 0.0);
    }
    let n = groups.len() as f64;
    let mut mean = [0.0; 4];
    for g in groups {
        for (m, (_, x)) in mean.iter_mut().zip(losses(&g.shares)) {
            *m += x / n;
        }
    }
    let names = losses(&Shares::default()).map(|p| p.0);
    let (name, share) = names
        .into_iter()
        .zip(mean)
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap_or(("queue", 0.0));
    ((share >= 0.01).then(|| name.to_string()), share)
}

/// Whether a concurrency key scales this backend: `backend.*.workers`
/// skips a one-thread tokio runtime (current_thread, asyncio: one worker
/// whatever the key says), as the key itself does.
fn scaled_by(key: &Key, run: &RunReport) -> bool {
    match key.target() {
        Target::Workers(Backends::Label(l)) | Target::Processes(l) => *l == run.backend,
        Target::Workers(Backends::All) => {
            !(run.kind == BackendKind::Tokio.as_str()
                && run
                    .flavor
                    .as_deref()
                    .and_then(Flavor::named)
                    .is_some_and(Flavor::one_thread))
        }
        _ => true,
    }
}

fn fits(sweep: &Sweep, key: &Key) -> Vec<Fit> {
    let run_of = |label: &str| {
        sweep
            .points
            .iter()
            .flat_map(|p| &p.report.runs)
            .find(|r| r.backend == label)
    };
    sweep
        .backends
        .iter()
        .filter(|b| run_of(b).is_some_and(|r| scaled_by(key, r)))
        .map(|b| {
            let data: Vec<(f64, f64)> = sweep
                .points
                .iter()
                .filter_map(|p| {
                    let n = p.set.get(key.as_str())?.as_f64()?;
                    let run = p.report.runs.iter().find(|r| &r.backend == b)?;
                    Some((n, run.throughput_per_s))
                })
                .collect();
            fit_one(b, key, data)
        })
        .collect()
}

fn fit_one(backend: &str, key: &Key, data: Vec<(f64, f64)>) -> Fit {
    let mut fit = Fit {
        backend: backend.to_string(),
        key: key.as_str().to_string(),
        status: "ok".into(),
        reason: None,
        sigma: None,
        kappa: None,
        lambda: None,
        se: None,
        n_star: None,
        x_max: None,
        limitless: None,
        r2: None,
        data: Vec::new(),
    };
    match usl::fit(&data) {
        Ok(u) => {
            fit.sigma = Some(u.sigma);
            fit.kappa = Some(u.kappa);
            fit.lambda = Some(u.lambda);
            fit.se = u.se;
            fit.n_star = u.n_star;
            fit.x_max = u.x_max;
            fit.limitless = Some(u.limitless);
            fit.r2 = Some(u.r2);
        }
        Err(e) => {
            fit.status = "failed".into();
            fit.reason = Some(e.0);
        }
    }
    fit.data = data;
    fit
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_and_partition_the_points() {
        let s: Shard = "1/3".parse().expect("valid");
        assert_eq!(s, Shard { index: 1, count: 3 });
        assert_eq!(
            (0..9).filter(|i| s.has(*i)).collect::<Vec<_>>(),
            vec![1, 4, 7]
        );
        for bad in ["3/3", "1", "a/2", "0/0", "-1/2", "1/2/3", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_grid_is_the_cartesian_product_first_key_slowest() {
        let axes = vec![
            Axis {
                key: Key::parse("seed").expect("valid"),
                values: vec![Value::Int(1), Value::Int(2)],
            },
            Axis {
                key: Key::parse("backend.*.workers").expect("valid"),
                values: vec![Value::Int(1), Value::Int(2), Value::Int(4)],
            },
        ];
        let g = grid(&axes);
        assert_eq!(g.len(), 6);
        let flat: Vec<(String, String)> = g
            .iter()
            .map(|p| (p[0].1.to_string(), p[1].1.to_string()))
            .collect();
        assert_eq!(flat[0], ("1".into(), "1".into()));
        assert_eq!(flat[2], ("1".into(), "4".into()));
        assert_eq!(flat[3], ("2".into(), "1".into()));
    }
}
