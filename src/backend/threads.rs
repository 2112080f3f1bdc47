//! OS threads: one per job (`workers = 0`, like `threading.Thread` per
//! request) or a fixed pool pulling from a FIFO queue (`workers = N`, like
//! `ThreadPoolExecutor(N)`).

use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::Sender;
use parking_lot::Mutex;

use super::{thread_limit, Backend, Executor, Limiter, RunOptions};
use crate::error::RunError;
use crate::exec::{JobTicket, RunShared};
use crate::plan::{ArrivalPlan, Plan};
use crate::work::sleep::reduce_timer_slack;

/// Stack size of job threads: jobs do not recurse, and small stacks let
/// thousands of threads coexist.
const JOB_STACK: usize = 256 * 1024;

/// The `threads` backend.
pub struct Threads {
    name: String,
    workers: usize,
}

impl Threads {
    /// `workers = 0` starts one thread per job.
    pub fn new(name: String, workers: usize) -> Self {
        Self { name, workers }
    }

    fn spawn_error(&self, what: &str, source: std::io::Error) -> RunError {
        RunError::Spawn {
            backend: self.name.clone(),
            what: what.into(),
            source,
        }
    }
}

/// Threads a thread-per-job run has alive at once, at most: every batch
/// job, and one per closed-loop client. Open-loop groups depend on how fast
/// jobs finish, so they are bounded while running instead (see
/// [`Backend::in_flight_cap`]).
fn concurrent_threads(plan: &Plan) -> u64 {
    plan.groups
        .iter()
        .map(|g| match &g.arrival {
            ArrivalPlan::Batch => g.jobs,
            ArrivalPlan::Closed { clients, .. } => (*clients).min(g.jobs),
            ArrivalPlan::Open { .. } => 0,
        })
        .sum()
}

impl Backend for Threads {
    /// One FIFO channel feeds the pool, and a thread per job is a new
    /// thread whoever spawns it.
    fn queues_alike_from_workers(&self) -> bool {
        true
    }

    fn preflight(&self, plan: &Plan, opts: &RunOptions) -> Result<(), RunError> {
        let needed = if self.workers == 0 {
            concurrent_threads(plan)
        } else {
            self.workers as u64
        };
        let (limit, why) = thread_limit(opts.max_threads);
        if needed > limit {
            return Err(RunError::TooManyThreads {
                backend: self.name.clone(),
                needed,
                limit,
                why,
            });
        }
        Ok(())
    }

    /// A thread per job has as many threads as jobs in flight: bounding
    /// those bounds the threads, also for open-loop arrivals, which
    /// [`Backend::preflight`] cannot count up front.
    fn in_flight_cap(&self, opts: &RunOptions) -> Option<Limiter> {
        (self.workers == 0).then(|| {
            let (limit, why) = thread_limit(opts.max_threads);
            Limiter {
                limit,
                why: format!("one OS thread per job, at most {why}"),
            }
        })
    }

    fn launch(&self, shared: Arc<RunShared>) -> Result<Box<dyn Executor>, RunError> {
        if self.workers == 0 {
            return Ok(Box::new(PerJob {
                backend: self.name.clone(),
                shared,
                handles: Mutex::new(Vec::new()),
            }));
        }
        let (tx, rx) = crossbeam_channel::unbounded::<JobTicket>();
        let handles = (0..self.workers)
            .map(|i| {
                let (rx, shared) = (rx.clone(), shared.clone());
                std::thread::Builder::new()
                    .name(format!("{}-{i}", self.name))
                    .stack_size(JOB_STACK)
                    .spawn(move || {
                        reduce_timer_slack();
                        for ticket in rx {
                            shared.run_job_pooled(ticket);
                        }
                    })
                    .map_err(|e| self.spawn_error("a pool thread", e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Box::new(Pool {
            tx: Some(tx),
            handles,
        }))
    }
}

/// One thread per job.
struct PerJob {
    backend: String,
    shared: Arc<RunShared>,
    handles: Mutex<Vec<JoinHandle<()>>>,
}

impl Executor for PerJob {
    fn submit(&self, ticket: JobTicket) -> Result<(), RunError> {
        let shared = self.shared.clone();
        let handle = std::thread::Builder::new()
            .name(format!("{}-job", self.backend))
            .stack_size(JOB_STACK)
            .spawn(move || shared.run_job_sync(ticket))
            .map_err(|source| RunError::Spawn {
                backend: self.backend.clone(),
                what: format!(
                    "a thread for job {} (raise no limit blindly: use `workers = N`)",
                    ticket.id.index
                ),
                source,
            })?;
        let mut handles = self.handles.lock();
        // Reap finished threads now and then so handles do not pile up.
        if handles.len() >= 1024 {
            let (done, running): (Vec<_>, Vec<_>) =
                handles.drain(..).partition(|h| h.is_finished());
            for h in done {
                let _ = h.join();
            }
            *handles = running;
        }
        handles.push(handle);
        Ok(())
    }

    fn shutdown(self: Box<Self>) {
        for h in self.handles.into_inner() {
            let _ = h.join();
        }
    }
}

/// A fixed pool of threads and a FIFO queue.
struct Pool {
    tx: Option<Sender<JobTicket>>,
    handles: Vec<JoinHandle<()>>,
}

impl Executor for Pool {
    fn submit(&self, ticket: JobTicket) -> Result<(), RunError> {
        if let Some(tx) = &self.tx {
            // Receivers live as long as the pool threads, which run until
            // the sender is dropped in shutdown.
            let _ = tx.send(ticket);
        }
        Ok(())
    }

    fn shutdown(mut self: Box<Self>) {
        self.tx = None;
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}
