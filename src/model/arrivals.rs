//! The model's driver: when jobs become due, and which may enter the run.
//!
//! The same rules as the real driver (`backend::driver`): batch jobs and
//! each closed client's first job are due at 0, interleaved across groups;
//! an open-loop group's jobs are due at the times [`Plan::open_arrivals`]
//! yields; a closed client's next job is due when its previous one completed
//! plus the think time of [`Plan::think_before`]. Jobs beyond the in-flight
//! bound wait here with their due time (it counts as queue time).
//!
//! Only the next due time of each open group is held, so memory does not
//! grow with the number of jobs.

use std::collections::VecDeque;

use super::clock::Ns;
use crate::plan::{ArrivalPlan, JobId, OpenArrivals, Plan};

/// Due jobs and the in-flight bound.
pub struct Arrivals<'p> {
    plan: &'p Plan,
    open: Vec<Option<OpenArrivals<'p>>>,
    /// Due jobs waiting for an in-flight slot, oldest first.
    ready: VecDeque<(Ns, JobId)>,
    limit: u64,
    /// Jobs submitted and not completed.
    pub in_flight: u64,
    /// Jobs completed.
    pub completed: u64,
    /// Jobs that found the run at its bound, each counted once.
    pub held_back: u64,
    counted_in_ready: usize,
}

impl<'p> Arrivals<'p> {
    /// The driver of `plan`, admitting at most `limit` jobs at once.
    pub fn new(plan: &'p Plan, limit: u64) -> Self {
        Self {
            plan,
            open: (0..plan.groups.len())
                .map(|g| plan.open_arrivals(g))
                .collect(),
            ready: VecDeque::new(),
            limit: limit.max(1),
            in_flight: 0,
            completed: 0,
            held_back: 0,
            counted_in_ready: 0,
        }
    }

    /// Batch jobs and closed clients' first jobs, interleaved across groups
    /// as the real driver submits them; all due at 0.
    pub fn initial(&mut self) {
        let firsts: Vec<u64> = self
            .plan
            .groups
            .iter()
            .map(|g| match &g.arrival {
                ArrivalPlan::Batch => g.jobs,
                ArrivalPlan::Closed { clients, .. } => (*clients).min(g.jobs),
                ArrivalPlan::Open { .. } => 0,
            })
            .collect();
        let longest = firsts.iter().copied().max().unwrap_or(0);
        for index in 0..longest {
            for (group, &n) in firsts.iter().enumerate() {
                if index < n {
                    self.ready.push_back((0, JobId { group, index }));
                }
            }
        }
    }

    /// The next due time of open group `group`, if any job is left.
    pub fn next_open(&mut self, group: usize) -> Option<Ns> {
        self.open.get_mut(group)?.as_mut()?.next()
    }

    /// A job became due.
    pub fn due(&mut self, at: Ns, id: JobId) {
        self.ready.push_back((at, id));
    }

    /// The next job that may enter the run now, if a slot is free.
    pub fn admit(&mut self) -> Option<(Ns, JobId)> {
        if self.in_flight >= self.limit {
            self.held_back += (self.ready.len() - self.counted_in_ready) as u64;
            self.counted_in_ready = self.ready.len();
            return None;
        }
        let job = self.ready.pop_front()?;
        self.counted_in_ready = self.counted_in_ready.saturating_sub(1);
        self.in_flight += 1;
        Some(job)
    }

    /// A job completed at `now`: the closed client's next job and when it is
    /// due, if there is one.
    pub fn done(&mut self, now: Ns, id: JobId) -> Option<(Ns, JobId)> {
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
