//! Deployments of several processes in virtual time (SPEC §2 `processes`,
//! `dispatch`), as `backend::processes` runs them on the real engine: P
//! independent copies of the backend, each with its own GIL, its own
//! workers or executor (and offload pools), its own application locks and
//! its own counters, all sharing the model's N virtual cores; each arriving
//! job goes to one process.
//!
//! How it fits the simulator without a cost for one process:
//! - The simulator keeps one process's GIL and executor in its own fields:
//!   the *active* process. The others wait parked here, and
//!   [`Deployment::enter`] swaps process p in before anything of p runs: an event
//!   of one of its threads or tasks, a CPU completion on one of its
//!   threads, a job dispatched to it. A process only ever touches its own
//!   GIL, executor, locks and counters, so nothing else needs to know.
//!   With one process there is no [`Deployment`] and nothing is swapped.
//! - Locks and counters are not swapped: the simulator's tables hold every
//!   process's (locks: every process's application locks, then every
//!   process's counter locks; counters: process by process), and a job's
//!   actions are pointed at its own process's ([`Deployment::localize`]).
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
use super::ops::{Ev, TaskId};
use super::world::World;
use crate::backend::{dispatch_capacity, random_process};
use crate::config::Dispatch;
use crate::metrics::new_histogram;
use crate::plan::Action;

/// The processes of a model run with `processes > 1`. Which process is
/// active, and each thread's process, are the world's
/// ([`World::active_process`], [`World::thread_process`]): threads are made
/// there.
pub(super) struct Deployment {
    /// Every process's GIL and executor; the active one's slot holds
    /// placeholders while it is in the simulator.
    parked: Vec<Parked>,
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
    /// Builds processes 1.. of `w.spec` (when it has more than one) in
    /// `w`; the simulator's own GIL and executor are process 0's. `None`
    /// with one process.
    pub fn attach(w: &mut World<'_>, cores: usize) -> Option<Box<Self>> {
        let n = w.spec.processes;
        if n <= 1 {
            return None;
        }
        let plan = w.plan;
        let gil = w.spec.gil;
        w.thread_process = Some(vec![0; w.threads.len()]);
        let mut parked = Vec::with_capacity(n);
        for p in 0..n {
            w.active_process = p as u32;
            parked.push(Parked {
                // Only the first process's GIL keeps its holds (the
                // trace's one GIL track, as on the real engine).
                gil: (p > 0 && gil).then(|| GilState::new(plan.gil, false)),
                exec: if p > 0 {
                    Exec::for_spec(w, cores)
                } else {
                    Exec::Unset
                },
            });
        }
        w.active_process = 0;
        Some(Box::new(Self {
            parked,
            task_proc: Vec::new(),
            dispatch: w.spec.dispatch,
            capacity: dispatch_capacity(w.spec, cores),
            seed: plan.seed,
            in_flight: vec![0; n],
            queue: VecDeque::new(),
            next: 0,
            locks: plan.locks.len(),
            counters: plan.counters.len(),
            jobs: vec![0; n],
            latency: (0..n).map(|_| new_histogram()).collect(),
        }))
    }

    /// Makes process `p` the active one: its GIL and executor go into
    /// `gil` and `exec`, the active one's are parked.
    pub fn enter(
        &mut self,
        p: u32,
        w: &mut World<'_>,
        gil: &mut Option<GilState>,
        exec: &mut Exec,
    ) {
        let a = w.active_process;
        if a == p {
            return;
        }
        let (a, p) = (a as usize, p as usize);
        std::mem::swap(gil, &mut self.parked[a].gil);
        std::mem::swap(exec, &mut self.parked[a].exec);
        std::mem::swap(gil, &mut self.parked[p].gil);
        std::mem::swap(exec, &mut self.parked[p].exec);
        w.active_process = p as u32;
    }

    /// The process that event `ev` belongs to, if any.
    pub fn process_of(&self, w: &World<'_>, ev: &Ev) -> Option<u32> {
        match *ev {
            Ev::Wake(t, _) | Ev::GilTimeout(t, _) | Ev::GilWoken(t, _) => w.process_of(t),
            Ev::IoDone(task) => self.task_proc.get(task as usize).copied(),
            Ev::Open(_) | Ev::Closed(..) => None,
        }
    }

    /// Where `dispatch` sends the job of `task` (`None`: it waits in the
    /// shared queue); counts it in flight there.
    pub fn place(&mut self, task: TaskId, id: crate::plan::JobId) -> Option<u32> {
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

    /// `task`'s job ended on its process, `latency` after it was due when
    /// it is measured (past any warm-up). With `dispatch = "shared_queue"`
    /// that process's freed worker takes the next job of the shared queue,
    /// as the real engine's does: returns that process and job, to submit.
    pub fn job_ended(&mut self, task: TaskId, latency: Option<Ns>) -> Option<(u32, TaskId)> {
        let p = self.task_proc.get(task as usize).copied().unwrap_or(0) as usize;
        if let Some(ns) = latency {
            self.jobs[p] += 1;
            self.latency[p].saturating_record(ns / 1_000);
        }
        self.in_flight[p] = self.in_flight[p].saturating_sub(1);
        if !self.has_room(p) {
            return None;
        }
        let next = self.queue.pop_front()?;
        self.in_flight[p] += 1;
        set(&mut self.task_proc, next, p as u32);
        Some((p as u32, next))
    }

    /// `action` with its lock and counter ids pointed at process
    /// `active`'s own.
    pub fn localize(&self, active: u32, action: Action) -> Action {
        let p = active as usize;
        match action {
            Action::Lock { lock, cpu } => Action::Lock {
                lock: lock + p * self.locks,
                cpu,
            },
            Action::Counter {
                counter,
                add,
                guard,
                switch_inside,
            } => Action::Counter {
                counter: counter + p * self.counters,
                add,
                guard,
                switch_inside,
            },
            other => other,
        }
    }

    /// What each process measured (process 0 must be the active one, so
    /// that the other processes' GILs are all parked).
    pub fn finish(self) -> DeployOutcome {
        DeployOutcome {
            jobs: self.jobs,
            latency: self.latency,
            other_gils: self.parked.into_iter().skip(1).map(|p| p.gil).collect(),
        }
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
