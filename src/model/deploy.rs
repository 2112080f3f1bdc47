//! Deployments of several processes in virtual time (SPEC §2 `processes`,
//! `dispatch`), as `backend::processes` runs them on the real engine: P
//! independent copies of the backend, each with its own GIL, its own
//! workers or executor (and offload pools), its own application locks and
//! its own counters, all sharing the model's N virtual cores; each arriving
//! job goes to one process.
//!
//! How it fits the simulator without a cost for one process:
//! - The simulator keeps one process's GIL and executor in `Sim::gil` and
//!   `Sim::exec`: the *active* process. The others wait parked here, and
//!   [`Sim::enter`] swaps process p in before anything of p runs: an event
//!   of one of its threads or tasks, a CPU completion on one of its
//!   threads, a job dispatched to it. A process only ever touches its own
//!   GIL, executor, locks and counters, so nothing else needs to know.
//!   With one process there is no [`Deployment`] and nothing is swapped.
//! - Locks and counters are not swapped: the simulator's tables hold every
//!   process's (locks: every process's application locks, then every
//!   process's counter locks; counters: process by process), and a job's
//!   actions are pointed at its own process's ([`Sim::localize`]).
//! - Dispatch makes the real engine's choices (`backend::processes`):
//!   `shared_queue` gives a job to the process with a free worker and the
//!   fewest jobs in flight (ties rotate), else queues it in one accept queue
//!   that the next worker to finish takes from; `random` hashes the seed and
//!   the job's id with the same function, so both engines send every job to
//!   the same process.

use std::collections::VecDeque;

use hdrhistogram::Histogram;

use super::clock::Ns;
use super::exec::Exec;
use super::gil::GilState;
use super::sim::{Ev, Sim, TaskId, Tid};
use super::sync::{CounterState, LockState};
use crate::backend::{dispatch_capacity, random_process};
use crate::config::Dispatch;
use crate::metrics::new_histogram;
use crate::plan::Action;

/// The processes of a model run with `processes > 1`.
pub(super) struct Deployment {
    /// The process whose GIL and executor are in the simulator now.
    active: u32,
    /// Every process's GIL and executor; the active one's slot holds
    /// placeholders while it is in the simulator.
    parked: Vec<Parked>,
    /// The process of each thread slot (set when a thread is made).
    thread_proc: Vec<u32>,
    /// The process of each task slot (set when its job is dispatched).
    task_proc: Vec<u32>,
    dispatch: Dispatch,
    /// Jobs a process can run at once, for backends with a fixed number of
    /// workers; `None` when a process always takes another job.
    capacity: Option<usize>,
    seed: u64,
    /// Jobs handed to each process and not yet ended.
    in_flight: Vec<usize>,
    /// The shared accept queue (every worker of every process busy).
    queue: VecDeque<TaskId>,
    /// Where the search for the least busy process starts, rotating.
    next: usize,
    /// Application locks and counters per process.
    locks: usize,
    counters: usize,
    /// Measured jobs (past any warm-up) and their latency (µs) per process.
    jobs: Vec<u64>,
    latency: Vec<Histogram<u64>>,
}

/// A process's state while another one is active.
struct Parked {
    gil: Option<GilState>,
    exec: Exec,
}

/// What a deployment measured, per process in order. The first process's
/// GIL is not here: it is the one the simulator hands back as the run's.
pub(super) struct DeployOutcome {
    /// Measured jobs per process.
    pub jobs: Vec<u64>,
    /// Their latency (completion − due), µs, per process.
    pub latency: Vec<Histogram<u64>>,
    /// The GIL of processes 1.. (`None` without a GIL).
    pub other_gils: Vec<Option<GilState>>,
}

impl Deployment {
    /// Builds the processes of `sim.spec` (when it has more than one) in
    /// `sim`, whose own GIL and executor become process 0's.
    pub fn attach(sim: &mut Sim<'_>, cores: usize) {
        let n = sim.spec.processes;
        if n <= 1 {
            return;
        }
        let plan = sim.plan;
        let (locks, counters) = (plan.locks.len(), plan.counters.len());
        sim.locks = (0..(locks + counters) * n)
            .map(|_| LockState::default())
            .collect();
        sim.counters = (0..counters * n).map(|_| CounterState::default()).collect();
        let gil = sim.spec.gil;
        sim.deploy = Some(Box::new(Deployment {
            active: 0,
            parked: (0..n)
                .map(|p| Parked {
                    // Only the first process's GIL keeps its holds (the
                    // trace's one GIL track, as on the real engine).
                    gil: (p > 0 && gil).then(|| GilState::new(plan.gil, false)),
                    exec: Exec::Unset,
                })
                .collect(),
            thread_proc: vec![0; sim.threads.len()],
            task_proc: Vec::new(),
            dispatch: sim.spec.dispatch,
            capacity: dispatch_capacity(sim.spec, cores),
            seed: plan.seed,
            in_flight: vec![0; n],
            queue: VecDeque::new(),
            next: 0,
            locks,
            counters,
            jobs: vec![0; n],
            latency: (0..n).map(|_| new_histogram()).collect(),
        }));
        for p in 1..n {
            sim.enter(p as u32);
            sim.exec = Exec::for_spec(sim, cores);
        }
        sim.enter(0);
    }

    /// Where `dispatch` sends the job of `task` (`None`: it waits in the
    /// shared queue); counts it in flight there.
    fn place(&mut self, task: TaskId, id: crate::plan::JobId) -> Option<u32> {
        let n = self.in_flight.len();
        let p = match self.dispatch {
            Dispatch::Random => Some(random_process(self.seed, id, n)),
            Dispatch::SharedQueue => {
                let start = self.next;
                let free = (0..n)
                    .map(|i| (start + i) % n)
                    .filter(|&p| self.has_room(p))
                    .min_by_key(|&p| self.in_flight[p]);
                if free.is_none() {
                    self.queue.push_back(task);
                }
                self.next = (start + 1) % n;
                free
            }
        };
        p.map(|p| {
            self.in_flight[p] += 1;
            set(&mut self.task_proc, task, p as u32);
            p as u32
        })
    }

    fn has_room(&self, p: usize) -> bool {
        self.capacity.map_or(true, |c| self.in_flight[p] < c)
    }
}

/// `v[i] = x`, growing `v` as needed (slots are reused, ids stay small).
fn set(v: &mut Vec<u32>, i: u32, x: u32) {
    let i = i as usize;
    if v.len() <= i {
        v.resize(i + 1, 0);
    }
    v[i] = x;
}

impl Sim<'_> {
    /// Makes process `p` the active one (its GIL and executor in the
    /// simulator). Nothing without a deployment or when `p` is active.
    pub(super) fn enter(&mut self, p: u32) {
        let Some(d) = self.deploy.as_deref_mut() else {
            return;
        };
        if d.active == p {
            return;
        }
        let (a, p) = (d.active as usize, p as usize);
        std::mem::swap(&mut self.gil, &mut d.parked[a].gil);
        std::mem::swap(&mut self.exec, &mut d.parked[a].exec);
        std::mem::swap(&mut self.gil, &mut d.parked[p].gil);
        std::mem::swap(&mut self.exec, &mut d.parked[p].exec);
        d.active = p as u32;
    }

    /// Activates the process of thread `tid`.
    pub(super) fn enter_thread(&mut self, tid: Tid) {
        if let Some(d) = self.deploy.as_deref() {
            let p = d.thread_proc.get(tid as usize).copied().unwrap_or(0);
            self.enter(p);
        }
    }

    /// Activates the process that event `ev` belongs to, if any.
    pub(super) fn enter_for(&mut self, ev: &Ev) {
        let Some(d) = self.deploy.as_deref() else {
            return;
        };
        let p = match *ev {
            Ev::Wake(t, _) | Ev::GilTimeout(t, _) | Ev::GilWoken(t, _) => {
                d.thread_proc.get(t as usize)
            }
            Ev::IoDone(task) => d.task_proc.get(task as usize),
            Ev::Open(_) | Ev::Closed(..) => None,
        };
        if let Some(&p) = p {
            self.enter(p);
        }
    }

    /// A thread was made in slot `tid`: it belongs to the active process.
    pub(super) fn thread_born(&mut self, tid: Tid) {
        if let Some(d) = self.deploy.as_deref_mut() {
            let p = d.active;
            set(&mut d.thread_proc, tid, p);
        }
    }

    /// Hands a job that entered the run to its process.
    pub(super) fn dispatch(&mut self, task: TaskId) {
        let Some(d) = self.deploy.as_deref_mut() else {
            self.submit(task);
            return;
        };
        let id = match self.tasks.get(task as usize) {
            Some(Some(t)) => t.id,
            _ => return,
        };
        let prev = d.active;
        if let Some(p) = d.place(task, id) {
            self.enter(p);
            self.submit(task);
            self.enter(prev);
        }
    }

    /// `task`'s job ended on its process's thread (the active process),
    /// `latency` after it was due when it is measured (past any warm-up).
    /// With `dispatch = "shared_queue"`, that process's freed worker takes
    /// the next job of the shared queue, as the real engine's does.
    pub(super) fn job_ended(&mut self, task: TaskId, latency: Option<Ns>) {
        let Some(d) = self.deploy.as_deref_mut() else {
            return;
        };
        let p = d.task_proc.get(task as usize).copied().unwrap_or(0) as usize;
        if let Some(ns) = latency {
            d.jobs[p] += 1;
            d.latency[p].saturating_record(ns / 1_000);
        }
        d.in_flight[p] = d.in_flight[p].saturating_sub(1);
        if !d.has_room(p) {
            return;
        }
        let Some(next) = d.queue.pop_front() else {
            return;
        };
        d.in_flight[p] += 1;
        set(&mut d.task_proc, next, p as u32);
        self.enter(p as u32);
        self.submit(next);
    }

    /// The index of the first counter lock (`guard = "lock"`) in the lock
    /// table: after every process's application locks.
    pub(super) fn lock_base(&self) -> u32 {
        let processes = self.deploy.as_deref().map_or(1, |d| d.parked.len());
        (self.plan.locks.len() * processes) as u32
    }

    /// `action` with its lock and counter ids pointed at the active
    /// process's own.
    pub(super) fn localize(&self, action: Action) -> Action {
        let Some(d) = self.deploy.as_deref() else {
            return action;
        };
        let p = d.active as usize;
        match action {
            Action::Lock { lock, cpu } => Action::Lock {
                lock: lock + p * d.locks,
                cpu,
            },
            Action::Counter {
                counter,
                add,
                guard,
                switch_inside,
            } => Action::Counter {
                counter: counter + p * d.counters,
                add,
                guard,
                switch_inside,
            },
            other => other,
        }
    }

    /// Ends the deployment: process 0 back in the simulator, and what each
    /// process measured.
    pub(super) fn leave_deployment(&mut self) -> Option<DeployOutcome> {
        self.enter(0);
        let d = self.deploy.take()?;
        Some(DeployOutcome {
            jobs: d.jobs,
            latency: d.latency,
            other_gils: d.parked.into_iter().skip(1).map(|p| p.gil).collect(),
        })
    }
}

/// Each counter's value summed over the processes: `values` holds every
/// process's counters, process by process, `counters` per process.
pub(super) fn sum_counters(values: &[u64], counters: usize) -> Vec<u64> {
    let mut out = vec![0u64; counters];
    if counters == 0 {
        return out;
    }
    for chunk in values.chunks(counters) {
        for (o, v) in out.iter_mut().zip(chunk) {
            *o = o.wrapping_add(*v);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_add_up_over_processes() {
        assert_eq!(sum_counters(&[1, 2, 10, 20, 100, 200], 2), vec![111, 222]);
        assert_eq!(sum_counters(&[5, 6], 2), vec![5, 6]);
        assert!(sum_counters(&[], 0).is_empty());
    }
}
