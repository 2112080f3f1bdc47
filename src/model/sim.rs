//! The simulator's state and main loop: threads running jobs' micro-ops on
//! virtual cores.
//!
//! Every OS thread of the modelled backend is a [`Thread`] that executes a
//! queue of micro-ops ([`Op`]): CPU segments on the cores, IO sleeps, GIL
//! and lock operations, and the hand-overs between driver, pools and
//! executors. A job's actions come from the plan's own cursor (the same
//! per-job random streams as the real engine), and are expanded into
//! micro-ops one action at a time, so memory per job is a cursor and a few
//! ops. How each backend places jobs on threads is in `exec.rs`, the GIL in
//! `gil.rs`, locks and counters in `sync.rs`.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;

use super::arrivals::{common_event, Arrivals, Runner};
use super::clock::{EventQueue, Ns};
use super::cores::Cores;
use super::costs::Costs;
use super::deploy::{DeployOutcome, Deployment};
use super::exec::Exec;
use super::gil::GilState;
use super::sync::{CounterState, LockState};
use super::{TraceLog, VirtualSpan};
use crate::config::{BackendSpec, Guard};
use crate::metrics::{GroupMetrics, TimeBreakdown};
use crate::plan::{Action, JobCursor, JobId, Plan};
use crate::work::counter::INCREMENT_COST;

/// Thread and task handles (indices into the simulator's slabs).
pub(super) type Tid = u32;
pub(super) type TaskId = u32;

/// Something scheduled for a virtual time.
#[derive(Debug, Clone, Copy)]
pub(super) enum Ev {
    /// The next job of an open-loop group is due.
    Open(u32),
    /// A closed client's next job is due (after its think time): group and
    /// job index (a `u32` group keeps an event at 16 bytes).
    Closed(u32, u64),
    /// A blocked thread resumes (token as in [`Thread::gen`]).
    Wake(Tid, u32),
    /// A GIL waiter's timed wait runs out.
    GilTimeout(Tid, u32),
    /// A notified GIL waiter runs again and looks at the GIL.
    GilWoken(Tid, u32),
    /// An async task's IO wait is over.
    IoDone(TaskId),
}

/// What a thread is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    /// Started for one job, ends with it.
    Job,
    /// A pool or executor worker.
    Worker,
    /// A blocking-pool thread (spawn_blocking).
    Blocking,
    /// A worker of the CPU offload pool (cpu_mode = "rayon").
    Offload,
}

/// Why a thread is not running its ops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Block {
    /// Running (on the cores, or between ops).
    No,
    /// Idle, waiting for work.
    Idle,
    /// Starting, or woken to look for work.
    Start,
    /// In an IO sleep of this many ns.
    Sleep(u64),
    /// Waiting to take the GIL.
    Gil,
    /// Released the GIL on a drop request; waits for another to take it.
    Forced,
    /// Waiting for an application lock (granted when woken).
    Lock,
    /// A CPU segment on the cores.
    Cpu,
}

/// Kinds of CPU segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CpuKind {
    /// Interpreted work: under the GIL, checks the drop request every tick.
    Interp,
    /// Native work: no GIL.
    Native,
    /// gilsim's own per-job cost.
    Harness,
    /// Counter increments (50 ns each), checked after each.
    Counter {
        counter: u32,
        guard: Guard,
        switch_inside: bool,
    },
}

/// One step of a thread's work.
#[derive(Debug, Clone, Copy)]
pub(super) enum Op {
    /// The job starts on this thread (queue time ends).
    JobStart,
    /// Take the GIL (when this thread runs under it and does not hold it).
    GilAcquire,
    /// Release the GIL if held.
    GilRelease,
    /// Run `ns` of work on the cores.
    Cpu { ns: u64, kind: CpuKind },
    /// A blocking IO wait.
    Sleep(u64),
    /// An awaited IO wait: the task leaves the thread.
    AwaitIo(u64),
    /// The task's pending offloaded action ([`Task::offload`]): the task
    /// leaves the thread until it is done. (The action waits in the task,
    /// not here, so that an op stays 16 bytes.)
    Offload,
    /// Take a lock (releasing the GIL while blocked).
    LockTake(u32),
    /// Wait for a lock that was busy.
    LockWait(u32),
    /// Release a lock.
    LockRelease(u32),
    /// The job is complete: record it.
    EndJob,
    /// An offloaded action is complete: wake its task.
    OffloadDone,
}

/// Whether a thread goes on with its next op.
pub(super) enum Flow {
    Continue,
    Blocked,
}

/// The current CPU segment of a thread.
#[derive(Debug, Clone, Copy)]
pub(super) struct Seg {
    pub ns: u64,
    pub kind: CpuKind,
    pub start_t: Ns,
    pub start_s: f64,
    /// Where the segment stops early (a drop request), in ns of its work.
    pub stop: Option<u64>,
}

/// One modelled OS thread.
pub(super) struct Thread {
    /// Token of the thread's live event; bumping it cancels the event.
    pub gen: u32,
    /// Token of its live CPU segment.
    pub cpu_gen: u32,
    /// Unique id over the run (thread slots are reused).
    pub serial: u64,
    pub role: Role,
    pub block: Block,
    pub task: Option<TaskId>,
    pub ops: VecDeque<Op>,
    /// Whether this thread's Python code runs under the run's GIL.
    pub gil_ctx: bool,
    pub holds_gil: bool,
    pub seg: Seg,
    /// When the current wait began.
    pub wait_began: Ns,
    /// GIL switch number when the current timed wait began.
    pub saved_sn: u64,
    /// When this waiter set the drop request.
    pub requested_at: Option<Ns>,
    /// An unguarded increment read before a forced switch: (counter, value).
    pub pending_write: Option<(u32, u64)>,
    /// Counter service clock when its segment began (parallel increments).
    pub counter_acc0: f64,
}

/// One job in flight.
pub(super) struct Task<'p> {
    pub id: JobId,
    pub due: Ns,
    pub start: Option<Ns>,
    pub cursor: JobCursor<'p>,
    pub times: TimeBreakdown,
    /// Ops left over when the task left its thread (async).
    pub saved: VecDeque<Op>,
    /// When it last became ready to run (async).
    pub ready_at: Ns,
    /// Whether the cursor is exhausted and the end is queued.
    pub ending: bool,
    /// The action an [`Op::Offload`] queued on its thread sends away.
    pub offload: Option<Action>,
    /// Trace id of the thread that started it (for its job span).
    pub first_thread: u64,
}

/// Costs in ns.
#[derive(Debug, Clone, Copy)]
pub(super) struct CostNs {
    pub thread_start: Ns,
    pub wake: Ns,
    pub handoff: Ns,
    pub overshoot: Ns,
    pub job: Ns,
}

impl From<&Costs> for CostNs {
    fn from(c: &Costs) -> Self {
        Self {
            thread_start: Costs::ns(c.thread_start_us),
            wake: Costs::ns(c.wake_us),
            handoff: Costs::ns(c.gil_handoff_us),
            overshoot: Costs::ns(c.io_overshoot_us),
            job: Costs::ns(c.job_overhead_us),
        }
    }
}

/// The whole simulated run.
pub(super) struct Sim<'p> {
    pub plan: &'p Plan,
    pub spec: &'p BackendSpec,
    pub costs: CostNs,
    pub now: Ns,
    pub q: EventQueue<Ev>,
    pub cores: Cores,
    pub cpu_completions: u64,
    pub threads: Vec<Thread>,
    free_threads: Vec<Tid>,
    next_serial: u64,
    pub tasks: Vec<Option<Task<'p>>>,
    free_tasks: Vec<TaskId>,
    pub exec: Exec,
    pub gil: Option<GilState>,
    pub tick_ns: u64,
    pub locks: Vec<LockState>,
    pub counters: Vec<CounterState>,
    pub arrivals: Arrivals<'p>,
    pub groups: Vec<GroupMetrics>,
    pub last_end: Ns,
    pub base: Instant,
    pub trace: Option<TraceLog>,
    /// The model's own draws (timer slack, where a counter switch lands),
    /// seeded from the plan's seed: same seed, same run.
    pub rng: Pcg64Mcg,
    /// `[gil.cost]` in ns (all zero without a GIL, as on the real engine).
    pub interp: InterpNs,
    /// The other processes of a backend with `processes > 1` (deploy.rs).
    pub deploy: Option<Box<Deployment>>,
}

/// `[gil.cost]` in ns.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct InterpNs {
    pub task: u64,
    pub resume: u64,
    pub io_call: u64,
    pub submit: u64,
    pub complete: u64,
}

/// The outcome, the trace, the GIL and the counters' final values.
pub(super) type Finished = (Outcome, Option<TraceLog>, Option<GilState>, Vec<u64>);

/// What a finished simulation hands back.
pub(super) struct Outcome {
    pub groups: Vec<GroupMetrics>,
    pub wall: Duration,
    pub first_due: Ns,
    pub busy_ns: f64,
    pub events: u64,
    pub held_back: u64,
    /// Per process, with `processes > 1`.
    pub deployment: Option<DeployOutcome>,
}

impl<'p> Sim<'p> {
    /// A simulator for `plan` on `spec` with `cores` virtual cores.
    pub fn new(
        plan: &'p Plan,
        spec: &'p BackendSpec,
        cores: usize,
        costs: &Costs,
        in_flight_limit: u64,
        trace: bool,
        warmup_jobs: u64,
    ) -> Self {
        let gil = spec.gil.then(|| GilState::new(plan.gil, trace));
        let mut sim = Self {
            plan,
            spec,
            costs: CostNs::from(costs),
            now: 0,
            q: EventQueue::new(),
            cores: Cores::new(cores),
            cpu_completions: 0,
            threads: Vec::new(),
            free_threads: Vec::new(),
            next_serial: 1,
            tasks: Vec::new(),
            free_tasks: Vec::new(),
            exec: Exec::Unset,
            gil,
            tick_ns: (plan.gil.tick.as_nanos() as u64).max(1),
            locks: (0..plan.locks.len() + plan.counters.len())
                .map(|_| LockState::default())
                .collect(),
            counters: plan
                .counters
                .iter()
                .map(|_| CounterState::default())
                .collect(),
            arrivals: Arrivals::new(plan, in_flight_limit, warmup_jobs),
            groups: plan.groups.iter().map(|_| GroupMetrics::new()).collect(),
            last_end: 0,
            base: Instant::now(),
            trace: trace.then(TraceLog::default),
            rng: Pcg64Mcg::seed_from_u64(plan.seed ^ 0x6d6f_6465_6c00_0000),
            interp: if spec.gil {
                let c = &plan.gil.cost;
                let ns = |d: Duration| d.as_nanos() as u64;
                InterpNs {
                    task: ns(c.task),
                    resume: ns(c.resume),
                    io_call: ns(c.io_call),
                    submit: ns(c.submit),
                    complete: ns(c.complete),
                }
            } else {
                InterpNs::default()
            },
            deploy: None,
        };
        sim.exec = Exec::for_spec(&mut sim, cores);
        Deployment::attach(&mut sim, cores);
        sim
    }

    /// Runs every job to completion.
    pub fn run(mut self) -> Result<Finished, String> {
        self.arrivals.start(&mut self.q);
        self.admit();
        let total = self.plan.total_jobs();
        let debug = std::env::var_os("GILSIM_MODEL_DEBUG").is_some();
        loop {
            if debug {
                eprintln!(
                    "t={} done={} q={} gil={:?}",
                    self.now,
                    self.arrivals.completed,
                    self.q.peek_time().unwrap_or(0),
                    self.gil.as_ref().map(|g| (g.holder, g.drop_request))
                );
            }
            let ev_at = self.q.peek_time();
            // An event due now goes before any CPU completion (those end
            // now at the earliest, and ties go to events): no need to ask
            // the cores.
            let cpu_at = if ev_at.is_some_and(|e| e <= self.now) {
                None
            } else {
                let threads = &self.threads;
                self.cores.next_finish(|t, g| {
                    threads[t as usize].cpu_gen == g && threads[t as usize].block == Block::Cpu
                })
            };
            match (cpu_at, ev_at) {
                (None, None) => break,
                (Some(c), e) if e.map_or(true, |e| c < e) => {
                    self.set_now(c);
                    if let Some((tid, _)) = self.cores.pop_finished() {
                        if debug {
                            let th = &self.threads[tid as usize];
                            eprintln!("  cpu done {tid} {:?} ops={:?}", th.seg, th.ops);
                        }
                        self.cpu_completions += 1;
                        self.cpu_done(tid);
                    }
                }
                _ => {
                    let Some((at, ev)) = self.q.pop() else { break };
                    if debug {
                        eprintln!("  ev {ev:?}");
                    }
                    self.set_now(at);
                    self.event(ev);
                }
            }
        }
        if self.arrivals.completed < total {
            return Err(format!(
                "the model stopped with {} of {total} jobs complete (a modelling bug: please report it with the config)",
                self.arrivals.completed
            ));
        }
        let deployment = self.leave_deployment();
        self.finish_gil_hold();
        let first = self.arrivals.first_due.unwrap_or(0);
        let outcome = Outcome {
            wall: Duration::from_nanos(self.last_end.saturating_sub(first)),
            first_due: first,
            busy_ns: self.cores.busy_ns,
            events: self.q.popped + self.cpu_completions,
            held_back: self.arrivals.held_back,
            groups: std::mem::take(&mut self.groups),
            deployment,
        };
        let values = self.counters.iter().map(|c| c.value).collect();
        Ok((outcome, self.trace.take(), self.gil.take(), values))
    }

    fn set_now(&mut self, t: Ns) {
        debug_assert!(t >= self.now, "time went backwards");
        self.now = t.max(self.now);
        self.q.set_now(self.now);
        // The share that held since the last event (`advance` leaves the
        // runnable count alone, so asking after it is the same).
        let ds = self.cores.advance(self.now);
        if ds > 0.0 && !self.counters.is_empty() {
            let others_on_cores = self.cores.others_on_cores();
            for c in &mut self.counters {
                if c.active > 0 {
                    // Writers on a core at the same instant as a given one:
                    // itself, plus each other writer's chance to be on one.
                    let overlapping = 1.0 + (c.active - 1) as f64 * others_on_cores;
                    c.acc += ds / overlapping;
                }
            }
        }
    }

    fn event(&mut self, ev: Ev) {
        self.enter_for(&ev);
        match common_event(self, ev) {
            Some(Ev::GilTimeout(tid, gen)) => {
                if self.threads[tid as usize].gen == gen {
                    self.gil_timeout(tid);
                }
            }
            Some(Ev::GilWoken(tid, gen)) => {
                if self.threads[tid as usize].gen == gen {
                    self.gil_woken(tid);
                }
            }
            Some(Ev::IoDone(task)) => self.io_done(task),
            // Handled by `common_event`.
            Some(Ev::Open(_) | Ev::Closed(..) | Ev::Wake(..)) | None => {}
        }
    }

    /// Submits every due job a slot allows.
    pub fn admit(&mut self) {
        while let Some((due, id)) = self.arrivals.admit() {
            let task = self.new_task(id, due);
            self.dispatch(task);
        }
    }

    fn new_task(&mut self, id: JobId, due: Ns) -> TaskId {
        let t = Task {
            id,
            due,
            start: None,
            cursor: self.plan.cursor(id),
            times: TimeBreakdown::default(),
            saved: VecDeque::new(),
            ready_at: due,
            ending: false,
            offload: None,
            first_thread: 0,
        };
        match self.free_tasks.pop() {
            Some(i) => {
                self.tasks[i as usize] = Some(t);
                i
            }
            None => {
                self.tasks.push(Some(t));
                (self.tasks.len() - 1) as TaskId
            }
        }
    }

    pub fn task(&mut self, id: TaskId) -> &mut Task<'p> {
        // A task id is only handed out while its task lives.
        self.tasks[id as usize].as_mut().expect("live task id")
    }

    /// A new thread (idle until given work).
    pub fn new_thread(
        &mut self,
        role: Role,
        gil_ctx: bool,
        name: impl FnOnce(u64) -> String,
    ) -> Tid {
        let serial = self.next_serial;
        self.next_serial += 1;
        if let Some(tr) = &mut self.trace {
            tr.name_thread(serial, name(serial));
        }
        let t = Thread {
            gen: 0,
            cpu_gen: 0,
            serial,
            role,
            block: Block::Idle,
            task: None,
            ops: VecDeque::new(),
            gil_ctx,
            holds_gil: false,
            seg: Seg {
                ns: 0,
                kind: CpuKind::Harness,
                start_t: 0,
                start_s: 0.0,
                stop: None,
            },
            wait_began: 0,
            saved_sn: 0,
            requested_at: None,
            pending_write: None,
            counter_acc0: 0.0,
        };
        let tid = match self.free_threads.pop() {
            Some(i) => {
                // Keep the slot's tokens moving: an event still queued for
                // the slot's previous thread must not match the new one.
                let old = &mut self.threads[i as usize];
                let (gen, cpu_gen) = (old.gen.wrapping_add(1), old.cpu_gen.wrapping_add(1));
                // Reuse the op queue's allocation too.
                let mut ops = std::mem::take(&mut old.ops);
                ops.clear();
                *old = Thread {
                    gen,
                    cpu_gen,
                    ops,
                    ..t
                };
                i
            }
            None => {
                self.threads.push(t);
                (self.threads.len() - 1) as Tid
            }
        };
        self.thread_born(tid);
        tid
    }

    /// Blocks `tid` for `delay`, then resumes it through `wake`.
    pub fn sleep_then_wake(&mut self, tid: Tid, block: Block, delay: Ns) {
        let th = &mut self.threads[tid as usize];
        th.gen = th.gen.wrapping_add(1);
        th.block = block;
        th.wait_began = self.now;
        let gen = th.gen;
        self.q.push(self.now + delay, Ev::Wake(tid, gen));
    }

    /// A blocked thread's wait is over.
    fn wake_thread(&mut self, tid: Tid) {
        let th = &mut self.threads[tid as usize];
        let block = th.block;
        let began = th.wait_began;
        th.block = Block::No;
        match block {
            Block::Sleep(_) => {
                let waited = self.now - began;
                self.charge(tid, |t| &mut t.io, waited);
                self.span(tid, "step", began, Some("kind=io"));
            }
            Block::Lock => {
                self.charge(tid, |t| &mut t.lock_wait, self.now - began);
                self.span(tid, "lock_wait", began, None);
            }
            Block::Forced => self.forced_wait_over(tid),
            _ => {}
        }
        self.resume(tid);
    }

    /// Adds `ns` to a field of the breakdown of the task `tid` runs.
    pub fn charge(
        &mut self,
        tid: Tid,
        field: impl FnOnce(&mut TimeBreakdown) -> &mut Duration,
        ns: Ns,
    ) {
        if let Some(task) = self.threads[tid as usize].task {
            *field(&mut self.task(task).times) += Duration::from_nanos(ns);
        }
    }

    /// Runs `tid`'s ops until one blocks it or it runs out of work.
    pub fn resume(&mut self, tid: Tid) {
        self.threads[tid as usize].block = Block::No;
        loop {
            let op = match self.threads[tid as usize].ops.pop_front() {
                Some(op) => op,
                None => {
                    if self.refill(tid) {
                        continue;
                    }
                    return;
                }
            };
            match self.op(tid, op) {
                Flow::Continue => {}
                Flow::Blocked => return,
            }
        }
    }

    /// Queues the ops of the next action of `tid`'s task, or finds it new
    /// work. False when the thread has nothing to do (idle or ended).
    fn refill(&mut self, tid: Tid) -> bool {
        let Some(task) = self.threads[tid as usize].task else {
            return self.find_work(tid);
        };
        let role = self.threads[tid as usize].role;
        if matches!(role, Role::Blocking | Role::Offload) {
            // An offloaded action's ops were queued whole; nothing follows.
            return self.find_work(tid);
        }
        let t = self.task(task);
        if t.ending {
            return false;
        }
        match t.cursor.next() {
            Some(action) => self.expand(tid, action),
            None => {
                self.task(task).ending = true;
                let complete = if self.exec.pooled() {
                    self.interp.complete
                } else {
                    0
                };
                let ops = &mut self.threads[tid as usize].ops;
                interp_ops(complete, ops);
                ops.push_back(Op::EndJob);
                if self.gil.is_some() {
                    ops.push_back(Op::GilRelease);
                }
            }
        }
        true
    }

    /// Queues the micro-ops of one action on the thread that runs the job.
    fn expand(&mut self, tid: Tid, action: Action) {
        let action = self.localize(action);
        let gil = self.gil.is_some();
        let lock_base = self.lock_base();
        let offload = self.exec.offloads(action);
        if offload.is_some() {
            if let Some(task) = self.threads[tid as usize].task {
                self.task(task).offload = Some(action);
            }
        }
        let c = self.interp;
        let ops = &mut self.threads[tid as usize].ops;
        match offload {
            // loop.run_in_executor: submit on the loop thread, resume after.
            Some(blocking) => {
                if blocking {
                    interp_ops(c.submit, ops);
                }
                ops.extend([Op::GilRelease, Op::Offload, Op::GilAcquire]);
                interp_ops(c.resume, ops);
            }
            None => match action {
                Action::Io(d) if self.exec.is_async() => {
                    interp_ops(c.io_call, ops);
                    ops.extend([
                        Op::GilRelease,
                        Op::AwaitIo(d.as_nanos() as u64),
                        Op::GilAcquire,
                    ]);
                    interp_ops(c.resume, ops);
                }
                _ => sync_ops(action, gil, lock_base, c.io_call, ops),
            },
        }
    }

    /// Executes one op.
    fn op(&mut self, tid: Tid, op: Op) -> Flow {
        match op {
            Op::JobStart => {
                self.job_start(tid);
                Flow::Continue
            }
            Op::GilAcquire => self.gil_acquire(tid),
            Op::GilRelease => self.gil_release(tid),
            Op::Cpu { ns, kind } => self.cpu_start(tid, ns, kind),
            Op::Sleep(ns) => {
                self.sleep_then_wake(tid, Block::Sleep(ns), ns + self.costs.overshoot);
                Flow::Blocked
            }
            Op::AwaitIo(ns) => {
                self.await_io(tid, ns);
                Flow::Continue
            }
            Op::Offload => {
                self.offload(tid);
                Flow::Continue
            }
            Op::LockTake(l) => self.lock_take(tid, l),
            Op::LockWait(l) => self.lock_wait(tid, l),
            Op::LockRelease(l) => {
                self.lock_release(l);
                Flow::Continue
            }
            Op::EndJob => {
                self.end_job(tid);
                Flow::Continue
            }
            Op::OffloadDone => {
                self.offload_done(tid);
                Flow::Continue
            }
        }
    }

    fn job_start(&mut self, tid: Tid) {
        let Some(task) = self.threads[tid as usize].task else {
            return;
        };
        let now = self.now;
        let serial = self.threads[tid as usize].serial;
        let t = self.task(task);
        if t.start.is_none() {
            t.start = Some(now);
            t.first_thread = serial;
            let due = t.due;
            self.span(tid, "queue", due, None);
        }
        // Pushed to the front in reverse: harness, then the interpreter's
        // first cost (`submit` on a pool, `task` on an event loop).
        let first = if self.exec.pooled() {
            self.interp.submit
        } else if self.exec.is_async() {
            self.interp.task
        } else {
            0
        };
        let ops = &mut self.threads[tid as usize].ops;
        if first > 0 {
            ops.push_front(Op::Cpu {
                ns: first,
                kind: CpuKind::Interp,
            });
            ops.push_front(Op::GilAcquire);
        }
        if self.costs.job > 0 {
            ops.push_front(Op::Cpu {
                ns: self.costs.job,
                kind: CpuKind::Harness,
            });
        }
    }

    fn end_job(&mut self, tid: Tid) {
        let Some(task) = self.threads[tid as usize].task.take() else {
            return;
        };
        // Read in place (a task is a few hundred bytes: no move), then
        // dropped in its slot.
        let Some(t) = self.tasks[task as usize].as_ref() else {
            return;
        };
        let now = self.now;
        let start = t.start.unwrap_or(now);
        let measured = self.arrivals.measured(t.id);
        if measured {
            record_ns(&mut self.groups[t.id.group], t.due, start, now, &t.times);
        }
        let latency = measured.then(|| now.saturating_sub(t.due));
        let (id, first_thread) = (t.id, t.first_thread);
        self.tasks[task as usize] = None;
        self.free_tasks.push(task);
        self.last_end = self.last_end.max(now);
        if let Some(tr) = &mut self.trace {
            let name = &self.plan.groups[id.group].name;
            tr.push(VirtualSpan {
                tid: first_thread,
                name: "job",
                start_ns: start,
                end_ns: now,
                args: Some(format!("group={name} job={}", id.index)),
            });
        }
        self.job_ended(task, latency);
        self.arrivals.job_done(now, id, &mut self.q);
        self.admit();
    }

    /// Starts a CPU segment of `ns` on the cores.
    fn cpu_start(&mut self, tid: Tid, ns: u64, kind: CpuKind) -> Flow {
        if let Some((c, stale)) = self.threads[tid as usize].pending_write.take() {
            self.counters[c as usize].value = stale.wrapping_add(1);
        }
        if ns == 0 {
            return Flow::Continue;
        }
        let s = self.cores.service();
        if let CpuKind::Counter {
            counter,
            guard: Guard::None,
            ..
        } = kind
        {
            if !self.threads[tid as usize].holds_gil {
                let c = &mut self.counters[counter as usize];
                c.active += 1;
                self.threads[tid as usize].counter_acc0 = c.acc;
            }
        }
        let th = &mut self.threads[tid as usize];
        th.cpu_gen = th.cpu_gen.wrapping_add(1);
        th.block = Block::Cpu;
        th.seg = Seg {
            ns,
            kind,
            start_t: self.now,
            start_s: s,
            stop: None,
        };
        let gen = th.cpu_gen;
        self.cores.run(tid, gen, s + ns as f64);
        // A drop request already pending is seen at the first check.
        if self.gil.as_ref().is_some_and(|g| g.drop_request) && self.threads[tid as usize].holds_gil
        {
            self.interrupt_holder(tid);
        }
        Flow::Blocked
    }

    /// The tick at which a segment of `kind` checks the drop request.
    fn check_every(&self, kind: CpuKind) -> Option<u64> {
        match kind {
            CpuKind::Interp => Some(self.tick_ns),
            CpuKind::Counter { .. } => Some(INCREMENT_COST.as_nanos() as u64),
            _ => None,
        }
    }

    /// A drop request reached the holder `tid`: if it runs interpreted
    /// work, it stops at its next eval-breaker check.
    pub fn interrupt_holder(&mut self, tid: Tid) {
        let th = &self.threads[tid as usize];
        if th.block != Block::Cpu || th.seg.stop.is_some() {
            return;
        }
        let Some(tick) = self.check_every(th.seg.kind) else {
            return;
        };
        let done = (self.cores.service() - th.seg.start_s).max(0.0);
        let ticks = ((done / tick as f64).ceil() as u64).max(1);
        let stop = ticks.saturating_mul(tick);
        if stop >= th.seg.ns {
            return;
        }
        let th = &mut self.threads[tid as usize];
        th.seg.stop = Some(stop);
        th.cpu_gen = th.cpu_gen.wrapping_add(1);
        let (gen, at) = (th.cpu_gen, th.seg.start_s + stop as f64);
        self.cores.reschedule(tid, gen, at);
    }

    /// A CPU segment ended (complete, or stopped at a drop request).
    fn cpu_done(&mut self, tid: Tid) {
        self.enter_thread(tid);
        let seg = self.threads[tid as usize].seg;
        self.threads[tid as usize].block = Block::No;
        let done = seg.stop.unwrap_or(seg.ns);
        let elapsed = self.now - seg.start_t;
        match seg.kind {
            CpuKind::Native => self.charge(tid, |t| &mut t.native, elapsed),
            CpuKind::Harness => {}
            _ => self.charge(tid, |t| &mut t.cpu, elapsed),
        }
        let label = match seg.kind {
            CpuKind::Native => "kind=native",
            CpuKind::Harness => "kind=harness",
            CpuKind::Counter { .. } => "kind=counter",
            CpuKind::Interp => "kind=cpu",
        };
        self.span(tid, "step", seg.start_t, Some(label));
        if let CpuKind::Counter {
            counter,
            guard,
            switch_inside,
        } = seg.kind
        {
            // A drop request comes at a time unrelated to the loop: it is
            // served at the check inside the read..write window with
            // probability `counter_inside_share`, else at the back edge
            // (docs/gil.md §6).
            let share = self.plan.gil.counter_inside_share.clamp(0.0, 1.0);
            let inside = seg.stop.is_some() && switch_inside && self.rng.random_bool(share);
            self.counter_progress(tid, counter, guard, inside, done, seg.stop.is_some());
        }
        if seg.stop.is_some() {
            // The forced switch of `yield_forced`: release, let another
            // thread take the GIL, take it back, then finish the work.
            if let Some(g) = &mut self.gil {
                g.forced_switches += 1;
                g.noticed = Some((tid, self.now));
            }
            let rest = seg.ns - done;
            let ops = &mut self.threads[tid as usize].ops;
            ops.push_front(Op::Cpu {
                ns: rest,
                kind: seg.kind,
            });
            ops.push_front(Op::GilAcquire);
            ops.push_front(Op::GilRelease);
        }
        self.resume(tid);
    }

    /// Records a finished interval on `tid`'s trace track, ending now.
    pub fn span(&mut self, tid: Tid, name: &'static str, start: Ns, args: Option<&str>) {
        if let Some(tr) = &mut self.trace {
            let serial = self.threads[tid as usize].serial;
            tr.push(VirtualSpan {
                tid: serial,
                name,
                start_ns: start,
                end_ns: self.now,
                args: args.map(str::to_string),
            });
        }
    }

    /// Frees a finished job thread's slot.
    pub fn end_thread(&mut self, tid: Tid) {
        let th = &mut self.threads[tid as usize];
        th.gen = th.gen.wrapping_add(1);
        th.block = Block::Idle;
        th.ops.clear();
        self.free_threads.push(tid);
    }
}

impl<'p> Runner<'p> for Sim<'p> {
    #[inline]
    fn driver(&mut self) -> (&mut Arrivals<'p>, &mut EventQueue<Ev>, Ns) {
        (&mut self.arrivals, &mut self.q, self.now)
    }

    fn admit(&mut self) {
        Sim::admit(self);
    }

    #[inline]
    fn live(&self, tid: u32, gen: u32) -> bool {
        self.threads[tid as usize].gen == gen
    }

    fn wake(&mut self, tid: u32) {
        self.wake_thread(tid);
    }
}

/// Records a finished job from its virtual times, exactly as
/// [`GroupMetrics::record`] records the `JobRecord` with those times as
/// `Instant`s (`base + ns`: the differences are the same whole
/// nanoseconds), without the `Instant` arithmetic on every job.
pub(super) fn record_ns(g: &mut GroupMetrics, due: Ns, start: Ns, end: Ns, times: &TimeBreakdown) {
    let queue = start.saturating_sub(due);
    let service = end.saturating_sub(start);
    let latency = end.saturating_sub(due);
    g.jobs += 1;
    g.latency.saturating_record(latency / 1_000);
    g.queue.saturating_record(queue / 1_000);
    g.service.saturating_record(service / 1_000);
    g.times.add(times);
    g.queue_total += Duration::from_nanos(queue);
    g.service_total += Duration::from_nanos(service);
}

/// Queues the micro-ops of one action run on the calling thread, as
/// `RunShared::run_action_sync` runs it. Counter `c`'s lock (guard = lock)
/// is lock `lock_base + c`.
pub(super) fn sync_ops(
    action: Action,
    gil: bool,
    lock_base: u32,
    io_call: u64,
    ops: &mut VecDeque<Op>,
) {
    use Op::*;
    let ns = |d: Duration| d.as_nanos() as u64;
    if !gil {
        // No GIL on this thread: its GIL ops would do nothing; leave them
        // out (the common case pays for fewer micro-ops, nothing else moves).
        match action {
            Action::Cpu(d) => ops.push_back(Cpu {
                ns: ns(d),
                kind: CpuKind::Interp,
            }),
            Action::Native(d) => ops.push_back(Cpu {
                ns: ns(d),
                kind: CpuKind::Native,
            }),
            Action::Io(d) => {
                ops.push_back(Sleep(ns(d)));
                interp_ops(io_call, ops);
            }
            Action::Lock { .. } | Action::Counter { .. } => {
                sync_ops_with_gil_ops(action, gil, lock_base, io_call, ops)
            }
        }
        return;
    }
    sync_ops_with_gil_ops(action, gil, lock_base, io_call, ops);
}

/// [`sync_ops`] with every GIL op written out.
fn sync_ops_with_gil_ops(
    action: Action,
    gil: bool,
    lock_base: u32,
    io_call: u64,
    ops: &mut VecDeque<Op>,
) {
    use Op::*;
    let ns = |d: Duration| d.as_nanos() as u64;
    match action {
        Action::Cpu(d) => ops.extend([
            GilAcquire,
            Cpu {
                ns: ns(d),
                kind: CpuKind::Interp,
            },
        ]),
        Action::Native(d) => ops.extend([
            GilRelease,
            Cpu {
                ns: ns(d),
                kind: CpuKind::Native,
            },
            GilAcquire,
        ]),
        Action::Io(d) => {
            // The Python side of the call runs under the GIL, after the
            // retake (as on the real engine: one GIL wait per operation).
            ops.extend([GilRelease, Sleep(ns(d)), GilAcquire]);
            interp_ops(io_call, ops);
        }
        Action::Lock { lock, cpu } => ops.extend([
            LockTake(lock as u32),
            GilAcquire,
            Cpu {
                ns: ns(cpu),
                kind: CpuKind::Interp,
            },
            LockRelease(lock as u32),
        ]),
        Action::Counter {
            counter,
            add,
            guard,
            switch_inside,
        } => {
            let work = add.saturating_mul(INCREMENT_COST.as_nanos() as u64);
            let kind = CpuKind::Counter {
                counter: counter as u32,
                guard,
                switch_inside,
            };
            // Under a GIL a `lock` guard never loses updates and is not
            // contended unless a switch falls inside an increment: the step
            // runs as one segment. Without a GIL the increments serialize on
            // the counter's lock.
            if guard == Guard::Lock && !gil {
                let l = lock_base + counter as u32;
                ops.extend([LockTake(l), Cpu { ns: work, kind }, LockRelease(l)]);
            } else {
                ops.extend([GilAcquire, Cpu { ns: work, kind }]);
            }
        }
    }
}

/// Queues one interpreter cost (`[gil.cost]`): interpreted work under the
/// GIL, taken first if need be; nothing for a zero cost.
pub(super) fn interp_ops(ns: u64, ops: &mut VecDeque<Op>) {
    if ns > 0 {
        ops.extend([
            Op::GilAcquire,
            Op::Cpu {
                ns,
                kind: CpuKind::Interp,
            },
        ]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::JobRecord;
    use std::time::Instant;

    #[test]
    fn recording_from_virtual_ns_matches_recording_a_job_record() {
        let base = Instant::now();
        let at = |ns: Ns| base + Duration::from_nanos(ns);
        let times = TimeBreakdown {
            io: Duration::from_nanos(1_234_567),
            ..TimeBreakdown::default()
        };
        let (mut a, mut b) = (GroupMetrics::new(), GroupMetrics::new());
        for (due, start, end) in [
            (0, 0, 999),
            (5, 1_005, 2_004),
            (7, 3_000_001, 9_876_543_210),
        ] {
            record_ns(&mut a, due, start, end, &times);
            b.record(&JobRecord {
                group: 0,
                due: at(due),
                start: at(start),
                end: at(end),
                times,
            });
        }
        assert_eq!(a.jobs, b.jobs);
        for (x, y) in [
            (&a.latency, &b.latency),
            (&a.queue, &b.queue),
            (&a.service, &b.service),
        ] {
            assert_eq!(x, y);
        }
        assert_eq!(a.times, b.times);
        assert_eq!(
            (a.queue_total, a.service_total),
            (b.queue_total, b.service_total)
        );
    }
}
