//! The model's compiled fast path: a thread per job, no GIL, plain steps.
//!
//! A large class of configs needs none of the general simulator's machinery
//! (`sim.rs`: threads interpreting queues of micro-ops, GIL and lock
//! operations, pools and executors): a `threads` backend with
//! `workers = 0` and no GIL, whose jobs have only `cpu`, `native` and `io`
//! steps (in `repeat` blocks or not), with no `--trace`. Each job then runs
//! on its own thread as a fixed pattern: start after `thread_start`, the
//! harness cost on the cores, then each step in turn (CPU on the cores, IO
//! asleep for its time plus the overshoot), then the record. [`applies`]
//! decides; every such run takes this path, whatever its arrivals, costs,
//! in-flight bound, cores or size.
//!
//! It is the general path with the interpreter compiled away, not another
//! model: it schedules the same events, in the same order, at the same
//! times (so the event queue's sequence numbers and the cores' tie-breaks
//! are the same), allocates thread slots in the same order (the cores break
//! ties by slot), and draws from the same cursors, so a run's report is
//! byte for byte the general path's (checked by `python/model_identical.py`
//! over every config and random ones, and by
//! `the_fast_path_gives_the_general_paths_report` below).
//! `GILSIM_MODEL_DEBUG` runs take the general path, which prints events.

use std::time::Duration;

use rand::SeedableRng;
use rand_pcg::Pcg64Mcg;

use super::arrivals::Arrivals;
use super::clock::{EventQueue, Ns};
use super::cores::Cores;
use super::costs::Costs;
use super::sim::{record_ns, CostNs, Ev, Finished, Outcome};
use crate::config::{BackendKind, BackendSpec};
use crate::metrics::{GroupMetrics, TimeBreakdown};
use crate::plan::dist::Sampler;
use crate::plan::{Action, JobCursor, JobId, Plan, PlanStep};

/// Whether a run of `spec` on `cores` takes the fast path.
pub(super) fn applies(plan: &Plan, spec: &BackendSpec, cores: usize, trace: bool) -> bool {
    fn plain(steps: &[PlanStep]) -> bool {
        steps.iter().all(|s| match s {
            PlanStep::Cpu(_) | PlanStep::Native(_) | PlanStep::Io(_) => true,
            PlanStep::Repeat { steps, .. } => plain(steps),
            PlanStep::Lock { .. } | PlanStep::Counter { .. } => false,
        })
    }
    spec.kind == BackendKind::Threads
        && spec.resolved_workers(cores) == 0
        && !spec.gil
        && spec.processes <= 1
        && !trace
        && plan.locks.is_empty()
        && plan.counters.is_empty()
        && plan.groups.iter().all(|g| plain(&g.steps))
        && std::env::var_os("GILSIM_MODEL_DEBUG").is_none()
}

/// Where a job's thread is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// No job (a free slot).
    Idle,
    /// Started, not yet running (`thread_start`).
    Start,
    /// Between steps.
    Running,
    /// In an IO sleep.
    Sleep,
    /// A CPU segment on the cores.
    Cpu(Kind),
}

/// What a CPU segment is charged to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Interp,
    Native,
    Harness,
}

/// A step kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StepKind {
    Cpu,
    Native,
    Io,
}

/// One step of a group without `repeat`, its distribution prepared.
#[derive(Debug, Clone, Copy)]
struct Compiled {
    kind: StepKind,
    sampler: Sampler,
}

/// A group's steps as a flat list, when it has no `repeat` (else the plan's
/// own cursor walks them).
fn compile(steps: &[PlanStep]) -> Option<Vec<Compiled>> {
    steps
        .iter()
        .map(|s| {
            let (kind, spec) = match s {
                PlanStep::Cpu(d) => (StepKind::Cpu, d),
                PlanStep::Native(d) => (StepKind::Native, d),
                PlanStep::Io(d) => (StepKind::Io, d),
                _ => return None,
            };
            Some(Compiled {
                kind,
                sampler: Sampler::new(spec),
            })
        })
        .collect()
}

/// Where a job is in its steps.
enum Cursor<'p> {
    /// A group compiled flat: the next step, and the job's own stream
    /// (made at its first draw, from the seed [`Plan::cursor`] uses, so the
    /// draws are the cursor's).
    Flat {
        next: u32,
        seed: u64,
        rng: Option<Pcg64Mcg>,
    },
    /// Anything else: the plan's cursor.
    Tree(JobCursor<'p>),
}

/// A job in flight.
struct Job<'p> {
    id: JobId,
    due: Ns,
    start: Ns,
    cursor: Cursor<'p>,
    /// The breakdown's only fields here, in ns.
    cpu: u64,
    native: u64,
    io: u64,
}

/// One thread slot (the general path's `Thread` and `Task` in one: a job's
/// thread lives exactly as long as its job).
struct Slot<'p> {
    /// Token of the slot's live wake-up.
    gen: u32,
    /// Token of its live CPU segment.
    cpu_gen: u32,
    state: State,
    /// When the current sleep or CPU segment began.
    since: Ns,
    job: Option<Job<'p>>,
}

/// The fast path's whole run.
pub(super) struct Fast<'p> {
    plan: &'p Plan,
    /// Per group: its steps compiled flat, if it has no `repeat`.
    compiled: Vec<Option<Vec<Compiled>>>,
    costs: CostNs,
    now: Ns,
    q: EventQueue<Ev>,
    cores: Cores,
    cpu_completions: u64,
    slots: Vec<Slot<'p>>,
    free: Vec<u32>,
    arrivals: Arrivals<'p>,
    open_next: Vec<u64>,
    groups: Vec<GroupMetrics>,
    warmup: Vec<u64>,
    first_due: Option<Ns>,
    last_end: Ns,
}

impl<'p> Fast<'p> {
    /// A run of `plan` on `cores` cores (see [`applies`]).
    pub fn new(
        plan: &'p Plan,
        cores: usize,
        costs: &Costs,
        in_flight_limit: u64,
        warmup_jobs: u64,
    ) -> Self {
        Self {
            plan,
            compiled: plan.groups.iter().map(|g| compile(&g.steps)).collect(),
            costs: CostNs::from(costs),
            now: 0,
            q: EventQueue::new(),
            cores: Cores::new(cores),
            cpu_completions: 0,
            slots: Vec::new(),
            free: Vec::new(),
            arrivals: Arrivals::new(plan, in_flight_limit),
            open_next: vec![0; plan.groups.len()],
            groups: plan.groups.iter().map(|_| GroupMetrics::new()).collect(),
            warmup: (0..plan.groups.len())
                .map(|g| crate::exec::warmup_of(plan, g, warmup_jobs))
                .collect(),
            first_due: None,
            last_end: 0,
        }
    }

    /// Runs every job to completion (as `Sim::run`).
    pub fn run(mut self) -> Result<Finished, String> {
        self.arrivals.initial();
        for g in 0..self.plan.groups.len() {
            if let Some(at) = self.arrivals.next_open(g) {
                self.q.push(at, Ev::Open(g as u32));
            }
        }
        self.admit();
        let total = self.plan.total_jobs();
        loop {
            let ev_at = self.q.peek_time();
            let cpu_at = if ev_at.is_some_and(|e| e <= self.now) {
                None
            } else {
                let slots = &self.slots;
                self.cores.next_finish(|t, g| {
                    let s = &slots[t as usize];
                    s.cpu_gen == g && matches!(s.state, State::Cpu(_))
                })
            };
            match (cpu_at, ev_at) {
                (None, None) => break,
                (Some(c), e) if e.map_or(true, |e| c < e) => {
                    self.set_now(c);
                    if let Some((tid, _)) = self.cores.pop_finished() {
                        self.cpu_completions += 1;
                        self.cpu_done(tid);
                    }
                }
                _ => {
                    let Some((at, ev)) = self.q.pop() else { break };
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
        let first = self.first_due.unwrap_or(0);
        let outcome = Outcome {
            wall: Duration::from_nanos(self.last_end.saturating_sub(first)),
            first_due: first,
            busy_ns: self.cores.busy_ns,
            events: self.q.popped + self.cpu_completions,
            held_back: self.arrivals.held_back,
            groups: std::mem::take(&mut self.groups),
            deployment: None,
        };
        Ok((outcome, None, None, Vec::new()))
    }

    #[inline]
    fn set_now(&mut self, t: Ns) {
        self.now = t.max(self.now);
        self.q.set_now(self.now);
        self.cores.advance(self.now);
    }

    fn event(&mut self, ev: Ev) {
        match ev {
            Ev::Open(g) => {
                let g = g as usize;
                let index = self.open_next[g];
                self.open_next[g] += 1;
                self.arrivals.due(self.now, JobId { group: g, index });
                if let Some(at) = self.arrivals.next_open(g) {
                    self.q.push(at.max(self.now), Ev::Open(g as u32));
                }
                self.admit();
            }
            Ev::Closed(group, index) => {
                let id = JobId {
                    group: group as usize,
                    index,
                };
                self.arrivals.due(self.now, id);
                self.admit();
            }
            Ev::Wake(tid, gen) => {
                if self.slots[tid as usize].gen == gen {
                    self.wake(tid);
                }
            }
            // Never scheduled on this path (no GIL, no async tasks).
            Ev::GilTimeout(..) | Ev::GilWoken(..) | Ev::IoDone(_) => {}
        }
    }

    /// Starts every due job a slot allows, each on a new thread.
    fn admit(&mut self) {
        while let Some((due, id)) = self.arrivals.admit() {
            if id.index >= self.warmup[id.group] {
                self.first_due = Some(self.first_due.map_or(due, |f| f.min(due)));
            }
            let cursor = match self.compiled[id.group] {
                Some(_) => Cursor::Flat {
                    next: 0,
                    seed: self.plan.job_stream_seed(id),
                    rng: None,
                },
                None => Cursor::Tree(self.plan.cursor(id)),
            };
            let job = Job {
                id,
                due,
                start: 0,
                cursor,
                cpu: 0,
                native: 0,
                io: 0,
            };
            let tid = self.new_slot(job);
            self.block(tid, State::Start, self.costs.thread_start);
        }
    }

    /// A thread slot for `job`: the last one freed, else a new one (the
    /// general path's order, which the cores' tie-breaks depend on).
    fn new_slot(&mut self, job: Job<'p>) -> u32 {
        match self.free.pop() {
            Some(tid) => {
                let s = &mut self.slots[tid as usize];
                s.gen = s.gen.wrapping_add(1);
                s.cpu_gen = s.cpu_gen.wrapping_add(1);
                s.state = State::Idle;
                s.job = Some(job);
                tid
            }
            None => {
                self.slots.push(Slot {
                    gen: 0,
                    cpu_gen: 0,
                    state: State::Idle,
                    since: 0,
                    job: Some(job),
                });
                (self.slots.len() - 1) as u32
            }
        }
    }

    /// Blocks `tid` in `state` for `delay`.
    #[inline]
    fn block(&mut self, tid: u32, state: State, delay: Ns) {
        let s = &mut self.slots[tid as usize];
        s.gen = s.gen.wrapping_add(1);
        s.state = state;
        s.since = self.now;
        let gen = s.gen;
        self.q.push(self.now + delay, Ev::Wake(tid, gen));
    }

    /// A started or sleeping thread runs again.
    fn wake(&mut self, tid: u32) {
        let now = self.now;
        let s = &mut self.slots[tid as usize];
        let state = s.state;
        s.state = State::Running;
        let since = s.since;
        let Some(job) = s.job.as_mut() else { return };
        match state {
            State::Start => {
                job.start = now;
                if self.cpu(tid, self.costs.job, Kind::Harness) {
                    return;
                }
            }
            State::Sleep => job.io += now - since,
            _ => {}
        }
        self.step(tid);
    }

    /// Runs `tid`'s job on from its next step until it blocks or ends.
    fn step(&mut self, tid: u32) {
        loop {
            let Some((kind, d)) = self.next_step(tid) else {
                self.end_job(tid);
                return;
            };
            let ns = d.as_nanos() as u64;
            let blocked = match kind {
                StepKind::Cpu => self.cpu(tid, ns, Kind::Interp),
                StepKind::Native => self.cpu(tid, ns, Kind::Native),
                StepKind::Io => {
                    self.block(tid, State::Sleep, ns + self.costs.overshoot);
                    true
                }
            };
            if blocked {
                return;
            }
        }
    }

    /// The next step of `tid`'s job with its duration drawn; `None` at the
    /// end (or without a job).
    #[inline]
    fn next_step(&mut self, tid: u32) -> Option<(StepKind, Duration)> {
        let job = self.slots[tid as usize].job.as_mut()?;
        match &mut job.cursor {
            Cursor::Flat { next, seed, rng } => {
                let steps = self.compiled[job.id.group].as_deref()?;
                let step = steps.get(*next as usize)?;
                *next += 1;
                let d = match step.sampler {
                    Sampler::Fixed(d) => d,
                    sampler => {
                        let seed = *seed;
                        sampler.sample(rng.get_or_insert_with(|| Pcg64Mcg::seed_from_u64(seed)))
                    }
                };
                Some((step.kind, d))
            }
            Cursor::Tree(c) => loop {
                match c.next()? {
                    Action::Cpu(d) => return Some((StepKind::Cpu, d)),
                    Action::Native(d) => return Some((StepKind::Native, d)),
                    Action::Io(d) => return Some((StepKind::Io, d)),
                    // `applies` leaves locks and counters to the general path.
                    Action::Lock { .. } | Action::Counter { .. } => {}
                }
            },
        }
    }

    /// Puts `ns` of work on the cores; false (and nothing scheduled) for no
    /// work, as the general path's `cpu_start`.
    #[inline]
    fn cpu(&mut self, tid: u32, ns: u64, kind: Kind) -> bool {
        if ns == 0 {
            return false;
        }
        let s_now = self.cores.service();
        let s = &mut self.slots[tid as usize];
        s.cpu_gen = s.cpu_gen.wrapping_add(1);
        s.state = State::Cpu(kind);
        s.since = self.now;
        let gen = s.cpu_gen;
        self.cores.run(tid, gen, s_now + ns as f64);
        true
    }

    /// A CPU segment ended.
    fn cpu_done(&mut self, tid: u32) {
        let now = self.now;
        let s = &mut self.slots[tid as usize];
        let State::Cpu(kind) = s.state else { return };
        s.state = State::Running;
        let elapsed = now - s.since;
        if let Some(job) = s.job.as_mut() {
            match kind {
                Kind::Interp => job.cpu += elapsed,
                Kind::Native => job.native += elapsed,
                Kind::Harness => {}
            }
        }
        self.step(tid);
    }

    /// The job on `tid` is complete: record it, let the next jobs in, then
    /// free the thread (after the admissions, as the general path does).
    fn end_job(&mut self, tid: u32) {
        let now = self.now;
        let Some(job) = self.slots[tid as usize].job.take() else {
            return;
        };
        if job.id.index >= self.warmup[job.id.group] {
            // Sums of whole nanoseconds: the same Durations as charging
            // each piece as it happens.
            let times = TimeBreakdown {
                cpu: Duration::from_nanos(job.cpu),
                native: Duration::from_nanos(job.native),
                io: Duration::from_nanos(job.io),
                ..TimeBreakdown::default()
            };
            record_ns(
                &mut self.groups[job.id.group],
                job.due,
                job.start,
                now,
                &times,
            );
        }
        self.last_end = self.last_end.max(now);
        if let Some((due, next)) = self.arrivals.done(now, job.id) {
            if due <= now {
                self.arrivals.due(due, next);
            } else {
                self.q.push(due, Ev::Closed(next.group as u32, next.index));
            }
        }
        self.admit();
        let s = &mut self.slots[tid as usize];
        s.gen = s.gen.wrapping_add(1);
        s.state = State::Idle;
        self.free.push(tid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::sim::Sim;
    use std::path::Path;

    /// Configs of the fast path's class: every arrival mode, repeats,
    /// native steps, every distribution, zero-length steps.
    const CONFIGS: &[&str] = &[
        r#"
name = "reference"
seed = 1
[[backend]]
kind = "threads"
workers = 0
[[group]]
name = "jobs"
jobs = 3000
arrival = { rate = 50000.0, process = "poisson" }
steps = [{ cpu = { dist = "exp", mean = "1ms" } }, { io = { dist = "exp", mean = "2ms" } }]
"#,
        r#"
name = "mixed"
seed = 7
[[backend]]
kind = "threads"
[[group]]
name = "batch"
jobs = 40
steps = [{ cpu = "300us" }, { repeat = 3, steps = [{ io = "0ms" }, { native = { dist = "uniform", min = "10us", max = "90us" } }] }]
[[group]]
name = "closed"
jobs = 90
arrival = { closed = 5, think = { dist = "exp", mean = "400us" } }
steps = [{ io = { dist = "lognormal", median = "200us", p99 = "2ms" } }, { cpu = { dist = "normal", mean = "50us", stddev = "40us" } }, { cpu = "0ms" }]
[[group]]
name = "open"
jobs = 200
arrival = { rate = 3000, process = "uniform" }
steps = [{ native = "100us" }, { io = "1ms" }, { cpu = { dist = "exp", mean = "200us" } }]
"#,
        // Fixed durations: completions tie, and the cores break ties by
        // thread slot, so the slots must be taken in the general path's
        // order.
        r#"
name = "ties"
seed = 3
[[backend]]
kind = "threads"
[[group]]
name = "batch"
jobs = 30
steps = [{ cpu = "100us" }, { io = "100us" }, { cpu = "50us" }]
[[group]]
name = "closed"
jobs = 60
arrival = { closed = 7 }
steps = [{ cpu = "50us" }, { io = "150us" }, { native = "100us" }]
"#,
    ];

    fn outcomes(
        text: &str,
        cores: usize,
        costs: &Costs,
        limit: u64,
        warmup: u64,
    ) -> (Outcome, Outcome) {
        let set = crate::config::parse(text, Path::new("t.toml")).unwrap();
        let plan = Plan::new(&set);
        let spec = &set.backends[0];
        assert!(applies(&plan, spec, cores, false));
        let general = Sim::new(&plan, spec, cores, costs, limit, false, warmup)
            .run()
            .unwrap()
            .0;
        let fast = Fast::new(&plan, cores, costs, limit, warmup)
            .run()
            .unwrap()
            .0;
        (general, fast)
    }

    #[test]
    fn the_fast_path_gives_the_general_paths_report() {
        let costs = [Costs::zero(), Costs::defaults()];
        for text in CONFIGS {
            for cores in [1, 3, 64] {
                for c in &costs {
                    for (limit, warmup) in [(65_536, 0), (4, 0), (65_536, 5)] {
                        let (a, b) = outcomes(text, cores, c, limit, warmup);
                        let at = format!(
                            "cores {cores}, costs {}, limit {limit}, warm-up {warmup}",
                            c.source
                        );
                        assert_eq!(a.events, b.events, "{at}");
                        assert_eq!(a.wall, b.wall, "{at}");
                        assert_eq!(a.first_due, b.first_due, "{at}");
                        assert_eq!(a.busy_ns.to_bits(), b.busy_ns.to_bits(), "{at}");
                        assert_eq!(a.held_back, b.held_back, "{at}");
                        for (x, y) in a.groups.iter().zip(&b.groups) {
                            assert_eq!(x.jobs, y.jobs, "{at}");
                            assert_eq!(x.latency, y.latency, "{at}");
                            assert_eq!(x.queue, y.queue, "{at}");
                            assert_eq!(x.service, y.service, "{at}");
                            assert_eq!(x.times, y.times, "{at}");
                            assert_eq!(x.queue_total, y.queue_total, "{at}");
                            assert_eq!(x.service_total, y.service_total, "{at}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn only_plain_thread_per_job_runs_without_a_gil_or_a_trace_apply() {
        let plan_of = |text: &str| {
            let set = crate::config::parse(text, Path::new("t.toml")).unwrap();
            (Plan::new(&set), set)
        };
        let (plan, set) = plan_of(CONFIGS[1]);
        assert!(applies(&plan, &set.backends[0], 4, false));
        assert!(!applies(&plan, &set.backends[0], 4, true), "a trace");
        for other in [
            "kind = \"threads\"\ngil = true",
            "kind = \"threads\"\nworkers = 2",
            "kind = \"rayon\"",
            "kind = \"tokio\"",
        ] {
            let text = CONFIGS[1].replace("kind = \"threads\"", other);
            let (plan, set) = plan_of(&text);
            assert!(!applies(&plan, &set.backends[0], 4, false), "{other}");
        }
        for step in [
            "{ lock = \"db\", cpu = \"1ms\" }",
            "{ counter = \"n\", add = 1, guard = \"atomic\" }",
        ] {
            let text = CONFIGS[1].replace("{ cpu = \"300us\" }", step);
            let (plan, set) = plan_of(&text);
            assert!(!applies(&plan, &set.backends[0], 4, false), "{step}");
        }
    }
}
