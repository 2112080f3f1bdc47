//! A tokio runtime: `multi_thread` (a work-stealing pool of `workers`
//! threads, like several event loops sharing one queue) or `current_thread`
//! (one thread runs every task, like an asyncio event loop).
//!
//! Jobs are tasks running [`run_job_async`]; IO waits use the precise
//! timerfd sleep of [`super::async_timer`], not tokio's 1 ms timer wheel.
//! The `asyncio` flavor runs a current_thread runtime whose one future is
//! gilsim's asyncio-ordered loop ([`super::asyncio_loop`]), which holds the
//! jobs' futures itself.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::runtime::{Handle, Runtime};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle as TaskHandle;

use super::async_support::{inline_groups, offload_for};
use super::async_timer::{raise_fd_limit, tokio_sleep_until};
use super::asyncio_loop;
use super::kept::Kept;
use super::{Backend, Executor};
use crate::config::{CpuMode, Flavor};
use crate::error::RunError;
use crate::exec::{run_job_async, thread_run, AsyncPlatform, JobTicket, Offload, RunShared};
use crate::stamp::Stamp;
use crate::work::sleep::reduce_timer_slack;

/// How long shutdown waits for blocking-pool threads still running (there
/// should be none: the driver has seen every completion).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The `tokio` backend.
pub struct Tokio {
    name: String,
    workers: usize,
    flavor: Flavor,
    cpu_mode: CpuMode,
}

impl Tokio {
    /// A runtime of `flavor` with `workers` threads (already resolved, ≥ 1;
    /// ignored for `current_thread`).
    pub fn new(name: String, workers: usize, flavor: Flavor, cpu_mode: CpuMode) -> Self {
        Self {
            name,
            workers: workers.max(1),
            flavor,
            cpu_mode,
        }
    }

    fn spawn_error(&self, what: &str, source: std::io::Error) -> RunError {
        RunError::Spawn {
            backend: self.name.clone(),
            what: what.into(),
            source,
        }
    }

    /// The runtime's builder; its threads adopt `run` (see
    /// [`crate::exec::thread_run`]) when given one.
    fn builder_for(&self, run: Option<Arc<RunShared>>) -> tokio::runtime::Builder {
        let mut b = match self.flavor {
            Flavor::MultiThread => {
                let mut b = tokio::runtime::Builder::new_multi_thread();
                b.worker_threads(self.workers);
                b
            }
            Flavor::CurrentThread | Flavor::Asyncio => {
                tokio::runtime::Builder::new_current_thread()
            }
        };
        // IO for the timerfd sleeps; time for their fallback.
        let (prefix, next) = (self.name.clone(), AtomicUsize::new(0));
        b.enable_io()
            .enable_time()
            .thread_name_fn(move || format!("{prefix}-{}", next.fetch_add(1, Ordering::Relaxed)))
            .on_thread_start(move || {
                reduce_timer_slack();
                if let Some(run) = &run {
                    thread_run::adopt(run);
                }
            })
            .on_thread_stop(thread_run::release);
        b
    }

    /// `current_thread`: a dedicated thread runs every task spawned through
    /// the runtime's handle until told to stop.
    fn current_thread(&self, rt: Runtime, shared: &Arc<RunShared>) -> Result<Engine, RunError> {
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = self.loop_thread(rt, shared, |_| async {
            let _ = stopped.await;
        })?;
        Ok(Engine::Loop { stop, thread })
    }

    /// `asyncio`: a dedicated thread runs gilsim's asyncio-ordered loop,
    /// which the driver sends jobs to; `inline` as [`inline_groups`].
    fn asyncio(
        &self,
        rt: Runtime,
        shared: &Arc<RunShared>,
        offload: &Offload,
        inline: Vec<bool>,
    ) -> Result<Engine, RunError> {
        let (tx, rx) = mpsc::unbounded_channel::<JobTicket>();
        let (run, offload) = (shared.clone(), offload.clone());
        let make = move |ticket: JobTicket| -> asyncio_loop::JobFuture {
            let shared = run.clone();
            if inline.get(ticket.id.group).copied().unwrap_or(false) {
                Box::pin(async move { shared.run_task_inline(ticket) })
            } else {
                // One tokio task polls every job: without `unconstrained`,
                // tokio's per-task budget would run out across them.
                Box::pin(tokio::task::unconstrained(run_job_async(
                    shared,
                    TokioPlatform,
                    offload.clone(),
                    ticket,
                )))
            }
        };
        let thread = self.loop_thread(rt, shared, move |run| asyncio_loop::run(rx, run, make))?;
        Ok(Engine::Asyncio { jobs: tx, thread })
    }

    /// Starts the thread that adopts the run and `block_on`s `main(run)`
    /// on `rt`, then shuts the runtime down.
    fn loop_thread<F: std::future::Future<Output = ()>>(
        &self,
        rt: Runtime,
        shared: &Arc<RunShared>,
        main: impl FnOnce(Arc<RunShared>) -> F + Send + 'static,
    ) -> Result<JoinHandle<()>, RunError> {
        let run = shared.clone();
        std::thread::Builder::new()
            .name(self.name.clone())
            .spawn(move || {
                reduce_timer_slack();
                thread_run::adopt(&run);
                rt.block_on(main(run));
                rt.shutdown_timeout(SHUTDOWN_GRACE);
                thread_run::release();
            })
            .map_err(|e| self.spawn_error("the runtime thread", e))
    }

    #[cfg(test)]
    fn builder(&self) -> tokio::runtime::Builder {
        self.builder_for(None)
    }
}

impl Backend for Tokio {
    fn launch(&self, shared: Arc<RunShared>) -> Result<Box<dyn Executor>, RunError> {
        raise_fd_limit();
        let offload = offload_for(&self.name, self.cpu_mode)?;
        // The runtime is this run's alone: its threads hold the run, so
        // an inline task carries only its ticket.
        let rt = self
            .builder_for(Some(shared.clone()))
            .build()
            .map_err(|e| self.spawn_error("the tokio runtime", e))?;
        let handle = rt.handle().clone();
        let inline = inline_groups(&shared, &offload);
        let engine = match self.flavor {
            Flavor::MultiThread => Engine::Pool(rt),
            Flavor::CurrentThread => self.current_thread(rt, &shared)?,
            Flavor::Asyncio => self.asyncio(rt, &shared, &offload, inline.clone())?,
        };
        Ok(Box::new(Running {
            handle,
            engine,
            inline,
            shared,
            platform: TokioPlatform,
            offload,
            kept: Kept::default(),
        }))
    }
}

/// How a run's runtime is held, per flavor.
enum Engine {
    /// `multi_thread`: the runtime owns its worker threads.
    Pool(Runtime),
    /// `current_thread`: a dedicated thread `block_on`s until `stop` fires.
    Loop {
        stop: oneshot::Sender<()>,
        thread: JoinHandle<()>,
    },
    /// `asyncio`: a dedicated thread runs the loop until `jobs` hangs up.
    Asyncio {
        jobs: mpsc::UnboundedSender<JobTicket>,
        thread: JoinHandle<()>,
    },
}

struct Running {
    handle: Handle,
    engine: Engine,
    shared: Arc<RunShared>,
    platform: TokioPlatform,
    offload: Offload,
    /// Per group: its jobs never await ([`inline_groups`]).
    inline: Vec<bool>,
    /// Handles of the tasks the driver spawned ([`Kept`]).
    kept: Kept<TaskHandle<()>>,
}

impl Running {
    /// Keeps the handle of a task spawned from outside the runtime, so
    /// that the spawning thread frees it ([`Kept`]); a task spawned on a
    /// runtime thread (a closed-loop client's next job) was allocated
    /// there, and is left detached.
    fn detach_or_keep(&self, task: TaskHandle<()>) {
        if Handle::try_current().is_err() {
            self.kept.keep(task);
        }
    }
}

impl Executor for Running {
    fn submit(&self, ticket: JobTicket) -> Result<(), RunError> {
        if let Engine::Asyncio { jobs, .. } = &self.engine {
            // The loop reads it at its next select; it runs until shutdown
            // drops this sender (a job's panic ends that job, not the loop).
            let _ = jobs.send(ticket);
            return Ok(());
        }
        // A task reports its completion through `shared`; its handle is
        // kept only so that the driver frees it (`detach_or_keep`).
        let task = if self.inline.get(ticket.id.group).copied().unwrap_or(false) {
            // Tasks run only on the runtime's threads, each of which
            // adopted the run as it started.
            self.handle.spawn(async move {
                let ran = thread_run::with_thread_run(|shared| shared.run_task_inline(ticket));
                debug_assert!(ran.is_some(), "a tokio thread without its run");
            })
        } else {
            self.handle.spawn(run_job_async(
                self.shared.clone(),
                self.platform,
                self.offload.clone(),
                ticket,
            ))
        };
        self.detach_or_keep(task);
        Ok(())
    }

    fn shutdown(self: Box<Self>) {
        // The driver has seen every completion, so no task is left; called
        // from the driver thread, outside any async context.
        self.kept.clear();
        match self.engine {
            Engine::Pool(rt) => rt.shutdown_timeout(SHUTDOWN_GRACE),
            Engine::Loop { stop, thread } => {
                let _ = stop.send(());
                let _ = thread.join();
            }
            Engine::Asyncio { jobs, thread } => {
                drop(jobs);
                let _ = thread.join();
            }
        }
    }
}

/// tokio's side of [`AsyncPlatform`].
#[derive(Clone, Copy)]
struct TokioPlatform;

impl AsyncPlatform for TokioPlatform {
    fn sleep_until(&self, deadline: Instant) -> impl std::future::Future<Output = Stamp> + Send {
        tokio_sleep_until(deadline)
    }

    fn spawn_blocking<R, F>(&self, f: F) -> impl std::future::Future<Output = Option<R>> + Send
    where
        R: Send + 'static,
        F: FnOnce() -> R + Send + 'static,
    {
        // Blocking-pool threads run `on_thread_start` too, so their
        // timer slack (GIL waits) is already reduced.
        let task = tokio::task::spawn_blocking(f);
        async move { task.await.ok() }
    }
}

/// Running small plans through the real driver, for the async backends'
/// tests.
#[cfg(test)]
pub(super) mod testkit {
    use std::path::PathBuf;
    use std::sync::{Arc, OnceLock};
    use std::time::Duration;

    use crate::backend::{run, RunOptions};
    use crate::config::{
        Arrival, BackendKind, BackendSpec, CpuMode, DurationSpec, Flavor, GilSettings, GroupSpec,
        JobSet, Step,
    };
    use crate::metrics::RunMeasurement;
    use crate::plan::Plan;
    use crate::work::kernel::Calibration;

    use crate::testing::exclusive;

    fn calibration() -> Calibration {
        static CAL: OnceLock<Calibration> = OnceLock::new();
        *CAL.get_or_init(Calibration::measure)
    }

    pub fn ms(x: u64) -> DurationSpec {
        DurationSpec::Fixed(Duration::from_millis(x))
    }

    /// A batch group of `jobs` jobs doing `steps`.
    pub fn batch(name: &str, jobs: u64, steps: Vec<Step>) -> GroupSpec {
        GroupSpec {
            name: name.into(),
            jobs,
            arrival: Arrival::Batch,
            steps,
        }
    }

    pub fn plan(groups: Vec<GroupSpec>) -> Arc<Plan> {
        Arc::new(Plan::new(&JobSet {
            name: "async-backend-test".into(),
            description: None,
            seed: 7,
            gil: GilSettings::default(),
            model_cores: None,
            backends: vec![],
            groups,
            source: PathBuf::from("test.toml"),
        }))
    }

    pub fn spec(
        kind: BackendKind,
        gil: bool,
        flavor: Option<Flavor>,
        cpu_mode: CpuMode,
        workers: usize,
    ) -> BackendSpec {
        let mut s = BackendSpec::new(kind, gil);
        s.flavor = if kind == BackendKind::Tokio {
            flavor.or(Some(Flavor::MultiThread))
        } else {
            None
        };
        s.cpu_mode = Some(cpu_mode);
        s.workers = workers;
        s
    }

    /// Runs `plan` on `spec` and checks every job completed.
    pub fn run_ok(spec: &BackendSpec, plan: &Arc<Plan>) -> RunMeasurement {
        let opts = RunOptions {
            calibration: calibration(),
            max_threads: 10_000,
            record_gil_holds: false,
            max_in_flight: crate::backend::DEFAULT_MAX_IN_FLIGHT,
            progress: None,
            warmup_jobs: 0,
            give_up: &[],
        };
        let m = run(spec, plan.clone(), &opts).unwrap_or_else(|e| panic!("{}: {e}", spec.name));
        assert_eq!(m.jobs, plan.total_jobs(), "{}: jobs completed", spec.name);
        for ((name, g), gp) in m.groups.iter().zip(&plan.groups) {
            assert_eq!(g.jobs, gp.jobs, "{}: jobs of group {name}", spec.name);
        }
        m
    }

    /// A mixed plan: CPU, native, IO, a lock section and a counter.
    pub fn mixed() -> Arc<Plan> {
        use crate::config::Guard;
        plan(vec![
            batch(
                "cpu",
                3,
                vec![Step::Cpu(ms(5)), Step::Io(ms(1)), Step::Native(ms(2))],
            ),
            batch(
                "io",
                20,
                vec![
                    Step::Io(DurationSpec::Fixed(Duration::from_micros(300))),
                    Step::Lock {
                        name: "db".into(),
                        cpu: DurationSpec::Fixed(Duration::from_micros(50)),
                    },
                    Step::Counter {
                        name: "hits".into(),
                        add: 10,
                        guard: Guard::Atomic,
                        switch_inside: false,
                    },
                    Step::Io(ms(1)),
                ],
            ),
        ])
    }

    /// Every cpu_mode, with and without the GIL, runs the mixed plan to
    /// completion on `kind`/`flavor`.
    pub fn all_modes_complete(kind: BackendKind, flavor: Option<Flavor>, workers: usize) {
        let p = mixed();
        let _x = exclusive();
        for cpu_mode in [CpuMode::Inline, CpuMode::SpawnBlocking, CpuMode::Rayon] {
            for gil in [false, true] {
                let s = spec(kind, gil, flavor, cpu_mode, workers);
                let m = run_ok(&s, &p);
                assert_eq!(m.gil.is_some(), gil);
                if let Some(g) = &m.gil {
                    assert!(g.acquisitions > 0, "{}: the GIL was never taken", s.name);
                }
                assert_eq!(m.counters[0].observed, 200, "{}: counter", s.name);
            }
        }
    }

    /// 16 jobs of 20 ms IO overlap: far less than 16 × 20 ms.
    pub fn io_overlaps(spec: &BackendSpec) {
        let p = plan(vec![batch("io", 16, vec![Step::Io(ms(20))])]);
        let _x = exclusive();
        let m = run_ok(spec, &p);
        eprintln!("{}: 16 × 20 ms IO took {:?}", spec.name, m.wall);
        assert!(
            m.wall >= Duration::from_millis(20),
            "{}: {:?}",
            spec.name,
            m.wall
        );
        assert!(
            m.wall < Duration::from_millis(8 * 20),
            "{}: 16 × 20 ms IO took {:?}",
            spec.name,
            m.wall
        );
    }

    /// Wall time of 6 jobs of 30 ms CPU each: 180 ms serialized, 90 ms
    /// ideal on two cores. Scaled by the kernel's speed measured during the
    /// run, so that it is in the calibration's time: the machine's speed
    /// drifts between the calibration and the run (586–672 iterations/µs
    /// within seconds, README), and 30 ms steps that ran 18% fast made a
    /// serialized run read 146 ms.
    pub fn cpu_wall(spec: &BackendSpec) -> Duration {
        let p = plan(vec![batch("cpu", 6, vec![Step::Cpu(ms(30))])]);
        let _x = exclusive();
        let m = run_ok(spec, &p);
        let speed = m.kernel_speed.unwrap_or(1.0);
        let wall = m.wall.mul_f64(speed);
        eprintln!(
            "{}: 6 × 30 ms CPU took {:?} at kernel speed {speed:.3}: {wall:?}",
            spec.name, m.wall
        );
        wall
    }

    /// Serialized CPU work: noise only makes it slower, so the bound is
    /// firm (a sixth below 180 ms for what the speed measured during the
    /// run does not catch).
    pub fn cpu_serializes(spec: &BackendSpec) {
        let wall = cpu_wall(spec);
        assert!(
            wall >= Duration::from_millis(150),
            "{}: 6 × 30 ms CPU took only {wall:?}",
            spec.name
        );
    }

    /// With two cores or more, offloaded CPU work overlaps: well under the
    /// 180 ms it takes serialized. Other processes (or tests) busy on a
    /// core hide any overlap, so a slow attempt is retried twice.
    pub fn cpu_overlaps(spec: &BackendSpec) {
        if crate::backend::available_cores() < 2 {
            return;
        }
        let mut walls = Vec::new();
        for _ in 0..3 {
            let wall = cpu_wall(spec);
            if wall < Duration::from_millis(150) {
                return;
            }
            walls.push(wall);
        }
        panic!(
            "{}: 6 × 30 ms CPU took {walls:?}: no overlap on two cores",
            spec.name
        );
    }
}

#[cfg(test)]
mod tests {
    use super::testkit::*;
    use crate::config::{BackendKind, CpuMode, Flavor};

    const MT: Option<Flavor> = Some(Flavor::MultiThread);
    const CT: Option<Flavor> = Some(Flavor::CurrentThread);
    const AIO: Option<Flavor> = Some(Flavor::Asyncio);

    #[test]
    fn multi_thread_runs_every_mode_with_and_without_gil() {
        all_modes_complete(BackendKind::Tokio, MT, 0);
    }

    #[test]
    fn current_thread_runs_every_mode_with_and_without_gil() {
        all_modes_complete(BackendKind::Tokio, CT, 0);
    }

    #[test]
    fn asyncio_runs_every_mode_with_and_without_gil() {
        all_modes_complete(BackendKind::Tokio, AIO, 0);
    }

    #[test]
    fn io_overlaps_on_every_flavor() {
        io_overlaps(&spec(BackendKind::Tokio, false, MT, CpuMode::Inline, 0));
        for flavor in [CT, AIO] {
            io_overlaps(&spec(BackendKind::Tokio, false, flavor, CpuMode::Inline, 0));
            io_overlaps(&spec(BackendKind::Tokio, true, flavor, CpuMode::Inline, 0));
        }
    }

    #[test]
    fn inline_cpu_serializes_on_one_thread() {
        cpu_serializes(&spec(BackendKind::Tokio, false, CT, CpuMode::Inline, 0));
        cpu_serializes(&spec(BackendKind::Tokio, false, AIO, CpuMode::Inline, 0));
    }

    #[test]
    fn offloaded_cpu_overlaps_on_one_thread() {
        for flavor in [CT, AIO] {
            cpu_overlaps(&spec(
                BackendKind::Tokio,
                false,
                flavor,
                CpuMode::SpawnBlocking,
                0,
            ));
            cpu_overlaps(&spec(BackendKind::Tokio, false, flavor, CpuMode::Rayon, 0));
        }
    }

    #[test]
    fn inline_cpu_overlaps_on_two_workers() {
        cpu_overlaps(&spec(BackendKind::Tokio, false, MT, CpuMode::Inline, 2));
    }

    #[test]
    fn runtime_threads_carry_the_label() {
        let b = super::Tokio::new("my-loop".into(), 1, Flavor::MultiThread, CpuMode::Inline);
        let rt = b.builder().build().unwrap();
        let name = rt.block_on(async {
            tokio::spawn(async { std::thread::current().name().map(String::from) })
                .await
                .unwrap()
        });
        assert!(name.unwrap_or_default().starts_with("my-loop-"));
    }
}
