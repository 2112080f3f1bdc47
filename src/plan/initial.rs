//! The jobs due when a run starts, and the queue of due jobs that begins
//! with them.
//!
//! Batch jobs and each closed-loop client's first job are all due at the
//! start, interleaved across groups (job 0 of every group, then job 1, …) so
//! that no group is favoured by submission order. Both drivers, the real
//! one (`backend::driver`) and the model's (`model::arrivals`), read them
//! from [`InitialJobs`], which yields them one at a time instead of listing
//! them up front: a batch of 10^8 jobs would otherwise take gigabytes
//! before the first job ran, and building the list took long enough
//! (30 ms for 10^6 jobs) to show as every job's queue time on the real
//! engine. [`Ready`] is the FIFO of due jobs waiting for an in-flight slot:
//! those initial jobs first, then every job that becomes due later.

use std::collections::VecDeque;

use super::{ArrivalPlan, JobId, Plan};

/// The jobs due at the start of a run, in submission order (see the
/// module doc); made by [`Plan::initial_jobs`].
#[derive(Debug, Clone)]
pub struct InitialJobs {
    /// Groups that still have initial jobs beyond `index`: (group, count).
    active: Vec<(usize, u64)>,
    /// The job index of the current round.
    index: u64,
    /// Position in `active` within the current round.
    pos: usize,
    /// Jobs not yet yielded.
    remaining: u64,
}

impl InitialJobs {
    /// The initial jobs of `plan`.
    pub(super) fn of(plan: &Plan) -> Self {
        let active: Vec<(usize, u64)> = plan
            .groups
            .iter()
            .enumerate()
            .map(|(group, g)| {
                let n = match &g.arrival {
                    ArrivalPlan::Batch => g.jobs,
                    ArrivalPlan::Closed { clients, .. } => (*clients).min(g.jobs),
                    ArrivalPlan::Open { .. } => 0,
                };
                (group, n)
            })
            .filter(|&(_, n)| n > 0)
            .collect();
        let remaining = active
            .iter()
            .map(|&(_, n)| n)
            .fold(0u64, u64::saturating_add);
        Self {
            active,
            index: 0,
            pos: 0,
            remaining,
        }
    }

    /// Jobs not yet yielded.
    #[inline]
    pub fn remaining(&self) -> u64 {
        self.remaining
    }
}

impl Iterator for InitialJobs {
    type Item = JobId;

    #[inline]
    fn next(&mut self) -> Option<JobId> {
        if self.remaining == 0 {
            return None;
        }
        if self.pos == self.active.len() {
            // A new round: groups whose jobs all came leave it, so a round
            // costs the groups still in it, not every group.
            self.index += 1;
            let index = self.index;
            self.active.retain(|&(_, n)| n > index);
            self.pos = 0;
        }
        let (group, _) = *self.active.get(self.pos)?;
        self.pos += 1;
        self.remaining -= 1;
        Some(JobId {
            group,
            index: self.index,
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = usize::try_from(self.remaining).unwrap_or(usize::MAX);
        (n, Some(n))
    }
}

/// Due jobs waiting for an in-flight slot, oldest first: the initial jobs
/// (all due at `start`), then those pushed as they become due. `T` is the
/// driver's time (an `Instant` on the real engine, virtual ns in the model).
#[derive(Debug, Clone)]
pub struct Ready<T> {
    start: T,
    initial: InitialJobs,
    later: VecDeque<(T, JobId)>,
    /// How many jobs at the front have already been counted as held back
    /// ([`Ready::newly_held_back`]).
    counted: u64,
}

impl<T: Copy> Ready<T> {
    /// The queue of a run of `plan` that starts at `start`.
    pub fn new(plan: &Plan, start: T) -> Self {
        Self {
            start,
            initial: plan.initial_jobs(),
            later: VecDeque::new(),
            counted: 0,
        }
    }

    /// A job became due at `at` (no earlier than any job already queued).
    #[inline]
    pub fn push_back(&mut self, at: T, id: JobId) {
        self.later.push_back((at, id));
    }

    /// The oldest due job with its due time.
    #[inline]
    pub fn pop_front(&mut self) -> Option<(T, JobId)> {
        let job = if self.initial.remaining() > 0 {
            self.initial.next().map(|id| (self.start, id))
        } else {
            self.later.pop_front()
        };
        if job.is_some() {
            self.counted = self.counted.saturating_sub(1);
        }
        job
    }

    /// The jobs waiting now that no earlier call counted: the driver calls
    /// it whenever the in-flight bound holds the queue back, so each job
    /// that ever waited for a slot is counted once.
    #[inline]
    pub fn newly_held_back(&mut self) -> u64 {
        let new = self.len() - self.counted;
        self.counted = self.len();
        new
    }

    /// Jobs waiting.
    #[inline]
    pub fn len(&self) -> u64 {
        self.initial.remaining() + self.later.len() as u64
    }

    /// Whether no job waits.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.initial.remaining() == 0 && self.later.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::JobSet;

    fn plan(groups: &str) -> Plan {
        let text = format!("name = \"t\"\n[[backend]]\nkind = \"threads\"\n{groups}");
        let set: JobSet =
            crate::config::parse(&text, std::path::Path::new("t.toml")).expect("a valid config");
        Plan::new(&set)
    }

    const STEP: &str = "steps = [{ cpu = \"1us\" }]";

    /// A plan of batch groups, each `(name, jobs)`.
    fn batches(groups: &[(&str, u64)]) -> Plan {
        let text: String = groups
            .iter()
            .map(|(name, jobs)| format!("[[group]]\nname = \"{name}\"\njobs = {jobs}\n{STEP}\n"))
            .collect();
        plan(&text)
    }

    /// The order the drivers always used: index-major, group-minor, each
    /// group up to its count (the list they built up front before).
    fn listed(plan: &Plan) -> Vec<JobId> {
        let firsts: Vec<u64> = plan
            .groups
            .iter()
            .map(|g| match &g.arrival {
                ArrivalPlan::Batch => g.jobs,
                ArrivalPlan::Closed { clients, .. } => (*clients).min(g.jobs),
                ArrivalPlan::Open { .. } => 0,
            })
            .collect();
        let longest = firsts.iter().copied().max().unwrap_or(0);
        let mut out = Vec::new();
        for index in 0..longest {
            for (group, &n) in firsts.iter().enumerate() {
                if index < n {
                    out.push(JobId { group, index });
                }
            }
        }
        out
    }

    #[test]
    fn initial_jobs_interleave_groups_as_the_listed_order() {
        let p = plan(&format!(
            "[[group]]\nname = \"a\"\njobs = 5\n{STEP}\n\
             [[group]]\nname = \"open\"\njobs = 4\narrival = {{ rate = 10 }}\n{STEP}\n\
             [[group]]\nname = \"b\"\njobs = 2\n{STEP}\n\
             [[group]]\nname = \"c\"\njobs = 7\narrival = {{ closed = 3 }}\n{STEP}\n\
             [[group]]\nname = \"d\"\njobs = 1\n{STEP}\n"
        ));
        let lazy: Vec<JobId> = p.initial_jobs().collect();
        assert_eq!(lazy, listed(&p));
        assert_eq!(lazy.len(), 5 + 2 + 3 + 1);
        let mut it = p.initial_jobs();
        assert_eq!(it.remaining(), 11);
        assert_eq!(it.size_hint(), (11, Some(11)));
        it.next();
        assert_eq!(it.remaining(), 10);
    }

    #[test]
    fn no_initial_jobs_for_open_loop_groups_only() {
        let p = plan(&format!(
            "[[group]]\nname = \"open\"\njobs = 4\narrival = {{ rate = 10 }}\n{STEP}\n"
        ));
        assert_eq!(p.initial_jobs().next(), None);
        assert!(Ready::new(&p, 0u64).is_empty());
    }

    #[test]
    fn ready_gives_the_initial_jobs_first_then_later_ones_in_order() {
        let p = batches(&[("a", 2), ("b", 1)]);
        let mut r = Ready::new(&p, 7u64);
        assert_eq!(r.len(), 3);
        let late = JobId { group: 1, index: 9 };
        r.push_back(8, late);
        assert_eq!(r.len(), 4);
        let got: Vec<(u64, JobId)> = std::iter::from_fn(|| r.pop_front()).collect();
        let id = |group, index| JobId { group, index };
        assert_eq!(
            got,
            vec![(7, id(0, 0)), (7, id(1, 0)), (7, id(0, 1)), (8, late)]
        );
        assert!(r.is_empty());
        assert_eq!(r.len(), 0);
    }

    #[test]
    fn each_job_held_back_is_counted_once() {
        let p = batches(&[("a", 3)]);
        let mut r = Ready::new(&p, 0u64);
        assert_eq!(r.newly_held_back(), 3);
        assert_eq!(r.newly_held_back(), 0);
        r.pop_front();
        r.push_back(1, JobId { group: 0, index: 7 });
        // Two of the three counted are still there; the new one is not.
        assert_eq!(r.newly_held_back(), 1);
        while r.pop_front().is_some() {}
        r.push_back(2, JobId { group: 0, index: 8 });
        assert_eq!(r.newly_held_back(), 1);
    }

    /// A huge batch costs nothing up front: the queue holds a cursor, not
    /// a list (10^8 jobs listed would take 1.6 GB).
    #[test]
    fn a_huge_batch_is_not_listed() {
        let p = batches(&[("a", 100_000_000), ("b", 3)]);
        let mut r = Ready::new(&p, 0u64);
        assert_eq!(r.len(), 100_000_003);
        for _ in 0..6 {
            r.pop_front();
        }
        // Past b's three jobs, only a's remain, one per round.
        assert_eq!(r.pop_front(), Some((0, JobId { group: 0, index: 3 })));
        assert_eq!(r.pop_front(), Some((0, JobId { group: 0, index: 4 })));
        assert_eq!(r.len(), 100_000_003 - 8);
    }
}
