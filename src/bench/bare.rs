//! The bare programs `gilsim bench` measures gilsim against: each backend's
//! runtime running the same jobs with no harness around them (no driver, no
//! plan, no recording), with the same runtime settings gilsim uses (worker
//! count, timer slack). Whatever gilsim adds on top of these is its own cost,
//! measurement error from a user's point of view.
//!
//! Three kinds of program per runtime:
//! - [`cpu_jobs`]: `n` jobs of the calibrated kernel ([`spin`]) submitted at
//!   once, the runtime's usual way (a rayon `scope`, a channel to a thread
//!   pool, `spawn` on tokio, async-std and smol), timed from the first
//!   submission to the last completion.
//! - [`io_jobs`]: `n` IO waits handed one at a time to the runtime and
//!   waited for (a closed loop of one client), for the process CPU time each
//!   costs. The waits use the runtime's own timer (or `nanosleep` on a
//!   thread), which is what a program written for that runtime does.
//! - [`timer_overshoots_us`]: `n` waits made one after another by one task
//!   on the runtime's precise timer (async-io's for async-std and smol, a
//!   timerfd through `AsyncFd` for tokio, whose own timer ticks every ms),
//!   for how far past its deadline each ends.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::{BackendKind, BackendSpec, Flavor};
use crate::metrics::process_cpu_time;
use crate::work::kernel::spin;
use crate::work::sleep::{overshoot_of_us, precise_sleep, reduce_timer_slack, wait_times};

/// The runtimes a bare program exists for, matching gilsim's backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bare {
    /// A fixed pool of threads pulling from a crossbeam channel.
    ThreadPool,
    /// A rayon pool.
    Rayon,
    /// tokio, multi_thread flavor.
    TokioMulti,
    /// tokio, current_thread flavor (the runtime runs on its own thread).
    TokioCurrent,
    /// async-std's global executor.
    AsyncStd,
    /// A smol executor run by `workers` threads.
    Smol,
}

/// What a bare run measured.
#[derive(Debug, Clone, Copy)]
pub struct BareRun {
    /// Jobs run.
    pub jobs: u64,
    /// First submission to last completion.
    pub wall: Duration,
    /// Process CPU time (all threads) over the same span.
    pub cpu: Duration,
}

/// Runs `n` jobs of `iters` kernel iterations on `workers` threads of
/// `kind`.
pub fn cpu_jobs(kind: Bare, workers: usize, n: u64, iters: u64) -> BareRun {
    let job = move || {
        std::hint::black_box(spin(1, iters));
    };
    run_timed(kind, workers, n, job)
}

/// Hands `n` waits of `d` to `kind`, one at a time, each waited for before
/// the next is handed over.
pub fn io_jobs(kind: Bare, workers: usize, n: u64, d: Duration) -> BareRun {
    match kind {
        Bare::ThreadPool => {
            let (tx, rx) = crossbeam_channel::unbounded::<crossbeam_channel::Sender<()>>();
            let pool: Vec<_> = (0..workers)
                .map(|_| {
                    let rx = rx.clone();
                    std::thread::spawn(move || {
                        reduce_timer_slack();
                        for reply in rx {
                            precise_sleep(d);
                            let _ = reply.send(());
                        }
                    })
                })
                .collect();
            let r = measure(n, || {
                for _ in 0..n {
                    let (rtx, rrx) = crossbeam_channel::bounded(1);
                    let _ = tx.send(rtx);
                    let _ = rrx.recv();
                }
            });
            drop(tx);
            pool.into_iter().for_each(|t| drop(t.join()));
            r
        }
        Bare::Rayon => {
            let pool = rayon_pool(workers);
            measure(n, || {
                for _ in 0..n {
                    let (rtx, rrx) = crossbeam_channel::bounded(1);
                    pool.spawn_fifo(move || {
                        precise_sleep(d);
                        let _ = rtx.send(());
                    });
                    let _ = rrx.recv();
                }
            })
        }
        Bare::TokioMulti | Bare::TokioCurrent => {
            let (rt, _thread) = tokio_runtime(kind, workers);
            let r = measure(n, || {
                for _ in 0..n {
                    let h = rt.handle.spawn(async move { tokio::time::sleep(d).await });
                    let _ = futures_lite_block_on(h);
                }
            });
            rt.stop();
            r
        }
        Bare::AsyncStd => measure(n, || {
            for _ in 0..n {
                let h = async_std::task::spawn(async_std::task::sleep(d));
                futures_lite_block_on(h);
            }
        }),
        Bare::Smol => {
            let ex = SmolPool::start(workers);
            let r = measure(n, || {
                for _ in 0..n {
                    let h = ex.ex.spawn(async move {
                        async_io::Timer::after(d).await;
                    });
                    futures_lite_block_on(h);
                }
            });
            ex.stop();
            r
        }
    }
}

/// `n` waits of `d` made one after another by one task on `kind`'s
/// precise timer ([`Bare::timer`]), on `workers` executor threads: each
/// wait's overshoot, µs, measured to the ns. A program written for the
/// runtime waits so; it is the peer of gilsim's waits on that runtime.
///
/// async-std and smol wait on async-io's timer. tokio's own timer rounds
/// every deadline up to its 1 ms tick (a 200 µs wait overshoots by about
/// 850 µs), so a tokio program that needs less waits on a timerfd through
/// `AsyncFd`, as gilsim's tokio backend does. `None` for a thread's or a
/// rayon worker's wait, which is the `nanosleep` every IO row is already
/// measured against, and where the timerfd cannot be had.
///
/// async-std's executor is the process's one global executor: its threads
/// are those the first async-std run of the process started (the
/// backend's resolved `workers`: one per core in the bench), whatever
/// `workers` says here.
pub fn timer_overshoots_us(kind: Bare, workers: usize, n: u64, d: Duration) -> Option<Vec<f64>> {
    match kind {
        Bare::TokioMulti | Bare::TokioCurrent => {
            let (rt, _thread) = tokio_runtime(kind, workers);
            let task = rt.handle.spawn(tokio_timerfd_overshoots_us(n, d));
            let v = futures_lite_block_on(task).ok().flatten();
            rt.stop();
            v
        }
        Bare::AsyncStd => Some(async_std::task::block_on(async_std::task::spawn(
            overshoots_us(n, d, async_std::task::sleep),
        ))),
        Bare::Smol => {
            let ex = SmolPool::start(workers);
            let task = ex.ex.spawn(overshoots_us(n, d, |d| async move {
                async_io::Timer::after(d).await;
            }));
            let v = futures_lite_block_on(task);
            ex.stop();
            Some(v)
        }
        Bare::ThreadPool | Bare::Rayon => None,
    }
}

/// [`timer_overshoots_us`] on tokio: one timerfd, armed for each wait at a
/// deadline `d` after a clock reading and awaited through `AsyncFd` (its
/// expiry count is left unread: the next arm resets it, and `clear_ready`
/// waits for the next edge). The timerfd is made and armed as gilsim's
/// waits make and arm theirs, at the deadline itself. Its own loop rather
/// than [`wait_times`]: a failed arm or registration ends it with `None`,
/// where the shared loop would time a wait that never was.
async fn tokio_timerfd_overshoots_us(n: u64, d: Duration) -> Option<Vec<f64>> {
    let fd = crate::backend::new_tokio_timerfd().ok()?;
    let mut v = Vec::with_capacity(usize::try_from(n).unwrap_or(0));
    for _ in 0..n {
        let t = Instant::now();
        crate::backend::arm_timerfd_at(fd.get_ref(), t + d).ok()?;
        let mut ready = fd.readable().await.ok()?;
        v.push(overshoot_of_us(t.elapsed(), d));
        ready.clear_ready();
    }
    Some(v)
}

/// How much longer than `d` each of `n` sequential `wait(d)`s lasted, µs.
async fn overshoots_us<F, Fut>(n: u64, d: Duration, wait: F) -> Vec<f64>
where
    F: FnMut(Duration) -> Fut,
    Fut: std::future::Future,
{
    wait_times(n, d, wait)
        .await
        .into_iter()
        .map(|took| overshoot_of_us(took, d))
        .collect()
}

/// Blocks the calling (non-runtime) thread on `f`, parking it like a
/// program's main thread waiting for a result.
fn futures_lite_block_on<F: std::future::Future>(f: F) -> F::Output {
    async_io::block_on(f)
}

/// Times `body`, which runs `n` jobs.
fn measure(n: u64, body: impl FnOnce()) -> BareRun {
    let cpu = process_cpu_time();
    let t = Instant::now();
    body();
    BareRun {
        jobs: n,
        wall: t.elapsed(),
        cpu: process_cpu_time().saturating_sub(cpu),
    }
}

fn rayon_pool(workers: usize) -> rayon::ThreadPool {
    // Same settings as the rayon backend's pool; building one cannot fail
    // short of the OS refusing threads, when the global pool still works.
    rayon::ThreadPoolBuilder::new()
        .num_threads(workers.max(1))
        .start_handler(|_| reduce_timer_slack())
        .build()
        .unwrap_or_else(|_| {
            rayon::ThreadPoolBuilder::new()
                .build()
                .expect("a default rayon pool")
        })
}

/// A tokio runtime as gilsim's tokio backend builds it; for current_thread,
/// a thread that `block_on`s it until stopped (tasks are spawned through the
/// handle from outside, as gilsim's driver does).
struct TokioRt {
    handle: tokio::runtime::Handle,
    rt: Option<tokio::runtime::Runtime>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TokioRt {
    fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(rt) = self.rt.take() {
            rt.shutdown_timeout(Duration::from_secs(5));
        }
    }
}

fn tokio_runtime(kind: Bare, workers: usize) -> (TokioRt, Option<std::thread::JoinHandle<()>>) {
    let mut b = if kind == Bare::TokioMulti {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(workers.max(1));
        b
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    let rt = b
        .enable_io()
        .enable_time()
        .on_thread_start(reduce_timer_slack)
        .build()
        .expect("a tokio runtime");
    let handle = rt.handle().clone();
    if kind == Bare::TokioMulti {
        return (
            TokioRt {
                handle,
                rt: Some(rt),
                stop: None,
            },
            None,
        );
    }
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    // Named, so that a profile tells it from gilsim's runtime thread.
    let thread = std::thread::Builder::new()
        .name("bare-tokio-ct".into())
        .spawn(move || {
            reduce_timer_slack();
            rt.block_on(async {
                let _ = stopped.await;
            });
        })
        .expect("a thread for the bare current_thread runtime");
    (
        TokioRt {
            handle,
            rt: None,
            stop: Some(stop),
        },
        Some(thread),
    )
}

/// A smol executor run by `workers` threads, as gilsim's smol backend runs it.
pub struct SmolPool {
    ex: Arc<smol::Executor<'static>>,
    stop: smol::channel::Sender<()>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl SmolPool {
    /// Starts `workers` threads (at least one), each running the executor
    /// in smol's `block_on` until [`SmolPool::stop`].
    pub fn start(workers: usize) -> Self {
        let ex = Arc::new(smol::Executor::new());
        let (stop, stopped) = smol::channel::bounded::<()>(1);
        let threads = (0..workers.max(1))
            .map(|_| {
                let (ex, stopped) = (ex.clone(), stopped.clone());
                std::thread::spawn(move || {
                    reduce_timer_slack();
                    smol::block_on(ex.run(async {
                        let _ = stopped.recv().await;
                    }));
                })
            })
            .collect();
        Self { ex, stop, threads }
    }

    /// Stops the threads and waits for them.
    pub fn stop(self) {
        drop(self.stop);
        for t in self.threads {
            let _ = t.join();
        }
    }
}

/// `n` copies of `job` on `kind`, all submitted at once; returns when all
/// have run.
fn run_timed(
    kind: Bare,
    workers: usize,
    n: u64,
    job: impl Fn() + Send + Sync + Copy + 'static,
) -> BareRun {
    match kind {
        Bare::ThreadPool => {
            let (tx, rx) = crossbeam_channel::unbounded::<()>();
            let pool: Vec<_> = (0..workers.max(1))
                .map(|_| {
                    let rx = rx.clone();
                    std::thread::spawn(move || {
                        reduce_timer_slack();
                        for () in rx {
                            job();
                        }
                    })
                })
                .collect();
            drop(rx);
            measure(n, || {
                for _ in 0..n {
                    let _ = tx.send(());
                }
                drop(tx);
                pool.into_iter().for_each(|t| drop(t.join()));
            })
        }
        Bare::Rayon => {
            let pool = rayon_pool(workers);
            measure(n, || {
                pool.scope_fifo(|s| {
                    for _ in 0..n {
                        s.spawn_fifo(move |_| job());
                    }
                })
            })
        }
        Bare::TokioMulti | Bare::TokioCurrent => {
            let (rt, _thread) = tokio_runtime(kind, workers);
            let handle = rt.handle.clone();
            let r = measure(n, || {
                let hs: Vec<_> = (0..n).map(|_| handle.spawn(async move { job() })).collect();
                async_io::block_on(async {
                    for h in hs {
                        let _ = h.await;
                    }
                });
            });
            rt.stop();
            r
        }
        Bare::AsyncStd => measure(n, || {
            let hs: Vec<_> = (0..n)
                .map(|_| async_std::task::spawn(async move { job() }))
                .collect();
            async_io::block_on(async {
                for h in hs {
                    h.await;
                }
            });
        }),
        Bare::Smol => {
            let ex = SmolPool::start(workers);
            let r = measure(n, || {
                let hs: Vec<_> = (0..n).map(|_| ex.ex.spawn(async move { job() })).collect();
                async_io::block_on(async {
                    for h in hs {
                        h.await;
                    }
                });
            });
            ex.stop();
            r
        }
    }
}

impl Bare {
    /// The runtime `spec` runs its jobs on: a thread backend's bare program
    /// is the pool (a thread per job has no runtime to compare), and the
    /// asyncio flavor's is tokio's current_thread runtime, which its loop
    /// runs on.
    pub fn of(spec: &BackendSpec) -> Self {
        match (spec.kind, spec.flavor.unwrap_or(Flavor::MultiThread)) {
            (BackendKind::Threads, _) => Bare::ThreadPool,
            (BackendKind::Rayon, _) => Bare::Rayon,
            (BackendKind::Tokio, Flavor::MultiThread) => Bare::TokioMulti,
            (BackendKind::Tokio, Flavor::CurrentThread | Flavor::Asyncio) => Bare::TokioCurrent,
            (BackendKind::AsyncStd, _) => Bare::AsyncStd,
            (BackendKind::Smol, _) => Bare::Smol,
        }
    }

    /// The program, in a few words, for the bench's figure names.
    pub fn program(self) -> &'static str {
        match self {
            Bare::ThreadPool => "2-thread pool on a channel",
            Bare::Rayon => "rayon scope/spawn",
            Bare::TokioMulti => "tokio multi_thread spawn",
            Bare::TokioCurrent => "tokio current_thread spawn",
            Bare::AsyncStd => "async-std spawn",
            Bare::Smol => "smol spawn",
        }
    }

    /// The precise wait [`timer_overshoots_us`] makes on this runtime, in a
    /// few words; `None` where it makes none.
    pub fn timer(self) -> Option<&'static str> {
        match self {
            Bare::TokioMulti | Bare::TokioCurrent => Some("a timerfd through AsyncFd"),
            Bare::AsyncStd => Some("async_std::task::sleep"),
            Bare::Smol => Some("async_io::Timer"),
            Bare::ThreadPool | Bare::Rayon => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every backend kind and flavor names the runtime it runs on, as the
    /// bench pairs them; a thread per job is compared with the pool.
    #[test]
    fn each_backend_names_its_runtime() {
        let of = |kind, flavor| {
            let mut spec = BackendSpec::new(kind, false);
            spec.flavor = flavor;
            Bare::of(&spec)
        };
        assert_eq!(of(BackendKind::Threads, None), Bare::ThreadPool);
        assert_eq!(of(BackendKind::Rayon, None), Bare::Rayon);
        assert_eq!(of(BackendKind::Tokio, None), Bare::TokioMulti);
        assert_eq!(
            of(BackendKind::Tokio, Some(Flavor::MultiThread)),
            Bare::TokioMulti
        );
        assert_eq!(
            of(BackendKind::Tokio, Some(Flavor::CurrentThread)),
            Bare::TokioCurrent
        );
        assert_eq!(
            of(BackendKind::Tokio, Some(Flavor::Asyncio)),
            Bare::TokioCurrent
        );
        assert_eq!(of(BackendKind::AsyncStd, None), Bare::AsyncStd);
        assert_eq!(of(BackendKind::Smol, None), Bare::Smol);
    }

    /// The async runtimes' bare programs make every wait, one after
    /// another (together at least `n × d`), and report each; the thread
    /// pool and rayon, whose wait is `nanosleep` itself, report none.
    #[test]
    fn the_bare_timer_programs_make_every_wait() {
        let d = Duration::from_micros(300);
        for kind in [
            Bare::TokioMulti,
            Bare::TokioCurrent,
            Bare::AsyncStd,
            Bare::Smol,
        ] {
            let t = Instant::now();
            let v = timer_overshoots_us(kind, 2, 20, d).expect("a timer to compare");
            assert!(t.elapsed() >= d * 20, "{kind:?} took {:?}", t.elapsed());
            assert_eq!(v.len(), 20);
            assert!(v.iter().all(|o| o.is_finite() && *o >= 0.0), "{v:?}");
            assert!(kind.timer().is_some());
        }
        for kind in [Bare::ThreadPool, Bare::Rayon] {
            assert!(timer_overshoots_us(kind, 2, 20, d).is_none());
            assert!(kind.timer().is_none());
        }
    }
}
