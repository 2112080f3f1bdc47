//! tokio's `asyncio` flavor: one thread runs every job in the order
//! CPython's asyncio runs them, and jobs arrive through a reading task.
//!
//! **Why.** Near saturation, tokio's current_thread and asyncio order the
//! same work differently, and the order decides the queueing. asyncio's
//! `BaseEventLoop._run_once` asks the selector once per iteration, queues
//! the callbacks of what happened, and runs exactly the handles queued at
//! that moment; whatever they schedule runs in the next iteration. A
//! request read by a coroutine takes three handles to reach its handler
//! (the socket's callback, the reader's step, which calls `create_task`,
//! the new task's step); an IO reply takes two (the callback that sets the
//! future, the task's step). So a request that arrives together with a
//! reply starts after the reply's resumption, behind its CPU work. tokio
//! runs a task woken on its own thread (a reply, the reader's spawn) before
//! it looks at the IO driver again, which hides the difference:
//! `python/asyncio_loop_model.py` replays `service_knee` both ways (docs/gil.md,
//! "Service near saturation").
//!
//! **How.** The runtime is tokio's current_thread (its IO driver wakes the
//! timerfd sleeps of [`super::async_timer`]; its blocking pool runs
//! `spawn_blocking`), and [`run`] is the one future it runs
//! (`block_on`). That future holds every job's future and runs handles as
//! `_run_once` does:
//! - each iteration first takes what happened outside: jobs the driver
//!   sent (the request socket became readable: the reader's callback, once
//!   per read) and tasks woken from outside a step (a timerfd sleep's
//!   wake-up, an offloaded step's completion: their future's callback);
//! - it then runs the handles queued at that moment, and no others:
//!   - the reader's callback queues the reader's step;
//!   - the reader's step, an await resumption (`[gil.cost] resume` under
//!     the GIL), takes every job sent so far and creates a task for each,
//!     queueing the task's first step;
//!   - a task's callback queues the task's step;
//!   - a step polls the job's future once; a wake-up during the poll
//!     queues its step at once (`call_soon`);
//! - between iterations it yields to tokio, which polls its IO driver
//!   before polling the loop again: `select()` with a zero timeout. With
//!   nothing queued it waits in tokio's park, as asyncio blocks in
//!   `select()`.
//!
//! The model engine runs the same order (`model/exec.rs`, `Exec::Async`
//! with `asyncio`).

use std::cell::Cell;
use std::collections::VecDeque;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::exec::{GilSlot, JobTicket, RunShared};
use crate::metrics::TimeBreakdown;

/// A job's future, as the loop holds it.
pub(super) type JobFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// One queued handle of the loop's ready queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Handle {
    /// The request socket became readable: wake the reader.
    ReaderCallback,
    /// The reader runs: a task for every job sent so far.
    ReaderStep,
    /// A task's future is done: wake the task.
    Callback(usize),
    /// Poll the task's job once.
    Step(usize),
}

thread_local! {
    /// Whether this thread is polling one of the loop's tasks: a wake-up
    /// then is `call_soon`, not an outside event.
    static STEPPING: Cell<bool> = const { Cell::new(false) };
}

/// Wake-ups of the loop's tasks, shared with their wakers.
#[derive(Default)]
struct Woken {
    state: Mutex<WokenState>,
}

#[derive(Default)]
struct WokenState {
    /// Tasks woken outside a step, in order: callbacks at the next select.
    outside: Vec<usize>,
    /// Tasks woken during a step: their steps are queued right after it.
    soon: Vec<usize>,
    /// The loop's own waker while it waits for anything to happen.
    waiting: Option<Waker>,
}

impl Woken {
    fn lock(&self) -> std::sync::MutexGuard<'_, WokenState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A task's waker: records the wake-up for the loop.
struct TaskWaker {
    id: usize,
    woken: Arc<Woken>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let mut s = self.woken.lock();
        if STEPPING.with(Cell::get) {
            s.soon.push(self.id);
        } else {
            s.outside.push(self.id);
            if let Some(w) = s.waiting.take() {
                w.wake();
            }
        }
    }
}

/// A live task: its job's future and its waker.
struct Task {
    future: JobFuture,
    waker: Waker,
}

/// The loop's state.
struct Loop<'r> {
    jobs: &'r mut UnboundedReceiver<JobTicket>,
    /// The driver hung up: no more jobs will come.
    closed: bool,
    /// Jobs sent and not yet read by the reader.
    inbox: VecDeque<JobTicket>,
    /// The reader's callback or step is queued: new jobs wait for it.
    reader_queued: bool,
    ready: VecDeque<Handle>,
    tasks: Vec<Option<Task>>,
    free: Vec<usize>,
    live: usize,
    woken: Arc<Woken>,
}

/// Runs jobs sent on `jobs` until the sender is dropped and every job is
/// done. `make` makes a job's future; `shared` charges the reader's
/// resumption under its GIL.
pub(super) async fn run(
    mut jobs: UnboundedReceiver<JobTicket>,
    shared: Arc<RunShared>,
    make: impl Fn(JobTicket) -> JobFuture,
) {
    let mut lp = Loop {
        jobs: &mut jobs,
        closed: false,
        inbox: VecDeque::new(),
        reader_queued: false,
        ready: VecDeque::new(),
        tasks: Vec::new(),
        free: Vec::new(),
        live: 0,
        woken: Arc::new(Woken::default()),
    };
    loop {
        lp.select();
        if lp.ready.is_empty() {
            if lp.closed && lp.live == 0 && lp.inbox.is_empty() {
                return;
            }
            std::future::poll_fn(|cx| lp.wait(cx)).await;
            continue;
        }
        for _ in 0..lp.ready.len() {
            if let Some(h) = lp.ready.pop_front() {
                lp.run_handle(h, &shared, &make);
            }
        }
        // tokio polls its IO driver before it polls this future again.
        tokio::task::yield_now().await;
    }
}

impl Loop<'_> {
    /// Queues the callbacks of what happened since the last select: the
    /// reader's (new jobs), then each task woken from outside.
    fn select(&mut self) {
        self.receive();
        if !self.inbox.is_empty() && !self.reader_queued {
            self.reader_queued = true;
            self.ready.push_back(Handle::ReaderCallback);
        }
        let outside = std::mem::take(&mut self.woken.lock().outside);
        self.ready.extend(outside.into_iter().map(Handle::Callback));
    }

    /// Moves every job sent so far to the inbox.
    fn receive(&mut self) {
        loop {
            match self.jobs.try_recv() {
                Ok(t) => self.inbox.push_back(t),
                Err(TryRecvError::Empty) => return,
                Err(TryRecvError::Disconnected) => {
                    self.closed = true;
                    return;
                }
            }
        }
    }

    /// Ready when a job is sent, the driver hangs up, or a task is woken.
    fn wait(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        {
            let mut s = self.woken.lock();
            if !s.outside.is_empty() {
                return Poll::Ready(());
            }
            s.waiting = Some(cx.waker().clone());
        }
        if self.closed {
            return Poll::Pending;
        }
        match self.jobs.poll_recv(cx) {
            Poll::Ready(Some(t)) => {
                self.inbox.push_back(t);
                Poll::Ready(())
            }
            Poll::Ready(None) => {
                self.closed = true;
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn run_handle(
        &mut self,
        h: Handle,
        shared: &RunShared,
        make: &impl Fn(JobTicket) -> JobFuture,
    ) {
        match h {
            Handle::ReaderCallback => self.ready.push_back(Handle::ReaderStep),
            Handle::ReaderStep => self.read(shared, make),
            Handle::Callback(id) => self.ready.push_back(Handle::Step(id)),
            Handle::Step(id) => self.step(id),
        }
    }

    /// The reader's step: one resumption, then a task for every job read.
    fn read(&mut self, shared: &RunShared, make: &impl Fn(JobTicket) -> JobFuture) {
        self.reader_queued = false;
        self.receive();
        if self.inbox.is_empty() {
            return;
        }
        if !shared.cancelled() {
            // The reader's own work is no job's: its GIL wait and CPU show
            // as the jobs' queue time, as the pool's submitting thread's do.
            let mut slot = GilSlot::new(shared.gil.as_ref());
            let mut times = TimeBreakdown::default();
            slot.acquire(&mut times);
            shared.charge(|c| c.resume, &mut slot, &mut times);
            slot.release();
        }
        while let Some(ticket) = self.inbox.pop_front() {
            let id = self.create(make(ticket));
            self.ready.push_back(Handle::Step(id));
        }
    }

    /// Stores a new task; returns its id.
    fn create(&mut self, future: JobFuture) -> usize {
        let id = self.free.pop().unwrap_or(self.tasks.len());
        let waker = Waker::from(Arc::new(TaskWaker {
            id,
            woken: self.woken.clone(),
        }));
        let task = Some(Task { future, waker });
        match self.tasks.get_mut(id) {
            Some(slot) => *slot = task,
            None => self.tasks.push(task),
        }
        self.live += 1;
        id
    }

    /// Polls task `id` once (a stale id, of a task already done, is
    /// skipped; one reused by a newer task polls it spuriously, which a
    /// future allows), then queues the steps of tasks it woke.
    fn step(&mut self, id: usize) {
        let Some(Some(task)) = self.tasks.get_mut(id) else {
            return;
        };
        let mut cx = Context::from_waker(&task.waker);
        STEPPING.with(|s| s.set(true));
        let polled = catch_unwind(AssertUnwindSafe(|| task.future.as_mut().poll(&mut cx)));
        STEPPING.with(|s| s.set(false));
        // A panicked job is over too, as a panicked tokio task is: dropping
        // its future drops its job guard, which reports the failure; the
        // loop goes on with the other jobs.
        let done = !matches!(polled, Ok(Poll::Pending));
        if done {
            self.tasks[id] = None;
            self.free.push(id);
            self.live -= 1;
        }
        let soon = std::mem::take(&mut self.woken.lock().soon);
        self.ready.extend(soon.into_iter().map(Handle::Step));
    }
}
