//! OS threads: one per job (`workers = 0`, like `threading.Thread` per
//! request) or a fixed pool pulling from a FIFO queue (`workers = N`, like
//! `ThreadPoolExecutor(N)`).

use std::collections::VecDeque;
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
                handles: Mutex::new(VecDeque::new()),
                most_unjoined: unjoined_bound(thread_limit(u64::MAX).0),
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
    /// The job threads started and not yet joined, running or exiting.
    handles: Mutex<VecDeque<JoinHandle<()>>>,
    /// Most unjoined threads before a submission waits for the oldest to
    /// exit (see [`make_room`]).
    most_unjoined: usize,
}

/// `limit` as a count of handles, at least 1.
fn unjoined_bound(limit: u64) -> usize {
    usize::try_from(limit).unwrap_or(usize::MAX).max(1)
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
        make_room(&mut handles, self.most_unjoined);
        handles.push_back(handle);
        Ok(())
    }

    fn shutdown(self: Box<Self>) {
        for h in self.handles.into_inner() {
            let _ = h.join();
        }
    }
}

/// Unjoined threads from which each submission first joins those whose
/// job has ended (so that handles do not pile up).
const REAP_EVERY: usize = 1024;

/// Joins the threads whose job has ended once [`REAP_EVERY`] are unjoined,
/// then waits for the oldest to exit while `most` still are.
///
/// Why a thread counts until it is joined, not until its job ends: a
/// thread that has finished its job still holds its stack, its signal
/// stack and their guard pages until the kernel has torn it down, and
/// those tear-downs (`munmap`, each under the process's one memory-map
/// lock) fall behind when thousands of short jobs start threads on two
/// cores. Measured: 1,000 closed-loop clients of 1 µs jobs had up to
/// 15,000-16,500 threads alive at once for 1,000 jobs in flight, up to
/// 63,000 memory maps against Linux's default limit of 65,530; past it a
/// new thread cannot map its signal stack and the process aborts. Waiting
/// for the oldest once [`thread_limit`] threads are unjoined keeps the
/// count under the OS's limits; the submissions after it wait, and their
/// jobs keep their due time, so the wait is queue time. Joins happen under
/// the lock, so that no thread is left uncounted while being joined.
fn make_room(handles: &mut VecDeque<JoinHandle<()>>, most: usize) {
    if handles.len() >= REAP_EVERY {
        let (done, running): (Vec<_>, Vec<_>) = std::mem::take(handles)
            .into_iter()
            .partition(|h| h.is_finished());
        for h in done {
            let _ = h.join();
        }
        *handles = running.into();
    }
    while handles.len() >= most {
        match handles.pop_front() {
            Some(h) => {
                let _ = h.join();
            }
            None => break,
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// With room for 3 unjoined threads, starting 9 threads of 30 ms each
    /// waits for the oldest to exit: at most 3 are unjoined when a new one
    /// starts, and the 9 take at least three rounds of 30 ms. Without the
    /// bound they would all run at once.
    #[test]
    fn a_new_thread_waits_while_the_most_threads_are_unjoined() {
        let mut handles = VecDeque::new();
        let t = Instant::now();
        for _ in 0..9 {
            make_room(&mut handles, 3);
            assert!(handles.len() < 3);
            handles.push_back(std::thread::spawn(|| {
                std::thread::sleep(Duration::from_millis(30))
            }));
        }
        for h in handles {
            h.join().unwrap();
        }
        let took = t.elapsed();
        assert!(took >= Duration::from_millis(90), "took only {took:?}");
    }

    /// Threads whose job has ended are joined once they pile up, without
    /// waiting for the ones still running.
    #[test]
    fn ended_threads_are_joined_every_so_often() {
        let mut handles: VecDeque<_> = (0..REAP_EVERY).map(|_| std::thread::spawn(|| ())).collect();
        std::thread::sleep(Duration::from_millis(50));
        make_room(&mut handles, usize::MAX);
        assert!(handles.len() < REAP_EVERY);
        for h in handles {
            h.join().unwrap();
        }
    }
}
