//! A dedicated rayon pool, one worker per core by default: the analogue of
//! `multiprocessing.Pool()` when there is no GIL (each worker is its own
//! "process"), or of a `ThreadPoolExecutor(cores)` under one. IO blocks the
//! worker: that is the point of comparing it with async runtimes.

use std::sync::Arc;

use super::{Backend, Executor};
use crate::error::RunError;
use crate::exec::{JobTicket, RunShared};
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
    let prefix = name.to_string();
    rayon::ThreadPoolBuilder::new()
        .num_threads(workers.max(1))
        .thread_name(move |i| format!("{prefix}-{i}"))
        .start_handler(|_| reduce_timer_slack())
        .build()
        .map_err(|e| RunError::Spawn {
            backend: name.to_string(),
            what: "the rayon pool".into(),
            source: std::io::Error::other(e.to_string()),
        })
}

impl Backend for RayonPool {
    fn launch(&self, shared: Arc<RunShared>) -> Result<Box<dyn Executor>, RunError> {
        Ok(Box::new(Running {
            pool: build_pool(&self.name, self.workers)?,
            shared,
        }))
    }
}

struct Running {
    pool: rayon::ThreadPool,
    shared: Arc<RunShared>,
}

impl Executor for Running {
    fn submit(&self, ticket: JobTicket) -> Result<(), RunError> {
        let shared = self.shared.clone();
        // spawn_fifo: jobs start in the order they became due.
        self.pool.spawn_fifo(move || shared.run_job_pooled(ticket));
        Ok(())
    }

    fn shutdown(self: Box<Self>) {
        // The driver has seen every completion, so the pool is idle.
    }
}
