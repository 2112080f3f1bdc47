//! smol: one [`smol::Executor`] (async-executor) run by `workers` threads,
//! one per core by default, each `block_on`-ing the executor until the run
//! ends. The `block_on` is gilsim's ([`super::async_park`]): it parks the
//! thread in `epoll_wait` on the run's timer and runs a task it woke
//! itself; IO waits sleep on that timer. The scheduling (queues, stealing,
//! which thread a wake-up notifies) is async-executor's, unchanged.
//! `spawn_blocking` is `smol::unblock` (the `blocking` crate's pool).
//!
//! If the timer cannot be set up (file descriptors exhausted), or when the
//! comparison switch [`super::set_precise_wait`] is off, the threads
//! run async-io's `block_on` and sleep on timerfds in async-io's reactor
//! ([`super::async_timer`]) instead.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use smol::channel::Sender;

use super::async_park::{current_timers, send_held_wakes, sleep_on, Parking};
use super::async_support::{catching, inline_groups, offload_for, precise_wait};
use super::async_timer::{async_io_sleep_until, raise_fd_limit, run_here_on_wake};
use super::{Backend, Executor};
use crate::config::CpuMode;
use crate::error::RunError;
use crate::exec::{run_job_async, thread_run, AsyncPlatform, JobTicket, Offload, RunShared};
use crate::stamp::Stamp;
use crate::work::sleep::reduce_timer_slack;

/// The `smol` backend.
pub struct Smol {
    name: String,
    workers: usize,
    cpu_mode: CpuMode,
}

impl Smol {
    /// An executor run by `workers` threads (already resolved, ≥ 1).
    pub fn new(name: String, workers: usize, cpu_mode: CpuMode) -> Self {
        Self {
            name,
            workers: workers.max(1),
            cpu_mode,
        }
    }
}

impl Backend for Smol {
    fn launch(&self, shared: Arc<RunShared>) -> Result<Box<dyn Executor>, RunError> {
        raise_fd_limit();
        let offload = offload_for(&self.name, self.cpu_mode)?;
        let ex = Arc::new(smol::Executor::new());
        // Every thread runs the executor until the channel closes.
        let (stop, stopped) = smol::channel::bounded::<()>(1);
        let mut parking = if precise_wait() {
            Parking::new(&self.name, self.workers)
                .map_err(|e| {
                    tracing::warn!(
                        "gilsim's block_on for smol is unavailable ({e}); the executor threads run async-io's"
                    )
                })
                .ok()
        } else {
            None
        };
        let mut parked = parking
            .as_mut()
            .map(|p| std::mem::take(&mut p.workers))
            .unwrap_or_default()
            .into_iter();
        let mut running = Running {
            ex: ex.clone(),
            stop: Some(stop),
            threads: Vec::with_capacity(self.workers),
            parking,
            inline: inline_groups(&shared, &offload),
            shared,
            platform: SmolPlatform,
            offload,
        };
        for i in 0..self.workers {
            let (ex, stopped) = (ex.clone(), stopped.clone());
            let parked = parked.next();
            // The executor is this run's alone and only these threads run
            // it: each holds the run, so an inline task carries only its
            // ticket.
            let run = running.shared.clone();
            let thread = std::thread::Builder::new()
                .name(format!("{}-{i}", self.name))
                .spawn(move || {
                    reduce_timer_slack();
                    thread_run::adopt(&run);
                    drop(run);
                    let run = ex.run(async {
                        let _ = stopped.recv().await;
                    });
                    match parked {
                        Some(worker) => worker.block_on(run),
                        None => smol::block_on(run_here_on_wake(run)),
                    }
                    thread_run::release();
                })
                .map_err(|source| RunError::Spawn {
                    backend: self.name.clone(),
                    what: "an executor thread".into(),
                    source,
                });
            match thread {
                Ok(t) => running.threads.push(t),
                Err(e) => {
                    // Stop the threads already started.
                    Box::new(running).shutdown();
                    return Err(e);
                }
            }
        }
        Ok(Box::new(running))
    }
}

struct Running {
    ex: Arc<smol::Executor<'static>>,
    stop: Option<Sender<()>>,
    threads: Vec<JoinHandle<()>>,
    /// gilsim's `block_on` and the run's timer, unless unavailable.
    parking: Option<Parking>,
    shared: Arc<RunShared>,
    platform: SmolPlatform,
    offload: Offload,
    /// Per group: its jobs never await ([`inline_groups`]).
    inline: Vec<bool>,
}

impl Executor for Running {
    fn submit(&self, ticket: JobTicket) -> Result<(), RunError> {
        if self.inline.get(ticket.id.group).copied().unwrap_or(false) {
            // Only the run's executor threads run its tasks, and each
            // adopted the run as it started.
            self.ex
                .spawn(async move {
                    send_held_wakes();
                    let ran = thread_run::with_thread_run(|shared| shared.run_task_inline(ticket));
                    debug_assert!(ran.is_some(), "a smol thread without its run");
                })
                .detach();
            return Ok(());
        }
        self.ex
            .spawn(run_job_async(
                self.shared.clone(),
                self.platform,
                self.offload.clone(),
                ticket,
            ))
            .detach();
        Ok(())
    }

    fn shutdown(mut self: Box<Self>) {
        // Closing the channel ends every thread's `run`; the driver has
        // seen every completion, so no task is left behind.
        self.stop = None;
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        if let Some(p) = self.parking.as_mut() {
            p.stop();
        }
    }
}

/// smol's side of [`AsyncPlatform`].
#[derive(Clone, Copy)]
struct SmolPlatform;

impl AsyncPlatform for SmolPlatform {
    fn sleep_until(&self, deadline: Instant) -> impl std::future::Future<Output = Stamp> + Send {
        // Called on the executor thread about to wait: on gilsim's
        // `block_on`, it knows the run's timer.
        let timers = current_timers();
        async move {
            match timers {
                Some(t) => sleep_on(t, deadline).await,
                None => async_io_sleep_until(deadline).await,
            }
        }
    }

    fn spawn_blocking<R, F>(&self, f: F) -> impl std::future::Future<Output = Option<R>> + Send
    where
        R: Send + 'static,
        F: FnOnce() -> R + Send + 'static,
    {
        smol::unblock(catching(f))
    }

    fn before_work(&self) {
        send_held_wakes();
    }
}

#[cfg(test)]
mod tests {
    use super::super::tokio_rt::testkit::*;
    use crate::config::{BackendKind, CpuMode};

    #[test]
    fn runs_every_mode_with_and_without_gil() {
        all_modes_complete(BackendKind::Smol, None, 0);
        all_modes_complete(BackendKind::Smol, None, 1);
    }

    #[test]
    fn io_waits_overlap() {
        io_overlaps(&spec(BackendKind::Smol, false, None, CpuMode::Inline, 1));
        io_overlaps(&spec(BackendKind::Smol, true, None, CpuMode::Inline, 0));
    }

    #[test]
    fn inline_cpu_serializes_on_one_worker() {
        cpu_serializes(&spec(BackendKind::Smol, false, None, CpuMode::Inline, 1));
    }

    #[test]
    fn offloaded_cpu_overlaps_on_one_worker() {
        cpu_overlaps(&spec(
            BackendKind::Smol,
            false,
            None,
            CpuMode::SpawnBlocking,
            1,
        ));
        cpu_overlaps(&spec(BackendKind::Smol, false, None, CpuMode::Rayon, 1));
    }

    #[test]
    fn inline_cpu_overlaps_on_two_workers() {
        cpu_overlaps(&spec(BackendKind::Smol, false, None, CpuMode::Inline, 2));
    }
}
