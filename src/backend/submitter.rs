//! The Python thread that feeds a pool under a GIL.
//!
//! In CPython a `ThreadPoolExecutor` is always fed by a Python thread: a
//! server's receiving thread (gunicorn's `gthread` main loop, a socket
//! reader), or the main thread's `for x in items: ex.submit(f, x)`. That
//! thread runs `submit` under the GIL, so every job waits for it to get the
//! GIL before a worker can see the job: behind a worker's CPU work that is
//! up to one switch interval, and near saturation most of the queue time.
//! Measured on CPython 3.11 (`python/compare.py --only service_knee`, a
//! Poisson stream at 1,200/s into `ThreadPoolExecutor(8)` fed by a
//! receiving thread): a request waited 0.7–1.1 ms from its due time to its
//! handler's first line, with a worker free nearly always; without such a
//! thread gilsim's pool started it after 0.03 ms.
//!
//! So a pool backend with a GIL (`threads` with `workers = N`, `rayon`)
//! gets one more thread, `{backend}-submit`: jobs go to its FIFO inbox;
//! it takes the GIL, charges `[gil.cost] submit` (interpreted work, with
//! eval-breaker checks) and hands the job to the pool, job after job, and
//! releases the GIL only when its inbox is empty, as a receiving thread
//! releases it in its next `recv()` and a submitting loop keeps it until a
//! forced switch. The model engine's pools do the same (`model/exec.rs`).

use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender, TryRecvError};

use super::{send_until_shutdown, Executor};
use crate::error::RunError;
use crate::exec::{GilSlot, JobTicket, RunShared};
use crate::metrics::TimeBreakdown;
use crate::work::sleep::reduce_timer_slack;

/// Puts a submitting thread in front of `inner` when the run has a GIL;
/// returns `inner` unchanged otherwise (no Python code to run).
pub fn in_front_of(
    shared: &Arc<RunShared>,
    backend: &str,
    inner: Box<dyn Executor>,
) -> Result<Box<dyn Executor>, RunError> {
    if shared.gil.is_none() {
        return Ok(inner);
    }
    let (tx, rx) = crossbeam_channel::unbounded::<JobTicket>();
    let run = shared.clone();
    let thread = std::thread::Builder::new()
        .name(format!("{backend}-submit"))
        .spawn(move || {
            submit_all(&run, &rx, &*inner);
            inner
        })
        .map_err(|source| RunError::Spawn {
            backend: backend.to_string(),
            what: "the pool's submitting thread".into(),
            source,
        })?;
    Ok(Box::new(Submitting {
        tx: Some(tx),
        thread: Some(thread),
    }))
}

/// The submitting thread's loop: every job of `inbox` to `pool`, each
/// after `submit` under the GIL, until the inbox closes (the run is over).
fn submit_all(shared: &RunShared, inbox: &Receiver<JobTicket>, pool: &dyn Executor) {
    reduce_timer_slack();
    let mut slot = GilSlot::new(shared.gil.as_ref());
    // The thread's own waits and work are no job's: queue time to the jobs.
    let mut times = TimeBreakdown::default();
    loop {
        let ticket = match inbox.try_recv() {
            Ok(ticket) => ticket,
            Err(TryRecvError::Empty) => {
                // Nothing to read: blocked in its recv(), without the GIL.
                slot.release();
                match inbox.recv() {
                    Ok(ticket) => ticket,
                    Err(_) => break,
                }
            }
            Err(TryRecvError::Disconnected) => break,
        };
        // A cancelled run's jobs end at once: no Python work to charge.
        if !shared.cancelled() {
            slot.acquire(&mut times);
            shared.charge(|c| c.submit, &mut slot, &mut times);
        }
        // The pools behind this thread queue and never refuse a job.
        let _ = pool.submit(ticket);
    }
    slot.release();
}

/// A pool behind its submitting thread.
struct Submitting {
    tx: Option<Sender<JobTicket>>,
    /// Returns the pool when the inbox closes.
    thread: Option<JoinHandle<Box<dyn Executor>>>,
}

impl Executor for Submitting {
    fn submit(&self, ticket: JobTicket) -> Result<(), RunError> {
        send_until_shutdown(&self.tx, ticket)
    }

    fn shutdown(mut self: Box<Self>) {
        self.tx = None;
        let pool = self.thread.take().and_then(|t| t.join().ok());
        if let Some(pool) = pool {
            pool.shutdown();
        }
    }
}
