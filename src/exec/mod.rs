//! Running one job's actions: the code every backend shares.
//!
//! A backend decides *where* a job runs (which thread, task or pool); this
//! module decides *what* running it means: CPU work in ticks with GIL polls,
//! IO waits that release the GIL, lock sections, counter updates, and the
//! time breakdown of each.

mod async_job;
mod bell;
pub mod clock;
mod slot;
pub mod thread_run;
mod wake;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use parking_lot::{Mutex, MutexGuard};

pub use async_job::{never_awaits, run_job_async, AsyncPlatform, Offload};
pub use bell::Bell;
pub use slot::GilSlot;

use crate::config::Guard;
use crate::metrics::{JobRecord, Recorder, TimeBreakdown};
use crate::plan::{Action, ArrivalPlan, JobCursor, JobId, Plan};
use crate::stamp::Stamp;
use crate::work::counter::{Counter, CounterResult, INCREMENT_COST};
use crate::work::gil::Gil;
use crate::work::kernel::{spin, Calibration, SpeedMeter};
use crate::work::sleep::sleep_until;

/// A job handed to a backend: which one, and when it was due.
#[derive(Debug, Clone, Copy)]
pub struct JobTicket {
    /// The job.
    pub id: JobId,
    /// When it became due, as a stamp: the job path records it as one, and
    /// converting an `Instant` there cost a 1 µs job about 11 ns of its
    /// bookkeeping (see `crate::stamp`).
    pub due: Stamp,
}

/// Sent to the driver when a job completes.
#[derive(Debug, Clone, Copy)]
pub struct Done {
    /// The job.
    pub id: JobId,
    /// When it completed, as a stamp: the job's own end reading, which the
    /// driver and a closed-loop client's chain use as the next job's due
    /// time without converting it.
    pub end: Stamp,
}

/// State shared by every job of one run.
///
/// Aligned to a cache line pair so that the reference count in front of it
/// (`Arc<RunShared>`) sits on a line of its own: async and rayon backends
/// clone the `Arc` per task on the driver thread and drop it on a worker,
/// and that line would otherwise be the one every job reads the plan,
/// the recorder and the bell through.
#[derive(Debug)]
#[repr(align(128))]
pub struct RunShared {
    /// The plan being run.
    pub plan: Arc<Plan>,
    /// The GIL, when the backend runs under one.
    pub gil: Option<Gil>,
    /// Application locks, by id.
    pub locks: Vec<Mutex<()>>,
    /// Shared counters, by id.
    pub counters: Vec<Counter>,
    /// Where finished jobs are recorded.
    pub recorder: Recorder,
    /// The kernel's speed during this run, against its calibration.
    pub speed: SpeedMeter,
    calibration: Calibration,
    tick_iters: u64,
    increment_iters: u64,
    /// The part of an increment before its inside check (`switch_inside`).
    inside_iters: u64,
    /// Interpreter costs in kernel iterations; all zero without a GIL.
    costs: CostIters,
    done: Sender<Done>,
    /// Per group: whether its completions are sent on `done` (all by
    /// default; see [`RunShared::sending_only`]).
    sent: Vec<bool>,
    /// Rung after every completion (after sending it, when it is sent);
    /// counts them and wakes the driver. One bell serves every process of a
    /// deployment.
    pub bell: Arc<Bell>,
    failure: Mutex<Option<String>>,
    /// Per group: jobs with an index below this run but are left out of
    /// the measurements (the warm-up).
    warmup: Vec<u64>,
    /// Called on the job's own thread when it ends, before the driver hears
    /// of it (a deployment of several processes dispatches its next job here).
    after_job: Option<AfterJob>,
    /// Set when the driver gave up on the run ([`RunShared::cancel`]).
    cancelled: AtomicBool,
    /// Submits a closed-loop client's next job from the thread its previous
    /// one ended on, when it can (see [`NextJob`]).
    next_job: Option<NextJob>,
}

/// How many of group `group`'s first jobs are warm-up when a run asks for
/// `jobs`: that many for open- and closed-loop groups, none for a batch
/// (every job of a batch is due at once: there is no steady state to wait
/// for, so it is measured whole).
pub fn warmup_of(plan: &Plan, group: usize, jobs: u64) -> u64 {
    match plan.groups.get(group).map(|g| &g.arrival) {
        Some(ArrivalPlan::Batch) | None => 0,
        Some(_) => jobs,
    }
}

/// A hook run when a job of this [`RunShared`] ends.
pub struct AfterJob(pub Box<dyn Fn(Done) + Send + Sync>);

/// Called with a sent completion (one whose id the driver needs: a
/// closed-loop client's) on the thread the job ended on; returns whether it
/// submitted the client's next job itself. When it did, the driver is not
/// told: a real client goes on with its next request where the previous
/// one ended, and a hop through the driver thread (a futex wake-up there,
/// then one of the worker the driver submits to) would show in the next
/// job's queue time, which counts from the previous job's end.
pub struct NextJob(pub Box<dyn Fn(Done) -> bool + Send + Sync>);

impl std::fmt::Debug for NextJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NextJob")
    }
}

impl std::fmt::Debug for AfterJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AfterJob")
    }
}

/// Emits the job's queue time (due → start) as a finished interval for the
/// trace: a span cannot begin before the job exists on its thread.
pub(crate) fn trace_queue(ticket: JobTicket, start: Stamp) {
    tracing::trace!(name: "queue", dur_ns = start.ns_since(ticket.due), job = ticket.id.index);
}

/// A job's actions in order ([`RunShared::actions`]), ending early once the
/// run is cancelled. A `take_while` over the cursor did the same, but its
/// `next` was not inlined into the job loops, so each action went through
/// memory and was read back in pieces.
pub(crate) struct Actions<'a> {
    cursor: JobCursor<'a>,
    cancelled: &'a AtomicBool,
}

impl Iterator for Actions<'_> {
    type Item = Action;

    #[inline]
    fn next(&mut self) -> Option<Action> {
        if self.cancelled.load(Ordering::Relaxed) {
            return None;
        }
        self.cursor.next()
    }
}

/// Reports a job that unwound (panicked) instead of finishing, so the driver
/// is not left waiting for a completion that never comes.
pub(crate) struct JobGuard<'a> {
    shared: &'a RunShared,
    ticket: JobTicket,
    finished: bool,
}

impl<'a> JobGuard<'a> {
    pub(crate) fn new(shared: &'a RunShared, ticket: JobTicket) -> Self {
        Self {
            shared,
            ticket,
            finished: false,
        }
    }

    /// Records the finished job.
    pub(crate) fn finish(mut self, start: Stamp, end: Stamp, times: TimeBreakdown) {
        self.finished = true;
        self.shared.finish_job(self.ticket, start, end, times);
    }
}

impl Drop for JobGuard<'_> {
    fn drop(&mut self) {
        if !self.finished {
            let group = &self.shared.plan.groups[self.ticket.id.group].name;
            self.shared
                .failure
                .lock()
                .get_or_insert_with(|| format!("job {} of group `{group}`", self.ticket.id.index));
            self.shared.complete(self.ticket.id, Stamp::now());
        }
    }
}

impl RunShared {
    /// Shared state for running `plan`, reporting completions to `done`.
    pub fn new(
        plan: Arc<Plan>,
        calibration: Calibration,
        gil: Option<Gil>,
        done: Sender<Done>,
    ) -> Self {
        let tick_iters = calibration.iters_for(plan.gil.tick).max(1);
        let increment_iters = calibration.iters_for(INCREMENT_COST);
        let inside_iters = (increment_iters as f64 * plan.gil.counter_inside_share).round() as u64;
        // `Engine::calibrate` started the cheap clock's warm-up already;
        // a library caller that skipped it starts it here.
        clock::warm_up();
        let costs = if gil.is_some() {
            CostIters::new(&plan.gil.cost, &calibration)
        } else {
            CostIters::default()
        };
        Self {
            gil,
            locks: plan.locks.iter().map(|_| Mutex::new(())).collect(),
            counters: plan.counters.iter().map(|_| Counter::default()).collect(),
            recorder: Recorder::new(plan.groups.len()),
            speed: SpeedMeter::new(calibration),
            increment_iters,
            inside_iters: inside_iters.min(increment_iters),
            costs,
            tick_iters,
            calibration,
            plan,
            done,
            sent: Vec::new(),
            bell: Arc::new(Bell::default()),
            failure: Mutex::new(None),
            warmup: Vec::new(),
            after_job: None,
            cancelled: AtomicBool::new(false),
            next_job: None,
        }
    }

    /// Leaves the first `jobs` jobs of every open- or closed-loop group (in
    /// job order, which is due order) out of the measurements: they still
    /// run, but are not recorded. See [`warmup_of`].
    pub fn with_warmup(mut self, jobs: u64) -> Self {
        self.warmup = (0..self.plan.groups.len())
            .map(|g| warmup_of(&self.plan, g, jobs))
            .collect();
        self
    }

    /// Asks every job of this run to finish early: each ends its CPU step
    /// at the next tick and skips its remaining steps (an IO wait or a lock
    /// section already begun runs out). The driver does this when it gives
    /// up on a run whose outcome is already decided, so the jobs in flight
    /// stop taking the CPU from whatever runs next; their measurements are
    /// worthless after it.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    /// Whether [`RunShared::cancel`] was called: one relaxed load, cheap
    /// enough for every tick.
    #[inline]
    pub(crate) fn cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }

    /// Job `id`'s actions in order, ending early once the run is cancelled.
    pub(crate) fn actions(&self, id: JobId) -> Actions<'_> {
        Actions {
            cursor: self.plan.cursor(id),
            cancelled: &self.cancelled,
        }
    }

    /// Rings `bell` after each completion instead of a bell of its own, so
    /// the processes of one deployment wake one driver.
    pub fn with_bell(mut self, bell: Arc<Bell>) -> Self {
        self.bell = bell;
        self
    }

    /// Sends the completions of only the groups marked `true` in `groups`
    /// on the channel; the others only ring the bell, which counts them and
    /// keeps the latest end time. A send costs a finishing job a write to a
    /// cache line every worker writes; a driver that only needs the ids of
    /// closed-loop completions (to submit each client's next job) asks for
    /// those alone.
    pub fn sending_only(mut self, groups: Vec<bool>) -> Self {
        self.sent = groups;
        self
    }

    /// Runs `hook` on the job's thread each time a job ends, before the
    /// driver is told.
    pub fn with_after_job(mut self, hook: AfterJob) -> Self {
        self.after_job = Some(hook);
        self
    }

    /// Submits closed-loop clients' next jobs through `hook` where it can,
    /// instead of through the driver (see [`NextJob`]).
    pub fn with_next_job(mut self, hook: NextJob) -> Self {
        self.next_job = Some(hook);
        self
    }

    /// Tells whoever waits for job `id`, which ended at `end`. A [`Done`] is
    /// made only for those who take one: the driver of a closed loop, a
    /// hook.
    fn complete(&self, id: JobId, end: Stamp) {
        let sent = self.sent.get(id.group).copied().unwrap_or(true);
        if self.after_job.is_none() && !sent {
            self.bell.ring_ended(end);
            return;
        }
        let done = Done { id, end };
        if let Some(hook) = &self.after_job {
            (hook.0)(done);
        }
        if sent {
            if !self.cancelled() && self.next_job.as_ref().is_some_and(|h| (h.0)(done)) {
                // The client went on here: counted, but nothing for the
                // driver to do, so it is not woken.
                self.bell.ring_ended_quietly(end);
                return;
            }
            // The driver outlives every job; a send can only fail while it
            // is tearing down after an error, when nobody needs the message.
            let _ = self.done.send(done);
        }
        self.bell.ring_ended(end);
    }

    /// Final counter values against what the plan expected.
    pub fn counter_results(&self) -> Vec<CounterResult> {
        self.plan
            .counters
            .iter()
            .zip(&self.counters)
            .map(|(p, c)| {
                let observed = c.load();
                CounterResult {
                    name: p.name.clone(),
                    expected: p.expected,
                    observed,
                    lost: p.expected.saturating_sub(observed),
                }
            })
            .collect()
    }

    /// The first job that panicked, if any did.
    pub fn failure(&self) -> Option<String> {
        self.failure.lock().clone()
    }

    /// Records a finished job and tells the driver.
    fn finish_job(&self, ticket: JobTicket, start: Stamp, end: Stamp, times: TimeBreakdown) {
        let warmup = self.warmup.get(ticket.id.group).copied().unwrap_or(0);
        if ticket.id.index >= warmup {
            self.recorder.record(&JobRecord {
                group: ticket.id.group,
                due: ticket.due,
                start,
                end,
                times,
            });
        }
        self.complete(ticket.id, end);
    }

    /// Runs a whole job on the calling thread, as a Python thread would: it
    /// takes the GIL before the first step that runs Python code, keeps it
    /// across CPU steps, releases it around blocking steps and takes it back
    /// right after each (Python code must run to see the result: that retake
    /// is the convoy effect), and releases it when the job ends. Handing a
    /// job to its thread is not charged a GIL acquisition, so a job of one
    /// IO step is one iteration of a Python IO loop: one wait, one retake.
    pub fn run_job_sync(&self, ticket: JobTicket) {
        self.run_job_on_thread(ticket, false)
    }

    /// [`RunShared::run_job_sync`] for a job handed to a pool's worker
    /// (`ThreadPoolExecutor.submit`): under a GIL it also charges the
    /// interpreter's `complete` cost after the last step, under the GIL.
    /// (`submit` is charged on the pool's submitting thread, before the
    /// job reaches the pool: see `backend/submitter.rs`.)
    pub fn run_job_pooled(&self, ticket: JobTicket) {
        self.run_job_on_thread(ticket, true)
    }

    fn run_job_on_thread(&self, ticket: JobTicket, pooled: bool) {
        let start = clock::stamp();
        let guard = JobGuard::new(self, ticket);
        trace_queue(ticket, start);
        let span = tracing::trace_span!("job", group = %self.plan.groups[ticket.id.group].name, job = ticket.id.index);
        let _enter = span.enter();
        let mut times = TimeBreakdown::default();
        let mut slot = GilSlot::new(self.gil.as_ref());
        // Clock reads are a good part of a short job's cost: a CPU step
        // starts from the previous reading and its end is the job's end.
        let mut at = Some(start);
        for action in self.actions(ticket.id) {
            at = self.run_action_timed(action, &mut slot, &mut times, at);
        }
        if pooled {
            at = self.charge(|c| c.complete, &mut slot, &mut times).or(at);
        }
        let end = at.unwrap_or_else(clock::stamp);
        slot.release();
        drop(_enter);
        guard.finish(start, end, times);
    }

    /// Runs one action on the calling thread. When there is a GIL, it is
    /// held on return.
    pub fn run_action_sync(
        &self,
        action: Action,
        slot: &mut GilSlot<'_>,
        times: &mut TimeBreakdown,
    ) {
        self.run_action_timed(action, slot, times, None);
    }

    /// [`RunShared::run_action_sync`], given a clock reading taken just
    /// before (`began`), returning one taken as it ended, when the action
    /// reads the clock anyway (CPU steps; IO waits, whose end reading stands
    /// for the action's end when no GIL was taken back after it); `None`
    /// otherwise.
    fn run_action_timed(
        &self,
        action: Action,
        slot: &mut GilSlot<'_>,
        times: &mut TimeBreakdown,
        began: Option<Stamp>,
    ) -> Option<Stamp> {
        let span = tracing::trace_span!(
            "step",
            kind = action.kind(),
            requested_us = action.requested_us()
        );
        let _enter = span.enter();
        match action {
            Action::Cpu(d) => {
                return Some(self.interpreted(self.calibration.iters_for(d), slot, times, began))
            }
            Action::Native(d) => {
                slot.release();
                let t = Instant::now();
                let iters = self.calibration.iters_for(d);
                self.speed.run(iters, || spin(1, iters));
                times.native += t.elapsed();
                slot.acquire(times);
            }
            Action::Io(d) => {
                // The Python side of the call (send the request, read the
                // reply) runs under the GIL; the wait does not. It is
                // charged after the retake, which a Python IO loop makes
                // anyway: charging it first would make a thread that does not
                // hold the GIL wait for it twice per operation, doubling the
                // convoy effect.
                slot.release();
                let t = self.wait_start(began);
                sleep_until(t.instant() + d);
                let ended = not_before(clock::stamp(), t, d);
                times.io += ended.since(t);
                slot.acquire(times);
                let charged = self.charge(|c| c.io_call, slot, times);
                // Without a GIL nothing happened since the wait's end.
                return charged.or(self.gil.is_none().then_some(ended));
            }
            Action::Lock { lock, cpu } => {
                let _guard = self.take_lock(&self.locks[lock], slot, times);
                self.interpreted(self.calibration.iters_for(cpu), slot, times, None);
            }
            Action::Counter {
                counter,
                add,
                guard,
                switch_inside,
            } => self.count(
                &self.counters[counter],
                add,
                guard,
                switch_inside,
                slot,
                times,
            ),
        }
        None
    }

    /// Interpreted CPU work: ticks of the kernel with an eval-breaker check
    /// after each, so a waiting thread can get the GIL. `began` is a clock
    /// reading taken just before, used as the start unless taking the GIL
    /// took time; returns the reading taken at the end.
    fn interpreted(
        &self,
        iters: u64,
        slot: &mut GilSlot<'_>,
        times: &mut TimeBreakdown,
        began: Option<Stamp>,
    ) -> Stamp {
        let held_before = slot.is_held();
        slot.acquire(times);
        let t = match began {
            Some(b) if slot.is_held() == held_before => b,
            _ => clock::stamp(),
        };
        let mut sample = self.speed.start(iters);
        let mut waited = Duration::ZERO;
        if slot.is_held() {
            let mut left = iters;
            let mut state = 1;
            while left > 0 {
                let n = left.min(self.tick_iters);
                state = spin(state, n);
                left -= n;
                if slot.drop_requested() {
                    waited += sample.exclude(|| slot.check_eval_breaker());
                }
                if self.cancelled() {
                    break;
                }
            }
        } else {
            spin(1, iters);
        }
        self.speed.finish(sample);
        times.gil_wait += waited;
        let end = clock::stamp();
        times.cpu += end.since(t).saturating_sub(waited);
        end
    }

    /// Takes an application lock like `threading.Lock.acquire`: a blocked
    /// acquire releases the GIL while it waits.
    fn take_lock<'m>(
        &self,
        lock: &'m Mutex<()>,
        slot: &mut GilSlot<'_>,
        times: &mut TimeBreakdown,
    ) -> MutexGuard<'m, ()> {
        if let Some(guard) = lock.try_lock() {
            return guard;
        }
        let held = slot.is_held();
        slot.release();
        let span = tracing::trace_span!("lock_wait");
        let t = Instant::now();
        let guard = span.in_scope(|| lock.lock());
        times.lock_wait += t.elapsed();
        if held {
            slot.acquire(times);
        }
        guard
    }

    /// `add` read-modify-write increments. Each costs [`INCREMENT_COST`] of
    /// CPU between its read and its write; the eval breaker is checked after
    /// every write (the loop's back edge) and, with `switch_inside`, between
    /// the read and the write as well, where a switch loses updates.
    fn count(
        &self,
        c: &Counter,
        add: u64,
        guard: Guard,
        switch_inside: bool,
        slot: &mut GilSlot<'_>,
        times: &mut TimeBreakdown,
    ) {
        let t = Instant::now();
        let mut waited = Duration::ZERO;
        let lock_wait_before = times.lock_wait;
        let gil_wait_before = times.gil_wait;
        slot.acquire(times);
        // One kernel state threads through every increment: independent
        // short chains would overlap in the CPU's pipeline and run faster
        // than the calibration says.
        let mut state = 1;
        for _ in 0..add {
            match guard {
                Guard::Atomic => {
                    state = spin(state, self.increment_iters);
                    c.fetch_add();
                }
                Guard::Lock => {
                    let _g = self.take_lock(c.lock(), slot, times);
                    waited += self.read_modify_write(c, switch_inside, slot, &mut state);
                }
                Guard::None => waited += self.read_modify_write(c, switch_inside, slot, &mut state),
            }
            waited += slot.check_eval_breaker();
        }
        times.gil_wait += waited;
        let other_waits = (times.lock_wait - lock_wait_before) + (times.gil_wait - gil_wait_before);
        times.cpu += t.elapsed().saturating_sub(other_waits);
    }

    /// One iteration of `counter = counter + CALL`, as CPython 3.11 runs
    /// it: the read, the part of the iteration up to the call's
    /// eval-breaker check (`counter_inside_share` of it), that check (with
    /// `switch_inside`), the rest, the write. The loop's back-edge check
    /// follows in [`RunShared::count`]. A drop request set during the first
    /// part is served inside the window and the write then loses updates;
    /// one set during the rest waits for the back edge and loses nothing.
    fn read_modify_write(
        &self,
        c: &Counter,
        switch_inside: bool,
        slot: &mut GilSlot<'_>,
        state: &mut u64,
    ) -> Duration {
        let v = c.load();
        let waited = if switch_inside {
            *state = spin(*state, self.inside_iters);
            let waited = slot.check_eval_breaker();
            *state = spin(*state, self.increment_iters - self.inside_iters);
            waited
        } else {
            *state = spin(*state, self.increment_iters);
            Duration::ZERO
        };
        c.store(v.wrapping_add(1));
        waited
    }

    /// Where an IO wait starts: at `began`, the job's latest reading, when
    /// nothing has happened since it (without a GIL, releasing it does
    /// nothing); at a fresh reading after the GIL was released, which takes
    /// time. Waits last until this start plus their request, so what the
    /// harness does before the timer is armed is inside the wait rather than
    /// added to it.
    fn wait_start(&self, began: Option<Stamp>) -> Stamp {
        match began {
            Some(at) if self.gil.is_none() => at,
            _ => clock::stamp(),
        }
    }

    /// Charges one interpreter cost (see [`CostIters`]): interpreted work
    /// under the GIL, taken first if need be, with eval-breaker checks.
    /// Nothing happens for a zero cost or without a GIL.
    pub(crate) fn charge(
        &self,
        cost: fn(&CostIters) -> u64,
        slot: &mut GilSlot<'_>,
        times: &mut TimeBreakdown,
    ) -> Option<Stamp> {
        let iters = cost(&self.costs);
        if iters == 0 {
            return None;
        }
        let span = tracing::trace_span!("interp_cost");
        let _enter = span.enter();
        Some(self.interpreted(iters, slot, times, None))
    }
}

/// `[gil.cost]` in kernel iterations, ready to spin.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CostIters {
    pub task: u64,
    pub resume: u64,
    pub io_call: u64,
    pub submit: u64,
    pub complete: u64,
}

impl CostIters {
    fn new(c: &crate::config::InterpreterCosts, cal: &Calibration) -> Self {
        Self {
            task: cal.iters_for(c.task),
            resume: cal.iters_for(c.resume),
            io_call: cal.iters_for(c.io_call),
            submit: cal.iters_for(c.submit),
            complete: cal.iters_for(c.complete),
        }
    }
}

/// A wait's end reading, at least `d` after its start `t`: a timer fires
/// by `CLOCK_MONOTONIC`, and a counter-based reading ([`clock`]) can stand
/// tens of ns off it, so a wait that saw its deadline pass could otherwise
/// read a hair shorter than its request.
fn not_before(ended: Stamp, t: Stamp, d: Duration) -> Stamp {
    ended.max(t.add_ns(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Arrival, BackendSpec, DurationSpec, GilSettings, GroupSpec, JobSet, Step};

    pub(super) fn shared(tx: Sender<Done>) -> RunShared {
        shared_with(tx, Arrival::Batch)
    }

    fn shared_with(tx: Sender<Done>, arrival: Arrival) -> RunShared {
        shared_of(
            tx,
            arrival,
            vec![Step::Cpu(DurationSpec::Fixed(Duration::from_micros(10)))],
        )
    }

    /// A run of one group of 2 jobs of `steps`, without a GIL.
    fn shared_of(tx: Sender<Done>, arrival: Arrival, steps: Vec<Step>) -> RunShared {
        let set = JobSet {
            name: "t".into(),
            description: None,
            seed: 0,
            gil: GilSettings::default(),
            model_cores: None,
            backends: BackendSpec::default_set(),
            groups: vec![GroupSpec {
                name: "g".into(),
                jobs: 2,
                arrival,
                steps,
            }],
            source: "t.toml".into(),
        };
        RunShared::new(
            Arc::new(Plan::new(&set)),
            Calibration {
                iters_per_us: 100.0,
            },
            None,
            tx,
        )
    }

    fn ticket() -> JobTicket {
        JobTicket {
            id: JobId { group: 0, index: 0 },
            due: Stamp::now(),
        }
    }

    #[test]
    fn a_job_that_unwinds_still_reports_and_marks_the_run_failed() {
        let (tx, rx) = crossbeam_channel::unbounded();
        let s = shared(tx);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _guard = JobGuard::new(&s, ticket());
            panic!("boom");
        }));
        assert!(result.is_err());
        assert!(rx.try_recv().is_ok(), "the driver must hear about the job");
        assert!(s.failure().is_some_and(|f| f.contains("group `g`")));
        assert_eq!(
            s.recorder.finish()[0].jobs,
            0,
            "a failed job is not measured"
        );
    }

    #[test]
    fn warm_up_jobs_run_and_report_but_are_not_measured() {
        let (tx, rx) = crossbeam_channel::unbounded();
        let closed = Arrival::Closed {
            clients: 1,
            think: None,
        };
        let batch = shared(tx.clone()).with_warmup(1);
        batch.run_job_sync(ticket());
        assert_eq!(
            batch.recorder.finish()[0].jobs,
            1,
            "a batch is measured whole"
        );
        let _ = rx.try_recv();
        let s = shared_with(tx, closed).with_warmup(1);
        s.run_job_sync(ticket());
        assert!(rx.try_recv().is_ok(), "the driver still hears of it");
        assert_eq!(s.recorder.finish()[0].jobs, 0, "job 0 is warm-up");
        s.run_job_sync(JobTicket {
            id: JobId { group: 0, index: 1 },
            due: Stamp::now(),
        });
        assert_eq!(s.recorder.finish()[0].jobs, 1, "job 1 is measured");
    }

    #[test]
    fn the_after_job_hook_runs_before_the_driver_hears() {
        let (tx, rx) = crossbeam_channel::unbounded();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = {
            let seen = seen.clone();
            let rx = rx.clone();
            shared(tx).with_after_job(AfterJob(Box::new(move |d| {
                seen.lock().push((d.id.index, rx.is_empty()));
            })))
        };
        s.run_job_sync(ticket());
        assert_eq!(*seen.lock(), vec![(0, true)]);
        assert!(rx.try_recv().is_ok());
    }

    #[test]
    fn a_group_left_unsent_still_rings_and_is_recorded() {
        let (tx, rx) = crossbeam_channel::unbounded();
        let s = shared(tx).sending_only(vec![false]);
        let t = Instant::now();
        s.run_job_sync(ticket());
        assert!(rx.try_recv().is_err(), "group 0 is not sent");
        assert_eq!(s.bell.rung(), 1);
        assert!(s.bell.last_end().is_some_and(|e| e >= t));
        assert_eq!(s.recorder.finish()[0].jobs, 1);
    }

    #[test]
    fn an_inline_task_is_accounted_like_a_job_on_a_thread() {
        let (tx, rx) = crossbeam_channel::unbounded();
        let s = shared(tx);
        assert!(never_awaits(&s.plan, 0, &Offload::Inline));
        assert!(!never_awaits(&s.plan, 0, &Offload::Blocking));
        assert!(!never_awaits(&s.plan, 1, &Offload::Inline), "no such group");
        s.run_task_inline(ticket());
        assert!(rx.try_recv().is_ok());
        let g = &s.recorder.finish()[0];
        assert_eq!(g.jobs, 1);
        // One CPU step (its length depends on the test's made-up
        // calibration): the breakdown is all CPU, and it is the service
        // time exactly (one clock reading ends both).
        assert!(g.times.cpu > Duration::ZERO, "{:?}", g.times);
        assert_eq!(g.times.cpu, g.service_total);
    }

    #[test]
    fn a_group_with_io_anywhere_awaits() {
        let (tx, _rx) = crossbeam_channel::unbounded();
        let mut s = shared(tx);
        let mut set = JobSet {
            name: "t".into(),
            description: None,
            seed: 0,
            gil: GilSettings::default(),
            model_cores: None,
            backends: BackendSpec::default_set(),
            groups: vec![GroupSpec {
                name: "g".into(),
                jobs: 1,
                arrival: Arrival::Batch,
                steps: vec![Step::Repeat {
                    times: 2,
                    steps: vec![Step::Io(DurationSpec::Fixed(Duration::from_micros(10)))],
                }],
            }],
            source: "t.toml".into(),
        };
        s.plan = Arc::new(Plan::new(&set));
        assert!(!never_awaits(&s.plan, 0, &Offload::Inline));
        set.groups[0].steps = vec![Step::Cpu(DurationSpec::Fixed(Duration::from_micros(1)))];
        s.plan = Arc::new(Plan::new(&set));
        assert!(never_awaits(&s.plan, 0, &Offload::Inline));
    }

    #[test]
    fn a_client_that_went_on_by_itself_is_counted_but_not_sent() {
        let (tx, rx) = crossbeam_channel::unbounded();
        let went_on = Arc::new(AtomicBool::new(true));
        let w = went_on.clone();
        let s = shared(tx).with_next_job(NextJob(Box::new(move |_| w.load(Ordering::SeqCst))));
        s.run_job_sync(ticket());
        assert!(rx.try_recv().is_err(), "the hook submitted the next job");
        assert_eq!(s.bell.rung(), 1);
        assert_eq!(s.recorder.finish()[0].jobs, 1);
        went_on.store(false, Ordering::SeqCst);
        s.run_job_sync(ticket());
        assert!(rx.try_recv().is_ok(), "left to the driver");
        assert_eq!(s.bell.rung(), 2);
        s.cancel();
        went_on.store(true, Ordering::SeqCst);
        s.run_job_sync(ticket());
        assert!(
            rx.try_recv().is_ok(),
            "a cancelled run goes on with nothing"
        );
    }

    /// A run whose jobs are one IO wait of `d`.
    fn one_wait(tx: Sender<Done>, d: Duration) -> RunShared {
        shared_of(tx, Arrival::Batch, vec![Step::Io(DurationSpec::Fixed(d))])
    }

    /// Without a GIL a wait starts at the job's start reading, so a job of
    /// one wait on a thread is IO time from start to end: nothing the
    /// harness does before the timer is armed lies outside the wait (and
    /// inflates the job) any more.
    #[test]
    fn a_job_of_one_wait_on_a_thread_is_io_from_start_to_end() {
        let (tx, _rx) = crossbeam_channel::unbounded();
        let d = Duration::from_micros(300);
        let s = one_wait(tx, d);
        s.run_job_sync(ticket());
        let g = &s.recorder.finish()[0];
        assert_eq!(g.jobs, 1);
        assert!(g.times.io >= d, "{:?}", g.times);
        assert_eq!(g.times.io, g.service_total);
    }

    /// An [`AsyncPlatform`] whose waits end on tokio's timer, or, with
    /// `early`, at once with a reading that far before the deadline: a
    /// precise wait's reading may stand a few tens of ns off the clock its
    /// timer fired by.
    #[derive(Clone, Copy)]
    struct TestPlatform {
        early: Option<Duration>,
    }

    impl AsyncPlatform for TestPlatform {
        fn sleep_until(
            &self,
            deadline: Instant,
        ) -> impl std::future::Future<Output = Stamp> + Send {
            let early = self.early;
            async move {
                match early {
                    Some(e) => Stamp::of(deadline - e),
                    None => {
                        tokio::time::sleep_until(deadline.into()).await;
                        clock::stamp()
                    }
                }
            }
        }

        /// Not used by these tests' jobs (IO only): runs `f` in place.
        async fn spawn_blocking<R, F>(&self, f: F) -> Option<R>
        where
            R: Send + 'static,
            F: FnOnce() -> R + Send + 'static,
        {
            Some(f())
        }
    }

    /// A job of one wait of `d` as an async task on `platform`; its group.
    fn one_wait_as_a_task(platform: TestPlatform, d: Duration) -> crate::metrics::GroupMetrics {
        let (tx, _rx) = crossbeam_channel::unbounded();
        let s = Arc::new(one_wait(tx, d));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        rt.block_on(run_job_async(
            s.clone(),
            platform,
            Offload::Inline,
            ticket(),
        ));
        s.recorder.finish().swap_remove(0)
    }

    /// As on a thread, an async job of one wait is the wait from start to
    /// end (IO until the wake-up, executor blocked after it): the wait's
    /// deadline is set from the job's start reading.
    #[test]
    fn a_job_of_one_wait_as_a_task_is_the_wait_from_start_to_end() {
        let d = Duration::from_micros(300);
        let g = one_wait_as_a_task(TestPlatform { early: None }, d);
        assert_eq!(g.jobs, 1);
        assert!(g.times.io >= d, "{:?}", g.times);
        assert_eq!(g.times.io + g.times.executor_blocked, g.service_total);
    }

    /// A wait whose end reading comes out before its deadline still lasts
    /// its request, not a hair less.
    #[test]
    fn a_wait_read_early_still_lasts_its_request() {
        let d = Duration::from_micros(300);
        let early = Some(Duration::from_nanos(40));
        let g = one_wait_as_a_task(TestPlatform { early }, d);
        assert_eq!(g.service_total, d);
        assert_eq!(g.times.io, d);
    }

    #[test]
    fn a_finished_job_is_recorded_once() {
        let (tx, rx) = crossbeam_channel::unbounded();
        let s = shared(tx);
        s.run_job_sync(ticket());
        assert!(rx.try_recv().is_ok());
        assert!(rx.try_recv().is_err());
        assert!(s.failure().is_none());
        assert_eq!(s.recorder.finish()[0].jobs, 1);
    }
}
