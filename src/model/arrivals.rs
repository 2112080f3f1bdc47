//! The model's driver: when jobs become due, and which may enter the run.
//!
//! The same rules as the real driver (`backend::driver`): batch jobs and
//! each closed client's first job are due at 0, interleaved across groups;
//! an open-loop group's jobs are due at the times [`Plan::open_arrivals`]
//! yields; a closed client's next job is due when its previous one completed
//! plus the think time of [`Plan::think_before`]. Jobs beyond the in-flight
//! bound wait here with their due time (it counts as queue time).
//!
//! Only the next due time of each open group is held, and the jobs due at
//! the start are read one at a time ([`Ready`]), so memory does not grow
//! with the number of jobs.
//!
//! Both simulators (the general one, `sim.rs`, and the compiled fast path,
//! `fast.rs`) drive their runs through the same code here: they implement
//! [`Runner`], and [`common_event`] handles the events they share (an
//! open-loop arrival, a closed client's next job, a thread's wake-up), so
//! the arrival rules exist once.

use super::clock::{EventQueue, Ns};
use super::ops::Ev;
use crate::plan::{ArrivalPlan, JobId, OpenArrivals, Plan, Ready};

/// Due jobs and the in-flight bound.
pub struct Arrivals<'p> {
    plan: &'p Plan,
    open: Vec<Option<OpenArrivals<'p>>>,
    /// Due jobs waiting for an in-flight slot, oldest first (the initial
    /// jobs, due at 0, read one at a time).
    ready: Ready<Ns>,
    limit: u64,
    /// Jobs submitted and not completed.
    pub in_flight: u64,
    /// Jobs completed.
    pub completed: u64,
    /// Jobs that found the run at its bound, each counted once.
    pub held_back: u64,
    /// Index of each open-loop group's next job.
    open_next: Vec<u64>,
    /// Per group: jobs with an index below this run but are left out of the
    /// measurements (the warm-up, as on the real engine).
    warmup: Vec<u64>,
    /// The first measured job's due time (past any warm-up).
    pub first_due: Option<Ns>,
}

impl<'p> Arrivals<'p> {
    /// The driver of `plan`, admitting at most `limit` jobs at once, the
    /// first `warmup_jobs` (as the real driver counts them) unmeasured.
    pub fn new(plan: &'p Plan, limit: u64, warmup_jobs: u64) -> Self {
        Self {
            plan,
            open: (0..plan.groups.len())
                .map(|g| plan.open_arrivals(g))
                .collect(),
            ready: Ready::new(plan, 0),
            limit: limit.max(1),
            in_flight: 0,
            completed: 0,
            held_back: 0,
            open_next: vec![0; plan.groups.len()],
            warmup: (0..plan.groups.len())
                .map(|g| crate::exec::warmup_of(plan, g, warmup_jobs))
                .collect(),
            first_due: None,
        }
    }

    /// The start of a run: each open group's first arrival scheduled (the
    /// jobs due at 0 are in the ready queue from the start).
    pub fn start(&mut self, q: &mut EventQueue<Ev>) {
        for g in 0..self.plan.groups.len() {
            if let Some(at) = self.next_open(g) {
                q.push_stream(at, Ev::Open(g as u32));
            }
        }
    }

    /// Whether job `id` is measured (past its group's warm-up).
    #[inline]
    pub fn measured(&self, id: JobId) -> bool {
        id.index >= self.warmup[id.group]
    }

    /// An open-loop arrival of group `g` is due now: the group's next
    /// arrival is scheduled, and the job enters the run at once (returned)
    /// when no due job waits and a slot is free, the usual case, or else
    /// joins the due jobs. Entering at once is what [`Arrivals::admit`]
    /// would do with the job next; it skips the queue's round trip.
    #[inline]
    fn open_due(&mut self, g: u32, now: Ns, q: &mut EventQueue<Ev>) -> Option<(Ns, JobId)> {
        let group = g as usize;
        let index = self.open_next[group];
        self.open_next[group] += 1;
        let id = JobId { group, index };
        let at_once = !self.waiting() && self.in_flight < self.limit;
        if !at_once {
            self.due(now, id);
        }
        if let Some(at) = self.next_open(group) {
            q.push_stream(at.max(now), Ev::Open(g));
        }
        at_once.then(|| {
            self.enter(now, id);
            (now, id)
        })
    }

    /// Job `id` completed at `now`: a closed client's next job becomes due
    /// now or is scheduled for after its think time.
    #[inline(always)]
    pub fn job_done(&mut self, now: Ns, id: JobId, q: &mut EventQueue<Ev>) {
        if let Some((due, next)) = self.done(now, id) {
            if due <= now {
                self.due(due, next);
            } else {
                q.push(due, Ev::Closed(next.group as u32, next.index));
            }
        }
    }

    /// The next due time of open group `group`, if any job is left.
    #[inline]
    fn next_open(&mut self, group: usize) -> Option<Ns> {
        self.open.get_mut(group)?.as_mut()?.next()
    }

    /// A job became due.
    fn due(&mut self, at: Ns, id: JobId) {
        self.ready.push_back(at, id);
    }

    /// Whether a due job waits for an in-flight slot (without one,
    /// [`Arrivals::admit`] changes nothing).
    #[inline]
    pub fn waiting(&self) -> bool {
        !self.ready.is_empty()
    }

    /// The next job that may enter the run now, if a slot is free (the
    /// first measured one's due time is kept).
    #[inline]
    pub fn admit(&mut self) -> Option<(Ns, JobId)> {
        if self.in_flight >= self.limit {
            self.held_back += self.ready.newly_held_back();
            return None;
        }
        let (due, id) = self.ready.pop_front()?;
        self.enter(due, id);
        Some((due, id))
    }

    /// Job `id`, due at `due`, takes an in-flight slot.
    #[inline]
    fn enter(&mut self, due: Ns, id: JobId) {
        self.in_flight += 1;
        if self.measured(id) {
            self.first_due = Some(self.first_due.map_or(due, |f| f.min(due)));
        }
    }

    /// A job completed at `now`: the closed client's next job and when it is
    /// due, if there is one.
    #[inline(always)]
    fn done(&mut self, now: Ns, id: JobId) -> Option<(Ns, JobId)> {
        self.in_flight -= 1;
        self.completed += 1;
        let g = &self.plan.groups[id.group];
        match &g.arrival {
            ArrivalPlan::Closed { clients, .. } if id.index + clients < g.jobs => {
                let next = JobId {
                    group: id.group,
                    index: id.index + clients,
                };
                let think = self.plan.think_before(next).as_nanos() as Ns;
                Some((now + think, next))
            }
            _ => None,
        }
    }
}

/// A simulator, as the shared driver code sees it.
pub(super) trait Runner<'p> {
    /// The driver, the event queue and the current time.
    fn driver(&mut self) -> (&mut Arrivals<'p>, &mut EventQueue<Ev>, Ns);
    /// Starts job `id`, due at `due`, which has taken an in-flight slot.
    fn start(&mut self, due: Ns, id: JobId);
    /// Starts every due job a slot allows.
    fn admit(&mut self);
    /// Whether `gen` is thread `tid`'s live wake-up token.
    fn live(&self, tid: u32, gen: u32) -> bool;
    /// Thread `tid`'s wait is over.
    fn wake(&mut self, tid: u32);
}

/// Handles the events every simulator has: an open-loop arrival, a closed
/// client's next job (each followed by admissions), a wake-up (unless its
/// token is stale). Hands any other event back.
#[inline(always)]
pub(super) fn common_event<'p>(r: &mut impl Runner<'p>, ev: Ev) -> Option<Ev> {
    match ev {
        Ev::Open(g) => {
            let (arrivals, q, now) = r.driver();
            if let Some((due, id)) = arrivals.open_due(g, now, q) {
                r.start(due, id);
            }
            r.admit();
        }
        Ev::Closed(group, index) => {
            let id = JobId {
                group: group as usize,
                index,
            };
            let (arrivals, _, now) = r.driver();
            arrivals.due(now, id);
            r.admit();
        }
        Ev::Wake(tid, gen) => {
            if r.live(tid, gen) {
                r.wake(tid);
            }
        }
        other => return Some(other),
    }
    None
}
