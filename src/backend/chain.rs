//! Closed-loop clients that go on where their previous job ended.
//!
//! A closed-loop client's next job is due when its previous one ends (plus
//! its think time). Submitted by the driver, that job waited for two
//! wake-ups the client itself never makes: the finishing worker woke the
//! driver (a futex), and the driver's submission woke a worker. Both showed
//! in the next job's queue time, which counts from the previous job's end:
//! 20–30 µs per job on a 2-core VM, harness cost that a real client, which
//! sends its next request from where the previous reply arrived, does not
//! pay. So when the next job is due at once (no think time), nothing is
//! held back at the in-flight bound and the run is not stopping, the
//! finishing job's thread submits it to the same executor itself
//! ([`ClientChain::on_done`], hooked in as [`crate::exec::NextJob`]); the
//! driver only counts it. Otherwise the completion goes to the driver as
//! before.
//!
//! Which backends chain ([`ClientChain::applies`]): those whose queue a job
//! joins alike from the driver and from a worker
//! ([`super::Backend::queues_alike_from_workers`]), and every backend when
//! the plan never has more than one job in flight ([`lone_client`]: one
//! closed-loop client and nothing else). On a work-stealing runtime a
//! worker's own spawn goes to its local queue, ahead of jobs injected from
//! outside; with one job in flight there is nothing to go ahead of, so the
//! order is the same either way, and the driver's two wake-ups would be
//! harness cost alone. Measured on a 2-core VM, one client waiting 200 µs
//! or 1 ms per job: through the driver, 13–62 µs of queue time per job at
//! p50 on rayon, tokio, async-std and smol; chained, 1–13 µs. The waits
//! themselves (service time) mostly got shorter or stayed, except
//! async-std's 1 ms waits, 6–19 µs longer run by run (docs/harness.md,
//! thirteenth pass).
//!
//! The in-flight bound still holds: a chained job replaces the one that
//! ended, and is counted as submitted before that one is counted as
//! completed. A job held back at the bound keeps its place: while any is
//! held back, clients go through the driver, whose queue is first come,
//! first served.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;

use super::Executor;
use crate::error::RunError;
use crate::exec::{warmup_of, Done, JobTicket};
use crate::plan::{ArrivalPlan, JobId, Plan};
use crate::stamp::Stamp;
use crate::stop;

/// What a run's jobs and its driver share to let clients go on by
/// themselves.
pub(super) struct ClientChain {
    plan: Arc<Plan>,
    /// The run's executor, once launched; taken out at shutdown.
    exec: RwLock<Option<Box<dyn Executor>>>,
    /// Cleared by the driver once it submits no more jobs.
    open: AtomicBool,
    /// Set by the driver while jobs wait for an in-flight slot.
    backlog: AtomicBool,
    /// Jobs submitted here (a failed submission is taken back).
    submitted: AtomicU64,
    warmup_jobs: u64,
    /// The earliest due time of a measured job submitted here, as a
    /// [`Stamp`]'s ns (`u64::MAX`: none).
    first_measured: AtomicU64,
}

impl ClientChain {
    /// A chain for `plan`'s closed-loop groups, when it has any.
    pub fn for_plan(plan: &Arc<Plan>, warmup_jobs: u64) -> Option<Arc<Self>> {
        let closed = plan
            .groups
            .iter()
            .any(|g| matches!(g.arrival, ArrivalPlan::Closed { .. }));
        closed.then(|| {
            Arc::new(Self {
                plan: plan.clone(),
                exec: RwLock::new(None),
                open: AtomicBool::new(true),
                backlog: AtomicBool::new(false),
                submitted: AtomicU64::new(0),
                warmup_jobs,
                first_measured: AtomicU64::new(u64::MAX),
            })
        })
    }

    /// Whether finishing jobs of `plan` on a backend submit their clients'
    /// next jobs themselves: when the backend queues a worker's
    /// submission as it queues the driver's, or when `plan` never has
    /// more than one job in flight ([`lone_client`]).
    pub fn applies(plan: &Plan, queues_alike_from_workers: bool) -> bool {
        queues_alike_from_workers || lone_client(plan)
    }

    /// Hands the launched executor to the chain; the driver then submits
    /// through [`Chained`].
    pub fn set_executor(&self, exec: Box<dyn Executor>) {
        *self.exec.write() = Some(exec);
    }

    /// Called on the thread job `done` ended on: submits its client's next
    /// job there and returns true, or returns false to leave it to the
    /// driver.
    pub fn on_done(&self, done: Done) -> bool {
        let Some(group) = self.plan.groups.get(done.id.group) else {
            return false;
        };
        let ArrivalPlan::Closed { clients, .. } = &group.arrival else {
            return false;
        };
        let next = JobId {
            group: done.id.group,
            index: done.id.index + clients,
        };
        if next.index >= group.jobs
            || self.backlog.load(Ordering::SeqCst)
            || stop::requested()
            || self.plan.think_before(next) != Duration::ZERO
        {
            return false;
        }
        // Counted before the check of `open` and before the ended job is
        // rung: the driver, reading the ring count first and this after,
        // never sees fewer jobs in flight than there are.
        self.submitted.fetch_add(1, Ordering::SeqCst);
        let ticket = JobTicket {
            id: next,
            due: done.end,
        };
        let submitted = self.open.load(Ordering::SeqCst)
            && matches!(
                self.exec.read().as_deref().map(|e| e.submit(ticket)),
                Some(Ok(()))
            );
        if !submitted {
            self.submitted.fetch_sub(1, Ordering::SeqCst);
            return false;
        }
        if next.index >= warmup_of(&self.plan, next.group, self.warmup_jobs) {
            self.first_measured
                .fetch_min(done.end.ns(), Ordering::Relaxed);
        }
        true
    }

    /// Jobs submitted by finishing jobs so far.
    pub fn submitted(&self) -> u64 {
        self.submitted.load(Ordering::SeqCst)
    }

    /// Tells the jobs whether any is held back at the in-flight bound.
    pub fn set_backlog(&self, held: bool) {
        if self.backlog.load(Ordering::Relaxed) != held {
            self.backlog.store(held, Ordering::SeqCst);
        }
    }

    /// The driver submits no more: neither may the jobs.
    pub fn close(&self) {
        self.open.store(false, Ordering::SeqCst);
    }

    /// The earliest due time of a measured job submitted here.
    pub fn first_measured_due(&self) -> Option<Stamp> {
        match self.first_measured.load(Ordering::Relaxed) {
            u64::MAX => None,
            ns => Some(Stamp::from_ns(ns)),
        }
    }
}

/// Whether `plan` is one closed-loop client and nothing else, so that at
/// most one of its jobs is ever in flight: a client's next job is due only
/// once its previous one has ended. With only closed-loop groups, the jobs
/// due at the start ([`Plan::initial_jobs`]) are one per client, each
/// group's clients counted up to its jobs.
pub(super) fn lone_client(plan: &Plan) -> bool {
    let only_clients = plan
        .groups
        .iter()
        .all(|g| g.jobs == 0 || matches!(g.arrival, ArrivalPlan::Closed { .. }));
    only_clients && plan.initial_jobs().remaining() == 1
}

/// The executor as the driver sees it when jobs may submit too.
pub(super) struct Chained(pub Arc<ClientChain>);

impl Executor for Chained {
    fn submit(&self, ticket: JobTicket) -> Result<(), RunError> {
        // The executor is set right after launch and taken out only at
        // shutdown, after the driver's last submission.
        match self.0.exec.read().as_deref() {
            Some(e) => e.submit(ticket),
            None => {
                debug_assert!(false, "submitted after shutdown");
                Ok(())
            }
        }
    }

    fn shutdown(self: Box<Self>) {
        self.0.close();
        // Out of the lock first: shutting down joins the workers, and a
        // worker may be waiting for a read lock.
        let exec = self.0.exec.write().take();
        if let Some(e) = exec {
            e.shutdown();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Arrival, DurationSpec};
    use parking_lot::Mutex;

    /// Keeps what it is given.
    struct Keep(Arc<Mutex<Vec<JobTicket>>>);

    impl Executor for Keep {
        fn submit(&self, ticket: JobTicket) -> Result<(), RunError> {
            self.0.lock().push(ticket);
            Ok(())
        }
        fn shutdown(self: Box<Self>) {}
    }

    fn plan(groups: Vec<(u64, Arrival)>) -> Arc<Plan> {
        super::super::driver::tests::set_of(groups)
    }

    fn closed(clients: u64, think: Option<Duration>) -> Arrival {
        Arrival::Closed {
            clients,
            think: think.map(DurationSpec::Fixed),
        }
    }

    fn done(group: usize, index: u64) -> Done {
        Done {
            id: JobId { group, index },
            end: Stamp::now(),
        }
    }

    #[test]
    fn only_plans_with_a_closed_group_get_a_chain() {
        assert!(ClientChain::for_plan(&plan(vec![(5, Arrival::Batch)]), 0).is_none());
        assert!(
            ClientChain::for_plan(&plan(vec![(5, Arrival::Batch), (5, closed(1, None))]), 0)
                .is_some()
        );
    }

    #[test]
    fn only_a_plan_of_one_client_alone_is_a_lone_client() {
        let batch = |n| (n, Arrival::Batch);
        let open = Arrival::Open {
            rate: 100.0,
            process: crate::config::ArrivalProcess::Poisson,
        };
        assert!(lone_client(&plan(vec![(10, closed(1, None))])));
        let think = Some(Duration::from_micros(50));
        assert!(lone_client(&plan(vec![(10, closed(1, think))])));
        assert!(
            lone_client(&plan(vec![(1, closed(3, None))])),
            "three clients of one job between them: one job"
        );
        assert!(!lone_client(&plan(vec![(10, closed(2, None))])));
        assert!(!lone_client(&plan(vec![
            (10, closed(1, None)),
            (10, closed(1, None))
        ])));
        assert!(!lone_client(&plan(vec![(10, closed(1, None)), batch(1)])));
        assert!(!lone_client(&plan(vec![(10, open)])));
        assert!(!lone_client(&plan(vec![batch(1)])), "no client at all");
        assert!(ClientChain::applies(
            &plan(vec![(10, closed(1, None))]),
            false
        ));
        assert!(!ClientChain::applies(
            &plan(vec![(10, closed(2, None))]),
            false
        ));
        assert!(ClientChain::applies(
            &plan(vec![(10, closed(2, None))]),
            true
        ));
    }

    #[test]
    fn a_client_goes_on_with_its_next_job_due_at_the_previous_end() {
        let chain = ClientChain::for_plan(&plan(vec![(10, closed(3, None))]), 0).unwrap();
        let kept = Arc::new(Mutex::new(Vec::new()));
        chain.set_executor(Box::new(Keep(kept.clone())));
        let d = done(0, 4);
        assert!(chain.on_done(d));
        assert_eq!(chain.submitted(), 1);
        let t = kept.lock()[0];
        assert_eq!(t.id, JobId { group: 0, index: 7 });
        assert_eq!(t.due, d.end);
        assert!(!chain.on_done(done(0, 7)), "job 10 does not exist");
        assert_eq!(chain.submitted(), 1);
    }

    #[test]
    fn the_driver_keeps_what_it_must_decide() {
        let p = plan(vec![
            (10, closed(1, Some(Duration::from_millis(1)))),
            (10, closed(1, None)),
            (10, Arrival::Batch),
        ]);
        let chain = ClientChain::for_plan(&p, 0).unwrap();
        assert!(!chain.on_done(done(1, 0)), "no executor yet");
        let kept = Arc::new(Mutex::new(Vec::new()));
        chain.set_executor(Box::new(Keep(kept.clone())));
        assert!(!chain.on_done(done(0, 0)), "a think time: due later");
        assert!(!chain.on_done(done(2, 0)), "not a closed-loop group");
        chain.set_backlog(true);
        assert!(!chain.on_done(done(1, 0)), "jobs are held back");
        chain.set_backlog(false);
        assert!(chain.on_done(done(1, 0)));
        chain.close();
        assert!(!chain.on_done(done(1, 1)), "the driver stopped");
        assert_eq!(chain.submitted(), 1, "refused submissions are taken back");
        assert_eq!(kept.lock().len(), 1);
    }

    #[test]
    fn the_first_measured_due_time_counts_past_the_warm_up() {
        let chain = ClientChain::for_plan(&plan(vec![(10, closed(1, None))]), 2).unwrap();
        chain.set_executor(Box::new(Keep(Arc::new(Mutex::new(Vec::new())))));
        assert!(chain.on_done(done(0, 0)));
        assert_eq!(chain.first_measured_due(), None, "job 1 is warm-up");
        let d = done(0, 1);
        assert!(chain.on_done(d));
        assert_eq!(chain.first_measured_due(), Some(d.end));
    }

    #[test]
    fn shutdown_through_the_chain_stops_the_executor_and_closes_it() {
        let chain = ClientChain::for_plan(&plan(vec![(10, closed(1, None))]), 0).unwrap();
        let kept = Arc::new(Mutex::new(Vec::new()));
        chain.set_executor(Box::new(Keep(kept.clone())));
        let exec = Box::new(Chained(chain.clone()));
        exec.submit(JobTicket {
            id: JobId { group: 0, index: 0 },
            due: Stamp::now(),
        })
        .unwrap();
        assert_eq!(kept.lock().len(), 1);
        exec.shutdown();
        assert!(!chain.on_done(done(0, 0)));
        assert!(chain.exec.read().is_none());
    }
}
