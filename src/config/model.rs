//! The validated job-set model: what a config means once it has been parsed
//! and checked. Everything downstream (plan, backends, reports) reads these
//! types, never raw TOML.

use std::path::PathBuf;
use std::time::Duration;

/// A whole config file, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct JobSet {
    /// `name`, defaulting to the file's stem.
    pub name: String,
    /// Free text shown in `validate` and reports.
    pub description: Option<String>,
    /// Seed for every random draw of the plan (SPEC §1.5).
    pub seed: u64,
    /// `[gil]` settings, used by backends with `gil = true`.
    pub gil: GilSettings,
    /// `[model] cores`: virtual cores for `--engine model` when `--cores`
    /// is not given (`None`: this machine's).
    pub model_cores: Option<usize>,
    /// The backends to run, in order. Never empty: the default set is filled in.
    pub backends: Vec<BackendSpec>,
    /// The job groups; all groups of a job set run at the same time.
    pub groups: Vec<GroupSpec>,
    /// Where the config came from (for messages).
    pub source: PathBuf,
}

/// `[gil]`: the CPython "new GIL" parameters, and what the interpreter
/// itself costs under it (see docs/gil.md).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GilSettings {
    /// How long a waiter waits before it sets the drop request
    /// (`sys.getswitchinterval()`).
    pub switch_interval: Duration,
    /// CPU work between two polls of the drop request (the eval-breaker check).
    pub tick: Duration,
    /// Share of a `switch_inside` counter iteration's time that lies between
    /// the loop's back-edge check and the check inside the read..write
    /// window: the share of forced switches that land inside the window
    /// and lose updates. In `[0, 1]`.
    pub counter_inside_share: f64,
    /// Timer slack of a thread's timed wait for the GIL: how late the kernel
    /// may end it. CPython's threads keep Linux's default (50 µs); it
    /// decides the order in which waiters re-queue after their timeouts,
    /// and so who gets the GIL at a forced switch.
    pub timer_slack: Duration,
    /// `[gil.cost]`: the interpreter's own work per operation.
    pub cost: InterpreterCosts,
}

impl GilSettings {
    /// CPython's default switch interval.
    pub const DEFAULT_SWITCH_INTERVAL: Duration = Duration::from_millis(5);
    /// gilsim's default tick. CPython polls its eval breaker every few hundred
    /// bytecodes at most; 1 µs keeps the hand-off prompt while the poll (one
    /// relaxed atomic load) costs well under 1% of the work.
    pub const DEFAULT_TICK: Duration = Duration::from_micros(1);
    /// `counter = counter + int(1)` on CPython 3.11.7, measured by
    /// `python/counter_split.py` (0.64-0.69 over four runs; `counter + f()`
    /// measures 0.39-0.50).
    pub const DEFAULT_COUNTER_INSIDE_SHARE: f64 = 0.66;
    /// Linux's default timer slack for a normal thread.
    pub const DEFAULT_TIMER_SLACK: Duration = Duration::from_micros(50);
}

impl Default for GilSettings {
    fn default() -> Self {
        Self {
            switch_interval: Self::DEFAULT_SWITCH_INTERVAL,
            tick: Self::DEFAULT_TICK,
            counter_inside_share: Self::DEFAULT_COUNTER_INSIDE_SHARE,
            timer_slack: Self::DEFAULT_TIMER_SLACK,
            cost: InterpreterCosts::default(),
        }
    }
}

/// `[gil.cost]`: interpreted work the Python runtime itself does per
/// operation, charged under the GIL on backends with `gil = true` (as CPU
/// work with eval-breaker checks). Defaults measured on CPython 3.11.7 by
/// `python/interp_costs.py`; see docs/gil.md for when each is charged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InterpreterCosts {
    /// Async backends: creating the task that runs a job, and its first step.
    pub task: Duration,
    /// Async backends: resuming a task after each await (an io step or an
    /// offloaded step).
    pub resume: Duration,
    /// Every GIL backend: the Python side of each `io` step's calls (the
    /// request sent and the reply read), before the wait.
    pub io_call: Duration,
    /// Pools (a `threads` pool, `rayon` with a GIL, `cpu_mode =
    /// "spawn_blocking"`): submitting one job or offloaded step.
    pub submit: Duration,
    /// Pools: completing its future (result set, waiter woken).
    pub complete: Duration,
}

impl InterpreterCosts {
    /// All zero: the interpreter's own work is left out.
    pub const ZERO: Self = Self {
        task: Duration::ZERO,
        resume: Duration::ZERO,
        io_call: Duration::ZERO,
        submit: Duration::ZERO,
        complete: Duration::ZERO,
    };
}

impl Default for InterpreterCosts {
    fn default() -> Self {
        Self {
            task: Duration::from_micros(4),
            resume: Duration::from_micros(45),
            io_call: Duration::from_micros(4),
            submit: Duration::from_micros(8),
            complete: Duration::from_micros(5),
        }
    }
}

/// Which execution engine a backend uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BackendKind {
    /// OS threads: one per job, or a fixed pool.
    Threads,
    /// A dedicated rayon pool.
    Rayon,
    /// A tokio runtime.
    Tokio,
    /// async-std's global executor.
    AsyncStd,
    /// A smol (async-executor) executor on N threads.
    Smol,
}

impl BackendKind {
    /// The name users write in `kind = "..."`.
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Threads => "threads",
            BackendKind::Rayon => "rayon",
            BackendKind::Tokio => "tokio",
            BackendKind::AsyncStd => "async-std",
            BackendKind::Smol => "smol",
        }
    }

    /// Whether jobs run as async tasks (and so `cpu_mode` applies).
    pub fn is_async(self) -> bool {
        matches!(
            self,
            BackendKind::Tokio | BackendKind::AsyncStd | BackendKind::Smol
        )
    }
}

/// tokio runtime flavor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Flavor {
    /// A work-stealing pool of `workers` threads.
    MultiThread,
    /// One thread runs every task (like an asyncio event loop), in tokio's
    /// order.
    CurrentThread,
    /// One thread runs every task in CPython asyncio's order, and jobs
    /// arrive through a reading task (`backend/asyncio_loop.rs`).
    Asyncio,
}

impl Flavor {
    /// The name users write in `flavor = "..."`.
    pub fn as_str(self) -> &'static str {
        match self {
            Flavor::MultiThread => "multi_thread",
            Flavor::CurrentThread => "current_thread",
            Flavor::Asyncio => "asyncio",
        }
    }

    /// Whether one thread runs every task (`workers` is then 1).
    pub fn one_thread(self) -> bool {
        matches!(self, Flavor::CurrentThread | Flavor::Asyncio)
    }

    /// The flavor a report names (`None` for anything else).
    pub fn named(name: &str) -> Option<Flavor> {
        [Flavor::MultiThread, Flavor::CurrentThread, Flavor::Asyncio]
            .into_iter()
            .find(|f| f.as_str() == name)
    }
}

/// Where an async backend runs CPU-type steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CpuMode {
    /// On the executor thread, blocking every other task on it.
    #[default]
    Inline,
    /// On the runtime's blocking pool (`run_in_executor` with threads).
    SpawnBlocking,
    /// On a rayon pool, outside any GIL (`ProcessPoolExecutor`).
    Rayon,
}

impl CpuMode {
    /// The name users write in `cpu_mode = "..."`.
    pub fn as_str(self) -> &'static str {
        match self {
            CpuMode::Inline => "inline",
            CpuMode::SpawnBlocking => "spawn_blocking",
            CpuMode::Rayon => "rayon",
        }
    }
}

/// With `processes > 1`: how arriving jobs are spread over the processes
/// (SPEC §2 `dispatch`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Dispatch {
    /// One accept queue: the first process with a free worker takes the job,
    /// as processes blocking in `accept()` on one socket do.
    #[default]
    SharedQueue,
    /// One queue per process, the process drawn at random (seeded) per job,
    /// as `SO_REUSEPORT` hashing does.
    Random,
}

impl Dispatch {
    /// The name users write in `dispatch = "..."`.
    pub fn as_str(self) -> &'static str {
        match self {
            Dispatch::SharedQueue => "shared_queue",
            Dispatch::Random => "random",
        }
    }
}

/// One `[[backend]]` table, validated, with defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct BackendSpec {
    /// The engine.
    pub kind: BackendKind,
    /// Whether jobs run under the emulated GIL.
    pub gil: bool,
    /// Label in reports (`kind`, plus `+gil`, unless given).
    pub name: String,
    /// As written: 0 means the kind's default (see [`BackendSpec::resolved_workers`]).
    pub workers: usize,
    /// tokio only; `None` elsewhere. Defaults to multi_thread for tokio.
    pub flavor: Option<Flavor>,
    /// Async backends only; `None` for threads and rayon.
    pub cpu_mode: Option<CpuMode>,
    /// Independent copies of the backend (`gunicorn -w P`), each with its
    /// own GIL and its own workers, sharing the machine's cores. ≥ 1.
    pub processes: usize,
    /// How jobs are spread over the processes (only matters when
    /// `processes > 1`).
    pub dispatch: Dispatch,
}

impl BackendSpec {
    /// The default label: the kind, plus `+gil` when the GIL is on.
    pub fn default_name(kind: BackendKind, gil: bool) -> String {
        if gil {
            format!("{}+gil", kind.as_str())
        } else {
            kind.as_str().to_string()
        }
    }

    /// A backend with every option at its default.
    pub fn new(kind: BackendKind, gil: bool) -> Self {
        Self {
            kind,
            gil,
            name: Self::default_name(kind, gil),
            workers: 0,
            flavor: (kind == BackendKind::Tokio).then_some(Flavor::MultiThread),
            cpu_mode: kind.is_async().then_some(CpuMode::Inline),
            processes: 1,
            dispatch: Dispatch::SharedQueue,
        }
    }

    /// The default set used when a config has no `[[backend]]` (SPEC §2).
    pub fn default_set() -> Vec<BackendSpec> {
        vec![
            Self::new(BackendKind::Threads, false),
            Self::new(BackendKind::Threads, true),
            Self::new(BackendKind::Rayon, false),
            Self::new(BackendKind::Tokio, false),
        ]
    }

    /// The worker count this backend really uses on a machine with `cores`
    /// cores. `0` for thread-per-job (`threads` with `workers = 0`).
    pub fn resolved_workers(&self, cores: usize) -> usize {
        match (self.kind, self.workers, self.flavor) {
            (BackendKind::Threads, w, _) => w,
            (BackendKind::Tokio, _, Some(f)) if f.one_thread() => 1,
            (_, 0, _) => cores.max(1),
            (_, w, _) => w,
        }
    }

    /// Whether CPU steps run on the thread that runs the job.
    pub fn cpu_mode(&self) -> CpuMode {
        self.cpu_mode.unwrap_or_default()
    }
}

/// One `[[group]]`: `jobs` jobs that share steps and an arrival process.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupSpec {
    /// Unique within the job set.
    pub name: String,
    /// Number of jobs, ≥ 1.
    pub jobs: u64,
    /// When jobs become due.
    pub arrival: Arrival,
    /// What each job does, in order. Never empty.
    pub steps: Vec<Step>,
}

/// When the jobs of a group become due (SPEC §2, Arrivals).
#[derive(Debug, Clone, PartialEq)]
pub enum Arrival {
    /// All jobs due at t = 0.
    Batch,
    /// `clients` clients, each submitting its next job when the previous one
    /// completes, after an optional think time.
    Closed {
        /// ≥ 1.
        clients: u64,
        /// Pause between a completion and the client's next submission.
        think: Option<DurationSpec>,
    },
    /// Open loop at `rate` jobs per second.
    Open {
        /// Jobs per second, > 0 and finite.
        rate: f64,
        /// How arrivals are spaced.
        process: ArrivalProcess,
    },
}

/// Spacing of open-loop arrivals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArrivalProcess {
    /// Exponential inter-arrival times.
    Poisson,
    /// Evenly spaced.
    Uniform,
}

/// A duration: fixed, or drawn from a distribution each time it is used.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DurationSpec {
    /// Always this long.
    Fixed(Duration),
    /// Exponential with this mean.
    Exp { mean: Duration },
    /// Uniform in `[min, max]`.
    Uniform { min: Duration, max: Duration },
    /// Normal, truncated at 0.
    Normal { mean: Duration, stddev: Duration },
    /// Log-normal given by its median and 99th percentile.
    LogNormal { median: Duration, p99: Duration },
}

/// How a `counter` step protects its read-modify-write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    /// A separate read then write: updates can be lost.
    None,
    /// A per-counter lock around the read and the write.
    Lock,
    /// One atomic add.
    Atomic,
}

impl Guard {
    /// The name users write in `guard = "..."`.
    pub fn as_str(self) -> &'static str {
        match self {
            Guard::None => "none",
            Guard::Lock => "lock",
            Guard::Atomic => "atomic",
        }
    }
}

/// One step of a job (SPEC §2, Steps).
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Interpreted CPU work: holds the GIL where there is one.
    Cpu(DurationSpec),
    /// CPU work in "native code": releases the GIL.
    Native(DurationSpec),
    /// A blocking IO wait: releases the GIL; awaited on async backends.
    Io(DurationSpec),
    /// A critical section: take the named lock, do `cpu` of work, release.
    Lock { name: String, cpu: DurationSpec },
    /// `add` read-modify-write increments of a shared counter.
    Counter {
        name: String,
        add: u64,
        guard: Guard,
        switch_inside: bool,
    },
    /// The inner steps `times` times.
    Repeat { times: u64, steps: Vec<Step> },
}

/// Limits that keep a config from hurting the machine or the parser.
pub mod limits {
    /// Deepest `repeat` nesting accepted.
    pub const MAX_NESTING: usize = 8;
    /// Longest single duration accepted (one day).
    pub const MAX_DURATION_SECS: u64 = 86_400;
    /// Most jobs in one group.
    pub const MAX_JOBS: u64 = 100_000_000;
    /// Most step executions (after expanding `repeat`) in one job.
    pub const MAX_STEPS_PER_JOB: u64 = 100_000_000;
    /// Most workers for a pool.
    pub const MAX_WORKERS: usize = 4096;
    /// Most `[[group]]` tables in one config.
    pub const MAX_GROUPS: usize = 1000;
    /// Most `[[backend]]` tables in one config.
    pub const MAX_BACKENDS: usize = 64;
    /// Most step tables one group's `steps` holds as written (nested ones
    /// included; `repeat` counts are bounded by [`MAX_STEPS_PER_JOB`]).
    pub const MAX_STEPS_WRITTEN: usize = 10_000;
    /// Longest name (config, backend, group, lock, counter), in characters.
    pub const MAX_NAME_CHARS: usize = 128;
    /// Most processes of one backend (each starts its own pool or runtime).
    pub const MAX_PROCESSES: usize = 256;
    /// Most virtual cores the model engine accepts (SPEC §6 `--cores`).
    pub const MAX_MODEL_CORES: usize = 65_536;
}
