//! gilsim's own `block_on` for the smol executor threads it starts, and the
//! timer their IO waits sleep on.
//!
//! **What is gilsim's and what is smol's.** smol's scheduling is
//! async-executor's [`smol::Executor`]: its global and per-thread queues,
//! work stealing, and which sleeping thread it notifies when a task is
//! woken. All of that is untouched: every worker thread runs the real
//! `ex.run(..)`. What this module replaces is the loop *around* it, the
//! `block_on` that parks a worker thread when the executor has nothing to
//! run (smol's is async-io's, which parks in async-io's reactor or on a
//! futex), and the timer an IO step waits on (gilsim's own already: see
//! [`super::async_timer`]).
//!
//! **Why.** With async-io's `block_on`, a sleep's timerfd is one source of
//! async-io's single reactor, waited on by whichever thread holds it:
//! often async-io's own "async-io" thread, which then wakes the task and
//! async-executor hands it to another, parked, worker: two wake-ups (the
//! timer's, then a futex) where a plain `nanosleep` has one.
//!
//! **How.** Each worker has a [`TimerQueue`] of its own: the deadlines of
//! the tasks that went to sleep on that worker's thread, and one `timerfd`
//! armed to the earliest. Every idle worker waits in `epoll_wait` on an
//! epoll of its own holding an eventfd its waker writes to and timerfds:
//! its own, and those of up to [`WATCHERS`]` - 1` other workers (each added
//! with `EPOLLEXCLUSIVE`, so the kernel wakes one idle worker per expiry,
//! not all). A timerfd is added to its own worker's epoll first, and the
//! kernel wakes the first epoll in that order that has a thread waiting:
//! the worker a task went to sleep on wakes for it when it is idle, as the
//! thread of a `nanosleep` does, and another worker only when it is busy.
//! That matters: with one timerfd shared by all workers, the kernel woke
//! the first worker added whoever had armed it, in a closed loop nearly
//! always the *other* one (998 sleeps in 1,000), on the other CPU; waking a
//! halted virtual CPU there doubled a 1 ms sleep's overshoot (fired 33 µs
//! after the deadline at p50, against 13–19 µs for a plain `nanosleep`).
//! The worker the timer wakes fires the due sleeps (their wakers go to
//! async-executor as any wake-up would) and polls `ex.run(..)` right after,
//! so it finds the task it just woke in the executor's queue and runs it
//! itself: the kernel's hrtimer wakes the thread that runs the task, as
//! for a `nanosleep`.
//! While it does, it holds back the wake-ups async-executor sends to other
//! sleeping workers, until the woken task is about to work
//! ([`send_held_wakes`]): otherwise the timer's worker pays another
//! thread's wake-up first, and that thread may steal the task. When every
//! worker is busy, a small timer thread (its epoll added last, so the
//! kernel only picks it when no worker is waiting) fires the sleeps
//! instead, so a wake-up is never late because the workers are busy:
//! the task then waits in the executor's queue, as on real smol.
//! Each worker watches a bounded number of timerfds, so that a run of many
//! workers sets up O(workers) registrations, not O(workers²).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::JoinHandle;
use std::time::Instant;

use parking_lot::Mutex;
use rustix::event::epoll::{self, CreateFlags, Event, EventData, EventFlags};
use rustix::event::{eventfd, EventfdFlags};
use rustix::time::{TimerfdClockId, TimerfdFlags};

use super::async_support::{fired, warn_fallback};
use crate::exec::clock;
use crate::stamp::Stamp;

/// epoll data of a thread's eventfd (a timerfd's is its queue's index).
const WAKE: u64 = u64::MAX;

/// How many epolls of workers watch each worker's timerfd (its own first,
/// then the next ones in turn): enough that a sleep whose own worker is
/// busy is fired by an idle one on a machine of a few cores, while a run of
/// many workers keeps its registrations linear in their number.
const WATCHERS: usize = 4;

thread_local! {
    /// This worker thread's own timer queue, while it runs
    /// [`Worker::block_on`].
    static CURRENT: RefCell<Option<Arc<TimerQueue>>> = const { RefCell::new(None) };
    /// While `Some`: this worker was woken by the timer and holds back the
    /// wake-ups of its peers (see [`send_held_wakes`]).
    static HELD: RefCell<Option<Vec<Arc<Unpark>>>> = const { RefCell::new(None) };
}

/// Sends the wake-ups of other workers that this worker held back since
/// the timer woke it.
///
/// Why they are held: when the timer wakes a worker, it fires the due
/// sleeps, and async-executor, seeing every ticker asleep, notifies one of
/// them, usually another worker. Writing that worker's eventfd costs this
/// worker a system call (and the host an inter-processor interrupt) before
/// it can run the task it just woke, and the other worker, once awake,
/// may steal the task: each sleep's wake-up then pays a second thread's
/// wake-up, which a `nanosleep` does not (measured: about 10 µs of a 200
/// µs sleep's overshoot, `executor_blocked` 3-7× higher). So the wake-ups
/// wait until the woken task has resumed here and is about to do anything
/// that can keep this thread (an action, a wait for the GIL: the job calls
/// [`crate::exec::AsyncPlatform::before_work`]), and at the latest until
/// this worker's poll of the executor returns. A held wake-up is delayed,
/// never lost.
pub(super) fn send_held_wakes() {
    let held = HELD.try_with(|h| h.borrow_mut().take()).ok().flatten();
    for u in held.into_iter().flatten() {
        u.write();
    }
}

/// The timer queue of this thread, when it is a worker running gilsim's
/// `block_on` (a sleep goes to the queue of the thread it starts on).
pub(super) fn current_timers() -> Option<Arc<TimerQueue>> {
    CURRENT.try_with(|c| c.borrow().clone()).ok().flatten()
}

/// The tasks that went to sleep on one worker, and a timerfd armed to the
/// earliest deadline.
pub(super) struct TimerQueue {
    tfd: OwnedFd,
    inner: Mutex<Timers>,
}

#[derive(Default)]
struct Timers {
    /// By deadline, then registration order.
    entries: BTreeMap<(Instant, u64), Waker>,
    /// The deadline the timerfd is set to, when it is set and not yet seen
    /// to have expired.
    armed: Option<Instant>,
    next_id: u64,
}

impl TimerQueue {
    fn new() -> io::Result<Self> {
        let tfd = rustix::time::timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
        )?;
        Ok(Self {
            tfd,
            inner: Mutex::new(Timers::default()),
        })
    }

    /// Arms the timerfd to expire at `deadline` (see
    /// [`super::async_timer::arm_at`]).
    fn arm(&self, deadline: Instant) -> io::Result<()> {
        super::async_timer::arm_at(&self.tfd, deadline)
    }

    /// Adds a sleeper; returns its id.
    fn register(&self, deadline: Instant, waker: &Waker) -> io::Result<u64> {
        let mut t = self.inner.lock();
        let id = t.next_id;
        t.next_id += 1;
        if t.armed.map_or(true, |a| deadline < a) {
            self.arm(deadline)?;
            t.armed = Some(deadline);
        }
        t.entries.insert((deadline, id), waker.clone());
        Ok(id)
    }

    /// Replaces a sleeper's waker; `false` when it is no longer queued.
    fn update(&self, deadline: Instant, id: u64, waker: &Waker) -> bool {
        let mut t = self.inner.lock();
        match t.entries.get_mut(&(deadline, id)) {
            Some(w) => {
                if !w.will_wake(waker) {
                    w.clone_from(waker);
                }
                true
            }
            None => false,
        }
    }

    /// Removes a sleeper (a cancelled or finished sleep). The timerfd may
    /// still fire for it: a spurious wake-up at most.
    fn cancel(&self, deadline: Instant, id: u64) {
        self.inner.lock().entries.remove(&(deadline, id));
    }

    /// Wakes every sleeper whose deadline has passed and re-arms the
    /// timerfd for the next one. Returns whether the timerfd may still be
    /// readable: re-arming clears its expiry, but when nothing is left to
    /// arm it for, reading it is left to [`TimerQueue::settle`], so that a
    /// worker the timer woke runs the woken task one system call sooner.
    fn fire_due(&self) -> bool {
        let mut due = Vec::new();
        let readable = {
            let mut t = self.inner.lock();
            let now = Instant::now();
            while let Some(e) = t.entries.first_entry() {
                if e.key().0 > now {
                    break;
                }
                due.push(e.remove());
            }
            if t.armed.is_some_and(|a| a <= now) {
                t.armed = None;
            }
            match t.entries.keys().next() {
                Some(&(next, _)) if t.armed != Some(next) => match self.arm(next) {
                    Ok(()) => {
                        t.armed = Some(next);
                        false
                    }
                    Err(e) => {
                        // The sleepers' own polls still see their
                        // deadlines when anything wakes them; log it.
                        tracing::warn!("re-arming a timerfd failed: {e}");
                        true
                    }
                },
                _ => true,
            }
        };
        for w in due {
            w.wake();
        }
        readable
    }

    /// Reads the timerfd's expiry (so that level-triggered epolls stop
    /// reporting it), then fires whatever became due meanwhile: reading
    /// may consume the expiry of a deadline armed since, which the clock
    /// check then catches.
    fn settle(&self) {
        let mut buf = [0u8; 8];
        // WouldBlock when another thread read it first, or it has not fired.
        let _ = rustix::io::read(&self.tfd, &mut buf);
        self.fire_due();
    }
}

/// Sleeps until `deadline` on `timers`, or on async-io's timer if the
/// timerfd cannot be armed; returns at once if it has passed. Returns a
/// reading of gilsim's clock taken as the wait saw its deadline pass: what
/// the job does after it is not counted in the job (as `async_timer`'s
/// waits do).
pub(super) async fn sleep_on(timers: Arc<TimerQueue>, deadline: Instant) -> Stamp {
    let sleep = Sleep {
        timers,
        deadline,
        id: None,
    };
    match sleep.await {
        Ok(ended) => ended,
        Err(e) => {
            warn_fallback(&e);
            async_io::Timer::at(deadline).await;
            clock::stamp()
        }
    }
}

struct Sleep {
    timers: Arc<TimerQueue>,
    deadline: Instant,
    id: Option<u64>,
}

impl Future for Sleep {
    type Output = io::Result<Stamp>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<Stamp>> {
        if let Some(ended) = fired(self.deadline) {
            if let Some(id) = self.id.take() {
                self.timers.cancel(self.deadline, id);
            }
            return Poll::Ready(Ok(ended));
        }
        let queued = self
            .id
            .is_some_and(|id| self.timers.update(self.deadline, id, cx.waker()));
        if !queued {
            match self.timers.register(self.deadline, cx.waker()) {
                Ok(id) => self.id = Some(id),
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            self.timers.cancel(self.deadline, id);
        }
    }
}

/// A thread's `block_on` is running its future.
const RUNNING: u8 = 0;
/// It waits in `epoll_wait`: a wake-up must write its eventfd.
const PARKED: u8 = 1;
/// Woken while running: it polls again before it parks.
const NOTIFIED: u8 = 2;

/// The waker of a worker's `block_on`.
struct Unpark {
    state: AtomicU8,
    efd: OwnedFd,
}

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref()
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.state.swap(NOTIFIED, Ordering::AcqRel) == PARKED {
            let held = HELD
                .try_with(|h| match h.borrow_mut().as_mut() {
                    Some(v) => {
                        v.push(self.clone());
                        true
                    }
                    None => false,
                })
                .unwrap_or(false);
            if !held {
                self.write();
            }
        }
    }
}

impl Unpark {
    /// Wakes the parked thread through its eventfd.
    fn write(&self) {
        let _ = rustix::io::write(&self.efd, &1u64.to_ne_bytes());
    }
}

/// One worker thread's parking place: its epoll (its own eventfd, its own
/// timerfd and some of its peers'), its waker and its timer queue.
pub(super) struct Worker {
    ep: OwnedFd,
    unpark: Arc<Unpark>,
    /// The index of this worker's own queue in `timers`.
    own: usize,
    /// Every worker's timer queue, by the index its timerfd's epoll data
    /// holds.
    timers: Arc<[Arc<TimerQueue>]>,
}

/// Everything gilsim's `block_on` needs for one run: one [`Worker`] with
/// its timer queue per executor thread, and the fallback timer thread.
pub(super) struct Parking {
    /// Handed out to the executor threads, in order.
    pub workers: Vec<Worker>,
    timers: Arc<[Arc<TimerQueue>]>,
    fallback: Option<(JoinHandle<()>, Arc<OwnedFd>)>,
}

fn new_epoll() -> io::Result<OwnedFd> {
    Ok(epoll::create(CreateFlags::CLOEXEC)?)
}

fn new_eventfd() -> io::Result<OwnedFd> {
    Ok(eventfd(0, EventfdFlags::NONBLOCK | EventfdFlags::CLOEXEC)?)
}

/// Watches the timerfd of queue `index` from `ep`. `EPOLLEXCLUSIVE`: one
/// waiting epoll is woken per expiry, the first added that has a thread
/// waiting.
fn watch_timer(ep: &OwnedFd, timers: &TimerQueue, index: usize) -> io::Result<()> {
    epoll::add(
        ep,
        &timers.tfd,
        EventData::new_u64(index as u64),
        EventFlags::IN | EventFlags::EXCLUSIVE,
    )?;
    Ok(())
}

impl Parking {
    /// `workers` parking places with their timer queues, and the fallback
    /// timer thread (named `{name}-timer`), of one run.
    pub fn new(name: &str, workers: usize) -> io::Result<Self> {
        let workers = workers.max(1);
        let timers: Arc<[Arc<TimerQueue>]> = (0..workers)
            .map(|_| TimerQueue::new().map(Arc::new))
            .collect::<io::Result<_>>()?;
        let mut eps = Vec::with_capacity(workers);
        let mut unparks = Vec::with_capacity(workers);
        for _ in 0..workers {
            let ep = new_epoll()?;
            let efd = new_eventfd()?;
            epoll::add(&ep, &efd, EventData::new_u64(WAKE), EventFlags::IN)?;
            eps.push(ep);
            unparks.push(Arc::new(Unpark {
                state: AtomicU8::new(RUNNING),
                efd,
            }));
        }
        let fallback_ep = new_epoll()?;
        let stop = Arc::new(new_eventfd()?);
        epoll::add(
            &fallback_ep,
            &*stop,
            EventData::new_u64(WAKE),
            EventFlags::IN,
        )?;
        // Each timerfd goes to its own worker's epoll first, then to the
        // next workers' and last to the fallback thread's: the kernel
        // wakes the first of them with a thread waiting.
        for (i, queue) in timers.iter().enumerate() {
            for k in 0..WATCHERS.min(workers) {
                watch_timer(&eps[(i + k) % workers], queue, i)?;
            }
            watch_timer(&fallback_ep, queue, i)?;
        }
        let parked = eps
            .into_iter()
            .zip(unparks)
            .enumerate()
            .map(|(own, (ep, unpark))| Worker {
                ep,
                unpark,
                own,
                timers: timers.clone(),
            })
            .collect();
        let t = timers.clone();
        let thread = std::thread::Builder::new()
            .name(format!("{name}-timer"))
            .spawn(move || fallback_loop(&fallback_ep, &t))?;
        Ok(Self {
            workers: parked,
            timers,
            fallback: Some((thread, stop)),
        })
    }

    /// Stops the fallback timer thread (after the workers have stopped).
    pub fn stop(&mut self) {
        if let Some((thread, stop)) = self.fallback.take() {
            let _ = rustix::io::write(&*stop, &1u64.to_ne_bytes());
            let _ = thread.join();
        }
    }

    /// The timer queue of worker `i`.
    #[cfg(test)]
    fn timers(&self, i: usize) -> Arc<TimerQueue> {
        self.timers[i].clone()
    }
}

impl Drop for Parking {
    fn drop(&mut self) {
        self.stop();
        // Wake anything still queued (a run that ended with sleepers left
        // cannot happen, but a waker must never be lost silently).
        for queue in self.timers.iter() {
            let left = std::mem::take(&mut queue.inner.lock().entries);
            for (_, w) in left {
                w.wake();
            }
        }
    }
}

/// Waits on `ep` until a timerfd fires (then fires its queue's due sleeps)
/// or the stop eventfd is written.
fn fallback_loop(ep: &OwnedFd, timers: &[Arc<TimerQueue>]) {
    let mut events = [MaybeUninit::<Event>::uninit(); 16];
    loop {
        let got = match epoll::wait(ep, &mut events, None) {
            Ok((got, _)) => got,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => {
                tracing::warn!("the async timer thread stopped: {e}");
                return;
            }
        };
        let mut stop = false;
        for ev in got.iter() {
            match timers.get({ ev.data }.u64() as usize) {
                Some(queue) => queue.settle(),
                None => stop = true,
            }
        }
        if stop {
            return;
        }
    }
}

impl Worker {
    /// Runs `fut` to completion on this thread, parking in `epoll_wait`
    /// when it is pending, and firing the run's due sleeps when the
    /// timerfd wakes this thread; polls `fut` right after, so that a task
    /// this thread woke runs here.
    pub fn block_on<F: Future>(self, fut: F) -> F::Output {
        let _current = CurrentGuard::set(self.timers[self.own].clone());
        let waker = Waker::from(self.unpark.clone());
        let mut cx = Context::from_waker(&waker);
        let mut fut = pin!(fut);
        let mut events = [MaybeUninit::<Event>::uninit(); WATCHERS + 1];
        // Queues whose timerfd fired and was not read yet
        // ([`TimerQueue::fire_due`]).
        let mut unread: Vec<&TimerQueue> = Vec::with_capacity(WATCHERS);
        loop {
            self.unpark.state.store(RUNNING, Ordering::Release);
            let polled = fut.as_mut().poll(&mut cx);
            send_held_wakes();
            if let Poll::Ready(out) = polled {
                return out;
            }
            for queue in unread.drain(..) {
                // May wake tasks: then the state is NOTIFIED and we poll again.
                queue.settle();
            }
            if self
                .unpark
                .state
                .compare_exchange(RUNNING, PARKED, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
            {
                // Woken while polling: poll again.
                continue;
            }
            let got = loop {
                match epoll::wait(&self.ep, &mut events, None) {
                    Ok((got, _)) => break got.len(),
                    Err(rustix::io::Errno::INTR) => continue,
                    Err(e) => {
                        // Cannot park: spin on the poll rather than hang.
                        tracing::warn!("epoll_wait failed in an executor thread: {e}");
                        break 0;
                    }
                }
            };
            self.unpark.state.store(RUNNING, Ordering::Release);
            for ev in events[..got].iter() {
                // SAFETY: epoll_wait initialised the first `got` events.
                let ev = unsafe { ev.assume_init_ref() };
                match self.timers.get({ ev.data }.u64() as usize) {
                    Some(queue) => {
                        hold_wakes();
                        if queue.fire_due() {
                            unread.push(queue);
                        }
                    }
                    None => {
                        let mut buf = [0u8; 8];
                        let _ = rustix::io::read(&self.unpark.efd, &mut buf);
                    }
                }
            }
        }
    }
}

/// From now until [`send_held_wakes`], this thread holds back the
/// eventfd writes that wake other workers.
fn hold_wakes() {
    if HOLD.load(Ordering::Relaxed) {
        let _ = HELD.try_with(|h| {
            h.borrow_mut().get_or_insert_with(Vec::new);
        });
    }
}

/// Whether timer-woken workers hold back their peers' wake-ups (on by
/// default; the IO-precision measurement turns it off to compare).
static HOLD: AtomicBool = AtomicBool::new(true);

/// Turns the holding back of peers' wake-ups by timer-woken smol workers
/// on or off, for side-by-side measurements only.
pub fn set_hold_wakes(on: bool) {
    HOLD.store(on, Ordering::Relaxed);
}

/// Sets [`CURRENT`] for the life of a `block_on`.
struct CurrentGuard;

impl CurrentGuard {
    fn set(timers: Arc<TimerQueue>) -> Self {
        CURRENT.with(|c| *c.borrow_mut() = Some(timers));
        CurrentGuard
    }
}

impl Drop for CurrentGuard {
    fn drop(&mut self) {
        let _ = CURRENT.try_with(|c| c.borrow_mut().take());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;
    use std::time::Duration;

    /// Records when it was woken.
    struct Stamp(Mutex<Option<Instant>>, AtomicU64);

    impl Wake for Stamp {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref()
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.lock().get_or_insert_with(Instant::now);
            self.1.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Two executor threads running `ex.run(..)` on gilsim's `block_on`.
    struct TwoWorkers {
        parking: Parking,
        ex: Arc<smol::Executor<'static>>,
        stop: smol::channel::Sender<()>,
        threads: Vec<std::thread::JoinHandle<()>>,
    }

    impl TwoWorkers {
        fn start() -> Self {
            let mut parking = Parking::new("t", 2).unwrap();
            let ex = Arc::new(smol::Executor::new());
            let (stop, stopped) = smol::channel::bounded::<()>(1);
            let threads = parking
                .workers
                .drain(..)
                .enumerate()
                .map(|(i, w)| {
                    let (ex, stopped) = (ex.clone(), stopped.clone());
                    std::thread::Builder::new()
                        .name(format!("w{i}"))
                        .spawn(move || {
                            w.block_on(ex.run(async {
                                let _ = stopped.recv().await;
                            }))
                        })
                        .unwrap()
                })
                .collect();
            Self {
                parking,
                ex,
                stop,
                threads,
            }
        }

        fn stop(mut self) {
            drop(self.stop);
            for th in self.threads {
                th.join().unwrap();
            }
            self.parking.stop();
        }
    }

    /// A wake-up held back by a timer-woken worker is sent by
    /// [`send_held_wakes`], not lost, and one sent outside a hold is
    /// written at once.
    #[test]
    fn a_held_wake_up_is_sent_later_not_lost() {
        let peer = Arc::new(Unpark {
            state: AtomicU8::new(PARKED),
            efd: new_eventfd().unwrap(),
        });
        let readable = |u: &Unpark| rustix::io::read(&u.efd, &mut [0u8; 8]).is_ok();
        hold_wakes();
        peer.wake_by_ref();
        assert!(!readable(&peer), "a held wake-up was written at once");
        send_held_wakes();
        assert!(readable(&peer), "a held wake-up was never written");
        peer.state.store(PARKED, Ordering::Relaxed);
        peer.wake_by_ref();
        assert!(readable(&peer), "a wake-up outside a hold was held");
    }

    /// Two sleeps due at the same instant, each followed by 60 ms of CPU
    /// work: the worker the timer wakes holds back its peer's wake-up only
    /// until its task calls [`send_held_wakes`] (the job's `before_work`),
    /// so the peer runs the other task meanwhile. Holding until the
    /// executor's poll returns would start the second task 60 ms late.
    #[test]
    fn a_held_wake_up_goes_out_before_the_woken_task_works() {
        if crate::backend::available_cores() < 2 {
            return;
        }
        let mut lates = Vec::new();
        for _ in 0..3 {
            let late = second_task_start_after_shared_deadline();
            if late < Duration::from_millis(30) {
                return;
            }
            lates.push(late);
        }
        panic!("the second task started {lates:?} after the deadline: its worker was held back");
    }

    /// Runs the two tasks of the test above on two workers and returns how
    /// long after their shared deadline the later of them started its work.
    fn second_task_start_after_shared_deadline() -> Duration {
        let pool = TwoWorkers::start();
        let (timers, ex) = (pool.parking.timers(0), pool.ex.clone());
        // Let both workers park before the sleeps are queued.
        std::thread::sleep(Duration::from_millis(20));
        let deadline = Instant::now() + Duration::from_millis(30);
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        for _ in 0..2 {
            let (timers, started_tx) = (timers.clone(), started_tx.clone());
            ex.spawn(async move {
                let sleep = Sleep {
                    timers,
                    deadline,
                    id: None,
                };
                sleep.await.unwrap();
                send_held_wakes();
                let _ = started_tx.send(Instant::now());
                let t = Instant::now();
                while t.elapsed() < Duration::from_millis(60) {
                    std::hint::spin_loop();
                }
            })
            .detach();
        }
        let late = (0..2)
            .map(|_| {
                started_rx
                    .recv_timeout(Duration::from_secs(5))
                    .expect("a task never started")
            })
            .max()
            .map_or(Duration::ZERO, |at| at.saturating_duration_since(deadline));
        pool.stop();
        late
    }

    /// While both workers are idle, a sleep on worker `i`'s queue is fired
    /// by worker `i` (its timerfd is in that worker's epoll first), which
    /// then runs the woken task: the thread a task went to sleep on wakes
    /// for it, as for a `nanosleep`. With the timerfd woken in another
    /// order (one shared by all workers, or the fallback's epoll first) the
    /// task resumes elsewhere.
    #[test]
    fn a_sleep_is_fired_by_the_worker_whose_queue_it_is_on() {
        let pool = TwoWorkers::start();
        // Let both workers park before the sleeps are queued.
        std::thread::sleep(Duration::from_millis(20));
        for q in 0..2 {
            let timers = pool.parking.timers(q);
            let resumed_on = smol::block_on(pool.ex.spawn(async move {
                let mut names = Vec::new();
                for _ in 0..10 {
                    sleep_on(timers.clone(), Instant::now() + Duration::from_millis(2)).await;
                    names.push(std::thread::current().name().map(str::to_owned));
                }
                names
            }));
            let own = resumed_on
                .iter()
                .filter(|n| n.as_deref() == Some(format!("w{q}").as_str()))
                .count();
            assert!(
                own >= 8,
                "sleeps on worker {q}'s queue resumed on {resumed_on:?}"
            );
        }
        pool.stop();
    }

    /// With no worker waiting, the fallback thread fires a due sleep on
    /// time (a busy executor must not delay wake-ups).
    #[test]
    fn the_fallback_thread_fires_when_no_worker_waits() {
        let parking = Parking::new("t", 2).unwrap();
        let timers = parking.timers(1);
        let stamp = Arc::new(Stamp(Mutex::new(None), AtomicU64::new(0)));
        let waker = Waker::from(stamp.clone());
        let t = Instant::now();
        let deadline = t + Duration::from_millis(2);
        timers.register(deadline, &waker).unwrap();
        std::thread::sleep(Duration::from_millis(60));
        let woken = stamp.0.lock().expect("the sleep was never fired");
        assert!(woken >= deadline, "fired early");
        assert!(
            woken - deadline < Duration::from_millis(40),
            "fired {:?} late",
            woken - deadline
        );
        assert_eq!(stamp.1.load(Ordering::Relaxed), 1, "fired once");
        drop(parking);
    }

    /// Sleeps on a worker's `block_on` last at least their request, in
    /// any order of registration, and a cancelled one never fires.
    #[test]
    fn sleeps_on_a_worker_end_in_deadline_order() {
        let mut parking = Parking::new("t", 1).unwrap();
        let worker = parking.workers.pop().unwrap();
        let timers = parking.timers(0);
        let out = worker.block_on(async move {
            let t = Instant::now();
            // Cancelled before its deadline.
            let cancelled = Sleep {
                timers: timers.clone(),
                deadline: t + Duration::from_micros(300),
                id: None,
            };
            let mut cancelled = Box::pin(cancelled);
            let _ = futures_lite_poll(cancelled.as_mut());
            drop(cancelled);
            for us in [900u64, 200, 1500, 50] {
                let d = Duration::from_micros(us);
                let s = Instant::now();
                sleep_on(timers.clone(), Instant::now() + d).await;
                assert!(s.elapsed() >= d);
            }
            assert!(current_timers().is_some());
            t.elapsed()
        });
        assert!(out >= Duration::from_micros(2650));
        assert!(current_timers().is_none(), "cleared after block_on");
        assert!(parking.timers(0).inner.lock().entries.is_empty());
    }

    /// Polls once with a no-op waker.
    fn futures_lite_poll<F: Future>(f: Pin<&mut F>) -> Poll<F::Output> {
        struct Noop;
        impl Wake for Noop {
            fn wake(self: Arc<Self>) {}
        }
        let w = Waker::from(Arc::new(Noop));
        f.poll(&mut Context::from_waker(&w))
    }

    /// Many tasks sleeping at once on an executor run by two workers all
    /// complete, in about one sleep's time.
    #[test]
    fn concurrent_sleeps_on_two_workers() {
        let pool = TwoWorkers::start();
        let (timers, ex) = (pool.parking.timers(0), pool.ex.clone());
        let t = Instant::now();
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        for i in 0..500u64 {
            let (timers, done_tx) = (timers.clone(), done_tx.clone());
            ex.spawn(async move {
                sleep_on(timers, Instant::now() + Duration::from_millis(20 + i % 7)).await;
                let _ = done_tx.send(());
            })
            .detach();
        }
        for _ in 0..500 {
            done_rx
                .recv_timeout(Duration::from_secs(5))
                .expect("a sleep never ended");
        }
        let took = t.elapsed();
        assert!(took >= Duration::from_millis(20));
        assert!(took < Duration::from_millis(500), "took {took:?}");
        pool.stop();
    }
}
