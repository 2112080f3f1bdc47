//! `gilsim run`: every config on every selected backend, then the report.

use std::fs;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};

use super::args::RunArgs;
use gilsim::backend::{Progress, RunOptions};
use gilsim::config::JobSet;
use gilsim::engine::Engine;
use gilsim::error::{Error, RunError};
use gilsim::metrics::RunMeasurement;
use gilsim::plan::Plan;
use gilsim::report::{Csv, Exporter, Format, Json, Report, Svg};
use gilsim::trace::TraceRecorder;
use gilsim::work::kernel::{Calibration, SPEED_DRIFT_WARN};

pub fn run(args: &RunArgs, trace: Option<&TraceRecorder>) -> Result<(), Error> {
    let mut sets = super::load_all(&args.configs)?;
    select_backends(&mut sets, &args.backends)?;
    if let Some(dir) = &args.out {
        fs::create_dir_all(dir).map_err(|source| Error::Output {
            path: dir.clone(),
            source,
        })?;
    }
    // Opened now: a trace path that cannot be written must fail before a
    // long run, not after it.
    let trace_out = args
        .trace
        .as_ref()
        .map(|path| match fs::File::create(path) {
            Ok(file) => Ok((path, file)),
            Err(source) => Err(Error::Output {
                path: path.clone(),
                source,
            }),
        })
        .transpose()?;
    let engine = args.engine.engine()?;
    // Everything a backend would refuse, before the first one runs.
    let per_backend = matches!(engine, gilsim::engine::Engine::Real).then_some(args.max_threads);
    gilsim::preflight::check(&sets, engine.cores(), per_backend)?;
    let calibration = Calibration::from_env_or_measure().map_err(RunError::Calibration)?;
    let mut reports = Vec::with_capacity(sets.len());
    let mut measured = Vec::new();
    for set in &sets {
        let plan = Arc::new(match args.seed {
            Some(seed) => Plan::with_seed(set, seed),
            None => Plan::new(set),
        });
        let engine = engine_for(engine, args.engine.cores.is_some(), set);
        let cores = engine.cores();
        let mut runs = Vec::with_capacity(set.backends.len());
        for spec in &set.backends {
            let bar = progress_bar(args.quiet, &set.name, &spec.name, plan.total_jobs());
            let on_progress = |p: Progress| bar.set_position(p.done);
            let opts = RunOptions {
                calibration,
                max_threads: args.max_threads,
                max_in_flight: args.max_in_flight,
                record_gil_holds: args.trace.is_some(),
                progress: Some(&on_progress),
            };
            let m = gilsim::engine::run(&engine, spec, plan.clone(), &opts);
            bar.finish_and_clear();
            let m = m?;
            warn_on_speed_drift(&set.name, &m);
            warn_on_held_back(&set.name, &m);
            runs.push(m);
        }
        let report = Report::new(&plan, cores, calibration.iters_per_us, &runs);
        if let Some(dir) = &args.out {
            write_artifacts(dir, &report)?;
        }
        reports.push(report);
        if trace.is_some() {
            measured.extend(runs);
        }
    }
    if let (Some(rec), Some((path, file))) = (trace, trace_out) {
        rec.write(file, &measured).map_err(|source| Error::Output {
            path: path.clone(),
            source,
        })?;
        if rec.dropped() > 0 {
            eprintln!(
                "gilsim: trace capped: {} span events beyond --trace-limit {} were dropped (the file says so too)",
                rec.dropped(),
                args.trace_limit
            );
        }
    }
    let format = args.format.unwrap_or(if std::io::stdout().is_terminal() {
        Format::Table
    } else {
        Format::Json
    });
    let mut out = std::io::stdout().lock();
    format
        .exporter()
        .export(&reports, &mut out)
        .and_then(|_| out.flush())
        .map_err(|source| Error::Output {
            path: "<stdout>".into(),
            source,
        })
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

fn progress_bar(quiet: bool, config: &str, backend: &str, total: u64) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) =
        ProgressStyle::with_template("{prefix:.bold} [{bar:30}] {pos}/{len} jobs {elapsed}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(format!("{config} on {backend}"));
    bar
}

/// `--out DIR`: NAME.json, NAME.csv and the NAME.svg chart for one config.
fn write_artifacts(dir: &Path, report: &Report) -> Result<(), Error> {
    let exporters: [&dyn Exporter; 3] = [&Json, &Csv, &Svg];
    for exporter in exporters {
        let path = dir.join(format!("{}.{}", report.config, exporter.extension()));
        let mut buf = Vec::new();
        exporter
            .export(std::slice::from_ref(report), &mut buf)
            .and_then(|_| fs::write(&path, buf))
            .map_err(|source| Error::Output {
                path: path.clone(),
                source,
            })?;
    }
    Ok(())
}
