//! What every part of the simulator acts on: the virtual clock and its
//! event queue, the cores, the modelled threads and the jobs in flight,
//! with the run's costs, its own random stream and the trace.
//!
//! The GIL (`gil.rs`), locks and counters (`sync.rs`), the backends'
//! placement (`exec.rs`) and deployments (`deploy.rs`) each keep their own
//! state and act on a `World` handed to them; `sim.rs` owns them all and
//! runs the threads' micro-ops. So data flows one way: `sim.rs` above the
//! parts, the parts above this file, this file above the vocabulary
//! (`ops.rs`).

use std::collections::VecDeque;
use std::time::Duration;

use rand::SeedableRng;
use rand_pcg::Pcg64Mcg;

use super::clock::{EventQueue, Ns};
use super::cores::Cores;
use super::costs::Costs;
use super::ops::{Block, CostNs, CpuKind, Ev, InterpNs, Role, Task, TaskId, Thread, Tid};
use crate::config::BackendSpec;
use crate::metrics::sim::VirtualSpan;
use crate::metrics::TimeBreakdown;
use crate::plan::{JobId, Plan};
use crate::work::counter::INCREMENT_COST;

/// The simulator's shared state (see the module doc).
pub(super) struct World<'p> {
    pub plan: &'p Plan,
    pub spec: &'p BackendSpec,
    pub costs: CostNs,
    /// `[gil.cost]` in ns (all zero without a GIL, as on the real engine).
    pub interp: InterpNs,
    /// The GIL's tick of interpreted work between eval-breaker checks.
    pub tick_ns: u64,
    pub now: Ns,
    pub q: EventQueue<Ev>,
    pub cores: Cores,
    pub threads: Vec<Thread>,
    free_threads: Vec<Tid>,
    next_serial: u64,
    pub tasks: Vec<Option<Task<'p>>>,
    free_tasks: Vec<TaskId>,
    pub trace: Option<TraceLog>,
    /// The model's own draws (timer slack, where a counter switch lands),
    /// seeded from the plan's seed: same seed, same run.
    pub rng: Pcg64Mcg,
    /// With `processes > 1`: the process of each thread slot (set when a
    /// thread is made, from [`World::active_process`]).
    pub thread_process: Option<Vec<u32>>,
    /// The process whose GIL and executor the simulator holds now
    /// (`deploy.rs`); 0 with one process.
    pub active_process: u32,
}

impl<'p> World<'p> {
    /// A world for `plan` on `spec` with `cores` virtual cores, no thread
    /// and no job yet.
    pub fn new(
        plan: &'p Plan,
        spec: &'p BackendSpec,
        cores: usize,
        costs: &Costs,
        trace: bool,
    ) -> Self {
        Self {
            plan,
            spec,
            costs: CostNs::from(costs),
            interp: interp_ns(plan, spec),
            tick_ns: (plan.gil.tick.as_nanos() as u64).max(1),
            now: 0,
            q: EventQueue::new(),
            cores: Cores::new(cores),
            threads: Vec::new(),
            free_threads: Vec::new(),
            next_serial: 1,
            tasks: Vec::new(),
            free_tasks: Vec::new(),
            trace: trace.then(TraceLog::default),
            rng: Pcg64Mcg::seed_from_u64(plan.seed ^ 0x6d6f_6465_6c00_0000),
            thread_process: None,
            active_process: 0,
        }
    }

    /// A task for job `id`, due at `due`, in a free slot.
    pub fn new_task(&mut self, id: JobId, due: Ns) -> TaskId {
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

    /// Frees the slot of the ended task `id`.
    pub fn free_task(&mut self, id: TaskId) {
        self.tasks[id as usize] = None;
        self.free_tasks.push(id);
    }

    /// The live task `id`.
    pub fn task(&mut self, id: TaskId) -> &mut Task<'p> {
        // A task id is only handed out while its task lives.
        self.tasks[id as usize].as_mut().expect("live task id")
    }

    /// A new thread (idle until given work), of the active process.
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
        let t = Thread::new(serial, role, gil_ctx);
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
        if let Some(procs) = &mut self.thread_process {
            let i = tid as usize;
            if procs.len() <= i {
                procs.resize(i + 1, 0);
            }
            procs[i] = self.active_process;
        }
        tid
    }

    /// The process of thread `tid`, when the run has several (`None` with
    /// one process, or for a slot never made).
    pub fn process_of(&self, tid: Tid) -> Option<u32> {
        self.thread_process.as_ref()?.get(tid as usize).copied()
    }

    /// Frees a finished job thread's slot.
    pub fn end_thread(&mut self, tid: Tid) {
        let th = &mut self.threads[tid as usize];
        th.gen = th.gen.wrapping_add(1);
        th.block = Block::Idle;
        th.ops.clear();
        self.free_threads.push(tid);
    }

    /// Blocks `tid` for `delay`, then resumes it through a wake-up.
    pub fn sleep_then_wake(&mut self, tid: Tid, block: Block, delay: Ns) {
        let th = &mut self.threads[tid as usize];
        th.gen = th.gen.wrapping_add(1);
        th.block = block;
        th.wait_began = self.now;
        let gen = th.gen;
        self.q.push(self.now + delay, Ev::Wake(tid, gen));
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

    /// The tick at which a segment of `kind` checks the drop request.
    fn check_every(&self, kind: CpuKind) -> Option<u64> {
        match kind {
            CpuKind::Interp => Some(self.tick_ns),
            CpuKind::Counter { .. } => Some(INCREMENT_COST.as_nanos() as u64),
            _ => None,
        }
    }

    /// The index of the first counter lock (`guard = "lock"`) in the lock
    /// table: after every process's application locks.
    pub fn lock_base(&self) -> u32 {
        (self.plan.locks.len() * self.spec.processes.max(1)) as u32
    }
}

/// `[gil.cost]` in ns: all zero without a GIL, as on the real engine.
fn interp_ns(plan: &Plan, spec: &BackendSpec) -> InterpNs {
    if !spec.gil {
        return InterpNs::default();
    }
    let c = &plan.gil.cost;
    let ns = |d: Duration| d.as_nanos() as u64;
    InterpNs {
        task: ns(c.task),
        resume: ns(c.resume),
        io_call: ns(c.io_call),
        submit: ns(c.submit),
        complete: ns(c.complete),
    }
}

/// Spans collected for a trace, up to a cap.
#[derive(Debug, Default)]
pub(crate) struct TraceLog {
    /// The spans, in the order they ended.
    pub spans: Vec<VirtualSpan>,
    /// Thread serials and names.
    pub names: Vec<(u64, String)>,
    /// Spans left out beyond the cap.
    pub dropped: u64,
}

impl TraceLog {
    /// Keeps `s`, unless the cap is reached.
    pub fn push(&mut self, s: VirtualSpan) {
        if self.spans.len() < crate::trace::DEFAULT_LIMIT {
            self.spans.push(s);
        } else {
            self.dropped += 1;
        }
    }

    /// Names thread `serial`'s track.
    pub fn name_thread(&mut self, serial: u64, name: String) {
        if self.names.len() < crate::trace::DEFAULT_LIMIT {
            self.names.push((serial, name));
        }
    }
}
