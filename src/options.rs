//! Settings of a run that are not part of the config, and what a run
//! reports while it goes: the interface every engine takes (`backend`, the
//! real engine, and `model`) and everything that drives runs (`engine`,
//! `capacity`, `bench`, the CLI) hands them, so that none of those needs a
//! backend's module to start a run.

use std::time::Duration;

use crate::work::kernel::Calibration;

/// Default for [`RunOptions::max_in_flight`]: far above what any realistic
/// job set keeps running at once, low enough that a million queued async
/// tasks never exist at the same time.
pub const DEFAULT_MAX_IN_FLIGHT: u64 = 65_536;

/// Jobs completed so far in the current run.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Completed jobs.
    pub done: u64,
    /// All jobs of the run.
    pub total: u64,
}

/// When a run's outcome is decided, so the driver may stop it: more than
/// `late_jobs_over` jobs are unfinished `late` past their due time (counted
/// as jobs due more than `late` ago less jobs completed, a lower bound).
/// `gilsim plan` derives these from its SLOs (see `capacity::doom`): such
/// jobs have latencies above `late` whatever happens next, and enough of
/// them put a percentile above it. Only runs whose groups are all open-loop
/// are checked (their due times are known up front).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GiveUp {
    /// How far past its due time an unfinished job counts as late.
    pub late: Duration,
    /// The run is decided when more jobs than this are late.
    pub late_jobs_over: u64,
}

/// Settings of a run that are not part of the config.
pub struct RunOptions<'a> {
    /// The CPU kernel's calibration.
    pub calibration: Calibration,
    /// Most OS threads a thread-per-job run may start at once.
    pub max_threads: u64,
    /// Keep every GIL hold (for the trace's GIL track).
    pub record_gil_holds: bool,
    /// Most jobs submitted and not yet completed; later due jobs wait in
    /// the driver (their wait counts as queue time). Bounds memory.
    pub max_in_flight: u64,
    /// Called now and then while jobs run.
    pub progress: Option<&'a (dyn Fn(Progress) + Sync)>,
    /// The first this many jobs of every open- or closed-loop group (in job
    /// order, which is due order) run but are left out of the measurements:
    /// a warm-up, so that a probe measures the steady state (0: measure
    /// every job). Batch groups are measured whole. With a warm-up, `wall`
    /// counts from the first measured job's due time.
    pub warmup_jobs: u64,
    /// Points at which the run may be given up: at the first one reached
    /// the driver submits no more jobs, cancels those in flight
    /// ([`RunShared::cancel`](crate::exec::RunShared::cancel)) and ends the run with
    /// [`RunMeasurement::gave_up`](crate::metrics::RunMeasurement::gave_up) set. Empty: run to the end. The model
    /// engine ignores these (virtual time costs little).
    pub give_up: &'a [GiveUp],
}

/// Cores available to this process.
pub fn available_cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}
