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
//!
//! **Inlining.** The handlers an event runs through (`start`, `block`,
//! `wake_slot`, `step`, `next_step`, `cpu`, `cpu_done`, `end_job`, and the
//! cores', queue's and arrivals' operations they call) are
//! `#[inline(always)]`. Left to the compiler, about ten of them stayed
//! calls, each saving and restoring registers around a few dozen
//! instructions: 12% of a reference job's instructions (callgrind, 2,060
//! against 1,808 a job). Only the wake-up taken at once (one event in
//! four) stays out of line, behind an inline check. Keeping `step` out of
//! line instead, so that its draw is inlined once, cost 6% more.

use std::time::Duration;

use rand_pcg::Pcg64Mcg;

use super::arrivals::{common_event, Arrivals, Runner};
use super::clock::{EventQueue, Ns, Place};
use super::cores::Cores;
use super::costs::Costs;
use super::ops::{CostNs, Ev};
use super::sim::{Finished, Outcome};
use super::tally::Tally;
use crate::config::{BackendKind, BackendSpec};
use crate::metrics::trend::ns_to_s;
use crate::metrics::{spans, GroupMetrics};
use crate::plan::dist::{Sampler, WholeNs};
use crate::plan::{job_seed_in, Action, JobCursor, JobId, Plan, PlanStep};

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

/// A group: how its jobs walk their steps, and what they add up to (one
/// place per group, so that ending a job looks up one entry, not four).
struct Group {
    /// Where the group's steps, compiled flat, are in [`Fast::steps`]
    /// (`None`: the group has a `repeat`, and each job walks the plan's
    /// cursor).
    flat: Option<(u32, u32)>,
    /// Whether a flat step draws: a job of the group then makes its stream
    /// when it starts (from the seed [`Plan::cursor`] uses, so the draws
    /// are the cursor's; the cursor makes it at the first draw, and every
    /// flat step is run, so the stream is the same).
    draws: bool,
    /// The group's part of its jobs' stream seeds
    /// ([`Plan::group_stream_seed`]).
    seed: u64,
    /// The group's report so far (its histograms filled from `tallies`,
    /// its totals from `sums`, at the end).
    metrics: GroupMetrics,
    sums: Sums,
    /// Its histograms' tallies (`None`: recorded directly).
    tallies: Option<Tallies>,
}

impl Group {
    /// The group's report: its tallies added to its histograms, its sums
    /// to its totals.
    fn into_metrics(self) -> GroupMetrics {
        let (mut g, s) = (self.metrics, self.sums);
        if let Some(t) = &self.tallies {
            t.add_to(&mut g);
        }
        g.times.cpu += duration_of(s.cpu);
        g.times.native += duration_of(s.native);
        g.times.io += duration_of(s.io);
        g.queue_total += duration_of(s.queue);
        g.service_total += duration_of(s.service);
        g
    }
}

/// One thread slot with its job (the general path's `Thread` and `Task`
/// in one: a job's thread lives exactly as long as its job). Plain data,
/// reused in place: starting a job allocates nothing.
struct Slot {
    /// Token of the slot's live wake-up.
    gen: u32,
    /// Token of its live CPU segment.
    cpu_gen: u32,
    state: State,
    /// The job's group.
    group: u32,
    /// The job's next step in [`Fast::steps`] (flat groups).
    next: u32,
    /// The end of the job's steps in [`Fast::steps`] (flat groups; 0 for
    /// a group that walks the plan's cursor).
    end: u32,
    /// When the current sleep or CPU segment began.
    since: Ns,
    /// The job's index in its group.
    index: u64,
    due: Ns,
    start: Ns,
    /// The breakdown's only fields here, in ns.
    cpu: u64,
    native: u64,
    io: u64,
    /// The job's stream (flat groups that draw).
    rng: Pcg64Mcg,
}

/// A group's summed durations, in ns, made `Duration`s once at the end:
/// sums of whole nanoseconds, so the same `Duration`s as adding each job's.
#[derive(Default, Clone, Copy)]
struct Sums {
    cpu: u128,
    native: u128,
    io: u128,
    queue: u128,
    service: u128,
}

/// A group's three histograms, tallied (see `tally.rs`).
///
/// A job that did not queue (the usual case) has the same latency and
/// service time and a zero queue time: it is tallied once, in `both`, and
/// counted in `zero_queue`, instead of three times. The histograms end the
/// same: each takes the sum of its tallies' counts, and the smallest
/// minimum and largest maximum of them (see [`Tally::add_to`]).
struct Tallies {
    /// Jobs that did not queue: their latency (= service time).
    both: Tally,
    zero_queue: u64,
    /// Jobs that queued.
    latency: Tally,
    queue: Tally,
    service: Tally,
}

impl Tallies {
    /// Tallies for `g`'s histograms (`None`: they are recorded directly).
    fn of(g: &GroupMetrics) -> Option<Self> {
        // `both` adds to the latency and the service histograms alike.
        let same = |a: &hdrhistogram::Histogram<u64>, b: &hdrhistogram::Histogram<u64>| {
            (a.low(), a.high(), a.sigfig()) == (b.low(), b.high(), b.sigfig())
        };
        if !same(&g.latency, &g.service) {
            return None;
        }
        Some(Self {
            both: Tally::for_histogram(&g.latency)?,
            zero_queue: 0,
            latency: Tally::for_histogram(&g.latency)?,
            queue: Tally::for_histogram(&g.queue)?,
            service: Tally::for_histogram(&g.service)?,
        })
    }

    /// Records one job's times, given in ns, in us (as `GroupMetrics::record_ns`).
    #[inline(always)]
    fn record(&mut self, latency: u64, queue: u64, service: u64) {
        // Zero ns, not zero us: a queue time under 1 us can still make the
        // latency's whole us one more than the service time's.
        if queue == 0 {
            self.both.record(latency / 1_000);
            self.zero_queue += 1;
        } else {
            self.latency.record(latency / 1_000);
            self.queue.record(queue / 1_000);
            self.service.record(service / 1_000);
        }
    }

    /// Adds everything tallied to `g`'s histograms.
    fn add_to(&self, g: &mut GroupMetrics) {
        self.both.add_to(&mut g.latency);
        self.both.add_to(&mut g.service);
        self.latency.add_to(&mut g.latency);
        self.service.add_to(&mut g.service);
        self.queue.add_to(&mut g.queue);
        if self.zero_queue > 0 {
            g.queue.saturating_record_n(0, self.zero_queue);
        }
    }
}

/// `ns` as a `Duration` (whole nanoseconds; beyond `u64` seconds it
/// saturates, where adding `Duration`s would have overflowed).
fn duration_of(ns: u128) -> Duration {
    let secs = u64::try_from(ns / 1_000_000_000).unwrap_or(u64::MAX);
    Duration::new(secs, (ns % 1_000_000_000) as u32)
}

/// `Pcg64Mcg::seed_from_u64(seed)`, inline: the same four PCG32 steps
/// fill the 128-bit seed, read little-endian (rand_core's documented,
/// value-stable construction; `rand_core`'s is an out-of-line call through
/// a byte array, once per job here). Tested against it.
#[inline]
fn job_rng(seed: u64) -> Pcg64Mcg {
    const MUL: u64 = 6_364_136_223_846_793_005;
    const INC: u64 = 11_634_580_027_462_260_723;
    let mut state = seed;
    let mut word = || {
        state = state.wrapping_mul(MUL).wrapping_add(INC);
        let xorshifted = (((state >> 18) ^ state) >> 27) as u32;
        u64::from(xorshifted.rotate_right((state >> 59) as u32))
    };
    let (a, b, c, d) = (word(), word(), word(), word());
    Pcg64Mcg::new(u128::from(a | b << 32) | u128::from(c | d << 32) << 64)
}

/// The fast path's whole run.
pub(super) struct Fast<'p> {
    plan: &'p Plan,
    groups: Vec<Group>,
    /// Every flat group's steps, one group after another: a job's next
    /// step is one index away from its slot, without a look at its group.
    steps: Vec<Compiled>,
    costs: CostNs,
    now: Ns,
    q: EventQueue<Ev>,
    cores: Cores,
    cpu_completions: u64,
    /// A wake-up taken from the queue at once (see [`Fast::block`]): it
    /// runs before anything else.
    next_wake: Option<(u32, u32)>,
    slots: Vec<Slot>,
    /// Per slot: the plan's cursor of its job, for groups with `repeat`.
    trees: Vec<Option<JobCursor<'p>>>,
    free: Vec<u32>,
    arrivals: Arrivals<'p>,
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
        let mut steps = Vec::new();
        let groups = plan
            .groups
            .iter()
            .enumerate()
            .map(|(g, group)| {
                let compiled = compile(&group.steps);
                let draws = compiled
                    .as_ref()
                    .is_some_and(|f| f.iter().any(|c| c.sampler.is_random()));
                let flat = compiled.and_then(|c| {
                    let first = u32::try_from(steps.len()).ok()?;
                    let end = u32::try_from(steps.len() + c.len()).ok()?;
                    steps.extend(c);
                    Some((first, end))
                });
                let metrics = GroupMetrics::new();
                Group {
                    // Beyond u32 steps (never in practice): the cursor.
                    draws: draws && flat.is_some(),
                    flat,
                    seed: plan.group_stream_seed(g),
                    tallies: Tallies::of(&metrics),
                    metrics,
                    sums: Sums::default(),
                }
            })
            .collect();
        Self {
            plan,
            groups,
            steps,
            costs: CostNs::from(costs),
            now: 0,
            q: EventQueue::new(),
            cores: Cores::new(cores),
            cpu_completions: 0,
            next_wake: None,
            slots: Vec::new(),
            trees: Vec::new(),
            free: Vec::new(),
            arrivals: Arrivals::new(plan, in_flight_limit, warmup_jobs),
            last_end: 0,
        }
    }

    /// Runs every job to completion (as `Sim::run`).
    pub fn run(mut self) -> Result<Finished, String> {
        self.arrivals.start(&mut self.q);
        self.admit();
        self.wake_at_once();
        let total = self.plan.total_jobs();
        loop {
            // Events due by now come before any CPU completion (the
            // general path's order), so the cores are asked only when
            // none is.
            let next = self.q.next();
            let ev_at = match next {
                Some((at, place)) if at <= self.now => {
                    self.event(place);
                    continue;
                }
                other => other.map(|n| n.0),
            };
            let slots = &self.slots;
            let cpu_at = self.cores.finish_before(ev_at, |t, g| {
                let s = &slots[t as usize];
                s.cpu_gen == g && matches!(s.state, State::Cpu(_))
            });
            match (cpu_at, next) {
                (Some(c), _) => {
                    self.set_now(c);
                    if let Some((tid, _)) = self.cores.pop_finished() {
                        self.cpu_completions += 1;
                        self.cpu_done(tid);
                        self.wake_at_once();
                    }
                }
                (None, Some((_, place))) => self.event(place),
                (None, None) => break,
            }
        }
        if self.arrivals.completed < total {
            return Err(format!(
                "the model stopped with {} of {total} jobs complete (a modelling bug: please report it with the config)",
                self.arrivals.completed
            ));
        }
        let groups = std::mem::take(&mut self.groups)
            .into_iter()
            .map(Group::into_metrics)
            .collect();
        let first = self.arrivals.first_due.unwrap_or(0);
        let outcome = Outcome {
            wall: Duration::from_nanos(self.last_end.saturating_sub(first)),
            first_due: first,
            busy_ns: self.cores.busy_ns,
            events: self.q.popped + self.cpu_completions,
            held_back: self.arrivals.held_back,
            groups,
            deployment: None,
        };
        Ok((outcome, None, None, Vec::new()))
    }

    /// Takes the next event (from `place`, as the queue said) and runs it.
    #[inline]
    fn event(&mut self, place: Place) {
        let Some((at, ev)) = self.q.take(place) else {
            return;
        };
        if at > self.now {
            self.set_now(at);
        }
        // Never anything else on this path (no GIL, no async tasks).
        let _ = common_event(self, ev);
        self.wake_at_once();
    }

    /// Runs the wake-ups taken from the queue at once (see [`Fast::block`])
    /// where the queue would have given them: right after the event that
    /// scheduled them, before anything else.
    #[inline(always)]
    fn wake_at_once(&mut self) {
        // Most events take no wake-up at once: only the check is inline.
        if self.next_wake.is_some() {
            self.wake_taken();
        }
    }

    /// [`Fast::wake_at_once`] with a wake-up taken.
    #[inline(never)]
    fn wake_taken(&mut self) {
        while let Some((tid, gen)) = self.next_wake.take() {
            if self.live(tid, gen) {
                self.wake_slot(tid);
            }
        }
    }

    #[inline]
    fn set_now(&mut self, t: Ns) {
        self.now = t.max(self.now);
        self.q.set_now(self.now);
        self.cores.advance(self.now);
    }

    /// Starts every due job a slot allows, each on a new thread.
    #[inline]
    fn admit(&mut self) {
        // Nothing waiting (the usual case): an admission would change
        // nothing, not even the held-back count.
        if self.arrivals.waiting() {
            self.admit_waiting();
        }
    }

    /// [`Fast::admit`] with jobs waiting.
    #[inline(never)]
    fn admit_waiting(&mut self) {
        while let Some((due, id)) = self.arrivals.admit() {
            self.start(due, id);
        }
    }

    /// Starts job `id`, due at `due`, on a new thread.
    #[inline(always)]
    fn start(&mut self, due: Ns, id: JobId) {
        let tid = self.new_slot();
        let group = &self.groups[id.group];
        let s = &mut self.slots[tid as usize];
        s.group = id.group as u32;
        s.index = id.index;
        s.due = due;
        s.start = 0;
        (s.next, s.end) = group.flat.unwrap_or((0, 0));
        s.cpu = 0;
        s.native = 0;
        s.io = 0;
        if group.draws {
            s.rng = job_rng(job_seed_in(group.seed, id.index));
        }
        if group.flat.is_none() {
            self.trees[tid as usize] = Some(self.plan.cursor(id));
        }
        self.block(tid, State::Start, self.costs.thread_start);
    }

    /// A thread slot: the last one freed, else a new one (the general
    /// path's order, which the cores' tie-breaks depend on).
    #[inline(always)]
    fn new_slot(&mut self) -> u32 {
        match self.free.pop() {
            Some(tid) => {
                let s = &mut self.slots[tid as usize];
                s.gen = s.gen.wrapping_add(1);
                s.cpu_gen = s.cpu_gen.wrapping_add(1);
                s.state = State::Idle;
                tid
            }
            None => {
                self.slots.push(Slot {
                    gen: 0,
                    cpu_gen: 0,
                    state: State::Idle,
                    group: 0,
                    next: 0,
                    end: 0,
                    since: 0,
                    index: 0,
                    due: 0,
                    start: 0,
                    cpu: 0,
                    native: 0,
                    io: 0,
                    rng: Pcg64Mcg::new(0),
                });
                self.trees.push(None);
                (self.slots.len() - 1) as u32
            }
        }
    }

    /// Blocks `tid` in `state` for `delay`.
    #[inline(always)]
    fn block(&mut self, tid: u32, state: State, delay: Ns) {
        let s = &mut self.slots[tid as usize];
        s.gen = s.gen.wrapping_add(1);
        s.state = state;
        s.since = self.now;
        let gen = s.gen;
        let at = self.now + delay;
        // A wake-up that is the queue's very next event (a zero delay with
        // nothing else due by now) skips the queue: it runs as soon as the
        // current event is done, exactly where the queue would have
        // given it (see `EventQueue::take_at_once`).
        if self.next_wake.is_none() && self.q.take_at_once(at) {
            self.next_wake = Some((tid, gen));
        } else {
            self.q.push(at, Ev::Wake(tid, gen));
        }
    }

    /// A started or sleeping thread runs again.
    #[inline(always)]
    fn wake_slot(&mut self, tid: u32) {
        let now = self.now;
        let s = &mut self.slots[tid as usize];
        let state = s.state;
        s.state = State::Running;
        match state {
            State::Start => {
                s.start = now;
                if self.cpu(tid, WholeNs::of(self.costs.job), Kind::Harness) {
                    return;
                }
            }
            State::Sleep => s.io += now - s.since,
            _ => {}
        }
        self.step(tid);
    }

    /// Runs `tid`'s job on from its next step until it blocks or ends.
    #[inline(always)]
    fn step(&mut self, tid: u32) {
        loop {
            let Some((kind, ns)) = self.next_step(tid) else {
                self.end_job(tid);
                return;
            };
            let blocked = match kind {
                StepKind::Cpu => self.cpu(tid, ns, Kind::Interp),
                StepKind::Native => self.cpu(tid, ns, Kind::Native),
                StepKind::Io => {
                    self.block(tid, State::Sleep, ns.int + self.costs.overshoot);
                    true
                }
            };
            if blocked {
                return;
            }
        }
    }

    /// The next step of `tid`'s job with its duration drawn, in ns; `None`
    /// at the end.
    #[inline(always)]
    fn next_step(&mut self, tid: u32) -> Option<(StepKind, WholeNs)> {
        let s = &mut self.slots[tid as usize];
        if s.next < s.end {
            let step = self.steps.get(s.next as usize)?;
            s.next += 1;
            return Some((step.kind, step.sampler.sample_ns(&mut s.rng)));
        }
        // A flat group's job at its end, or a job that walks the cursor
        // (its slot's steps are empty).
        let c = self.trees[tid as usize].as_mut()?;
        loop {
            let (kind, d) = match c.next()? {
                Action::Cpu(d) => (StepKind::Cpu, d),
                Action::Native(d) => (StepKind::Native, d),
                Action::Io(d) => (StepKind::Io, d),
                // `applies` leaves locks and counters to the general path.
                Action::Lock { .. } | Action::Counter { .. } => continue,
            };
            return Some((kind, WholeNs::of(d.as_nanos() as u64)));
        }
    }

    /// Puts `ns` of work on the cores; false (and nothing scheduled) for no
    /// work, as the general path's `cpu_start`.
    #[inline(always)]
    fn cpu(&mut self, tid: u32, ns: WholeNs, kind: Kind) -> bool {
        if ns.int == 0 {
            return false;
        }
        let s_now = self.cores.service();
        let s = &mut self.slots[tid as usize];
        s.cpu_gen = s.cpu_gen.wrapping_add(1);
        s.state = State::Cpu(kind);
        s.since = self.now;
        let gen = s.cpu_gen;
        self.cores.run(tid, gen, s_now + ns.float);
        true
    }

    /// A CPU segment ended.
    #[inline(always)]
    fn cpu_done(&mut self, tid: u32) {
        let now = self.now;
        let s = &mut self.slots[tid as usize];
        let State::Cpu(kind) = s.state else { return };
        s.state = State::Running;
        let elapsed = now - s.since;
        match kind {
            Kind::Interp => s.cpu += elapsed,
            Kind::Native => s.native += elapsed,
            Kind::Harness => {}
        }
        self.step(tid);
    }

    /// The job on `tid` is complete: record it, let the next jobs in, then
    /// free the thread (after the admissions, as the general path does).
    #[inline(always)]
    fn end_job(&mut self, tid: u32) {
        let now = self.now;
        let s = &self.slots[tid as usize];
        let id = JobId {
            group: s.group as usize,
            index: s.index,
        };
        if self.arrivals.measured(id) {
            // As `GroupMetrics::record_ns`, the durations summed in ns.
            let due = s.due;
            let (latency, queue, service) = spans(due, s.start, now);
            let group = &mut self.groups[id.group];
            let g = &mut group.metrics;
            g.jobs += 1;
            g.trend.offer(|| (ns_to_s(due), ns_to_s(latency)));
            match &mut group.tallies {
                Some(t) => t.record(latency, queue, service),
                None => {
                    g.latency.saturating_record(latency / 1_000);
                    g.queue.saturating_record(queue / 1_000);
                    g.service.saturating_record(service / 1_000);
                }
            }
            let sums = &mut group.sums;
            sums.cpu += u128::from(s.cpu);
            sums.native += u128::from(s.native);
            sums.io += u128::from(s.io);
            sums.queue += u128::from(queue);
            sums.service += u128::from(service);
        }
        if self.groups[id.group].flat.is_none() {
            self.trees[tid as usize] = None;
        }
        self.last_end = self.last_end.max(now);
        self.arrivals.job_done(now, id, &mut self.q);
        self.admit();
        let s = &mut self.slots[tid as usize];
        s.gen = s.gen.wrapping_add(1);
        s.state = State::Idle;
        self.free.push(tid);
    }
}

impl<'p> Runner<'p> for Fast<'p> {
    #[inline]
    fn driver(&mut self) -> (&mut Arrivals<'p>, &mut EventQueue<Ev>, Ns) {
        (&mut self.arrivals, &mut self.q, self.now)
    }

    #[inline]
    fn start(&mut self, due: Ns, id: JobId) {
        Fast::start(self, due, id);
    }

    #[inline]
    fn admit(&mut self) {
        Fast::admit(self);
    }

    #[inline]
    fn live(&self, tid: u32, gen: u32) -> bool {
        self.slots[tid as usize].gen == gen
    }

    #[inline]
    fn wake(&mut self, tid: u32) {
        self.wake_slot(tid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::sim::Sim;
    use rand::SeedableRng;
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
                            assert_eq!(x.trend, y.trend, "{at}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn job_rng_is_seed_from_u64() {
        use rand::RngCore;
        let mut seeds = vec![0, 1, 2, u64::MAX, 1 << 63, 0x9E37_79B9_7F4A_7C15];
        let mut x = 12_345u64;
        for _ in 0..2_000 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            seeds.push(x);
        }
        for seed in seeds {
            let (mut a, mut b) = (job_rng(seed), Pcg64Mcg::seed_from_u64(seed));
            for _ in 0..4 {
                assert_eq!(a.next_u64(), b.next_u64(), "{seed}");
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
