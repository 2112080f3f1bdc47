//! `gilsim sweep` (SPEC §5): parse the flags, check every point, run them
//! with a progress bar, and write the results.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::engine_args::EngineArgs;
use super::interrupt;
use gilsim::capacity::keys::Base;
use gilsim::capacity::sweep::{self, Axis, Prepared, Request, Shard};
use gilsim::capacity::{output, sweep_page};
use gilsim::error::{Error, RunError};
use gilsim::fsout;
use gilsim::report::Format;

/// `gilsim sweep`.
#[derive(Debug, Args)]
#[command(
    after_help = "KEY is a dotted path into the config: seed, gil.switch_interval, gil.tick, \
group.NAME.jobs, group.NAME.arrival.rate|closed|think, group.NAME.steps.I.cpu|io|native, \
backend.LABEL.workers, backend.*.workers, backend.LABEL.processes, cores (--engine model). \
Values are written as in the config (5ms, 1200). An unknown key lists the keys the config has."
)]
pub struct SweepArgs {
    /// The config file (TOML).
    #[arg(value_name = "CONFIG")]
    pub config: PathBuf,

    /// KEY=V1,V2,...: the values a key takes (repeatable: every
    /// combination of the values is a point).
    #[arg(long = "set", value_name = "KEY=V1,V2,...", required = true)]
    pub sets: Vec<String>,

    /// Run each point N times with the same plan, and report the mean and
    /// a 95% confidence interval of each figure (as `run --runs`).
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u64).range(1..=sweep::MAX_RUNS as u64))]
    pub runs: u64,

    /// Fit a model to throughput against the one varied concurrency key
    /// (usl: the Universal Scalability Law; needs >= 6 values including 1).
    #[arg(long, value_enum, value_name = "MODEL")]
    pub fit: Option<FitModel>,

    /// Run only the points whose index mod N is K (K from 0), so one sweep
    /// fans out over machines; `gilsim merge` joins the shards' JSON.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,

    /// Run only the backends with this label (repeatable).
    #[arg(long = "backend", value_name = "NAME")]
    pub backends: Vec<String>,

    /// Which engine runs the jobs, and on how many cores.
    #[command(flatten)]
    pub engine: EngineArgs,

    /// Output format [default: table on a terminal, json otherwise].
    #[arg(long, value_enum)]
    pub format: Option<Format>,

    /// Also write NAME.sweep.json, .csv, .md, .html and one SVG chart per
    /// figure (NAME.sweep.p99.svg, ...p50.svg, ...throughput.svg) here
    /// (checked writable before anything runs).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// No progress bar on stderr.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Models `--fit` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FitModel {
    /// X(N) = λN / (1 + σ(N−1) + κN(N−1)).
    Usl,
}

pub fn sweep(args: &SweepArgs) -> Result<(), Error> {
    let prepared = prepare(args)?;
    if let Some(dir) = &args.out {
        fsout::check_writable_dir(dir).map_err(|source| Error::Unwritable {
            path: dir.clone(),
            source,
        })?;
    }
    // From here on Ctrl-C ends the sweep after the run in progress, with
    // the points that finished written out (SPEC §8).
    interrupt::install()?;
    let calibration = args
        .engine
        .engine()?
        .calibrate()
        .map_err(RunError::Calibration)?;
    let bar = progress_bar(args.quiet, prepared.total_runs());
    let file = prepared.run(calibration, &mut |p| {
        bar.set_position(p.done as u64);
        bar.set_message(format!("{} (run {})", p.set.describe(), p.run + 1));
    });
    bar.finish_and_clear();
    let file = file?;
    // A file that fails now does not lose the sweep: it still goes to
    // stdout below, and the error is reported after it.
    let mut failed: Option<Error> = None;
    if let Some(dir) = &args.out {
        if let Err(e) = sweep_page::write_files(dir, &file) {
            let e = Error::Output {
                path: e.path,
                source: e.source,
            };
            eprintln!("gilsim: {e}; the sweep follows on stdout");
            failed = Some(e);
        }
    }
    let format = args.format.unwrap_or(if std::io::stdout().is_terminal() {
        Format::Table
    } else {
        Format::Json
    });
    let mut out = std::io::stdout().lock();
    match format {
        Format::Table => output::table(&file.sweep, &mut out),
        Format::Json => output::json(&file, &mut out),
        Format::Csv => output::csv(&file.sweep, &mut out),
    }
    .and_then(|_| out.flush())
    .map_err(|source| Error::Output {
        path: "<stdout>".into(),
        source,
    })?;
    // A stop that came after the last point leaves the sweep complete,
    // but the exit status still says a stop came.
    interrupt::outcome(failed)
}

/// Every check, before anything runs (exit 2 on bad input).
fn prepare(args: &SweepArgs) -> Result<Prepared, Error> {
    let engine = args.engine.engine()?;
    let shard = args
        .shard
        .as_deref()
        .map(str::parse::<Shard>)
        .transpose()
        .map_err(Error::Usage)?;
    let base = Base::load(&args.config)?;
    let axes = args
        .sets
        .iter()
        .map(|s| {
            let (key, values) = base.set_arg(s)?;
            Ok(Axis { key, values })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    sweep::prepare(Request {
        base: &base,
        axes,
        engine,
        runs: usize::try_from(args.runs).unwrap_or(sweep::MAX_RUNS),
        shard,
        backends: args.backends.clone(),
        fit_usl: args.fit == Some(FitModel::Usl),
    })
}

fn progress_bar(quiet: bool, total: usize) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total as u64);
    if let Ok(style) = ProgressStyle::with_template(
        "sweep [{bar:30}] {pos}/{len} point runs, {elapsed} elapsed, ETA {eta}  {msg}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}
