//! `gilsim run`: every config on every selected backend, each `--runs`
//! times (interleaved), then the report; stopped early by Ctrl-C, SIGTERM
//! or `--timeout` (SPEC §8) it still writes what it has.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};

use super::args::RunArgs;
use super::interrupt;
use gilsim::config::{BackendSpec, JobSet};
use gilsim::engine::Engine;
use gilsim::error::{Error, RunError};
use gilsim::fsout;
use gilsim::metrics::sim::SimStats;
use gilsim::metrics::RunMeasurement;
use gilsim::options::{Progress, RunOptions};
use gilsim::plan::Plan;
use gilsim::report::files;
use gilsim::report::hgrm::file_part;
use gilsim::report::{self, Format, Report, RunReport, SimReport};
use gilsim::stop;
use gilsim::trace::TraceRecorder;
use gilsim::work::kernel::{Calibration, SPEED_DRIFT_WARN};

/// `gilsim run`: checks everything a run could refuse, runs every config,
/// then writes `--out`, `--trace` and the report on stdout.
pub fn run(args: &RunArgs, trace: Option<&TraceRecorder>) -> Result<(), Error> {
    let sets = prepare(args)?;
    let engine = args.engine.engine()?;
    // Everything a backend would refuse, before the first one runs.
    let per_backend = matches!(engine, Engine::Real).then_some(args.max_threads);
    gilsim::preflight::check(&sets, engine.cores(), per_backend)?;
    // From here on a Ctrl-C, even during calibration, ends with whatever
    // reports exist rather than killing the process mid-write.
    interrupt::install()?;
    let calibration = engine.calibrate().map_err(RunError::Calibration)?;
    if let Some(after) = args.control.timeout {
        interrupt::arm_timeout(after);
    }
    let mut reports = Vec::with_capacity(sets.len());
    // Every run's measurement, kept only for the trace.
    let mut measured = Vec::new();
    for set in &sets {
        if stop::requested() {
            // Configs not started after a stop get no report at all.
            break;
        }
        let engine = engine_for(engine, args.engine.cores.is_some(), set);
        let keep = trace.is_some().then_some(&mut measured);
        reports.push(run_config(args, &engine, calibration, set, keep)?);
    }
    // A file that fails now does not lose the results: they still go to
    // stdout below, and the error is reported after them.
    let failed = write_files(args, trace, &reports, &measured);
    print_reports(args, &reports)?;
    interrupt::outcome(failed)
}

/// The configs with the `--backend` selection applied, once every output
/// path is known to be writable: one that cannot be written must fail
/// before a long run, not after it.
fn prepare(args: &RunArgs) -> Result<Vec<JobSet>, Error> {
    let mut sets = super::load_all(&args.configs)?;
    select_backends(&mut sets, &args.backends)?;
    if let Some(dir) = &args.out {
        check_out_dir(dir, &sets)?;
    }
    if let Some(path) = &args.trace {
        fsout::check_writable_file(path).map_err(|source| Error::Unwritable {
            path: path.clone(),
            source,
        })?;
        check_trace_clash(path, args.out.as_deref(), &sets)?;
    }
    Ok(sets)
}

/// The `--trace` file must not be one of the configs, nor one of the files
/// `--out` writes: either would be overwritten without a word.
fn check_trace_clash(trace: &Path, out: Option<&Path>, sets: &[JobSet]) -> Result<(), Error> {
    let Some(at) = fsout::resolved(trace) else {
        return Ok(());
    };
    let clash = |what: String| {
        Err(Error::Usage(format!(
            "--trace {} is {what}: the trace would overwrite it; give the trace another path",
            trace.display()
        )))
    };
    let out = out.and_then(fsout::resolved);
    for set in sets {
        if fsout::resolved(&set.source).as_ref() == Some(&at) {
            return clash(format!("the config {}", set.source.display()));
        }
        if out
            .as_deref()
            .is_some_and(|dir| gilsim::report::files::writes(dir, &set.name, &at))
        {
            return clash(format!("where --out writes {}'s files", set.name));
        }
    }
    Ok(())
}

/// Runs one config on each of its backends, every repetition, and folds
/// them into its report; each measurement also goes to `measured` when a
/// trace wants them.
fn run_config(
    args: &RunArgs,
    engine: &Engine,
    calibration: Calibration,
    set: &JobSet,
    mut measured: Option<&mut Vec<RunMeasurement>>,
) -> Result<Report, Error> {
    let plan = Arc::new(match args.seed {
        Some(seed) => Plan::with_seed(set, seed),
        None => Plan::new(set),
    });
    let ctx = RunContext {
        args,
        engine,
        calibration,
        plan: &plan,
    };
    let mut reps: Vec<Vec<RunReport>> = vec![Vec::new(); set.backends.len()];
    // What the model engine reports about its simulations (none on the
    // real engine); the spans stay with the trace.
    let mut sims = Vec::new();
    // Interleaved: every backend's first repetition, then every backend's
    // second, so slow drift of the machine hits all alike.
    let rounds = args.control.warmup + args.control.runs;
    'rounds: for round in 0..rounds {
        for (bi, spec) in set.backends.iter().enumerate() {
            if stop::requested() {
                break 'rounds;
            }
            let m = ctx.run_once(spec, round)?;
            if round >= args.control.warmup {
                reps[bi].push(RunReport::of(&plan, &m));
                if let Some(s) = &m.sim {
                    sims.push(SimStats {
                        spans: Vec::new(),
                        thread_names: Vec::new(),
                        ..s.clone()
                    });
                }
            }
            if let Some(kept) = measured.as_deref_mut() {
                kept.push(m);
            }
        }
    }
    let report = fold(
        &plan,
        set,
        engine.cores(),
        engine.kernel_rate(calibration),
        reps,
        args.control.runs,
    );
    Ok(report
        .with_description(set.description.clone())
        .with_sim(SimReport::of(&sims)))
}

/// Writes `--out` and `--trace`; returns the first error (each is also
/// said on stderr at once), so the report still goes to stdout.
fn write_files(
    args: &RunArgs,
    trace: Option<&TraceRecorder>,
    reports: &[Report],
    measured: &[RunMeasurement],
) -> Option<Error> {
    let mut failed: Option<Error> = None;
    if let Some(dir) = &args.out {
        if let Err(e) = write_artifacts(dir, reports) {
            eprintln!("gilsim: {e}; the report follows on stdout");
            failed = Some(e);
        }
    }
    if let (Some(rec), Some(path)) = (trace, &args.trace) {
        if let Err(source) = fsout::write_atomic(path, |w| rec.write(w, measured)) {
            let e = Error::Output {
                path: path.clone(),
                source,
            };
            eprintln!("gilsim: {e}");
            failed.get_or_insert(e);
        }
        if rec.dropped() > 0 {
            eprintln!(
                "gilsim: trace capped: {} span events beyond --trace-limit {} were dropped (the file says so too)",
                rec.dropped(),
                args.trace_limit
            );
        }
    }
    failed
}

/// The reports on stdout, in `--format` (default: a table on a terminal,
/// JSON otherwise).
fn print_reports(args: &RunArgs, reports: &[Report]) -> Result<(), Error> {
    let format = args.format.unwrap_or(if std::io::stdout().is_terminal() {
        Format::Table
    } else {
        Format::Json
    });
    let mut out = std::io::stdout().lock();
    format
        .exporter()
        .export(reports, &mut out)
        .and_then(|_| out.flush())
        .map_err(|source| Error::Output {
            path: "<stdout>".into(),
            source,
        })
}

/// What every run of one config shares.
struct RunContext<'a> {
    args: &'a RunArgs,
    engine: &'a Engine,
    calibration: Calibration,
    plan: &'a Arc<Plan>,
}

impl RunContext<'_> {
    /// One run of `spec` (repetition `round`, counting warm-ups), with a
    /// progress bar that is cleared however the run ends.
    fn run_once(&self, spec: &BackendSpec, round: u32) -> Result<RunMeasurement, Error> {
        let c = &self.args.control;
        let which = if round < c.warmup {
            format!(" (warm-up {}/{})", round + 1, c.warmup)
        } else if c.runs > 1 {
            format!(" (run {}/{})", round - c.warmup + 1, c.runs)
        } else {
            String::new()
        };
        let bar = progress_bar(
            self.args.quiet,
            &format!("{} on {}{which}", self.plan.name, spec.name),
            self.plan.total_jobs(),
        );
        let on_progress = |p: Progress| bar.set_position(p.done);
        let opts = RunOptions {
            calibration: self.calibration,
            max_threads: self.args.max_threads,
            max_in_flight: self.args.max_in_flight,
            record_gil_holds: self.args.trace.is_some(),
            warmup_jobs: 0,
            give_up: &[],
            progress: Some(&on_progress),
        };
        let m = gilsim::engine::run(self.engine, spec, self.plan.clone(), &opts);
        bar.finish_and_clear();
        let m = m?;
        warn_on_speed_drift(&self.plan.name, &m);
        warn_on_held_back(&self.plan.name, &m);
        Ok(m)
    }
}

/// One config's report from each backend's repetitions: each backend's
/// complete repetitions folded by [`report::repeat`]; a backend cut short
/// before completing any repetition is reported with its partial one.
/// After a stop, runs with fewer complete repetitions than `runs` are
/// marked incomplete, and backends with none are listed as not run.
fn fold(
    plan: &Plan,
    set: &JobSet,
    cores: usize,
    iters_per_us: Option<f64>,
    reps: Vec<Vec<RunReport>>,
    runs: u32,
) -> Report {
    let why = stop::reason();
    let mut folded = Vec::new();
    let mut not_run = Vec::new();
    for (spec, reps) in set.backends.iter().zip(reps) {
        let (complete, partial): (Vec<RunReport>, Vec<RunReport>) =
            reps.into_iter().partition(|r| r.complete);
        let n_complete = complete.len();
        let Some(mut r) = report::repeat(&complete).or_else(|| report::repeat(&partial)) else {
            not_run.push(spec.name.clone());
            continue;
        };
        if let Some(why) = why {
            if n_complete < runs as usize {
                r.complete = false;
                r.stopped = Some(why);
            }
        }
        folded.push(r);
    }
    let mut report = Report::from_runs(plan, cores, iters_per_us, folded);
    if let Some(why) = why {
        report.mark_stopped(why, not_run);
    }
    report
}

/// `--out DIR` must accept files, and no two configs may share a file
/// name there (they would overwrite each other).
fn check_out_dir(dir: &Path, sets: &[JobSet]) -> Result<(), Error> {
    let mut seen: Vec<(String, &JobSet)> = Vec::new();
    for set in sets {
        let stem = file_part(&set.name);
        if let Some((_, first)) = seen.iter().find(|(s, _)| *s == stem) {
            return Err(Error::Usage(format!(
                "{} and {} are both named `{}`: under --out {} their files would overwrite each other; \
                 give one a different `name`, or write them to separate --out directories",
                first.source.display(),
                set.source.display(),
                set.name,
                dir.display()
            )));
        }
        seen.push((stem, set));
    }
    fsout::check_writable_dir(dir).map_err(|source| Error::Unwritable {
        path: dir.to_path_buf(),
        source,
    })?;
    for set in sets {
        if let Some(path) = gilsim::report::files::blocked(dir, &set.name) {
            let why = if path.is_dir() {
                "it is a directory, where a report file goes"
            } else {
                "it is a file, where the .hgrm files' directory goes"
            };
            return Err(Error::Unwritable {
                path,
                source: std::io::Error::new(std::io::ErrorKind::AlreadyExists, why),
            });
        }
    }
    Ok(())
}

/// The engine for one config: the model takes the config's `[model] cores`
/// unless `--cores` was given.
fn engine_for(engine: Engine, cores_flag: bool, set: &JobSet) -> Engine {
    match (engine, cores_flag, set.model_cores) {
        (Engine::Model { .. }, false, Some(cores)) => Engine::Model { cores },
        (e, ..) => e,
    }
}

/// Says on stderr when the CPU kernel ran at a different speed than it was
/// calibrated at, because then every `cpu` step was off by as much.
fn warn_on_speed_drift(config: &str, m: &RunMeasurement) {
    let Some(speed) = m.kernel_speed else { return };
    if (speed - 1.0).abs() <= SPEED_DRIFT_WARN {
        return;
    }
    let (pct, dir, len) = if speed > 1.0 {
        ((speed - 1.0) * 100.0, "faster", "shorter")
    } else {
        ((1.0 - speed) * 100.0, "slower", "longer")
    };
    eprintln!(
        "gilsim: warning: {config} on {}: the CPU kernel ran {pct:.0}% {dir} than calibrated, \
         so cpu steps took about {pct:.0}% {len} than requested (the machine's speed changed, \
         or interrupts and busy sibling cores slowed it); `kernel_speed` in the report has the figure",
        m.backend.name
    );
}

/// Says on stderr when jobs waited in gilsim rather than in the backend:
/// their queue time then says as much about gilsim's bound as about the
/// backend.
fn warn_on_held_back(config: &str, m: &RunMeasurement) {
    if let Some(h) = &m.held_back {
        eprintln!(
            "gilsim: warning: {config} on {}: {} for a slot because at most {} run at once \
             ({}); their wait counts as queue time",
            m.backend.name,
            gilsim::report::count(h.jobs, "job waited", "jobs waited"),
            h.limiter.limit,
            h.limiter.why
        );
    }
}

/// Keeps only the backends named with `--backend`; a name that matches no
/// backend of any config is an input error.
fn select_backends(sets: &mut [JobSet], names: &[String]) -> Result<(), Error> {
    if names.is_empty() {
        return Ok(());
    }
    for name in names {
        if !sets
            .iter()
            .any(|s| s.backends.iter().any(|b| &b.name == name))
        {
            let known: Vec<_> = sets
                .iter()
                .flat_map(|s| s.backends.iter().map(|b| b.name.clone()))
                .collect();
            return Err(Error::Usage(format!(
                "--backend {name}: no config has a backend with that label (labels: {})",
                known.join(", ")
            )));
        }
    }
    for set in sets {
        set.backends.retain(|b| names.contains(&b.name));
    }
    Ok(())
}

fn progress_bar(quiet: bool, prefix: &str, total: u64) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) =
        ProgressStyle::with_template("{prefix:.bold} [{bar:30}] {pos}/{len} jobs {elapsed}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(prefix.to_string());
    bar
}

/// `--out DIR`: every config's files (see [`files::write_files`]).
pub fn write_artifacts(dir: &Path, reports: &[Report]) -> Result<(), Error> {
    for report in reports {
        files::write_files(dir, report).map_err(|e| Error::Output {
            path: e.path,
            source: e.source,
        })?;
    }
    Ok(())
}
