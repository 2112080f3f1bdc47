//! Command-line arguments (SPEC §3).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use gilsim::report::Format;

use super::engine_args::EngineArgs;

/// Simulate a workload on OS threads, a rayon pool and async runtimes, with
/// and without an emulated CPython GIL, and compare latency side by side.
#[derive(Debug, Parser)]
#[command(name = "gilsim", version, about, long_about = None, propagate_version = true)]
#[command(
    after_help = "Logging follows RUST_LOG (e.g. RUST_LOG=gilsim=debug). Exit status: 0 ok, 2 bad input, 1 run failure."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run job sets on their backends and report latency side by side.
    Run(RunArgs),
    /// Parse and check configs and print the resolved plan; runs nothing.
    Validate {
        /// Config files (TOML).
        #[arg(required = true, value_name = "CONFIG")]
        configs: Vec<PathBuf>,
    },
    /// Measure gilsim itself: IO wait precision per backend, CPU step
    /// accuracy, GIL costs, harness throughput, memory, thread limits.
    Bench {
        /// Small sizes: a smoke run in seconds instead of the full figures.
        #[arg(long)]
        quick: bool,
        /// Print the figures as JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Only the model engine's speed figures (reference model, scaling
        /// over jobs and cores, SimPy side by side when installed).
        #[arg(long)]
        model: bool,
    },
    /// Render the --out files (HTML, markdown, charts, .hgrm) from a saved
    /// JSON report.
    Report(super::report::ReportArgs),
    /// Run a config over every combination of key values (--set), with an
    /// optional USL fit of throughput; shards fan it out over machines.
    Sweep(super::sweep::SweepArgs),
    /// Compare two run reports: p50, p99 and throughput per backend × group;
    /// exit 1 when NEW is worse beyond --threshold.
    Compare(super::compare::CompareArgs),
    /// Join the JSON of a sharded sweep's shards into one sweep.
    Merge(super::merge::MergeArgs),
    /// Find, per backend, the highest value of a key at which every SLO
    /// holds (exponential search, then bisection).
    Plan(super::plan::PlanArgs),
    /// Print this machine's CPU-kernel rate and IO wait precision, and the
    /// costs the model engine uses.
    Calibrate {
        /// Waits measured per duration.
        #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(10..=100_000))]
        samples: u32,
        /// Save the model engine's costs to FILE [default: the file the model
        /// reads, $XDG_CONFIG_HOME/gilsim/model-costs.toml].
        #[arg(long, value_name = "FILE", num_args = 0..=1)]
        save: Option<Option<PathBuf>>,
    },
}

/// `gilsim run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Config files (TOML), run in turn.
    #[arg(required = true, value_name = "CONFIG")]
    pub configs: Vec<PathBuf>,

    /// Run only the backends with this label (repeatable).
    #[arg(long = "backend", value_name = "NAME")]
    pub backends: Vec<String>,

    /// Output format [default: table on a terminal, json otherwise].
    #[arg(long, value_enum)]
    pub format: Option<Format>,

    /// Also write each config's report here: NAME.json, .csv, .md, .svg,
    /// .html and NAME/BACKEND/GROUP.hgrm (checked writable before the run).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// Write a Chrome trace-event file (open it in ui.perfetto.dev).
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,

    /// Most span events kept in the --trace file; past it the file says it
    /// was capped (GIL holds are capped at the same number per run).
    #[arg(long, value_name = "N", default_value_t = gilsim::trace::DEFAULT_LIMIT)]
    pub trace_limit: usize,

    /// Use this seed instead of each config's own.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// Most OS threads a thread-per-job backend may start at once: batch
    /// and closed-loop plans over it are refused; open-loop jobs past it wait
    /// in gilsim's queue.
    #[arg(long, value_name = "N", default_value_t = gilsim::preflight::DEFAULT_MAX_THREADS, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_threads: u64,

    /// Most jobs submitted and not yet completed at once; later due jobs wait
    /// in gilsim's queue, and that wait counts as their queue time.
    #[arg(long, value_name = "N", default_value_t = gilsim::options::DEFAULT_MAX_IN_FLIGHT, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_in_flight: u64,

    /// Which engine runs the jobs, and on how many cores.
    #[command(flatten)]
    pub engine: EngineArgs,

    /// Repetitions and stopping.
    #[command(flatten)]
    pub control: super::run_control::RunControl,

    /// No progress output on stderr.
    #[arg(long, short)]
    pub quiet: bool,
}
