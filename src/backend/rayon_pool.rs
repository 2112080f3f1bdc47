//! A dedicated rayon pool, one worker per core by default: the analogue of
//! `multiprocessing.Pool()` when there is no GIL (each worker is its own
//! "process"), or of a `ThreadPoolExecutor(cores)` under one. IO blocks the
//! worker: that is the point of comparing it with async runtimes.

use std::sync::Arc;

use super::{Backend, Executor};
use crate::error::RunError;
use crate::exec::{thread_run, JobTicket, RunShared};
use crate::work::sleep::reduce_timer_slack;

/// The `rayon` backend.
pub struct RayonPool {
    name: String,
    workers: usize,
}

impl RayonPool {
    /// A pool of `workers` threads (already resolved, ≥ 1).
    pub fn new(name: String, workers: usize) -> Self {
        Self {
            name,
            workers: workers.max(1),
        }
    }
}

/// Builds a rayon pool whose threads sleep precisely.
pub fn build_pool(name: &str, workers: usize) -> Result<rayon::ThreadPool, RunError> {
    build_pool_with(name, workers, || {})
}

/// [`build_pool`], each thread calling `on_start` when it starts.
fn build_pool_with(
    name: &str,
    workers: usize,
    on_start: impl Fn() + Send + Sync + 'static,
) -> Result<rayon::ThreadPool, RunError> {
    let prefix = name.to_string();
    rayon::ThreadPoolBuilder::new()
        .num_threads(workers.max(1))
        .thread_name(move |i| format!("{prefix}-{i}"))
        .start_handler(move |_| {
            reduce_timer_slack();
            on_start();
        })
        .exit_handler(|_| thread_run::release())
        .build()
        .map_err(|e| RunError::Spawn {
            backend: name.to_string(),
            what: "the rayon pool".into(),
            source: std::io::Error::other(e.to_string()),
        })
}

impl Backend for RayonPool {
    fn launch(&self, shared: Arc<RunShared>) -> Result<Box<dyn Executor>, RunError> {
        // Every thread of the pool holds the run (see `thread_run`), so a
        // job carries only its ticket.
        let run = shared.clone();
        let pool = build_pool_with(&self.name, self.workers, move || thread_run::adopt(&run))?;
        super::submitter::in_front_of(&shared, &self.name, Box::new(Running { pool }))
    }
}

struct Running {
    pool: rayon::ThreadPool,
}

impl Executor for Running {
    fn submit(&self, ticket: JobTicket) -> Result<(), RunError> {
        // spawn_fifo: jobs start in the order they became due. A pool's jobs
        // run only on its threads, each of which adopted the run as it
        // started.
        self.pool.spawn_fifo(move || {
            let ran = thread_run::with_thread_run(|shared| shared.run_job_pooled(ticket));
            debug_assert!(ran.is_some(), "a rayon thread without its run");
        });
        Ok(())
    }

    fn shutdown(self: Box<Self>) {
        // The driver has seen every completion, so the pool is idle.
    }
}
