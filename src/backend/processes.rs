//! Deployments of several processes (SPEC §2 `processes`, `dispatch`): P
//! independent copies of one backend, each with its own GIL, workers,
//! locks and counters, sharing the machine's cores, like `gunicorn -w P`.
//!
//! Every kind of backend works unchanged: a process is one launch of the
//! backend with its own [`RunShared`], and [`MultiProcess`] is an
//! [`Executor`] that owns the P launched executors and decides which one
//! gets each job. A job's end is seen on its own worker thread (the
//! [`AfterJob`] hook), which is where a freed worker takes the next job
//! from the shared accept queue: no extra thread, no extra hop.
//!
//! With one process nothing of this is in the way: the backend is launched
//! on one [`RunShared`] exactly as before (with a [`ClientChain`] when the
//! plan has closed-loop groups; a deployment of several processes sends
//! every closed-loop completion through the driver).

use std::collections::VecDeque;
use std::sync::{Arc, Weak};

use crossbeam_channel::Sender;
use parking_lot::{Mutex, RwLock};

use super::chain::{Chained, ClientChain};
use super::{Backend, Executor, RunOptions};
use crate::config::{BackendKind, BackendSpec, Dispatch};
use crate::error::RunError;
use crate::exec::{AfterJob, Bell, Done, JobTicket, NextJob, RunShared};
use crate::metrics::{new_histogram, GroupMetrics, ProcessMeasurement};
use crate::plan::{ArrivalPlan, JobId, Plan};
use crate::stamp::Stamp;
use crate::work::counter::CounterResult;
use crate::work::gil::{Gil, GilStats, Hold};

/// The launched processes of one run.
pub(super) struct Deployment {
    /// Where the driver submits jobs.
    pub executor: Box<dyn Executor>,
    /// Rung by every process's jobs after each completion: wakes the driver.
    pub bell: Arc<Bell>,
    shared: Vec<Arc<RunShared>>,
    dispatcher: Option<Arc<Dispatcher>>,
    /// Lets closed-loop clients go on where their jobs end (one process;
    /// see [`ClientChain`]).
    pub chain: Option<Arc<ClientChain>>,
}

/// What a deployment measured, merged over its processes.
pub(super) struct Finished {
    /// Per group, in plan order, over every process.
    pub groups: Vec<GroupMetrics>,
    /// Mean kernel speed of the processes that sampled one.
    pub kernel_speed: Option<f64>,
    /// All processes' GIL figures added up.
    pub gil: Option<GilStats>,
    /// The first process's GIL holds (one GIL track in a trace).
    pub gil_holds: Vec<Hold>,
    /// Counters, observed values summed over the processes.
    pub counters: Vec<CounterResult>,
    /// The first job (or dispatch) that failed.
    pub failure: Option<String>,
    /// One entry per process when there is more than one.
    pub processes: Vec<ProcessMeasurement>,
}

impl Deployment {
    /// Launches `spec.processes` copies of `backend`; their jobs report to
    /// `done`.
    pub fn launch(
        spec: &BackendSpec,
        backend: &dyn Backend,
        plan: &Arc<Plan>,
        opts: &RunOptions<'_>,
        done: Sender<Done>,
        cores: usize,
    ) -> Result<Self, RunError> {
        let processes = spec.processes.max(1);
        let bell = Arc::new(Bell::default());
        let new_shared = |p: usize| {
            let gil = spec.gil.then(|| {
                let g = Gil::new(plan.gil);
                // A trace has one GIL track per run: the first process's.
                match (p, opts.record_gil_holds) {
                    (0, true) => g.with_hold_log(),
                    // The report's GIL timeline draws a window from the
                    // first process's start.
                    (0, false) => g.with_bounded_hold_log(crate::metrics::GIL_HOLDS_KEPT),
                    _ => g,
                }
            });
            RunShared::new(plan.clone(), opts.calibration, gil, done.clone())
                .with_warmup(opts.warmup_jobs)
                .with_bell(bell.clone())
                .sending_only(closed_groups(plan))
        };
        if processes == 1 {
            let chain = ClientChain::applies(plan, backend.queues_alike_from_workers())
                .then(|| ClientChain::for_plan(plan, opts.warmup_jobs))
                .flatten();
            let mut one = new_shared(0);
            if let Some(c) = &chain {
                let c = c.clone();
                one = one.with_next_job(NextJob(Box::new(move |d| c.on_done(d))));
            }
            let shared = Arc::new(one);
            let mut executor = backend.launch(shared.clone())?;
            if let Some(c) = &chain {
                c.set_executor(executor);
                executor = Box::new(Chained(c.clone()));
            }
            return Ok(Self {
                executor,
                bell,
                shared: vec![shared],
                dispatcher: None,
                chain,
            });
        }
        let dispatcher = Arc::new(Dispatcher::new(
            spec,
            plan.seed,
            cores,
            done.clone(),
            bell.clone(),
        ));
        let mut shared = Vec::with_capacity(processes);
        let mut launched: Vec<Box<dyn Executor>> = Vec::with_capacity(processes);
        for p in 0..processes {
            let weak: Weak<Dispatcher> = Arc::downgrade(&dispatcher);
            let hook = AfterJob(Box::new(move |d: Done| {
                if let Some(disp) = weak.upgrade() {
                    disp.on_done(p, d);
                }
            }));
            let s = Arc::new(new_shared(p).with_after_job(hook));
            match backend.launch(s.clone()) {
                Ok(e) => launched.push(e),
                Err(e) => {
                    for l in launched {
                        l.shutdown();
                    }
                    return Err(e);
                }
            }
            shared.push(s);
        }
        *dispatcher.procs.write() = launched;
        Ok(Self {
            executor: Box::new(MultiProcess {
                dispatcher: dispatcher.clone(),
            }),
            bell,
            shared,
            dispatcher: Some(dispatcher),
            chain: None,
        })
    }

    /// A handle that cancels the jobs in flight in every process
    /// ([`RunShared::cancel`]), usable while the deployment is driven.
    pub fn canceller(&self) -> impl Fn() + 'static {
        let shared = self.shared.clone();
        move || shared.iter().for_each(|s| s.cancel())
    }

    /// Stops every process and merges what they measured. With `abandon`
    /// (jobs still running after a stop's grace period) the engines are left
    /// running unjoined instead: joining could take as long as the longest
    /// step, and the process exits once the reports are written.
    pub fn finish(self, abandon: bool) -> Finished {
        if abandon {
            std::mem::forget(self.executor);
        } else {
            self.executor.shutdown();
        }
        let dispatch_failure = self
            .dispatcher
            .as_ref()
            .and_then(|d| d.failure.lock().clone());
        let per: Vec<Vec<GroupMetrics>> = self.shared.iter().map(|s| s.recorder.finish()).collect();
        let mut groups = per[0].clone();
        for other in &per[1..] {
            for (g, o) in groups.iter_mut().zip(other) {
                g.merge(o);
            }
        }
        let stats: Vec<Option<GilStats>> = self
            .shared
            .iter()
            .map(|s| s.gil.as_ref().map(Gil::stats))
            .collect();
        let processes = if self.shared.len() > 1 {
            per.iter()
                .zip(&stats)
                .map(|(groups, gil)| process_figures(groups, gil.clone()))
                .collect()
        } else {
            Vec::new()
        };
        let speeds: Vec<f64> = self.shared.iter().filter_map(|s| s.speed.speed()).collect();
        Finished {
            groups,
            kernel_speed: (!speeds.is_empty())
                .then(|| speeds.iter().sum::<f64>() / speeds.len() as f64),
            gil: merge_gil(stats),
            gil_holds: self.shared[0]
                .gil
                .as_ref()
                .map(Gil::holds)
                .unwrap_or_default(),
            counters: merge_counters(&self.shared),
            failure: self
                .shared
                .iter()
                .find_map(|s| s.failure())
                .or(dispatch_failure),
            processes,
        }
    }
}

fn process_figures(groups: &[GroupMetrics], gil: Option<GilStats>) -> ProcessMeasurement {
    let mut latency = new_histogram();
    for g in groups {
        // Same bounds everywhere, so adding cannot fail.
        let _ = latency.add(&g.latency);
    }
    ProcessMeasurement {
        jobs: groups.iter().map(|g| g.jobs).sum(),
        latency,
        gil,
    }
}

/// Adds up the processes' GIL figures (histograms merge exactly; the
/// model engine adds up its processes' with it too).
pub(crate) fn merge_gil(stats: Vec<Option<GilStats>>) -> Option<GilStats> {
    let mut it = stats.into_iter().flatten();
    let mut total = it.next()?;
    for s in it {
        total.acquisitions += s.acquisitions;
        total.forced_switches += s.forced_switches;
        total.requester_wakes += s.requester_wakes;
        total.wait += s.wait;
        let _ = total.hold_us.add(&s.hold_us);
        let _ = total.handoff_us.add(&s.handoff_us);
    }
    Some(total)
}

/// Each process has its own counters (processes share no memory); the
/// plan's expected total is against the sum of what they observed.
fn merge_counters(shared: &[Arc<RunShared>]) -> Vec<CounterResult> {
    let mut out = shared[0].counter_results();
    for s in &shared[1..] {
        for (o, c) in out.iter_mut().zip(s.counter_results()) {
            o.observed += c.observed;
        }
    }
    for o in &mut out {
        o.lost = o.expected.saturating_sub(o.observed);
    }
    out
}

/// Which process runs each job, and the shared accept queue.
struct Dispatcher {
    dispatch: Dispatch,
    /// Jobs a process can run at once (its workers), for backends with a
    /// fixed number; `None` when a process always takes another job.
    capacity: Option<usize>,
    seed: u64,
    state: Mutex<State>,
    /// The processes' executors; emptied at shutdown.
    procs: RwLock<Vec<Box<dyn Executor>>>,
    failure: Mutex<Option<String>>,
    /// The driver's completion channel, for a job that could not be handed
    /// to its process (so the driver does not wait for it forever).
    done: Sender<Done>,
    /// Rung after such a completion, like a job's own.
    bell: Arc<Bell>,
}

struct State {
    in_flight: Vec<usize>,
    /// The shared accept queue (dispatch = shared_queue, every worker busy).
    queue: VecDeque<JobTicket>,
    /// Where the search for the least busy process starts, rotating, so
    /// ties do not always favour process 0.
    next: usize,
}

impl Dispatcher {
    fn new(
        spec: &BackendSpec,
        seed: u64,
        cores: usize,
        done: Sender<Done>,
        bell: Arc<Bell>,
    ) -> Self {
        let capacity = dispatch_capacity(spec, cores);
        let processes = spec.processes.max(1);
        Self {
            dispatch: spec.dispatch,
            capacity,
            seed,
            state: Mutex::new(State {
                in_flight: vec![0; processes],
                queue: VecDeque::new(),
                next: 0,
            }),
            procs: RwLock::new(Vec::new()),
            failure: Mutex::new(None),
            done,
            bell,
        }
    }

    /// The process a job goes to, or `None` when it must wait in the shared
    /// queue. Counts the job in flight there.
    fn place(&self, ticket: JobTicket) -> Option<usize> {
        let mut st = self.state.lock();
        let n = st.in_flight.len();
        let p = match self.dispatch {
            Dispatch::Random => Some(random_process(self.seed, ticket.id, n)),
            Dispatch::SharedQueue => {
                let start = st.next;
                let free = (0..n)
                    .map(|i| (start + i) % n)
                    .filter(|&p| self.capacity.map_or(true, |c| st.in_flight[p] < c))
                    .min_by_key(|&p| st.in_flight[p]);
                if free.is_none() {
                    st.queue.push_back(ticket);
                }
                st.next = (start + 1) % n;
                free
            }
        };
        if let Some(p) = p {
            st.in_flight[p] += 1;
        }
        p
    }

    /// A job of process `p` ended on one of its workers: that worker takes
    /// the next job of the shared queue, if one waits.
    fn on_done(&self, p: usize, _done: Done) {
        let next = {
            let mut st = self.state.lock();
            st.in_flight[p] = st.in_flight[p].saturating_sub(1);
            let room = self.capacity.map_or(true, |c| st.in_flight[p] < c);
            match st.queue.pop_front() {
                Some(t) if room => {
                    st.in_flight[p] += 1;
                    Some(t)
                }
                Some(t) => {
                    st.queue.push_front(t);
                    None
                }
                None => None,
            }
        };
        if let Some(t) = next {
            self.hand_over(p, t);
        }
    }

    /// Gives `ticket` to process `p`; a refusal fails the run without
    /// leaving the driver waiting.
    fn hand_over(&self, p: usize, ticket: JobTicket) {
        let result = match self.procs.read().get(p) {
            Some(e) => e.submit(ticket),
            None => Err(RunError::Refused {
                backend: "processes".into(),
                why: format!("process {p} is not running"),
            }),
        };
        if let Err(e) = result {
            self.failure.lock().get_or_insert_with(|| {
                format!("dispatching job {} to process {p}: {e}", ticket.id.index)
            });
            self.state.lock().in_flight[p] -= 1;
            let end = Stamp::now();
            let _ = self.done.send(Done { id: ticket.id, end });
            self.bell.ring_ended(end);
        }
    }
}

/// Jobs one process of `spec` can run at once, for backends with a fixed
/// number of workers: only pools of threads have a fixed number of free
/// workers; a thread per job, or an event loop, accepts whenever it gets to
/// it (`None`). The model engine's dispatcher uses the same rule.
pub(crate) fn dispatch_capacity(spec: &BackendSpec, cores: usize) -> Option<usize> {
    let workers = spec.resolved_workers(cores);
    match spec.kind {
        BackendKind::Threads if workers > 0 => Some(workers),
        BackendKind::Rayon => Some(workers.max(1)),
        _ => None,
    }
}

/// Per group, whether it is closed-loop: the driver needs those
/// completions' ids (each submits its client's next job), and only the
/// bell's count for the others.
fn closed_groups(plan: &Plan) -> Vec<bool> {
    plan.groups
        .iter()
        .map(|g| matches!(g.arrival, ArrivalPlan::Closed { .. }))
        .collect()
}

/// The process a job goes to under `dispatch = "random"`: a hash of the
/// seed and the job's id, so a run repeats exactly (and the model engine
/// sends every job to the same process as the real one).
pub(crate) fn random_process(seed: u64, id: JobId, processes: usize) -> usize {
    let h = mix(mix(mix(seed ^ 0x5052_4f43) ^ id.group as u64) ^ id.index);
    (h % processes.max(1) as u64) as usize
}

/// splitmix64's finalizer.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The executor of a deployment of several processes.
struct MultiProcess {
    dispatcher: Arc<Dispatcher>,
}

impl Executor for MultiProcess {
    fn submit(&self, ticket: JobTicket) -> Result<(), RunError> {
        let Some(p) = self.dispatcher.place(ticket) else {
            return Ok(());
        };
        let result = match self.dispatcher.procs.read().get(p) {
            Some(e) => e.submit(ticket),
            None => Ok(()),
        };
        if result.is_err() {
            self.dispatcher.state.lock().in_flight[p] -= 1;
        }
        result
    }

    fn shutdown(self: Box<Self>) {
        // The driver has seen every completion: no hook runs any more.
        let procs = std::mem::take(&mut *self.dispatcher.procs.write());
        for e in procs {
            e.shutdown();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_dispatch_is_deterministic_and_spreads() {
        let pick = |i| random_process(7, JobId { group: 0, index: i }, 4);
        let a: Vec<usize> = (0..4000).map(pick).collect();
        let b: Vec<usize> = (0..4000).map(pick).collect();
        assert_eq!(a, b, "same seed, same processes");
        for p in 0..4 {
            let n = a.iter().filter(|&&x| x == p).count();
            assert!((900..1100).contains(&n), "process {p} got {n} of 4000");
        }
        let other: Vec<usize> = (0..4000)
            .map(|i| random_process(8, JobId { group: 0, index: i }, 4))
            .collect();
        assert_ne!(a, other, "another seed, another draw");
    }
}
