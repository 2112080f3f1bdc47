//! async-std: jobs run as tasks on async-std's global executor. IO waits
//! are timerfds on async-io's reactor ([`super::async_timer`]);
//! `spawn_blocking` is `async_std::task::spawn_blocking` (the `blocking`
//! crate's pool).
//!
//! async-std is deprecated upstream in favour of smol (its executor and
//! reactor are smol's pieces: async-executor and async-io); gilsim keeps it
//! because existing services still run on it. Prefer `kind = "smol"`.
//!
//! **Worker count.** async-std's executor is global: it is started once per
//! process, at first use, with the thread count read from the environment
//! (`ASYNC_STD_THREAD_COUNT`), and it cannot be resized afterwards. gilsim
//! sets that variable to the backend's resolved `workers` just before the
//! first async-std run of the process (overriding any value the user
//! exported, so the report's worker count is the real one) and names the
//! threads `async-std`. A later run in the same process that asks for a
//! different count is refused with an error instead of silently running on
//! the wrong number of threads; runs asking for the same count share the
//! executor. If something other than this backend started async-std first,
//! gilsim cannot tell; nothing in gilsim does.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::async_support::{catching, inline_groups, offload_for};
use super::async_timer::{
    async_io_sleep_until, ensure_async_std_kicker, raise_fd_limit, ASYNC_STD_THREAD,
};
use super::kept::Kept;
use super::{Backend, Executor, RunOptions};
use crate::config::CpuMode;
use crate::error::RunError;
use crate::exec::{run_job_async, AsyncPlatform, JobTicket, Offload, RunShared};
use crate::plan::Plan;
use crate::stamp::Stamp;

/// The environment variable async-std sizes its executor from.
const THREAD_COUNT_ENV: &str = "ASYNC_STD_THREAD_COUNT";
/// The environment variable async-std names its threads from.
const THREAD_NAME_ENV: &str = "ASYNC_STD_THREAD_NAME";

/// The worker count async-std's global executor was started with by this
/// process, once started.
static STARTED_WITH: Mutex<Option<usize>> = Mutex::new(None);

/// The `async-std` backend.
pub struct AsyncStd {
    name: String,
    workers: usize,
    cpu_mode: CpuMode,
}

impl AsyncStd {
    /// Runs on async-std's global executor with `workers` threads (already
    /// resolved, ≥ 1).
    pub fn new(name: String, workers: usize, cpu_mode: CpuMode) -> Self {
        Self {
            name,
            workers: workers.max(1),
            cpu_mode,
        }
    }

    /// Refuses a worker count other than the one the executor runs with.
    fn check(&self, started: Option<usize>) -> Result<(), RunError> {
        match started {
            Some(n) if n != self.workers => Err(RunError::Refused {
                backend: self.name.clone(),
                why: format!(
                    "async-std's global executor already runs {n} worker threads in this process and cannot be \
                     resized to {}; give every async-std backend of one gilsim invocation the same `workers`, or run \
                     them in separate invocations",
                    self.workers
                ),
            }),
            _ => Ok(()),
        }
    }

    /// Starts async-std's executor with `workers` threads if this process
    /// has not yet, else checks it runs with that many.
    fn start_runtime(&self) -> Result<(), RunError> {
        let mut started = STARTED_WITH.lock().unwrap_or_else(|p| p.into_inner());
        self.check(*started)?;
        if started.is_none() {
            // Read once, by the first task spawn just below.
            std::env::set_var(THREAD_COUNT_ENV, self.workers.to_string());
            std::env::set_var(THREAD_NAME_ENV, ASYNC_STD_THREAD);
            // Spawning forces async-std's runtime to start its threads.
            drop(async_std::task::spawn(async {}));
            *started = Some(self.workers);
        }
        Ok(())
    }
}

impl Backend for AsyncStd {
    fn preflight(&self, _plan: &Plan, _opts: &RunOptions) -> Result<(), RunError> {
        self.check(*STARTED_WITH.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn launch(&self, shared: Arc<RunShared>) -> Result<Box<dyn Executor>, RunError> {
        raise_fd_limit();
        self.start_runtime()?;
        let offload = offload_for(&self.name, self.cpu_mode)?;
        Ok(Box::new(Running {
            inline: inline_groups(&shared, &offload),
            shared,
            platform: AsyncStdPlatform,
            offload,
            kept: Kept::default(),
        }))
    }
}

struct Running {
    shared: Arc<RunShared>,
    platform: AsyncStdPlatform,
    offload: Offload,
    /// Per group: its jobs never await ([`inline_groups`]).
    inline: Vec<bool>,
    /// Handles of the tasks the driver spawned.
    kept: Kept<async_std::task::JoinHandle<()>>,
}

impl Executor for Running {
    fn submit(&self, ticket: JobTicket) -> Result<(), RunError> {
        // async-std's threads are not ours to configure, but they need no
        // set-up: the one timed wait a job makes on them, for the GIL,
        // lowers that thread's timer slack itself (Gil::acquire).
        let task = if self.inline.get(ticket.id.group).copied().unwrap_or(false) {
            let shared = self.shared.clone();
            async_std::task::spawn(async move { shared.run_task_inline(ticket) })
        } else {
            async_std::task::spawn(run_job_async(
                self.shared.clone(),
                self.platform,
                self.offload.clone(),
                ticket,
            ))
        };
        // The driver keeps its tasks' handles ([`Kept`]); a task spawned
        // by a task (a closed-loop client's next job) is detached.
        if async_std::task::try_current().is_none() {
            self.kept.keep(task);
        }
        Ok(())
    }

    fn shutdown(self: Box<Self>) {
        // The executor is global and stays up; the driver has seen every
        // completion, so nothing of this run is left on it.
        self.kept.clear();
    }
}

/// async-std's side of [`AsyncPlatform`].
#[derive(Clone, Copy)]
struct AsyncStdPlatform;

impl AsyncPlatform for AsyncStdPlatform {
    fn sleep_until(&self, deadline: Instant) -> impl Future<Output = Stamp> + Send {
        // Called on the executor thread about to wait.
        ensure_async_std_kicker();
        async_io_sleep_until(deadline)
    }

    fn spawn_blocking<R, F>(&self, f: F) -> impl Future<Output = Option<R>> + Send
    where
        R: Send + 'static,
        F: FnOnce() -> R + Send + 'static,
    {
        async_std::task::spawn_blocking(catching(f))
    }
}

#[cfg(test)]
mod tests {
    use super::super::tokio_rt::testkit::*;
    use crate::config::{BackendKind, CpuMode};

    /// Every async-std test of this process uses the same worker count,
    /// since the executor is sized once per process.
    const WORKERS: usize = 2;

    #[test]
    fn runs_every_mode_with_and_without_gil() {
        all_modes_complete(BackendKind::AsyncStd, None, WORKERS);
    }

    #[test]
    fn io_waits_overlap() {
        io_overlaps(&spec(
            BackendKind::AsyncStd,
            false,
            None,
            CpuMode::Inline,
            WORKERS,
        ));
        io_overlaps(&spec(
            BackendKind::AsyncStd,
            true,
            None,
            CpuMode::Inline,
            WORKERS,
        ));
    }

    #[test]
    fn cpu_overlaps_on_two_workers() {
        cpu_overlaps(&spec(
            BackendKind::AsyncStd,
            false,
            None,
            CpuMode::Inline,
            WORKERS,
        ));
        cpu_overlaps(&spec(
            BackendKind::AsyncStd,
            false,
            None,
            CpuMode::SpawnBlocking,
            WORKERS,
        ));
    }

    #[test]
    fn another_worker_count_is_refused_once_started() {
        let p = plan(vec![batch("io", 2, vec![crate::config::Step::Io(ms(1))])]);
        run_ok(
            &spec(BackendKind::AsyncStd, false, None, CpuMode::Inline, WORKERS),
            &p,
        );
        let other = spec(
            BackendKind::AsyncStd,
            false,
            None,
            CpuMode::Inline,
            WORKERS + 1,
        );
        let opts = crate::backend::RunOptions {
            calibration: crate::work::kernel::Calibration {
                iters_per_us: 100.0,
            },
            max_threads: 100,
            record_gil_holds: false,
            max_in_flight: crate::backend::DEFAULT_MAX_IN_FLIGHT,
            progress: None,
            warmup_jobs: 0,
            give_up: &[],
        };
        let err = crate::backend::run(&other, p, &opts)
            .expect_err("a different worker count must be refused");
        let msg = err.to_string();
        assert!(msg.contains("cannot be resized"), "{msg}");
        assert!(msg.contains("already runs 2 worker threads"), "{msg}");
    }

    #[test]
    fn the_executor_runs_the_asked_number_of_threads() {
        let p = plan(vec![batch("io", 4, vec![crate::config::Step::Io(ms(1))])]);
        run_ok(
            &spec(BackendKind::AsyncStd, false, None, CpuMode::Inline, WORKERS),
            &p,
        );
        let named = std::fs::read_dir("/proc/self/task")
            .unwrap()
            .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
            .filter(|comm| comm.trim() == "async-std")
            .count();
        assert_eq!(named, WORKERS);
    }
}
