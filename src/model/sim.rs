//! The simulator's main loop: threads running jobs' micro-ops on virtual
//! cores.
//!
//! Every OS thread of the modelled backend is a [`Thread`] that executes a
//! queue of micro-ops ([`Op`]): CPU segments on the cores, IO sleeps, GIL
//! and lock operations, and the hand-overs between driver, pools and
//! executors. A job's actions come from the plan's own cursor (the same
//! per-job random streams as the real engine), and are expanded into
//! micro-ops one action at a time, so memory per job is a cursor and a few
//! ops. The threads, tasks, clock and cores are the [`World`]
//! (`world.rs`); how each backend places jobs on threads is in `exec.rs`,
//! the GIL in `gil.rs`, locks and counters in `sync.rs`, several processes
//! in `deploy.rs`. This file owns them all and hands each the world; none
//! of them calls back into it.

use std::time::{Duration, Instant};

use rand::Rng;

use super::arrivals::{common_event, Arrivals, Runner};
use super::clock::{EventQueue, Ns};
use super::costs::Costs;
use super::deploy::{DeployOutcome, Deployment};
use super::exec::Exec;
use super::gil::GilState;
use super::ops::{interp_ops, Block, CpuKind, Ev, Flow, Op, Role, Seg, SyncOps, TaskId, Tid};
use super::sync::SyncState;
use super::world::{TraceLog, World};
use crate::config::{BackendSpec, Guard};
use crate::metrics::sim::VirtualSpan;
use crate::metrics::GroupMetrics;
use crate::plan::{Action, JobId, Plan};

/// The whole simulated run.
pub(super) struct Sim<'p> {
    /// Threads, tasks, clock, cores, costs and trace.
    pub w: World<'p>,
    pub cpu_completions: u64,
    /// The active process's executor (`deploy.rs` swaps them).
    pub exec: Exec,
    /// The active process's GIL, if the backend has one.
    pub gil: Option<GilState>,
    /// Every process's locks and counters.
    pub sync: SyncState,
    pub arrivals: Arrivals<'p>,
    pub groups: Vec<GroupMetrics>,
    pub last_end: Ns,
    pub base: Instant,
    /// The other processes of a backend with `processes > 1` (deploy.rs).
    pub deploy: Option<Box<Deployment>>,
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
        let mut w = World::new(plan, spec, cores, costs, trace);
        // Process 0's threads first, then the other processes' (the order
        // of thread slots, which the cores' tie-breaks depend on).
        let exec = Exec::for_spec(&mut w, cores);
        let deploy = Deployment::attach(&mut w, cores);
        Self {
            w,
            cpu_completions: 0,
            exec,
            gil: spec.gil.then(|| GilState::new(plan.gil, trace)),
            sync: SyncState::new(plan, spec.processes),
            arrivals: Arrivals::new(plan, in_flight_limit, warmup_jobs),
            groups: plan.groups.iter().map(|_| GroupMetrics::new()).collect(),
            last_end: 0,
            base: Instant::now(),
            deploy,
        }
    }

    /// Runs every job to completion.
    pub fn run(mut self) -> Result<Finished, String> {
        self.arrivals.start(&mut self.w.q);
        self.admit();
        let total = self.w.plan.total_jobs();
        let debug = std::env::var_os("GILSIM_MODEL_DEBUG").is_some();
        loop {
            if debug {
                eprintln!(
                    "t={} done={} q={} gil={:?}",
                    self.w.now,
                    self.arrivals.completed,
                    self.w.q.peek_time().unwrap_or(0),
                    self.gil.as_ref().map(|g| (g.holder, g.drop_request))
                );
            }
            let ev_at = self.w.q.peek_time();
            // An event due now goes before any CPU completion (those end
            // now at the earliest, and ties go to events): no need to ask
            // the cores.
            let cpu_at = if ev_at.is_some_and(|e| e <= self.w.now) {
                None
            } else {
                let threads = &self.w.threads;
                self.w.cores.finish_before(ev_at, |t, g| {
                    threads[t as usize].cpu_gen == g && threads[t as usize].block == Block::Cpu
                })
            };
            match (cpu_at, ev_at) {
                (None, None) => break,
                (Some(c), _) => {
                    self.set_now(c);
                    if let Some((tid, _)) = self.w.cores.pop_finished() {
                        if debug {
                            let th = &self.w.threads[tid as usize];
                            eprintln!("  cpu done {tid} {:?} ops={:?}", th.seg, th.ops);
                        }
                        self.cpu_completions += 1;
                        self.cpu_done(tid);
                    }
                }
                _ => {
                    let Some((at, ev)) = self.w.q.pop() else {
                        break;
                    };
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
        if let Some(g) = &mut self.gil {
            g.finish_hold(self.w.now);
        }
        let first = self.arrivals.first_due.unwrap_or(0);
        let outcome = Outcome {
            wall: Duration::from_nanos(self.last_end.saturating_sub(first)),
            first_due: first,
            busy_ns: self.w.cores.busy_ns,
            events: self.w.q.popped + self.cpu_completions,
            held_back: self.arrivals.held_back,
            groups: std::mem::take(&mut self.groups),
            deployment,
        };
        let values = self.sync.counters.iter().map(|c| c.value).collect();
        Ok((outcome, self.w.trace.take(), self.gil.take(), values))
    }

    fn set_now(&mut self, t: Ns) {
        debug_assert!(t >= self.w.now, "time went backwards");
        self.w.now = t.max(self.w.now);
        self.w.q.set_now(self.w.now);
        // The share that held since the last event (`advance` leaves the
        // runnable count alone, so asking after it is the same).
        let ds = self.w.cores.advance(self.w.now);
        if ds > 0.0 && !self.sync.counters.is_empty() {
            let others_on_cores = self.w.cores.others_on_cores();
            for c in &mut self.sync.counters {
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
                if self.w.threads[tid as usize].gen == gen {
                    let runs_on = self
                        .gil
                        .as_mut()
                        .is_some_and(|g| g.timeout(&mut self.w, tid));
                    if runs_on {
                        self.resume(tid);
                    }
                }
            }
            Some(Ev::GilWoken(tid, gen)) => {
                if self.w.threads[tid as usize].gen == gen {
                    let runs_on = self.gil.as_mut().is_some_and(|g| g.woken(&mut self.w, tid));
                    if runs_on {
                        self.resume(tid);
                    }
                }
            }
            Some(Ev::IoDone(task)) => self.exec.io_done(&mut self.w, task),
            // Handled by `common_event`.
            Some(Ev::Open(_) | Ev::Closed(..) | Ev::Wake(..)) | None => {}
        }
    }

    /// Submits every due job a slot allows.
    pub fn admit(&mut self) {
        while let Some((due, id)) = self.arrivals.admit() {
            self.start(due, id);
        }
    }

    /// Starts job `id`, due at `due`, which has taken an in-flight slot.
    fn start(&mut self, due: Ns, id: JobId) {
        let task = self.w.new_task(id, due);
        self.dispatch(task);
    }

    /// A blocked thread's wait is over.
    fn wake_thread(&mut self, tid: Tid) {
        let th = &mut self.w.threads[tid as usize];
        let block = th.block;
        let began = th.wait_began;
        th.block = Block::No;
        match block {
            Block::Sleep(_) => {
                let waited = self.w.now - began;
                self.w.charge(tid, |t| &mut t.io, waited);
                self.w.span(tid, "step", began, Some("kind=io"));
            }
            Block::Lock => {
                self.w.charge(tid, |t| &mut t.lock_wait, self.w.now - began);
                self.w.span(tid, "lock_wait", began, None);
            }
            Block::Forced => GilState::forced_wait_over(self.gil.as_mut(), &mut self.w, tid),
            _ => {}
        }
        self.resume(tid);
    }

    /// Runs `tid`'s ops until one blocks it or it runs out of work.
    pub fn resume(&mut self, tid: Tid) {
        self.w.threads[tid as usize].block = Block::No;
        loop {
            let op = match self.w.threads[tid as usize].ops.pop_front() {
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
        let Some(task) = self.w.threads[tid as usize].task else {
            return self.exec.find_work(&mut self.w, tid);
        };
        let role = self.w.threads[tid as usize].role;
        if matches!(role, Role::Blocking | Role::Offload) {
            // An offloaded action's ops were queued whole; nothing follows.
            return self.exec.find_work(&mut self.w, tid);
        }
        let t = self.w.task(task);
        if t.ending {
            return false;
        }
        match t.cursor.next() {
            Some(action) => self.expand(tid, action),
            None => {
                self.w.task(task).ending = true;
                let complete = if self.exec.pooled() {
                    self.w.interp.complete
                } else {
                    0
                };
                let ops = &mut self.w.threads[tid as usize].ops;
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
        let lock_base = self.w.lock_base();
        let offload = self.exec.offloads(action);
        if offload.is_some() {
            if let Some(task) = self.w.threads[tid as usize].task {
                self.w.task(task).offload = Some(action);
            }
        }
        let c = self.w.interp;
        let ops = &mut self.w.threads[tid as usize].ops;
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
                _ => SyncOps {
                    gil,
                    lock_base,
                    io_call: c.io_call,
                }
                .push(action, ops),
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
            Op::GilAcquire => match &mut self.gil {
                Some(g) => g.acquire(&mut self.w, tid),
                None => Flow::Continue,
            },
            Op::GilRelease => match &mut self.gil {
                Some(g) => g.release(&mut self.w, tid),
                None => Flow::Continue,
            },
            Op::Cpu { ns, kind } => self.cpu_start(tid, ns, kind),
            Op::Sleep(ns) => {
                self.w
                    .sleep_then_wake(tid, Block::Sleep(ns), ns + self.w.costs.overshoot);
                Flow::Blocked
            }
            Op::AwaitIo(ns) => {
                Exec::await_io(&mut self.w, tid, ns);
                Flow::Continue
            }
            Op::Offload => {
                self.exec.offload(&mut self.w, tid);
                Flow::Continue
            }
            Op::LockTake(l) => self.sync.lock_take(&mut self.w, tid, l),
            Op::LockWait(l) => self.sync.lock_wait(&mut self.w, tid, l),
            Op::LockRelease(l) => {
                self.sync.lock_release(&mut self.w, l);
                Flow::Continue
            }
            Op::EndJob => {
                self.end_job(tid);
                Flow::Continue
            }
            Op::OffloadDone => {
                self.exec.offload_done(&mut self.w, tid);
                Flow::Continue
            }
            Op::Submit(task) => {
                self.exec.enqueue(&mut self.w, task);
                Flow::Continue
            }
        }
    }

    fn job_start(&mut self, tid: Tid) {
        let Some(task) = self.w.threads[tid as usize].task else {
            return;
        };
        let now = self.w.now;
        let serial = self.w.threads[tid as usize].serial;
        let t = self.w.task(task);
        if t.start.is_none() {
            t.start = Some(now);
            t.first_thread = serial;
            let due = t.due;
            self.w.span(tid, "queue", due, None);
        }
        // Pushed to the front in reverse: harness, then the interpreter's
        // first cost (`task` on an event loop; a pool's `submit` was
        // charged on its submitting thread).
        let first = if self.exec.is_async() {
            self.w.interp.task
        } else {
            0
        };
        let ops = &mut self.w.threads[tid as usize].ops;
        if first > 0 {
            ops.push_front(Op::Cpu {
                ns: first,
                kind: CpuKind::Interp,
            });
            ops.push_front(Op::GilAcquire);
        }
        if self.w.costs.job > 0 {
            ops.push_front(Op::Cpu {
                ns: self.w.costs.job,
                kind: CpuKind::Harness,
            });
        }
    }

    fn end_job(&mut self, tid: Tid) {
        let Some(task) = self.w.threads[tid as usize].task.take() else {
            return;
        };
        // Read in place (a task is a few hundred bytes: no move), then
        // dropped in its slot.
        let Some(t) = self.w.tasks[task as usize].as_ref() else {
            return;
        };
        let now = self.w.now;
        let start = t.start.unwrap_or(now);
        let measured = self.arrivals.measured(t.id);
        if measured {
            self.groups[t.id.group].record_ns(t.due, start, now, &t.times);
        }
        let latency = measured.then(|| now.saturating_sub(t.due));
        let (id, first_thread) = (t.id, t.first_thread);
        self.w.free_task(task);
        self.last_end = self.last_end.max(now);
        if let Some(tr) = &mut self.w.trace {
            let name = &self.w.plan.groups[id.group].name;
            tr.push(VirtualSpan {
                tid: first_thread,
                name: "job",
                start_ns: start,
                end_ns: now,
                args: Some(format!("group={name} job={}", id.index)),
            });
        }
        self.job_ended(task, latency);
        self.arrivals.job_done(now, id, &mut self.w.q);
        self.admit();
    }

    /// Starts a CPU segment of `ns` on the cores.
    fn cpu_start(&mut self, tid: Tid, ns: u64, kind: CpuKind) -> Flow {
        if let Some((c, stale)) = self.w.threads[tid as usize].pending_write.take() {
            self.sync.counters[c as usize].value = stale.wrapping_add(1);
        }
        if ns == 0 {
            return Flow::Continue;
        }
        let s = self.w.cores.service();
        if let CpuKind::Counter {
            counter,
            guard: Guard::None,
            ..
        } = kind
        {
            if !self.w.threads[tid as usize].holds_gil {
                let c = &mut self.sync.counters[counter as usize];
                c.active += 1;
                self.w.threads[tid as usize].counter_acc0 = c.acc;
            }
        }
        let th = &mut self.w.threads[tid as usize];
        th.cpu_gen = th.cpu_gen.wrapping_add(1);
        th.block = Block::Cpu;
        th.seg = Seg {
            ns,
            kind,
            start_t: self.w.now,
            start_s: s,
            stop: None,
        };
        let gen = th.cpu_gen;
        self.w.cores.run(tid, gen, s + ns as f64);
        // A drop request already pending is seen at the first check.
        if self.gil.as_ref().is_some_and(|g| g.drop_request)
            && self.w.threads[tid as usize].holds_gil
        {
            self.w.interrupt_holder(tid);
        }
        Flow::Blocked
    }

    /// A CPU segment ended (complete, or stopped at a drop request).
    fn cpu_done(&mut self, tid: Tid) {
        self.enter_thread(tid);
        let seg = self.w.threads[tid as usize].seg;
        self.w.threads[tid as usize].block = Block::No;
        let done = seg.stop.unwrap_or(seg.ns);
        let elapsed = self.w.now - seg.start_t;
        match seg.kind {
            CpuKind::Native => self.w.charge(tid, |t| &mut t.native, elapsed),
            CpuKind::Harness => {}
            _ => self.w.charge(tid, |t| &mut t.cpu, elapsed),
        }
        let label = match seg.kind {
            CpuKind::Native => "kind=native",
            CpuKind::Harness => "kind=harness",
            CpuKind::Counter { .. } => "kind=counter",
            CpuKind::Interp => "kind=cpu",
        };
        self.w.span(tid, "step", seg.start_t, Some(label));
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
            let share = self.w.plan.gil.counter_inside_share.clamp(0.0, 1.0);
            let inside = seg.stop.is_some() && switch_inside && self.w.rng.random_bool(share);
            let th = &mut self.w.threads[tid as usize];
            let stopped = seg.stop.is_some();
            self.sync
                .counter_progress(th, counter, guard, inside, done, stopped);
        }
        if seg.stop.is_some() {
            // The forced switch of `yield_forced`: release, let another
            // thread take the GIL, take it back, then finish the work.
            if let Some(g) = &mut self.gil {
                g.forced_switches += 1;
                g.noticed = Some((tid, self.w.now));
            }
            let rest = seg.ns - done;
            let ops = &mut self.w.threads[tid as usize].ops;
            ops.push_front(Op::Cpu {
                ns: rest,
                kind: seg.kind,
            });
            ops.push_front(Op::GilAcquire);
            ops.push_front(Op::GilRelease);
        }
        self.resume(tid);
    }

    /// Makes process `p` the active one (nothing with one process).
    fn enter(&mut self, p: u32) {
        if let Some(d) = self.deploy.as_deref_mut() {
            d.enter(p, &mut self.w, &mut self.gil, &mut self.exec);
        }
    }

    /// Activates the process of thread `tid`.
    fn enter_thread(&mut self, tid: Tid) {
        if self.deploy.is_some() {
            self.enter(self.w.process_of(tid).unwrap_or(0));
        }
    }

    /// Activates the process that event `ev` belongs to, if any.
    fn enter_for(&mut self, ev: &Ev) {
        let p = match self.deploy.as_deref() {
            Some(d) => d.process_of(&self.w, ev),
            None => return,
        };
        if let Some(p) = p {
            self.enter(p);
        }
    }

    /// Hands a job that entered the run to its process's backend.
    fn dispatch(&mut self, task: TaskId) {
        let Some(d) = self.deploy.as_deref_mut() else {
            self.exec.submit(&mut self.w, task);
            return;
        };
        let id = match self.w.tasks.get(task as usize) {
            Some(Some(t)) => t.id,
            _ => return,
        };
        let prev = self.w.active_process;
        if let Some(p) = d.place(task, id) {
            self.enter(p);
            self.exec.submit(&mut self.w, task);
            self.enter(prev);
        }
    }

    /// `task`'s job ended on the active process; with a shared accept
    /// queue, that process's freed worker takes the next job.
    fn job_ended(&mut self, task: TaskId, latency: Option<Ns>) {
        let next = self
            .deploy
            .as_deref_mut()
            .and_then(|d| d.job_ended(task, latency));
        if let Some((p, next)) = next {
            self.enter(p);
            self.exec.submit(&mut self.w, next);
        }
    }

    /// `action` with its locks and counters pointed at the active process's.
    fn localize(&self, action: Action) -> Action {
        match self.deploy.as_deref() {
            Some(d) => d.localize(self.w.active_process, action),
            None => action,
        }
    }

    /// Ends the deployment: process 0 back in the simulator, and what each
    /// process measured.
    fn leave_deployment(&mut self) -> Option<DeployOutcome> {
        self.enter(0);
        self.deploy.take().map(|d| d.finish())
    }
}

impl<'p> Runner<'p> for Sim<'p> {
    #[inline]
    fn driver(&mut self) -> (&mut Arrivals<'p>, &mut EventQueue<Ev>, Ns) {
        (&mut self.arrivals, &mut self.w.q, self.w.now)
    }

    fn start(&mut self, due: Ns, id: JobId) {
        Sim::start(self, due, id);
    }

    fn admit(&mut self) {
        Sim::admit(self);
    }

    #[inline]
    fn live(&self, tid: u32, gen: u32) -> bool {
        self.w.threads[tid as usize].gen == gen
    }

    fn wake(&mut self, tid: u32) {
        self.wake_thread(tid);
    }
}
