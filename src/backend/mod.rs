//! Execution backends behind one trait, and the driver that feeds them.
//!
//! A [`Backend`] starts an engine (OS threads, a rayon pool, an async
//! runtime) and returns an [`Executor`] that accepts jobs. The
//! [`driver`] owns time: it submits every job when it is due and collects
//! completions, so arrival modes work the same on every backend.

mod async_park;
mod async_std_rt;
mod async_support;
mod async_timer;
mod asyncio_loop;
mod chain;
pub mod driver;
mod kept;
mod limits;
mod processes;
mod rayon_pool;
mod smol_rt;
mod submitter;
mod threads;
mod tokio_rt;

use std::sync::Arc;

pub use crate::metrics::{HeldBack, Limiter};
pub use crate::options::{available_cores, GiveUp, Progress, RunOptions, DEFAULT_MAX_IN_FLIGHT};
pub use async_park::set_hold_wakes;
pub use async_support::set_precise_wait;
pub use async_timer::set_wake_here;
pub(crate) use async_timer::{arm_at as arm_timerfd_at, new_tokio_timerfd};
pub use driver::{in_flight_limiter, run};
pub use limits::thread_limit;
pub(crate) use processes::{dispatch_capacity, merge_gil, random_process};

use crate::config::{BackendKind, BackendSpec, Flavor};
use crate::error::RunError;
use crate::exec::{JobTicket, RunShared};
use crate::plan::Plan;

/// An execution engine that can run a plan's jobs.
pub trait Backend {
    /// Refuses, before anything runs, a plan this backend cannot run without
    /// hurting the machine.
    fn preflight(&self, _plan: &Plan, _opts: &RunOptions) -> Result<(), RunError> {
        Ok(())
    }

    /// The most jobs this backend can have in flight at once, and what sets
    /// that bound, when it has one of its own; the driver holds later jobs
    /// back (their wait counts as queue time) instead of letting the run fail.
    fn in_flight_cap(&self, _opts: &RunOptions) -> Option<Limiter> {
        None
    }

    /// Whether a job submitted from one of this backend's own worker
    /// threads queues exactly as one submitted by the driver: then a
    /// closed-loop client may submit its next job itself
    /// (`chain::ClientChain`). Not so for work-stealing runtimes (rayon,
    /// tokio, async executors), where a worker's own spawn goes to its local
    /// queue, ahead of jobs injected from outside: a client would jump the
    /// queue that a real client's next request joins at the back. (A plan
    /// of one lone client chains on every backend: with one job in flight
    /// there is no queue to jump; see `chain::lone_client`.)
    fn queues_alike_from_workers(&self) -> bool {
        false
    }

    /// Starts the engine for one run.
    fn launch(&self, shared: Arc<RunShared>) -> Result<Box<dyn Executor>, RunError>;
}

/// A started engine accepting jobs. `Send + Sync` so that a deployment of
/// several processes can hand a job to one from a worker thread of another.
pub trait Executor: Send + Sync {
    /// Queues a due job and returns at once; the job reports its own
    /// completion through [`RunShared`].
    fn submit(&self, ticket: JobTicket) -> Result<(), RunError>;

    /// Waits for queued work and stops the engine.
    fn shutdown(self: Box<Self>);
}

/// Queues `ticket` on a channel whose receiving threads run until
/// shutdown drops the sender (`None` from then on: nothing to queue to).
fn send_until_shutdown(
    tx: &Option<crossbeam_channel::Sender<JobTicket>>,
    ticket: JobTicket,
) -> Result<(), RunError> {
    if let Some(tx) = tx {
        let _ = tx.send(ticket);
    }
    Ok(())
}

/// The backend implementing `spec`.
pub fn backend_for(spec: &BackendSpec, cores: usize) -> Box<dyn Backend> {
    let workers = spec.resolved_workers(cores);
    match spec.kind {
        BackendKind::Threads => Box::new(threads::Threads::new(spec.name.clone(), workers)),
        BackendKind::Rayon => Box::new(rayon_pool::RayonPool::new(spec.name.clone(), workers)),
        BackendKind::Tokio => Box::new(tokio_rt::Tokio::new(
            spec.name.clone(),
            workers,
            spec.flavor.unwrap_or(Flavor::MultiThread),
            spec.cpu_mode(),
        )),
        BackendKind::AsyncStd => Box::new(async_std_rt::AsyncStd::new(
            spec.name.clone(),
            workers,
            spec.cpu_mode(),
        )),
        BackendKind::Smol => Box::new(smol_rt::Smol::new(
            spec.name.clone(),
            workers,
            spec.cpu_mode(),
        )),
    }
}
