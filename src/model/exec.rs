//! How each backend places jobs on threads, in the model.
//!
//! - `threads`, `workers = 0`: a new thread per job; it starts after
//!   `thread_start` and ends with its job.
//! - `threads`, `workers = N`, and `rayon`: N workers pull jobs from one
//!   FIFO queue (rayon's `spawn_fifo` injector); an idle worker is woken
//!   (`wake`). A job runs whole on its worker: IO blocks the worker. Under
//!   a GIL the jobs reach the queue through a submitting thread, as on the
//!   real engine (`backend/submitter.rs`): woken (`wake`) when a job
//!   arrives at its empty inbox, it takes the GIL, charges `submit` per
//!   job, and releases the GIL only when its inbox is empty.
//! - `tokio` (multi_thread or current_thread), `async-std`, `smol`: W
//!   executor threads poll tasks from one FIFO ready queue (tokio's
//!   per-worker queues and stealing balance out to that over a run). A task
//!   runs inline until it awaits: IO frees the thread; inline CPU blocks it.
//!   With `cpu_mode = "spawn_blocking"` CPU-type steps go to a blocking pool
//!   (threads created on demand, up to tokio's 512 or the `blocking`
//!   crate's 500, reused when idle) and run under the GIL there; with
//!   `cpu_mode = "rayon"` to a pool of one worker per virtual core, outside
//!   the GIL. The task is ready again when the offloaded step is done.
//!   A GIL is never held across an await: a task takes it on whichever
//!   thread polls it.
//! - tokio's `asyncio` flavor: one loop thread runs handles in CPython
//!   asyncio's order, as the real engine's loop does
//!   (`backend/asyncio_loop.rs`): what happened outside (jobs sent, tasks
//!   woken by IO or offloaded work) becomes callbacks at the next select,
//!   each iteration runs only the handles queued when it began, a callback
//!   queues its task's step, and jobs reach the loop through a reading
//!   task (its callback, then its step: `resume` under the GIL, then a
//!   task's first step queued per job read).

use std::collections::VecDeque;

use super::clock::Ns;
use super::ops::{interp_ops, Block, Ev, Op, Role, SyncOps, TaskId, Tid};
use super::world::World;
use crate::config::{BackendKind, CpuMode, Flavor};
use crate::plan::Action;

/// tokio's default blocking-pool limit.
const TOKIO_BLOCKING_MAX: usize = 512;
/// The `blocking` crate's limit (async-std, smol).
const BLOCKING_CRATE_MAX: usize = 500;

/// A pool that runs offloaded actions.
pub(super) struct OffloadPool {
    queue: VecDeque<(TaskId, Action, Ns)>,
    idle: Vec<Tid>,
    threads: usize,
    max: usize,
    role: Role,
    gil: bool,
}

/// The Python thread that submits a GIL pool's jobs, and its inbox.
pub(super) struct Submitter {
    tid: Tid,
    inbox: VecDeque<TaskId>,
    /// Blocked on an empty inbox, without the GIL.
    idle: bool,
}

/// The backend's placement state.
pub(super) enum Exec {
    /// Before construction.
    Unset,
    /// A thread per job.
    PerJob,
    /// Workers and a FIFO job queue, fed by a submitting thread under a
    /// GIL.
    Pool {
        queue: VecDeque<TaskId>,
        idle: Vec<Tid>,
        submitter: Option<Submitter>,
    },
    /// Executor threads, a ready queue, and the offload pools.
    Async {
        ready: VecDeque<TaskId>,
        idle: Vec<Tid>,
        mode: CpuMode,
        blocking: OffloadPool,
        cpu: OffloadPool,
        /// The `asyncio` flavor's order (`ready` is then unused).
        order: Option<Box<LoopOrder>>,
    },
}

/// One queued handle of an asyncio-ordered loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Handle {
    /// Jobs were sent: wake the reader.
    ReaderCallback,
    /// The reader runs: a task for every job sent so far.
    ReaderStep,
    /// A task's awaited IO or offloaded step is done: wake the task.
    Callback(TaskId),
    /// Poll the task.
    Step(TaskId),
}

/// CPython asyncio's order on the one loop thread of tokio's `asyncio`
/// flavor (see the module doc).
#[derive(Default)]
pub(super) struct LoopOrder {
    handles: VecDeque<Handle>,
    /// Handles left in this iteration.
    todo: usize,
    /// Tasks woken from outside since the last select, in order.
    outside: VecDeque<TaskId>,
    /// Jobs sent and not yet read.
    inbox: VecDeque<TaskId>,
    /// The reader's callback or step is queued.
    reader_queued: bool,
}

impl Exec {
    /// Builds the backend's threads in `w` (all idle).
    pub fn for_spec(w: &mut World<'_>, cores: usize) -> Exec {
        let spec = w.spec;
        let gil = spec.gil;
        let workers = spec.resolved_workers(cores);
        let name = spec.name.clone();
        let spawn = |w: &mut World<'_>, role: Role, gil: bool, n: usize, what: &str| -> Vec<Tid> {
            (0..n)
                .map(|i| w.new_thread(role, gil, |_| format!("{name}{what}-{i}")))
                .rev()
                .collect()
        };
        match spec.kind {
            BackendKind::Threads if workers == 0 => Exec::PerJob,
            BackendKind::Threads | BackendKind::Rayon => {
                let idle = spawn(w, Role::Worker, gil, workers.max(1), "");
                let submitter = gil.then(|| Submitter {
                    tid: w.new_thread(Role::Submitter, true, |_| format!("{name}-submit")),
                    inbox: VecDeque::new(),
                    idle: true,
                });
                Exec::Pool {
                    queue: VecDeque::new(),
                    idle,
                    submitter,
                }
            }
            BackendKind::Tokio | BackendKind::AsyncStd | BackendKind::Smol => {
                let mode = spec.cpu_mode();
                let idle = spawn(w, Role::Worker, gil, workers.max(1), "");
                let cpu_threads = if mode == CpuMode::Rayon {
                    cores.max(1)
                } else {
                    0
                };
                let cpu_idle = spawn(w, Role::Offload, false, cpu_threads, "-cpu");
                let order = (spec.flavor == Some(Flavor::Asyncio)).then(Box::default);
                Exec::Async {
                    order,
                    ready: VecDeque::new(),
                    idle,
                    mode,
                    blocking: OffloadPool {
                        queue: VecDeque::new(),
                        idle: Vec::new(),
                        threads: 0,
                        max: if spec.kind == BackendKind::Tokio {
                            TOKIO_BLOCKING_MAX
                        } else {
                            BLOCKING_CRATE_MAX
                        },
                        role: Role::Blocking,
                        gil,
                    },
                    cpu: OffloadPool {
                        queue: VecDeque::new(),
                        idle: cpu_idle,
                        threads: cpu_threads,
                        max: cpu_threads,
                        role: Role::Offload,
                        gil: false,
                    },
                }
            }
        }
    }

    /// Whether jobs run as async tasks.
    pub fn is_async(&self) -> bool {
        matches!(self, Exec::Async { .. })
    }

    /// Whether jobs run on a pool's workers (`submit`/`complete` costs).
    pub fn pooled(&self) -> bool {
        matches!(self, Exec::Pool { .. })
    }

    /// Whether `action` is sent to an offload pool: `Some(true)` for the
    /// blocking pool (under the GIL), `Some(false)` for the CPU pool.
    pub fn offloads(&self, action: Action) -> Option<bool> {
        match self {
            Exec::Async { mode, .. }
                if *mode != CpuMode::Inline
                    && !matches!(action, Action::Io(_) | Action::Counter { .. }) =>
            {
                Some(*mode == CpuMode::SpawnBlocking)
            }
            _ => None,
        }
    }
}

impl Exec {
    /// Hands a job that entered the run to the backend.
    pub(super) fn submit(&mut self, w: &mut World<'_>, task: TaskId) {
        match self {
            Exec::Unset => {}
            Exec::PerJob => {
                let spec = w.spec;
                let tid = w.new_thread(Role::Job, spec.gil, |s| format!("{}-job-{s}", spec.name));
                let th = &mut w.threads[tid as usize];
                th.task = Some(task);
                th.ops.push_back(Op::JobStart);
                w.sleep_then_wake(tid, Block::Start, w.costs.thread_start);
            }
            Exec::Pool {
                submitter: Some(sub),
                ..
            } => {
                sub.inbox.push_back(task);
                if sub.idle {
                    sub.idle = false;
                    w.sleep_then_wake(sub.tid, Block::Start, w.costs.wake);
                }
            }
            Exec::Pool { .. } => self.enqueue(w, task),
            Exec::Async { order, .. } => {
                w.task(task).saved.push_back(Op::JobStart);
                match order {
                    Some(o) => {
                        o.inbox.push_back(task);
                        self.wake_worker(w);
                    }
                    None => self.make_ready(w, task),
                }
            }
        }
    }

    /// Hands on a job its submitting thread or reader took: to the pool's
    /// queue (waking an idle worker), or as the task's first step to an
    /// asyncio-ordered loop (next iteration).
    pub(super) fn enqueue(&mut self, w: &mut World<'_>, task: TaskId) {
        match self {
            Exec::Pool { queue, .. } => {
                queue.push_back(task);
                self.wake_worker(w);
            }
            Exec::Async { order: Some(o), .. } => o.handles.push_back(Handle::Step(task)),
            _ => {}
        }
    }

    /// Wakes an idle pool or executor worker, if there is one.
    fn wake_worker(&mut self, w: &mut World<'_>) {
        let worker = match self {
            Exec::Pool { idle, .. } | Exec::Async { idle, .. } => idle.pop(),
            _ => None,
        };
        if let Some(worker) = worker {
            w.sleep_then_wake(worker, Block::Start, w.costs.wake);
        }
    }

    /// An async task is ready to be polled (on an asyncio-ordered loop:
    /// its callback is queued at the next select).
    fn make_ready(&mut self, w: &mut World<'_>, task: TaskId) {
        let now = w.now;
        w.task(task).ready_at = now;
        if let Exec::Async { ready, order, .. } = self {
            match order {
                Some(o) => o.outside.push_back(task),
                None => ready.push_back(task),
            }
        }
        self.wake_worker(w);
    }

    /// Finds `tid` its next piece of work; false when there is none (the
    /// thread goes idle, or ends if it was started for one job).
    pub(super) fn find_work(&mut self, w: &mut World<'_>, tid: Tid) -> bool {
        let role = w.threads[tid as usize].role;
        match (self, role) {
            (_, Role::Job) => {
                w.end_thread(tid);
                false
            }
            (
                Exec::Pool {
                    submitter: Some(sub),
                    ..
                },
                Role::Submitter,
            ) => sub.next(w, tid),
            (Exec::Pool { queue, idle, .. }, Role::Worker) => match queue.pop_front() {
                Some(task) => {
                    let th = &mut w.threads[tid as usize];
                    th.task = Some(task);
                    th.ops.push_back(Op::JobStart);
                    true
                }
                None => {
                    idle.push(tid);
                    w.threads[tid as usize].block = Block::Idle;
                    false
                }
            },
            (
                Exec::Async {
                    idle,
                    order: Some(o),
                    ..
                },
                Role::Worker,
            ) => {
                if o.next(w, tid) {
                    return true;
                }
                idle.push(tid);
                w.threads[tid as usize].block = Block::Idle;
                false
            }
            (Exec::Async { ready, idle, .. }, Role::Worker) => match ready.pop_front() {
                Some(task) => {
                    poll(w, tid, task);
                    true
                }
                None => {
                    idle.push(tid);
                    w.threads[tid as usize].block = Block::Idle;
                    false
                }
            },
            (Exec::Async { blocking, cpu, .. }, Role::Blocking | Role::Offload) => {
                let pool = if role == Role::Blocking {
                    blocking
                } else {
                    cpu
                };
                pool.take_work(w, tid)
            }
            _ => false,
        }
    }

    /// The task on `tid` awaits an IO wait of `ns`: it leaves the thread.
    pub(super) fn await_io(w: &mut World<'_>, tid: Tid, ns: u64) {
        let th = &mut w.threads[tid as usize];
        let Some(task) = th.task.take() else { return };
        let rest = std::mem::take(&mut th.ops);
        let now = w.now;
        let t = w.task(task);
        t.saved = rest;
        t.ready_at = now;
        w.q.push(now + ns + w.costs.overshoot, Ev::IoDone(task));
    }

    /// An awaited IO wait is over: the task is ready.
    pub(super) fn io_done(&mut self, w: &mut World<'_>, task: TaskId) {
        let now = w.now;
        let t = w.task(task);
        t.times.io += std::time::Duration::from_nanos(now - t.ready_at);
        self.make_ready(w, task);
    }

    /// The task on `tid` offloads its pending action and leaves the thread.
    pub(super) fn offload(&mut self, w: &mut World<'_>, tid: Tid) {
        let th = &mut w.threads[tid as usize];
        let Some(task) = th.task.take() else { return };
        let rest = std::mem::take(&mut th.ops);
        let t = w.task(task);
        t.saved = rest;
        let Some(action) = t.offload.take() else {
            return;
        };
        let Exec::Async {
            mode,
            blocking,
            cpu,
            ..
        } = self
        else {
            return;
        };
        let pool = if *mode == CpuMode::Rayon {
            cpu
        } else {
            blocking
        };
        pool.push(w, task, action);
    }

    /// An offloaded action is done: its task is ready again.
    pub(super) fn offload_done(&mut self, w: &mut World<'_>, tid: Tid) {
        if let Some(task) = w.threads[tid as usize].task.take() {
            self.make_ready(w, task);
        }
    }
}

/// Puts `task`'s saved ops on executor thread `tid` (a poll), counting its
/// wait since it was woken as `executor_blocked`.
fn poll(w: &mut World<'_>, tid: Tid, task: TaskId) {
    let now = w.now;
    let t = w.task(task);
    if t.start.is_some() {
        t.times.executor_blocked += std::time::Duration::from_nanos(now - t.ready_at);
    }
    let ops = std::mem::take(&mut t.saved);
    let th = &mut w.threads[tid as usize];
    th.task = Some(task);
    th.ops = ops;
}

impl LoopOrder {
    /// Runs handles until one gives the loop thread `tid` ops (a step, or
    /// the reader's); false when nothing is queued (the loop waits).
    fn next(&mut self, w: &mut World<'_>, tid: Tid) -> bool {
        loop {
            if self.todo == 0 {
                self.select();
                self.todo = self.handles.len();
                if self.todo == 0 {
                    return false;
                }
            }
            let Some(h) = self.handles.pop_front() else {
                self.todo = 0;
                continue;
            };
            self.todo -= 1;
            match h {
                Handle::ReaderCallback => self.handles.push_back(Handle::ReaderStep),
                Handle::Callback(task) => self.handles.push_back(Handle::Step(task)),
                Handle::ReaderStep => {
                    if self.read(w, tid) {
                        return true;
                    }
                }
                Handle::Step(task) => {
                    poll(w, tid, task);
                    return true;
                }
            }
        }
    }

    /// Queues the callbacks of what happened since the last select: the
    /// reader's (new jobs), then each task woken from outside.
    fn select(&mut self) {
        if !self.inbox.is_empty() && !self.reader_queued {
            self.reader_queued = true;
            self.handles.push_back(Handle::ReaderCallback);
        }
        self.handles
            .extend(self.outside.drain(..).map(Handle::Callback));
    }

    /// The reader's step on `tid`: its resumption under the GIL, then each
    /// job read handed on (`Op::Submit`); false when nothing was sent.
    fn read(&mut self, w: &mut World<'_>, tid: Tid) -> bool {
        self.reader_queued = false;
        if self.inbox.is_empty() {
            return false;
        }
        let resume = w.interp.resume;
        let th = &mut w.threads[tid as usize];
        // Taken even when `resume` is zero, as the real engine's reader
        // does (and as the submitting thread does); no-ops without a GIL.
        th.ops.push_back(Op::GilAcquire);
        interp_ops(resume, &mut th.ops);
        th.ops.extend(self.inbox.drain(..).map(Op::Submit));
        th.ops.push_back(Op::GilRelease);
        true
    }
}

impl Submitter {
    /// Queues the submitting thread's next ops: the next job's `submit`
    /// under the GIL, the GIL's release once the inbox is empty, or
    /// nothing (false: it blocks until a job arrives).
    fn next(&mut self, w: &mut World<'_>, tid: Tid) -> bool {
        let submit = w.interp.submit;
        let th = &mut w.threads[tid as usize];
        match self.inbox.pop_front() {
            Some(task) => {
                th.ops.push_back(Op::GilAcquire);
                interp_ops(submit, &mut th.ops);
                th.ops.push_back(Op::Submit(task));
                true
            }
            None if th.holds_gil => {
                th.ops.push_back(Op::GilRelease);
                true
            }
            None => {
                self.idle = true;
                th.block = Block::Idle;
                false
            }
        }
    }
}

impl OffloadPool {
    /// Queues `task`'s offloaded `action`, waking an idle thread of the
    /// pool or starting one while the pool is below its limit.
    fn push(&mut self, w: &mut World<'_>, task: TaskId, action: Action) {
        self.queue.push_back((task, action, w.now));
        if let Some(idle) = self.idle.pop() {
            w.sleep_then_wake(idle, Block::Start, w.costs.wake);
        } else if self.threads < self.max {
            self.threads += 1;
            let name = format!("{}-blocking", w.spec.name);
            let t = w.new_thread(self.role, self.gil, |s| format!("{name}-{s}"));
            w.sleep_then_wake(t, Block::Start, w.costs.thread_start);
        }
    }

    /// Gives the pool's thread `tid` the next offloaded action's ops;
    /// false (and the thread idle) when none waits.
    fn take_work(&mut self, w: &mut World<'_>, tid: Tid) -> bool {
        let Some((task, action, queued)) = self.queue.pop_front() else {
            self.idle.push(tid);
            w.threads[tid as usize].block = Block::Idle;
            return false;
        };
        let gil = self.gil;
        let expand = SyncOps {
            gil,
            lock_base: w.lock_base(),
            io_call: w.interp.io_call,
        };
        let now = w.now;
        w.task(task).times.offload_wait += std::time::Duration::from_nanos(now - queued);
        let complete = if gil { w.interp.complete } else { 0 };
        let th = &mut w.threads[tid as usize];
        th.task = Some(task);
        th.ops.push_back(Op::GilAcquire);
        expand.push(action, &mut th.ops);
        interp_ops(complete, &mut th.ops);
        th.ops.push_back(Op::GilRelease);
        th.ops.push_back(Op::OffloadDone);
        true
    }
}
