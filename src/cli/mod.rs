//! The command-line edge: parses arguments, runs a command, and turns any
//! error into one message and an exit status.

mod args;
mod bench;
mod calibrate;
mod compare;
mod engine_args;
mod interrupt;
mod merge;
mod plan;
mod report;
mod run;
mod run_control;
mod sweep;
mod validate;

use std::sync::Arc;

use clap::Parser;

pub use args::{Cli, Command};
use gilsim::error::Error;
use gilsim::trace::TraceRecorder;

/// Runs the command given on the command line; returns the exit status.
pub fn main() -> i32 {
    let cli = Cli::parse();
    let trace = match &cli.command {
        Command::Run(args) if args.trace.is_some() => Some(TraceRecorder::new(args.trace_limit)),
        _ => None,
    };
    init_logging(trace.as_ref());
    let result = match cli.command {
        Command::Run(args) => run::run(&args, trace.as_deref()),
        Command::Validate { configs } => validate::validate(&configs),
        Command::Report(args) => report::report(&args),
        Command::Plan(args) => plan::plan(&args),
        Command::Calibrate { samples, save } => calibrate::calibrate(samples, save),
        Command::Bench { quick, json, model } => bench::bench(quick, json, model),
        Command::Sweep(args) => sweep::sweep(&args),
        Command::Merge(args) => merge::merge(&args),
        Command::Compare(args) => match compare::compare(&args) {
            // Worse beyond the threshold: exit 1 (SPEC §5), no error message.
            Ok(true) => return 1,
            Ok(false) => Ok(()),
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("gilsim: {e}");
            e.exit_code()
        }
    }
}

/// Logs to stderr, filtered by RUST_LOG (warnings only by default), and
/// feeds gilsim's spans to the trace recorder when there is one.
fn init_logging(trace: Option<&Arc<TraceRecorder>>) {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::prelude::*;
    use tracing_subscriber::EnvFilter;
    let env = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_filter(env);
    let chrome = trace.map(|r| {
        r.layer()
            .with_filter(Targets::new().with_target("gilsim", LevelFilter::TRACE))
    });
    let _ = tracing_subscriber::registry()
        .with(fmt)
        .with(chrome)
        .try_init();
}

/// Writes `text` to stdout; a full or closed stdout is a run failure
/// (exit 1) with a message, not a panic.
fn print_stdout(text: &str) -> Result<(), Error> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|_| out.flush())
        .map_err(|source| Error::Output {
            path: "<stdout>".into(),
            source,
        })
}

/// Loads every config before anything runs, so a bad one exits 2 with
/// nothing run.
/// Loads every config, or reports the problems of every one that fails, so
/// a user fixing several files sees them all at once.
fn load_all(paths: &[std::path::PathBuf]) -> Result<Vec<gilsim::config::JobSet>, Error> {
    let (sets, errors): (Vec<_>, Vec<_>) = paths
        .iter()
        .map(|p| gilsim::config::load(p))
        .partition(Result::is_ok);
    match Error::from_configs(errors.into_iter().filter_map(Result::err).collect()) {
        Some(e) => Err(e),
        None => Ok(sets.into_iter().filter_map(Result::ok).collect()),
    }
}
