//! `gilsim bench`: the figures the issues ask for, measured side by side in
//! one run on this machine. Each figure is compared with a reference
//! measured in the same run (a plain `nanosleep`, the kernel without a
//! harness, the same step without a GIL) so the ratios mean something on a
//! noisy machine where absolute numbers drift.

mod input;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::backend;
use crate::config::{
    Arrival, BackendKind, BackendSpec, DurationSpec, Flavor, GilSettings, GroupSpec, JobSet, Step,
};
use crate::error::RunError;
use crate::hist::quantile_midpoint_us;
use crate::metrics::RunMeasurement;
use crate::options::{available_cores, RunOptions, DEFAULT_MAX_IN_FLIGHT};
use crate::plan::Plan;
use crate::work::gil::Gil;
use crate::work::kernel::{spin, Calibration};

pub mod affinity;
pub mod bare;
pub mod floor;
mod io;
pub mod rss;
pub mod turns;
use bare::Bare;
pub use io::io_precision;

/// One measured figure.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Figure {
    /// What part of the system it measures.
    pub section: &'static str,
    /// What was measured.
    pub name: String,
    /// The value, in `unit`.
    pub value: f64,
    /// Unit of `value`.
    pub unit: &'static str,
    /// The goal, in words (empty when there is none).
    pub goal: String,
    /// Whether the goal was met (`None` when there is no goal).
    pub met: Option<bool>,
}

/// How much work the benchmark does.
#[derive(Debug, Clone, Copy)]
pub struct BenchSize {
    /// Waits per IO precision measurement.
    pub io_samples: u64,
    /// Jobs for harness throughput.
    pub throughput_jobs: u64,
    /// Jobs for the peak-RSS measurement.
    pub rss_jobs: u64,
    /// Concurrent threads for the thread-per-job limit check.
    pub threads: u64,
    /// Interleaved (gilsim, bare program) pairs per backend.
    pub pairs: usize,
    /// IO jobs per CPU-per-IO-job measurement.
    pub io_cpu_jobs: u64,
}

impl BenchSize {
    /// The sizes the issues name.
    pub const FULL: BenchSize = BenchSize {
        io_samples: 1000,
        throughput_jobs: 100_000,
        rss_jobs: 1_000_000,
        threads: 10_000,
        pairs: 5,
        io_cpu_jobs: 500,
    };
    /// A quick smoke run.
    pub const QUICK: BenchSize = BenchSize {
        io_samples: 100,
        throughput_jobs: 5_000,
        rss_jobs: 20_000,
        threads: 500,
        pairs: 1,
        io_cpu_jobs: 50,
    };
}

/// Every async and thread backend, one of each flavor.
fn io_backends() -> Vec<BackendSpec> {
    let mut tokio_ct = BackendSpec::new(BackendKind::Tokio, false);
    tokio_ct.flavor = Some(Flavor::CurrentThread);
    tokio_ct.name = "tokio current_thread".into();
    let mut tokio_mt = BackendSpec::new(BackendKind::Tokio, false);
    tokio_mt.name = "tokio multi_thread".into();
    let mut tokio_aio = BackendSpec::new(BackendKind::Tokio, false);
    tokio_aio.flavor = Some(Flavor::Asyncio);
    tokio_aio.name = "tokio asyncio".into();
    vec![
        BackendSpec::new(BackendKind::Threads, false),
        BackendSpec::new(BackendKind::Rayon, false),
        tokio_mt,
        tokio_ct,
        tokio_aio,
        BackendSpec::new(BackendKind::AsyncStd, false),
        BackendSpec::new(BackendKind::Smol, false),
    ]
}

fn job_set(groups: Vec<GroupSpec>) -> JobSet {
    JobSet {
        name: "bench".into(),
        description: None,
        seed: 0,
        gil: GilSettings::default(),
        model_cores: None,
        backends: vec![],
        groups,
        source: PathBuf::from("<bench>"),
    }
}

fn group(jobs: u64, arrival: Arrival, step: Step) -> GroupSpec {
    GroupSpec {
        name: "g".into(),
        jobs,
        arrival,
        steps: vec![step],
    }
}

fn run(
    spec: &BackendSpec,
    set: &JobSet,
    c: Calibration,
    max_threads: u64,
) -> Result<RunMeasurement, RunError> {
    let opts = RunOptions {
        calibration: c,
        max_threads,
        record_gil_holds: false,
        max_in_flight: DEFAULT_MAX_IN_FLIGHT,
        progress: None,
        warmup_jobs: 0,
        give_up: &[],
    };
    backend::run(spec, Arc::new(Plan::new(set)), &opts)
}

/// The `q` quantile of the first group's service time, µs, at the middle
/// of the bucket it falls in (see [`quantile_midpoint_us`]).
fn quantile_us(m: &RunMeasurement, q: f64) -> f64 {
    quantile_midpoint_us(&m.groups[0].1.service, q)
}

/// Runs every benchmark and returns its figures, calling `log` as each
/// section starts.
/// `exe` is the gilsim binary, for figures that need a fresh process.
pub fn run_all(
    size: BenchSize,
    c: Calibration,
    exe: Option<&std::path::Path>,
    log: &dyn Fn(&str),
) -> Result<Vec<Figure>, RunError> {
    let mut figs = Vec::new();
    log("IO wait precision");
    io_precision(size, c, &mut figs)?;
    log("CPU step accuracy and GIL poll overhead");
    cpu_accuracy(c, &mut figs)?;
    log("GIL primitives");
    gil_primitives(c, &mut figs)?;
    log("harness throughput");
    throughput(size, c, &mut figs)?;
    log("harness against bare programs");
    against_bare(size, c, &mut figs)?;
    log("peak memory");
    peak_memory(size, c, &mut figs)?;
    log("input memory");
    input::input_memory(size.rss_jobs.saturating_mul(100), &mut figs);
    log("thread-per-job limit");
    many_threads(size, c, &mut figs);
    log("tracing overhead");
    disabled_span_cost(c, &mut figs);
    if let Some(exe) = exe {
        trace_overhead(
            exe,
            if size.rss_jobs < BenchSize::FULL.rss_jobs {
                1
            } else {
                3
            },
            &mut figs,
        );
    }
    Ok(figs)
}

/// Cost of the spans a job enters when no subscriber wants them, against
/// the shortest job the harness runs (1 µs of CPU).
fn disabled_span_cost(c: Calibration, figs: &mut Vec<Figure>) {
    let n = 1_000_000u32;
    let t = Instant::now();
    for i in 0..n {
        let span = tracing::trace_span!("step", kind = "cpu", i);
        let _e = span.enter();
        std::hint::black_box(&span);
    }
    let ns = t.elapsed().as_nanos() as f64 / n as f64;
    figs.push(figure(
        "tracing",
        "a disabled span (created + entered, no subscriber wants it)",
        ns,
        "ns",
    ));
    // A sync job enters two spans (job, step) per single-step job.
    let per_job = 2.0 * ns / (c.iters_for(Duration::from_micros(1)) as f64 / c.iters_per_us * 1e3);
    let pct = per_job * 100.0;
    figs.push(with_goal(
        figure(
            "tracing",
            "span cost with no subscriber, on a 1µs job",
            pct,
            "%",
        ),
        "≤ 1%",
        pct <= 1.0,
    ));
}

/// Summed `wall_s` of the quickstart's runs, with and without `--trace`,
/// interleaved `reps` times, from separate processes (a subscriber is
/// installed once per process).
fn trace_overhead(exe: &std::path::Path, reps: usize, figs: &mut Vec<Figure>) {
    let config = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/quickstart.toml");
    let trace =
        std::env::temp_dir().join(format!("gilsim-bench-{}.trace.json", std::process::id()));
    let walls = |with_trace: bool| -> Option<f64> {
        let mut cmd = std::process::Command::new(exe);
        cmd.arg("run")
            .arg(&config)
            .args(["--format", "json", "--quiet"]);
        if with_trace {
            cmd.arg("--trace").arg(&trace);
        }
        let out = cmd.output().ok().filter(|o| o.status.success())?;
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        Some(
            v["runs"]
                .as_array()?
                .iter()
                .filter_map(|r| r["wall_s"].as_f64())
                .sum(),
        )
    };
    let (mut off, mut on) = (Vec::new(), Vec::new());
    for _ in 0..reps {
        off.extend(walls(false));
        on.extend(walls(true));
    }
    let _ = std::fs::remove_file(&trace);
    if off.is_empty() || on.is_empty() {
        figs.push(figure(
            "tracing",
            format!(
                "--trace overhead: could not run {} on {}",
                exe.display(),
                config.display()
            ),
            0.0,
            "",
        ));
        return;
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let pct = (mean(&on) / mean(&off) - 1.0) * 100.0;
    figs.push(with_goal(
        figure(
            "tracing",
            format!("--trace overhead on quickstart wall ({reps}× each, interleaved)"),
            pct,
            "%",
        ),
        "≤ 10%",
        pct <= 10.0,
    ));
}

fn figure(
    section: &'static str,
    name: impl Into<String>,
    value: f64,
    unit: &'static str,
) -> Figure {
    Figure {
        section,
        name: name.into(),
        value,
        unit,
        goal: String::new(),
        met: None,
    }
}

fn with_goal(mut f: Figure, goal: impl Into<String>, met: bool) -> Figure {
    f.goal = goal.into();
    f.met = Some(met);
    f
}

/// Median service time of `reps` sequential CPU jobs of `d`, and the
/// kernel's speed during them over its calibration.
fn cpu_job_us(
    gil: bool,
    d: Duration,
    reps: u64,
    c: Calibration,
) -> Result<(f64, Option<f64>), RunError> {
    let set = job_set(vec![group(
        reps,
        Arrival::Closed {
            clients: 1,
            think: None,
        },
        Step::Cpu(DurationSpec::Fixed(d)),
    )]);
    let m = run(
        &BackendSpec::new(BackendKind::Threads, gil),
        &set,
        c,
        u64::MAX,
    )?;
    Ok((quantile_us(&m, 0.5), m.kernel_speed))
}

fn cpu_accuracy(c: Calibration, figs: &mut Vec<Figure>) -> Result<(), RunError> {
    // Recalibrate right before measuring: a VM's speed drifts over the
    // seconds the other sections take, and this figure is about the step,
    // not the drift.
    let c = Calibration::measure()
        .iters_per_us
        .max(c.iters_per_us * 0.5);
    let c = Calibration { iters_per_us: c };
    let (got, speed) = cpu_job_us(false, Duration::from_millis(50), 9, c)?;
    let err = (got / 50_000.0 - 1.0) * 100.0;
    figs.push(with_goal(
        figure("cpu", "50ms cpu step alone: error (median of 9)", err, "%"),
        "within ±2%",
        err.abs() <= 2.0,
    ));
    // What the machine did meanwhile: an error that matches this drift is
    // the machine's, not the step's.
    if let Some(speed) = speed {
        figs.push(figure(
            "cpu",
            "50ms cpu step alone: kernel speed drift during the steps (thread CPU time)",
            (speed - 1.0) * 100.0,
            "%",
        ));
        // The step against what 50 ms of work takes at the speed the kernel
        // actually ran: what is left is gilsim's own error (slicing,
        // preemption, timing), not the machine's drift.
        figs.push(figure(
            "cpu",
            "50ms cpu step alone: error at the kernel's measured speed",
            (got * speed / 50_000.0 - 1.0) * 100.0,
            "%",
        ));
    }
    // Pairs measured back to back, so drift hits both sides of a pair alike;
    // the median of the pairs' ratios ignores the pairs a neighbour disturbed.
    let mut ratios: Vec<f64> = (0..7)
        .map(|_| {
            let (without, _) = cpu_job_us(false, Duration::from_millis(100), 3, c)?;
            let (with, _) = cpu_job_us(true, Duration::from_millis(100), 3, c)?;
            Ok(with / without)
        })
        .collect::<Result<_, RunError>>()?;
    ratios.sort_by(f64::total_cmp);
    let overhead = (ratios[ratios.len() / 2] - 1.0) * 100.0;
    figs.push(with_goal(
        figure(
            "gil",
            "drop-request poll overhead on a 100ms cpu step (with vs without GIL, median of 7 pairs)",
            overhead,
            "%",
        ),
        "≤ 1% slower",
        overhead <= 1.0,
    ));
    Ok(())
}

fn gil_primitives(c: Calibration, figs: &mut Vec<Figure>) -> Result<(), RunError> {
    let gil = Gil::new(GilSettings::default());
    let n = 1_000_000u32;
    let t = Instant::now();
    for _ in 0..n {
        gil.acquire();
        gil.release();
    }
    figs.push(figure(
        "gil",
        "uncontended acquire + release",
        t.elapsed().as_nanos() as f64 / n as f64,
        "ns",
    ));
    // Two CPU-bound threads: every switch is a forced hand-off.
    let set = job_set(vec![group(
        2,
        Arrival::Batch,
        Step::Cpu(DurationSpec::Fixed(Duration::from_millis(300))),
    )]);
    let m = run(
        &BackendSpec::new(BackendKind::Threads, true),
        &set,
        c,
        u64::MAX,
    )?;
    if let Some(s) = &m.gil {
        figs.push(figure(
            "gil",
            format!(
                "hand-off, drop request → waiter runs, p50 ({} forced switches)",
                s.forced_switches
            ),
            s.handoff_us.value_at_quantile(0.5) as f64,
            "µs",
        ));
        figs.push(figure(
            "gil",
            "hand-off, drop request → waiter runs, p99",
            s.handoff_us.value_at_quantile(0.99) as f64,
            "µs",
        ));
    }
    Ok(())
}

fn throughput(size: BenchSize, c: Calibration, figs: &mut Vec<Figure>) -> Result<(), RunError> {
    let n = size.throughput_jobs;
    let iters = c.iters_for(Duration::from_micros(1));
    let t = Instant::now();
    let mut x = 1;
    for _ in 0..n {
        x = spin(x, iters);
    }
    let bare = n as f64 / t.elapsed().as_secs_f64();
    figs.push(figure(
        "harness",
        format!("{n} × 1µs cpu, no harness (one thread)"),
        bare,
        "jobs/s",
    ));
    // Thread-per-job cannot start n threads at once (the OS limit refuses
    // it up front), so it gets the same jobs from 1000 closed-loop clients.
    let clients = 1000;
    let per_job_set = job_set(vec![group(
        n,
        Arrival::Closed {
            clients,
            think: None,
        },
        Step::Cpu(DurationSpec::Fixed(Duration::from_micros(1))),
    )]);
    for gil in [false, true] {
        let spec = BackendSpec::new(BackendKind::Threads, gil);
        let m = run(&spec, &per_job_set, c, u64::MAX)?;
        let tput = m.jobs as f64 / m.wall.as_secs_f64();
        figs.push(figure(
            "harness",
            format!(
                "{n} × 1µs cpu on {} from {clients} clients (×{:.2} of one bare thread)",
                spec.name,
                tput / bare
            ),
            tput,
            "jobs/s",
        ));
    }
    Ok(())
}

/// Each backend beside the same runtime without gilsim ([`bare`]), as
/// interleaved pairs (gilsim, bare, gilsim, bare, …) so drift hits both
/// sides alike; figures are the medians of the pairs' ratios.
pub fn against_bare(
    size: BenchSize,
    c: Calibration,
    figs: &mut Vec<Figure>,
) -> Result<(), RunError> {
    against_bare_only(size, c, "", figs)
}

/// [`against_bare`] for the backends whose name contains `only`.
pub fn against_bare_only(
    size: BenchSize,
    c: Calibration,
    only: &str,
    figs: &mut Vec<Figure>,
) -> Result<(), RunError> {
    let pairs: Vec<_> = bare_pairs()
        .into_iter()
        .filter(|(s, _)| s.name.contains(only))
        .collect();
    per_job_floor(size, c, figs);
    for (spec, kind) in &pairs {
        throughput_against_bare(size, c, spec, *kind, figs)?;
    }
    for (spec, kind) in &pairs {
        io_cpu_against_bare(size, c, spec, *kind, figs)?;
    }
    Ok(())
}

/// What gilsim's job path adds to a 1 µs job on one thread, beside the
/// least any per-job measurement adds ([`floor`]), and the ceiling that
/// floor puts on a harness's throughput against a bare program.
fn per_job_floor(size: BenchSize, c: Calibration, figs: &mut Vec<Figure>) {
    let rounds = if size.pairs >= BenchSize::FULL.pairs {
        60
    } else {
        10
    };
    let p = floor::per_job_costs(c, rounds, (size.throughput_jobs / 10).max(100));
    let job = format!("1µs job on one thread ({:.0} ns bare)", p.bare_ns);
    figs.push(figure(
        "harness",
        format!("{job}: what gilsim's job path adds (median of {rounds} rounds)"),
        p.gilsim_ns,
        "ns",
    ));
    figs.push(figure(
        "harness",
        format!("{job}: the least any per-job measurement adds (two clock readings, buffered spans, a count)"),
        p.floor_ns,
        "ns",
    ));
    figs.push(figure(
        "harness",
        "ceiling for any harness that measures each 1µs job: bare ÷ (bare + that least)",
        p.floor_ceiling(),
        "× bare",
    ));
}

/// Side-by-side pairs, gilsim then bare, each giving a figure of both.
#[derive(Default)]
struct Pairs {
    ours: Vec<f64>,
    theirs: Vec<f64>,
    ratios: Vec<f64>,
}

impl Pairs {
    /// Adds one pair.
    fn push(&mut self, ours: f64, theirs: f64) {
        self.ours.push(ours);
        self.theirs.push(theirs);
        self.ratios.push(ours / theirs.max(1e-9));
    }

    /// Adds the µs of CPU (all threads) each job cost gilsim in `m` and
    /// the bare program in `b`.
    fn push_cpu_per_job(&mut self, m: &RunMeasurement, b: &bare::BareRun) {
        self.push(
            m.process_cpu.as_secs_f64() * 1e6 / m.jobs.max(1) as f64,
            b.cpu.as_secs_f64() * 1e6 / b.jobs.max(1) as f64,
        );
    }

    /// The medians of gilsim's figures, the bare program's, and the ratios;
    /// and the ratios' spread.
    fn medians(self) -> (f64, f64, f64, String) {
        let spread = spread(&self.ratios);
        (
            median(&self.ours),
            median(&self.theirs),
            median(&self.ratios),
            spread,
        )
    }
}

/// Throughput of short CPU jobs on `spec` beside its bare program, and the
/// CPU each job cost on both sides.
fn throughput_against_bare(
    size: BenchSize,
    c: Calibration,
    spec: &BackendSpec,
    kind: Bare,
    figs: &mut Vec<Figure>,
) -> Result<(), RunError> {
    let n = size.throughput_jobs;
    let cpu_set = job_set(vec![group(
        n,
        Arrival::Batch,
        Step::Cpu(DurationSpec::Fixed(Duration::from_micros(1))),
    )]);
    let iters = c.iters_for(Duration::from_micros(1));
    let (mut jobs_per_s, mut cpu_per_job) = (Pairs::default(), Pairs::default());
    for _ in 0..size.pairs {
        let m = run(spec, &cpu_set, c, u64::MAX)?;
        let b = bare::cpu_jobs(kind, available_cores(), n, iters);
        jobs_per_s.push(
            m.jobs as f64 / m.wall.as_secs_f64(),
            b.jobs as f64 / b.wall.as_secs_f64(),
        );
        cpu_per_job.push_cpu_per_job(&m, &b);
    }
    let (ours, theirs, ratio, spread) = jobs_per_s.medians();
    figs.push(against_bare_figure(
        &format!("{n} × 1µs cpu on {}", spec.name),
        (format!("{ours:.0}"), format!("{theirs:.0} jobs/s")),
        (kind, size.pairs, &spread),
        ratio,
        ("≥ 0.9× bare", ratio >= 0.9),
    ));
    // CPU time is steadier than throughput on a shared machine: it is what
    // the harness adds, whoever else wants the cores. (The figure is the
    // ratio of the medians, as before.)
    let (co, ct, _, _) = cpu_per_job.medians();
    figs.push(figure(
        "harness",
        format!("  … CPU per job (all threads): gilsim {co:.2} µs vs bare {ct:.2} µs"),
        co / ct.max(1e-9),
        "× bare",
    ));
    Ok(())
}

/// CPU per 1 ms IO job on `spec` beside its bare program (one client, each
/// wait handed over and waited for).
fn io_cpu_against_bare(
    size: BenchSize,
    c: Calibration,
    spec: &BackendSpec,
    kind: Bare,
    figs: &mut Vec<Figure>,
) -> Result<(), RunError> {
    let d = Duration::from_millis(1);
    let io_set = job_set(vec![group(
        size.io_cpu_jobs,
        Arrival::Closed {
            clients: 1,
            think: None,
        },
        Step::Io(DurationSpec::Fixed(d)),
    )]);
    let mut cpu_per_job = Pairs::default();
    for _ in 0..size.pairs {
        let m = run(spec, &io_set, c, u64::MAX)?;
        let b = bare::io_jobs(kind, available_cores(), size.io_cpu_jobs, d);
        cpu_per_job.push_cpu_per_job(&m, &b);
    }
    let (ours, theirs, ratio, spread) = cpu_per_job.medians();
    figs.push(against_bare_figure(
        &format!("1ms io job, CPU per job on {}", spec.name),
        (format!("{ours:.1} µs"), format!("{theirs:.1} µs")),
        (kind, size.pairs, &spread),
        ratio,
        ("≤ 1.5× bare", ratio <= 1.5),
    ));
    Ok(())
}

/// A harness figure: `test`, gilsim's and the bare program's medians
/// (`ours`, `theirs`, as text) over `pairs` pairs and their ratios'
/// `spread`; the figure is `ratio` × the bare program, with its goal and
/// whether it is met.
fn against_bare_figure(
    test: &str,
    (ours, theirs): (String, String),
    (kind, pairs, spread): (Bare, usize, &str),
    ratio: f64,
    (goal, met): (&str, bool),
) -> Figure {
    let what = format!(
        "{test}: gilsim {ours} vs bare {} {theirs} (median of {pairs} pairs, {spread})",
        kind.program()
    );
    with_goal(figure("harness", what, ratio, "× bare"), goal, met)
}

/// Each backend the bare programs exist for, with its bare program (the
/// asyncio flavor's is tokio's current_thread: the same runtime on one
/// thread, in its own order).
fn bare_pairs() -> Vec<(BackendSpec, Bare)> {
    let mut pool = BackendSpec::new(BackendKind::Threads, false);
    pool.workers = 2;
    pool.name = "threads pool of 2".into();
    let mut specs = io_backends();
    specs[0] = pool;
    specs
        .into_iter()
        .map(|spec| {
            let kind = Bare::of(&spec);
            (spec, kind)
        })
        .collect()
}

fn median(v: &[f64]) -> f64 {
    crate::stats::median(v).unwrap_or(f64::NAN)
}

/// The range of the pairs' ratios, for a figure's name: a reader sees how
/// far one pair can be from the median on this machine ("pairs 0.74–0.86",
/// or "one pair").
fn spread(ratios: &[f64]) -> String {
    let lo = ratios.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if ratios.len() < 2 || !lo.is_finite() || !hi.is_finite() {
        return "one pair".into();
    }
    format!("pairs {lo:.2}–{hi:.2}")
}

fn peak_memory(size: BenchSize, c: Calibration, figs: &mut Vec<Figure>) -> Result<(), RunError> {
    let n = size.rss_jobs;
    let set = job_set(vec![group(
        n,
        Arrival::Batch,
        Step::Cpu(DurationSpec::Fixed(Duration::from_micros(1))),
    )]);
    for spec in [
        BackendSpec::new(BackendKind::Tokio, false),
        BackendSpec::new(BackendKind::Rayon, false),
    ] {
        let reset = rss::reset_peak();
        run(&spec, &set, c, u64::MAX)?;
        if let (true, Some(peak)) = (reset, rss::peak()) {
            let mb = peak as f64 / 1e6;
            figs.push(with_goal(
                figure(
                    "memory",
                    format!("peak RSS, {n} jobs on {}", spec.name),
                    mb,
                    "MB",
                ),
                "< 300 MB",
                mb < 300.0,
            ));
        }
    }
    Ok(())
}

fn many_threads(size: BenchSize, c: Calibration, figs: &mut Vec<Figure>) {
    let n = size.threads;
    let set = job_set(vec![group(
        n,
        Arrival::Batch,
        Step::Io(DurationSpec::Fixed(Duration::from_millis(500))),
    )]);
    let name = format!("{n} concurrent threads (thread per job, 500ms IO each)");
    match run(
        &BackendSpec::new(BackendKind::Threads, false),
        &set,
        c,
        16_384,
    ) {
        Ok(m) => figs.push(figure(
            "threads",
            format!("{name}: ran, wall"),
            m.wall.as_secs_f64(),
            "s",
        )),
        Err(e) => {
            let mut f = figure("threads", format!("{name}: refused: {e}"), 0.0, "");
            f.met = Some(e.is_refusal());
            figs.push(f)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::spread;

    #[test]
    fn spread_names_the_lowest_and_highest_pair() {
        assert_eq!(spread(&[0.86, 0.74, 0.8]), "pairs 0.74–0.86");
        assert_eq!(spread(&[0.9]), "one pair");
        assert_eq!(spread(&[]), "one pair");
    }
}
