//! Precise async sleeps for the async backends (SPEC §1.2).
//!
//! tokio's timer wheel rounds every deadline up to its 1 ms tick: a 200 µs
//! wait overshoots by about 850 µs at p50. async-io's timers are better
//! (its poller times out through a timerfd too), but every new timer is
//! queued to whichever thread holds the reactor and makes it wake up and
//! recompute its poll timeout.
//!
//! Here every sleep arms its own Linux `timerfd` (`CLOCK_MONOTONIC`, the
//! clock behind [`Instant`], one-shot, at the wait's deadline: see
//! [`crate::work::sleep`]) and registers it with the runtime's
//! own reactor: [`tokio::io::unix::AsyncFd`] for tokio, [`async_io::Async`]
//! for async-std (async-io's reactor). smol's threads run gilsim's own
//! `block_on`, whose per-run timer ([`super::async_park`]) their sleeps use
//! instead; this module's async-io sleep is their fallback. The task then
//! awaits readability. A worker parked in `epoll_wait` is woken directly by
//! the kernel's hrtimer when it fires: timerfds get no timer-slack rounding
//! (unlike `nanosleep` or an `epoll_wait` timeout), and no other thread has
//! to relay the wake-up. Measured on a 2-core VM: overshoot within a few
//! µs of a plain `nanosleep` with 1 ns slack (p50 ≈ 35 µs for 200 µs and
//! 1 ms waits); `overshoot_table` below prints the comparison.
//!
//! A small per-thread free list keeps timerfds registered between sleeps,
//! which saves `timerfd_create`, the reactor registration, the
//! deregistration and `close` on every sleep: about 4 µs of CPU per sleep
//! (2 instead of 6 µs on tokio; `reuse_cost` below), which matters when
//! thousands of IO jobs share two cores. tokio's registrations belong to
//! one runtime, so its free list remembers which runtime it was filled on
//! and empties itself on another. A sleep that is cancelled drops its
//! timerfd rather than returning it.
//!
//! When a timerfd cannot be had (file descriptors exhausted: `EMFILE`,
//! `ENFILE`; or the reactor refuses it), a sleep falls back to the
//! runtime's own timer and gilsim logs one warning: the run goes on, less
//! precisely. [`raise_fd_limit`] makes that unlikely: every concurrently
//! sleeping task holds one descriptor.

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Once};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Instant;

use async_io::Async;
use rustix::time::{Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use super::async_support::{fired, precise_wait, warn_fallback};
use crate::exec::clock;
use crate::stamp::Stamp;
use crate::work::sleep::monotonic_at;

/// Most idle timerfds a thread keeps for reuse, per runtime kind.
const FREE_LIST_MAX: usize = 32;

/// Whether sleeps reuse timerfds through the per-thread free lists (only
/// the overshoot measurement turns this off, to compare).
static REUSE: AtomicBool = AtomicBool::new(true);

/// Sleeps until `deadline` on a tokio runtime (with `enable_io` and
/// `enable_time`). Returns a reading of gilsim's clock taken as the wait
/// saw its deadline pass (see [`fired`]), at once if it has passed.
///
/// # Panics
/// Outside a tokio runtime, like `tokio::time::sleep`.
pub async fn tokio_sleep_until(deadline: Instant) -> Stamp {
    // Checked before a timerfd is taken (and perhaps made and registered):
    // a wait whose deadline has passed needs none.
    if let Some(ended) = fired(deadline) {
        return ended;
    }
    match take_tokio_fd() {
        Ok(fd) => match wait_tokio(&fd, deadline).await {
            Ok(ended) => {
                give_back_tokio(fd);
                return ended;
            }
            // The registration went bad (e.g. its runtime is shutting
            // down): drop it and finish the wait on the runtime's timer.
            Err(e) => warn_fallback(&e),
        },
        Err(e) => warn_fallback(&e),
    }
    tokio::time::sleep_until(deadline.into()).await;
    clock::stamp()
}

/// Sleeps until `deadline` on async-io's reactor (async-std and smol).
/// Returns a reading of gilsim's clock taken as the wait saw its deadline
/// pass (see [`fired`]), at once if it has passed.
pub async fn async_io_sleep_until(deadline: Instant) -> Stamp {
    // As in `tokio_sleep_until`.
    if let Some(ended) = fired(deadline) {
        return ended;
    }
    match take_async_io_fd() {
        Ok(fd) => match wait_async_io(&fd, deadline).await {
            Ok(ended) => {
                give_back_async_io(fd);
                return ended;
            }
            Err(e) => warn_fallback(&e),
        },
        Err(e) => warn_fallback(&e),
    }
    async_io::Timer::at(deadline).await;
    clock::stamp()
}

/// Raises this process's soft limit on open files to the hard limit, once:
/// every task sleeping at a given moment holds one timerfd, and the usual
/// soft limit (1024) is far below what the kernel allows (as Go and the JVM
/// do at start-up).
pub fn raise_fd_limit() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
        unsafe {
            let mut rl = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) == 0 && rl.rlim_cur < rl.rlim_max {
                let old = rl.rlim_cur;
                rl.rlim_cur = rl.rlim_max;
                if libc::setrlimit(libc::RLIMIT_NOFILE, &rl) == 0 {
                    tracing::debug!(
                        from = old,
                        to = rl.rlim_max,
                        "raised the open-file soft limit"
                    );
                }
            }
        }
    });
}

fn new_timerfd() -> io::Result<OwnedFd> {
    Ok(rustix::time::timerfd_create(
        TimerfdClockId::Monotonic,
        TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
    )?)
}

/// Arms `fd` to fire once, at `deadline` (`TFD_TIMER_ABSTIME`, see
/// [`monotonic_at`]): a deadline already past fires at once. Re-arming also
/// resets any expiration not yet read.
pub(crate) fn arm_at(fd: impl AsFd, deadline: Instant) -> io::Result<()> {
    let mut at = monotonic_at(deadline);
    if at.tv_sec == 0 && at.tv_nsec == 0 {
        // A zero value would disarm the timer instead.
        at.tv_nsec = 1;
    }
    let spec = Itimerspec {
        it_interval: Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        },
        it_value: at,
    };
    rustix::time::timerfd_settime(fd, TimerfdTimerFlags::ABSTIME, &spec)?;
    Ok(())
}

/// Reads the expiration count; `WouldBlock` when the timer has not fired.
///
/// Only a wake-up before the deadline (a readiness left from an earlier
/// use) reads it, to tell a fired timer from a stale event. A wait that
/// sees its deadline pass leaves the count unread: the next [`arm_at`] resets
/// it, and until then nothing polls the descriptor (tokio's readiness is
/// cleared, async-io's interest is one-shot). A `read` is a system call on
/// the path from the timer's expiry to the job's end: 1.2–1.3 µs of a
/// 200 µs wait's overshoot on tokio current_thread on a 2-core KVM guest,
/// and as much of every IO job's CPU.
fn drain(fd: impl AsFd) -> io::Result<u64> {
    let mut buf = [0u8; 8];
    let n = rustix::io::read(fd, &mut buf)?;
    debug_assert_eq!(n, 8);
    Ok(u64::from_ne_bytes(buf))
}

// ---- tokio ----------------------------------------------------------------

/// A thread's idle tokio registrations, and the runtime they belong to.
#[derive(Default)]
struct TokioFree {
    runtime: Option<tokio::runtime::Id>,
    fds: Vec<AsyncFd<OwnedFd>>,
}

thread_local! {
    static TOKIO_FREE: RefCell<TokioFree> = RefCell::default();
    static ASYNC_IO_FREE: RefCell<Vec<Async<OwnedFd>>> = const { RefCell::new(Vec::new()) };
}

fn current_runtime() -> Option<tokio::runtime::Id> {
    tokio::runtime::Handle::try_current().ok().map(|h| h.id())
}

fn take_tokio_fd() -> io::Result<AsyncFd<OwnedFd>> {
    if REUSE.load(Ordering::Relaxed) {
        let rt = current_runtime();
        let reused = TOKIO_FREE
            .try_with(|free| {
                let mut free = free.borrow_mut();
                if free.runtime != rt {
                    // Registrations of another runtime are useless here.
                    free.fds.clear();
                    free.runtime = rt;
                }
                free.fds.pop()
            })
            .ok()
            .flatten();
        if let Some(fd) = reused {
            return Ok(fd);
        }
    }
    new_tokio_timerfd()
}

/// A new timerfd registered with the current tokio runtime's reactor.
///
/// # Panics
/// Outside a tokio runtime with IO enabled.
pub(crate) fn new_tokio_timerfd() -> io::Result<AsyncFd<OwnedFd>> {
    let fd = new_timerfd()?;
    // SAFETY: the AsyncFd owns the OwnedFd, which stays open and names the
    // same timerfd until the AsyncFd is dropped.
    Ok(unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }?)
}

fn give_back_tokio(fd: AsyncFd<OwnedFd>) {
    if !REUSE.load(Ordering::Relaxed) {
        return;
    }
    let rt = current_runtime();
    let _ = TOKIO_FREE.try_with(|free| {
        let mut free = free.borrow_mut();
        if free.runtime == rt && free.fds.len() < FREE_LIST_MAX {
            free.fds.push(fd);
        }
    });
}

/// Waits on `fd` until `deadline`, which the caller saw still ahead.
async fn wait_tokio(fd: &AsyncFd<OwnedFd>, deadline: Instant) -> io::Result<Stamp> {
    wait_readable(fd.get_ref(), deadline, move || async move {
        // One-shot: no further edge until re-armed. Clearing only clears
        // the readiness this guard saw, never a newer one.
        fd.readable().await?.clear_ready();
        Ok(())
    })
    .await
}

/// The wait both reactors share: arms `timer` at `deadline`, then awaits
/// the timer's readiness through the reactor (`readable`) until the clock
/// says the deadline has passed. The loop re-checks the clock: a stale
/// readiness from an earlier use must never end a wait early.
async fn wait_readable<R, F>(
    timer: &OwnedFd,
    deadline: Instant,
    mut readable: R,
) -> io::Result<Stamp>
where
    R: FnMut() -> F,
    F: Future<Output = io::Result<()>>,
{
    arm_at(timer, deadline)?;
    loop {
        readable().await?;
        if let Some(ended) = fired(deadline) {
            return Ok(ended);
        }
        match drain(timer) {
            // Expired before the deadline by `Instant`'s clock: armed for
            // the same instant again (at once if it has passed since).
            Ok(_) => arm_at(timer, deadline)?,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
}

// ---- async-io (async-std, smol) -------------------------------------------

fn take_async_io_fd() -> io::Result<Async<OwnedFd>> {
    if REUSE.load(Ordering::Relaxed) {
        // async-io's reactor is global, so any thread's registration works.
        if let Some(fd) = ASYNC_IO_FREE
            .try_with(|f| f.borrow_mut().pop())
            .ok()
            .flatten()
        {
            return Ok(fd);
        }
    }
    Async::new_nonblocking(new_timerfd()?)
}

fn give_back_async_io(fd: Async<OwnedFd>) {
    if !REUSE.load(Ordering::Relaxed) {
        return;
    }
    let _ = ASYNC_IO_FREE.try_with(|f| {
        let mut f = f.borrow_mut();
        if f.len() < FREE_LIST_MAX {
            f.push(fd);
        }
    });
}

/// [`wait_tokio`] on async-io's reactor. async-io registers interest anew
/// for each wait (one-shot), so only an event after it completes it.
async fn wait_async_io(fd: &Async<OwnedFd>, deadline: Instant) -> io::Result<Stamp> {
    wait_readable(fd.get_ref(), deadline, move || WakeHere::new(fd.readable())).await
}

// ---- waking the task on the thread that saw the timer fire ---------------

thread_local! {
    /// The waker of this thread's `block_on`, on executor threads gilsim
    /// owns (see [`run_here_on_wake`]).
    static KICK: RefCell<Option<Waker>> = const { RefCell::new(None) };
}

/// Wraps the future an executor thread `block_on`s (smol's `ex.run(..)`)
/// so that a timer wake-up seen by this thread is run by this thread.
///
/// Why: async-io's reactor is one epoll set, waited on by whichever thread
/// holds it. When a timerfd fires, that thread wakes the sleeping task,
/// which async-executor pushes to its global queue while waking *some other*
/// sleeping executor thread (the last to go to sleep): one more futex
/// wake-up and context switch, about 15-25 µs on a 2-core VM, before the
/// task runs. The reactor thread itself goes back to epoll without looking
/// at the queue, since nothing woke its own `block_on`. With this wrapper
/// the timer's wake-up ([`WakeHere`]) also wakes the `block_on` of the
/// thread it runs on, so that thread, already awake, polls the executor
/// next and takes the task itself.
///
/// smol's threads now run gilsim's own `block_on` ([`super::async_park`]),
/// which goes further; this wrapper is what they run when that is
/// unavailable or switched off for a comparison.
pub fn run_here_on_wake<F: Future>(fut: F) -> impl Future<Output = F::Output> {
    RememberBlockOn {
        inner: Box::pin(fut),
    }
}

struct RememberBlockOn<F: Future> {
    inner: Pin<Box<F>>,
}

impl<F: Future> Future for RememberBlockOn<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        KICK.with(|k| {
            let mut k = k.borrow_mut();
            if !k.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *k = Some(cx.waker().clone());
            }
        });
        self.inner.as_mut().poll(cx)
    }
}

/// Whether [`WakeHere`] wakes the thread it runs on (on by default; the
/// benchmark turns it off to measure the difference side by side).
static WAKE_HERE: AtomicBool = AtomicBool::new(true);

/// Turns the same-thread wake-up of `run_here_on_wake` on or off (for
/// side-by-side measurements only).
pub fn set_wake_here(on: bool) {
    WAKE_HERE.store(on, Ordering::Relaxed);
}

/// Wakes the current thread's `block_on`, when it is an executor thread
/// wrapped by [`run_here_on_wake`], or an async-std thread with a kicker
/// ([`ensure_async_std_kicker`]).
fn kick_this_thread() {
    let wake = |k: &RefCell<Option<Waker>>| {
        if let Ok(k) = k.try_borrow() {
            if let Some(w) = k.as_ref() {
                w.wake_by_ref();
            }
        }
    };
    if WAKE_HERE.load(Ordering::Relaxed) {
        let _ = KICK.try_with(wake);
    }
    if precise_wait() {
        let _ = KICK_LOCAL.try_with(wake);
    }
}

// ---- the same for async-std's threads, which gilsim does not start -------

thread_local! {
    /// The waker of this async-std thread's kicker task.
    static KICK_LOCAL: RefCell<Option<Waker>> = const { RefCell::new(None) };
    /// Whether this thread has looked into having a kicker.
    static KICKER_CHECKED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The name gilsim gives async-std's executor threads.
pub(super) const ASYNC_STD_THREAD: &str = "async-std";

/// On an async-std executor thread, spawns (once per thread) a local task
/// whose waker is that thread's [`KICK_LOCAL`].
///
/// async-std's threads belong to async-global-executor, which runs each as
/// `async_io::block_on(or(local_executor.run(..), global_executor.run(..)))`:
/// gilsim cannot wrap that `block_on` as it does smol's. But waking a task
/// of the thread's *local* executor wakes that `block_on` (the local
/// executor's ticker sleeps on its waker). So when this thread holds
/// async-io's reactor and sees a timerfd fire, [`WakeHere`] wakes the
/// sleeping task (async-executor queues it and notifies some sleeping
/// thread, as always) and kicks this thread's `block_on` through the kicker:
/// this thread, already awake, polls the global executor next and takes the
/// task itself, one futex wake-up sooner than the thread async-executor
/// notified. The kicker itself does nothing when polled.
pub(super) fn ensure_async_std_kicker() {
    if !precise_wait() {
        return;
    }
    let _ = KICKER_CHECKED.try_with(|checked| {
        if checked.replace(true) {
            return;
        }
        if std::thread::current().name() == Some(ASYNC_STD_THREAD) {
            // Dropping the handle detaches the task; it lives as long as
            // the thread's local executor.
            drop(async_std::task::spawn_local(Kicker));
        }
    });
}

/// Never finishes; keeps its latest waker in [`KICK_LOCAL`].
struct Kicker;

impl Future for Kicker {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let _ = KICK_LOCAL.try_with(|k| {
            if let Ok(mut k) = k.try_borrow_mut() {
                if !k.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    *k = Some(cx.waker().clone());
                }
            }
        });
        Poll::Pending
    }
}

/// Polls `inner` with a waker that, besides waking the task, wakes the
/// `block_on` of the thread the wake-up runs on ([`run_here_on_wake`]).
struct WakeHere<F> {
    inner: F,
    relay: Option<Arc<Relay>>,
}

struct Relay {
    task: parking_lot::Mutex<Waker>,
}

impl Wake for Relay {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref()
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.task.lock().wake_by_ref();
        kick_this_thread();
    }
}

impl<F> WakeHere<F> {
    fn new(inner: F) -> Self {
        Self { inner, relay: None }
    }
}

impl<F: Future + Unpin> Future for WakeHere<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let relay = match &self.relay {
            Some(r) => {
                let mut task = r.task.lock();
                if !task.will_wake(cx.waker()) {
                    *task = cx.waker().clone();
                }
                drop(task);
                r.clone()
            }
            None => {
                let r = Arc::new(Relay {
                    task: parking_lot::Mutex::new(cx.waker().clone()),
                });
                self.relay = Some(r.clone());
                r
            }
        };
        let waker = Waker::from(relay);
        Pin::new(&mut self.inner).poll(&mut Context::from_waker(&waker))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::work::sleep::{precise_sleep, reduce_timer_slack, wait_times};
    use std::time::Duration;

    /// [`tokio_sleep_until`] `d` from now.
    async fn tokio_sleep(d: Duration) -> Stamp {
        tokio_sleep_until(Instant::now() + d).await
    }

    /// [`async_io_sleep_until`] `d` from now.
    async fn async_io_sleep(d: Duration) -> Stamp {
        async_io_sleep_until(Instant::now() + d).await
    }

    fn rt_current() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    /// Overshoots in µs, sorted.
    async fn overshoots<F, Fut>(n: usize, d: Duration, sleep: F) -> Vec<f64>
    where
        F: FnMut(Duration) -> Fut,
        Fut: std::future::Future,
    {
        let mut v: Vec<f64> = wait_times(n as u64, d, sleep)
            .await
            .into_iter()
            .map(|took| {
                assert!(took >= d, "slept {took:?} < {d:?}");
                (took - d).as_secs_f64() * 1e6
            })
            .collect();
        v.sort_by(f64::total_cmp);
        v
    }

    fn pct(v: &[f64], p: f64) -> f64 {
        v[((v.len() as f64 - 1.0) * p).round() as usize]
    }

    fn line(what: &str, d: Duration, v: &[f64]) -> String {
        format!(
            "{what:<34} {:>6?}: p50 {:>7.1} µs  p99 {:>7.1} µs",
            d,
            pct(v, 0.5),
            pct(v, 0.99)
        )
    }

    /// A sleep's reading is taken once its deadline has passed, and before
    /// it returns. (Within 1 µs: two readings of the cheap clock may come
    /// from anchors a few tens of ns apart.)
    #[test]
    fn a_sleep_returns_a_reading_from_its_deadline() {
        let slack = Duration::from_micros(1);
        let check = |d: Duration, began: Stamp, ended: Stamp, after: Stamp| {
            assert!(ended <= after, "read after it returned");
            assert!(
                ended.since(began) + slack >= d,
                "{:?} < {d:?}",
                ended.since(began)
            );
        };
        rt_current().block_on(async {
            for us in [50u64, 300, 2000] {
                let (d, began) = (Duration::from_micros(us), clock::stamp());
                let ended = tokio_sleep(d).await;
                check(d, began, ended, clock::stamp());
            }
        });
        async_io::block_on(async {
            for us in [50u64, 300, 2000] {
                let (d, began) = (Duration::from_micros(us), clock::stamp());
                let ended = async_io_sleep(d).await;
                check(d, began, ended, clock::stamp());
            }
        });
    }

    #[test]
    fn sleeps_last_at_least_the_request() {
        reduce_timer_slack();
        rt_current().block_on(async {
            for us in [1u64, 50, 200, 1000, 3000] {
                let d = Duration::from_micros(us);
                let t = Instant::now();
                tokio_sleep(d).await;
                assert!(t.elapsed() >= d);
            }
        });
        async_io::block_on(async {
            for us in [1u64, 50, 200, 1000, 3000] {
                let d = Duration::from_micros(us);
                let t = Instant::now();
                async_io_sleep(d).await;
                assert!(t.elapsed() >= d);
            }
        });
    }

    /// A reused timerfd whose last expiry was never read (the wait saw its
    /// deadline pass and left it) still waits its whole next request.
    #[test]
    fn a_timerfd_left_unread_does_not_end_the_next_wait_early() {
        let d = Duration::from_millis(2);
        rt_current().block_on(async {
            let fd = take_tokio_fd().unwrap();
            arm_at(fd.get_ref(), Instant::now() + Duration::from_micros(1)).unwrap();
            std::thread::sleep(Duration::from_millis(1));
            give_back_tokio(fd);
            let t = Instant::now();
            tokio_sleep(d).await;
            assert!(t.elapsed() >= d, "tokio: {:?}", t.elapsed());
        });
        async_io::block_on(async {
            let fd = take_async_io_fd().unwrap();
            arm_at(fd.get_ref(), Instant::now() + Duration::from_micros(1)).unwrap();
            std::thread::sleep(Duration::from_millis(1));
            give_back_async_io(fd);
            let t = Instant::now();
            async_io_sleep(d).await;
            assert!(t.elapsed() >= d, "async-io: {:?}", t.elapsed());
        });
    }

    /// A wait whose deadline has passed returns at once, without taking
    /// (or making and registering) a timerfd: this thread's free lists are
    /// as empty afterwards as before.
    #[test]
    fn zero_returns_at_once() {
        std::thread::spawn(|| {
            rt_current().block_on(async {
                let t = Instant::now();
                tokio_sleep(Duration::ZERO).await;
                async_io_sleep(Duration::ZERO).await;
                tokio_sleep_until(t).await;
                async_io_sleep_until(t).await;
                assert!(t.elapsed() < Duration::from_millis(20));
            });
            assert!(TOKIO_FREE.with(|f| f.borrow().fds.is_empty()));
            assert!(ASYNC_IO_FREE.with(|f| f.borrow().is_empty()));
        })
        .join()
        .expect("the waits returned");
    }

    #[test]
    fn concurrent_sleeps_all_complete_in_parallel() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let t = Instant::now();
            let tasks: Vec<_> = (0..500)
                .map(|_| tokio::spawn(tokio_sleep(Duration::from_millis(20))))
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
            let took = t.elapsed();
            assert!(took >= Duration::from_millis(20));
            assert!(
                took < Duration::from_millis(500),
                "500 parallel 20 ms sleeps took {took:?}"
            );
        });
        async_io::block_on(async {
            let t = Instant::now();
            let tasks: Vec<_> = (0..500)
                .map(|_| smol::spawn(async_io_sleep(Duration::from_millis(20))))
                .collect();
            for task in tasks {
                task.await;
            }
            let took = t.elapsed();
            assert!(
                took < Duration::from_millis(500),
                "500 parallel 20 ms sleeps took {took:?}"
            );
        });
    }

    #[test]
    fn a_second_runtime_on_the_same_thread_gets_fresh_registrations() {
        for _ in 0..3 {
            rt_current().block_on(async {
                for _ in 0..5 {
                    let t = Instant::now();
                    tokio_sleep(Duration::from_micros(300)).await;
                    assert!(t.elapsed() >= Duration::from_micros(300));
                }
            });
        }
    }

    /// The overshoot of a 200 µs sleep is far below tokio's timer wheel's.
    #[test]
    fn overshoot_beats_the_tokio_timer() {
        reduce_timer_slack();
        let d = Duration::from_micros(200);
        let (ours, wheel) = rt_current().block_on(async {
            let ours = overshoots(300, d, tokio_sleep).await;
            let wheel = overshoots(100, d, tokio::time::sleep).await;
            (ours, wheel)
        });
        eprintln!("{}", line("timerfd sleep on tokio", d, &ours));
        eprintln!("{}", line("tokio::time::sleep", d, &wheel));
        assert!(
            pct(&ours, 0.5) < 300.0,
            "p50 overshoot {} µs",
            pct(&ours, 0.5)
        );
        assert!(
            pct(&ours, 0.5) < pct(&wheel, 0.5),
            "not better than tokio::time::sleep"
        );
    }

    /// Side-by-side overshoot table (for the report); run with
    /// `cargo test --release --lib async_timer::tests::overshoot_table -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn overshoot_table() {
        reduce_timer_slack();
        let n = 2000;
        for d in [Duration::from_micros(200), Duration::from_millis(1)] {
            let mut plain = Vec::with_capacity(n);
            for _ in 0..n {
                let t = Instant::now();
                precise_sleep(d);
                plain.push((t.elapsed() - d).as_secs_f64() * 1e6);
            }
            plain.sort_by(f64::total_cmp);
            eprintln!("{}", line("nanosleep (slack 1 ns)", d, &plain));

            let rt = rt_current();
            let v = rt.block_on(overshoots(n, d, tokio_sleep));
            eprintln!("{}", line("timerfd, tokio current_thread", d, &v));
            REUSE.store(false, Ordering::Relaxed);
            let v = rt.block_on(overshoots(n, d, tokio_sleep));
            REUSE.store(true, Ordering::Relaxed);
            eprintln!("{}", line("timerfd, no reuse, tokio ct", d, &v));
            let v = rt.block_on(overshoots(n / 4, d, tokio::time::sleep));
            eprintln!("{}", line("tokio::time::sleep, current_thread", d, &v));

            let mt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .on_thread_start(reduce_timer_slack)
                .enable_all()
                .build()
                .unwrap();
            let v =
                mt.block_on(async { tokio::spawn(overshoots(n, d, tokio_sleep)).await.unwrap() });
            eprintln!("{}", line("timerfd, tokio multi_thread", d, &v));
            let v = mt.block_on(async {
                tokio::spawn(overshoots(n / 4, d, tokio::time::sleep))
                    .await
                    .unwrap()
            });
            eprintln!("{}", line("tokio::time::sleep, multi_thread", d, &v));

            let ex = smol::Executor::new();
            let v = async_io::block_on(ex.run(overshoots(n, d, async_io_sleep)));
            eprintln!("{}", line("timerfd, async-io (smol)", d, &v));
            let v = async_io::block_on(ex.run(overshoots(n, d, |d| async move {
                async_io::Timer::after(d).await;
            })));
            eprintln!("{}", line("async_io::Timer (smol)", d, &v));
        }
    }

    /// What reusing timerfds saves: process CPU time per sleep with 200
    /// tasks each sleeping 200 × 100 µs on a 2-worker runtime. Run like
    /// `overshoot_table`.
    #[test]
    #[ignore]
    fn reuse_cost() {
        use crate::metrics::process_cpu_time;
        let mt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        for reuse in [true, false, true, false] {
            REUSE.store(reuse, Ordering::Relaxed);
            let (tasks, each) = (200u32, 200u32);
            let cpu = process_cpu_time();
            let t = Instant::now();
            mt.block_on(async {
                let hs: Vec<_> = (0..tasks)
                    .map(|_| {
                        tokio::spawn(async move {
                            for _ in 0..each {
                                tokio_sleep(Duration::from_micros(100)).await;
                            }
                        })
                    })
                    .collect();
                for h in hs {
                    h.await.unwrap();
                }
            });
            let n = (tasks * each) as f64;
            let cpu_us = (process_cpu_time() - cpu).as_secs_f64() * 1e6 / n;
            eprintln!(
                "tokio reuse={reuse:<5}: {cpu_us:.2} µs CPU per sleep, wall {:?}",
                t.elapsed()
            );
            let cpu = process_cpu_time();
            let ex = std::sync::Arc::new(smol::Executor::new());
            let (stop, wait) = smol::channel::bounded::<()>(1);
            let threads: Vec<_> = (0..2)
                .map(|_| {
                    let (ex, wait) = (ex.clone(), wait.clone());
                    std::thread::spawn(move || async_io::block_on(ex.run(wait.recv())))
                })
                .collect();
            async_io::block_on(async {
                let hs: Vec<_> = (0..tasks)
                    .map(|_| {
                        ex.spawn(async move {
                            for _ in 0..each {
                                async_io_sleep(Duration::from_micros(100)).await;
                            }
                        })
                    })
                    .collect();
                for h in hs {
                    h.await;
                }
            });
            drop(stop);
            for t in threads {
                let _ = t.join();
            }
            let cpu_us = (process_cpu_time() - cpu).as_secs_f64() * 1e6 / n;
            eprintln!("smol  reuse={reuse:<5}: {cpu_us:.2} µs CPU per sleep");
        }
        REUSE.store(true, Ordering::Relaxed);
    }
}
