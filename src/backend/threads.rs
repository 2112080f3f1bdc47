//! OS threads: one per job (`workers = 0`, like `threading.Thread` per
//! request) or a fixed pool pulling from a FIFO queue (`workers = N`, like
//! `ThreadPoolExecutor(N)`).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::Sender;
use parking_lot::Mutex;

use super::{thread_limit, Backend, Executor, Limiter, RunOptions};
use crate::error::RunError;
use crate::exec::{JobTicket, RunShared};
use crate::plan::Plan;
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
    // Exactly the jobs due at the start.
    plan.initial_jobs().remaining()
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
                // One more than the limit: the preflight lets up to `limit`
                // closed-loop clients in, which must not fill the bound
                // while they all wait for room (see `Unjoined::reserve`).
                threads: Unjoined::new(unjoined_bound(thread_limit(u64::MAX).0).saturating_add(1)),
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
        let pool = Box::new(Pool {
            tx: Some(tx),
            handles,
        });
        super::submitter::in_front_of(&shared, &self.name, pool)
    }
}

/// One thread per job.
struct PerJob {
    backend: String,
    shared: Arc<RunShared>,
    /// The job threads started and not yet joined.
    threads: Unjoined,
}

/// `limit` as a count of threads, at least 1.
fn unjoined_bound(limit: u64) -> usize {
    usize::try_from(limit).unwrap_or(usize::MAX).max(1)
}

impl Executor for PerJob {
    fn submit(&self, ticket: JobTicket) -> Result<(), RunError> {
        self.threads.reserve();
        let shared = self.shared.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("{}-job", self.backend))
            .stack_size(JOB_STACK)
            .spawn(move || shared.run_job_sync(ticket));
        match spawned {
            Ok(handle) => {
                self.threads.add(handle);
                Ok(())
            }
            Err(source) => {
                self.threads.unreserve();
                Err(RunError::Spawn {
                    backend: self.backend.clone(),
                    what: format!(
                        "a thread for job {} (raise no limit blindly: use `workers = N`)",
                        ticket.id.index
                    ),
                    source,
                })
            }
        }
    }

    fn shutdown(self: Box<Self>) {
        self.threads.join_all();
    }
}

/// Unjoined threads from which an addition first joins those whose job
/// has ended (so that handles do not pile up).
const REAP_EVERY: usize = 1024;

/// How long a submission waiting for room sleeps between looks.
const ROOM_POLL: Duration = Duration::from_micros(100);

/// The job threads of a thread-per-job run that are not joined yet, and a
/// bound on how many there may be.
///
/// Why a thread counts until it is joined, not until its job ends: a
/// thread that has finished its job still holds its stack, its signal
/// stack and their guard pages until the kernel has torn it down, and
/// those tear-downs (`munmap`, each under the process's one memory-map
/// lock) fall behind when thousands of short jobs start threads on two
/// cores. Measured: 1,000 closed-loop clients of 1 µs jobs had up to
/// 15,000-16,500 threads alive at once for 1,000 jobs in flight, up to
/// 63,000 memory maps against Linux's default limit of 65,530; past it a
/// new thread cannot map its signal stack and the process aborts.
///
/// Why a thread is counted before it is started: a closed-loop client's
/// next job is started by the thread of the job before it, so while one
/// submission waits for room, a finishing job could start a thread whose
/// job finishes and starts another, a chain no count of started threads
/// would see (14,300 threads against a bound of 12,286 were measured so).
/// A submission over the bound waits, joining threads whose job has
/// ended; it never joins a running one, which may itself be a finishing
/// job waiting for room (two such would wait for each other). Its job keeps
/// its due time, so the wait is queue time.
#[derive(Debug)]
struct Unjoined {
    handles: Mutex<VecDeque<JoinHandle<()>>>,
    /// Threads counted: granted room (about to start) or started and
    /// unjoined. Never more than [`Unjoined::most`].
    counted: AtomicUsize,
    /// Most threads counted before a submission waits.
    most: usize,
}

impl Unjoined {
    fn new(most: usize) -> Self {
        Self {
            handles: Mutex::new(VecDeque::new()),
            counted: AtomicUsize::new(0),
            most: most.max(1),
        }
    }

    /// Counts a thread about to start, first waiting while
    /// [`Unjoined::most`] others are started or about to start.
    ///
    /// A submission counts only once it has room, taken in one atomic
    /// step, so submissions that find room at the same moment cannot
    /// together pass the bound (an earlier check-then-count let three
    /// waiting clients through at once). A waiting submission is not
    /// counted: every one may be a finishing job's thread (a closed-loop
    /// client's), which is itself counted, so counting its wait too would
    /// let clients that all wait at once wait for each other forever. With
    /// fewer clients than `most`, the waiting ones alone never fill the
    /// bound, so someone always goes on.
    fn reserve(&self) {
        if self.take_room() {
            return;
        }
        loop {
            self.reap();
            if self.take_room() {
                return;
            }
            std::thread::sleep(ROOM_POLL);
        }
    }

    /// Counts one more thread if fewer than [`Unjoined::most`] are counted.
    fn take_room(&self) -> bool {
        self.counted
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.most).then_some(n + 1)
            })
            .is_ok()
    }

    /// Takes back a reservation whose thread did not start.
    fn unreserve(&self) {
        self.counted.fetch_sub(1, Ordering::AcqRel);
    }

    /// Adds a started thread, joining the ended ones once [`REAP_EVERY`]
    /// are unjoined.
    fn add(&self, handle: JoinHandle<()>) {
        let mut handles = self.handles.lock();
        handles.push_back(handle);
        if handles.len() >= REAP_EVERY {
            self.reap_locked(&mut handles);
        }
    }

    /// Joins the threads whose job has ended.
    fn reap(&self) {
        self.reap_locked(&mut self.handles.lock());
    }

    fn reap_locked(&self, handles: &mut VecDeque<JoinHandle<()>>) {
        let (ended, running): (VecDeque<_>, VecDeque<_>) = std::mem::take(handles)
            .into_iter()
            .partition(|h| h.is_finished());
        *handles = running;
        let n = ended.len();
        // A finished thread is only being torn down: its join cannot wait
        // on anything of this run.
        for h in ended {
            let _ = h.join();
        }
        self.counted.fetch_sub(n, Ordering::AcqRel);
    }

    /// Joins every thread (at the end of a run).
    fn join_all(self) {
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
        super::send_until_shutdown(&self.tx, ticket)
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
    use std::time::Instant;

    /// With room for 3 threads, starting 9 threads of 30 ms each waits for
    /// the oldest to end: at most 3 are counted once a new one may start,
    /// and the 9 take at least three rounds of 30 ms. Without the bound
    /// they would all run at once.
    #[test]
    fn a_new_thread_waits_while_the_most_threads_are_unjoined() {
        let threads = Unjoined::new(3);
        let t = Instant::now();
        for _ in 0..9 {
            threads.reserve();
            assert!(threads.counted.load(Ordering::Acquire) <= 3);
            threads.add(std::thread::spawn(|| {
                std::thread::sleep(Duration::from_millis(30))
            }));
        }
        threads.join_all();
        let took = t.elapsed();
        assert!(took >= Duration::from_millis(90), "took only {took:?}");
    }

    /// Each thread starts the next from inside itself (a closed-loop
    /// client's next job): the chain is counted as it grows, so no more
    /// than the bound are ever counted or alive, however fast its links
    /// end, and clients that all wait for room at once go on.
    #[test]
    fn threads_started_by_threads_stay_within_the_bound() {
        fn link(
            threads: Arc<Unjoined>,
            alive: Arc<AtomicUsize>,
            peak: Arc<AtomicUsize>,
            left: u32,
        ) {
            let now = alive.fetch_add(1, Ordering::AcqRel) + 1;
            peak.fetch_max(now, Ordering::AcqRel);
            if left > 0 {
                threads.reserve();
                let (t, a, p) = (threads.clone(), alive.clone(), peak.clone());
                let h = std::thread::spawn(move || link(t, a, p, left - 1));
                threads.add(h);
            }
            // A thread slow to go away after its job.
            std::thread::sleep(Duration::from_millis(5));
            alive.fetch_sub(1, Ordering::AcqRel);
        }
        let threads = Arc::new(Unjoined::new(4));
        let (alive, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        // Three clients, each a chain of 60 threads.
        for _ in 0..3 {
            threads.reserve();
            let (t, a, p) = (threads.clone(), alive.clone(), peak.clone());
            let h = std::thread::spawn(move || link(t, a, p, 60));
            threads.add(h);
        }
        while threads.counted.load(Ordering::Acquire) > 0 {
            let counted = threads.counted.load(Ordering::Acquire);
            assert!(counted <= 4, "{counted} counted");
            threads.reap();
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(
            peak.load(Ordering::Acquire) <= 4,
            "peak {}",
            peak.load(Ordering::Acquire)
        );
    }

    /// Threads whose job has ended are joined once they pile up, without
    /// waiting for the ones still running.
    #[test]
    fn ended_threads_are_joined_every_so_often() {
        let threads = Unjoined::new(usize::MAX);
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        threads.reserve();
        threads.add(std::thread::spawn(move || {
            let _ = rx.recv();
        }));
        for _ in 1..REAP_EVERY - 1 {
            threads.reserve();
            threads.add(std::thread::spawn(|| ()));
        }
        std::thread::sleep(Duration::from_millis(50));
        threads.reserve();
        threads.add(std::thread::spawn(|| ()));
        // The running one (and at most a few slow to end) are left.
        assert!(threads.handles.lock().len() < REAP_EVERY / 2);
        assert!(threads.counted.load(Ordering::Acquire) >= 1);
        drop(tx);
        threads.join_all();
    }
}
