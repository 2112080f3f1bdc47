//! Running a job as an async task.
//!
//! The GIL is never held across an `.await`: a task releases it before it
//! awaits and takes it back when it resumes, on whichever thread resumes
//! it. On a current-thread runtime this is asyncio's loop thread holding
//! the GIL while it runs callbacks and dropping it in `select()`.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use tracing::Instrument;

use super::wake::stamped;
use super::{GilSlot, JobGuard, JobTicket, RunShared};
use crate::metrics::TimeBreakdown;
use crate::plan::{Action, Plan, PlanStep};
use crate::stamp::Stamp;

/// What an async runtime must provide to run jobs.
pub trait AsyncPlatform: Send + Sync + 'static {
    /// Waits until `deadline` without blocking the executor thread,
    /// precisely (below the millisecond granularity of the usual timer
    /// wheels); returns at once if it has passed. Returns a reading of
    /// gilsim's clock ([`super::clock::stamp`]) taken as soon as the wait
    /// saw its deadline pass: when nothing follows the wait, the job ends
    /// there, and what the harness does to return from the wait is not
    /// counted in it.
    ///
    /// A deadline, not a length: the job sets it from the step's start
    /// reading, so what the harness does before the timer is armed (the
    /// wait's future, its timer taken from a free list) is inside the
    /// requested wait rather than added to it.
    fn sleep_until(&self, deadline: Instant) -> impl Future<Output = Stamp> + Send;

    /// Runs `f` on the runtime's blocking pool; `None` if it panicked.
    fn spawn_blocking<R, F>(&self, f: F) -> impl Future<Output = Option<R>> + Send
    where
        R: Send + 'static,
        F: FnOnce() -> R + Send + 'static;

    /// Called on the task's thread when the job starts, before each of its
    /// actions, before it waits for the GIL after an await, and when it
    /// ends: before anything that can keep the thread. A platform whose
    /// worker holds back other threads' wake-ups while the task it woke
    /// resumes sends them here.
    fn before_work(&self) {}
}

/// Where CPU-type actions of an async job run.
#[derive(Clone)]
pub enum Offload {
    /// On the task's own thread.
    Inline,
    /// On the runtime's blocking pool, under the GIL if there is one.
    Blocking,
    /// On a rayon pool, outside the GIL (a process pool).
    Rayon(Arc<rayon::ThreadPool>),
}

/// Runs job `ticket` as a task on `platform` (a plain value, not shared:
/// every reference count a task takes is a write to a cache line that the
/// driver and every worker write too).
///
/// A job that cannot await (see [`never_awaits`]) is better spawned as
/// `async move { shared.run_task_inline(ticket) }`: same accounting, a
/// task a tenth the size (each task is allocated, copied and faulted in).
pub fn run_job_async<P: AsyncPlatform>(
    shared: Arc<RunShared>,
    platform: P,
    offload: Offload,
    ticket: JobTicket,
) -> impl Future<Output = ()> + Send {
    // A plain function, not an `async fn`: that would keep its arguments
    // beside the inner future's copies of them, in every task.
    let span = tracing::trace_span!("job", group = %shared.plan.groups[ticket.id.group].name, job = ticket.id.index);
    run_job_inner(shared, platform, offload, ticket).instrument(span)
}

/// Whether a job of group `group` never awaits when its CPU-type actions
/// run on `offload`: only IO waits and offloaded actions await, so a group
/// without IO steps whose CPU work runs inline runs start to end in its
/// task's first poll.
pub fn never_awaits(plan: &Plan, group: usize, offload: &Offload) -> bool {
    fn has_io(steps: &[PlanStep]) -> bool {
        steps.iter().any(|s| match s {
            PlanStep::Io(_) => true,
            PlanStep::Repeat { steps, .. } => has_io(steps),
            _ => false,
        })
    }
    matches!(offload, Offload::Inline) && plan.groups.get(group).is_some_and(|g| !has_io(&g.steps))
}

impl RunShared {
    /// Runs a whole job that never awaits (see [`never_awaits`]) inside an
    /// async task, with [`run_job_async`]'s accounting: the task's creation
    /// cost (`[gil.cost] task`) first, then every action inline. Clock
    /// readings are shared between neighbouring CPU steps as on a thread
    /// ([`RunShared::run_job_sync`]).
    pub fn run_task_inline(&self, ticket: JobTicket) {
        let start = super::clock::stamp();
        let guard = JobGuard::new(self, ticket);
        super::trace_queue(ticket, start);
        let span = tracing::trace_span!("job", group = %self.plan.groups[ticket.id.group].name, job = ticket.id.index);
        let _enter = span.enter();
        let mut times = TimeBreakdown::default();
        let mut slot = GilSlot::new(self.gil.as_ref());
        let mut at = Some(start);
        at = self.charge(|c| c.task, &mut slot, &mut times).or(at);
        for action in self.actions(ticket.id) {
            at = self.run_action_timed(action, &mut slot, &mut times, at);
        }
        let end = at.unwrap_or_else(super::clock::stamp);
        slot.release();
        drop(slot);
        drop(_enter);
        guard.finish(start, end, times);
    }
}

async fn run_job_inner<P: AsyncPlatform>(
    shared: Arc<RunShared>,
    platform: P,
    offload: Offload,
    ticket: JobTicket,
) {
    platform.before_work();
    let start = super::clock::stamp();
    let guard = JobGuard::new(&shared, ticket);
    super::trace_queue(ticket, start);
    let mut times = TimeBreakdown::default();
    let mut slot = GilSlot::new(shared.gil.as_ref());
    // Creating the task and running its first step (asyncio.create_task).
    // The latest reading, while nothing the job does has happened since it:
    // it stands for the start of an IO wait that comes next, and for the
    // job's end after a wait resumed without a GIL to take back.
    let mut at = shared
        .charge(|c| c.task, &mut slot, &mut times)
        .or(Some(start));
    for action in shared.actions(ticket.id) {
        let began = at.take();
        platform.before_work();
        match (action, &offload) {
            (Action::Io(d), _) => {
                let began = shared
                    .charge(|c| c.io_call, &mut slot, &mut times)
                    .or(began);
                slot.release();
                let t = shared.wait_start(began);
                let (ended, woken) = stamped(platform.sleep_until(t.instant() + d))
                    .instrument(tracing::trace_span!(
                        "step",
                        kind = "io",
                        requested_us = d.as_micros() as u64
                    ))
                    .await;
                let ended = super::not_before(ended, t, d);
                times.split_wait(t.instant(), woken, ended.instant(), |tb| &mut tb.io);
                // Without a GIL resuming does nothing: the wait's own
                // reading is the step's end. With one, taking it back and
                // the resumption's cost belong to the job.
                at = shared.gil.is_none().then_some(ended);
                resume(&shared, &platform, &mut slot, &mut times);
            }
            // Counter updates are Python-level code of the coroutine itself.
            (Action::Counter { .. }, _) | (_, Offload::Inline) => {
                shared.run_action_sync(action, &mut slot, &mut times)
            }
            (_, Offload::Blocking) => {
                // loop.run_in_executor: submit on the loop thread, complete
                // on the worker, resume the task on the loop.
                shared.charge(|c| c.submit, &mut slot, &mut times);
                slot.release();
                let job = offloaded(shared.clone(), action, true);
                let (sub, woken) = stamped(platform.spawn_blocking(job)).await;
                times.add_offloaded(sub, woken);
                resume(&shared, &platform, &mut slot, &mut times);
            }
            (_, Offload::Rayon(pool)) => {
                slot.release();
                let job = offloaded(shared.clone(), action, false);
                let (sub, woken) = stamped(on_rayon(pool, job)).await;
                times.add_offloaded(sub, woken);
                resume(&shared, &platform, &mut slot, &mut times);
            }
        }
    }
    let end = at.unwrap_or_else(super::clock::stamp);
    slot.release();
    drop(slot);
    guard.finish(start, end, times);
    platform.before_work();
}

/// Takes the GIL back after an await and charges the task's resumption.
/// A wait for the GIL can keep the thread, so the platform's
/// [`AsyncPlatform::before_work`] comes first; without a GIL it comes at
/// the next action or the job's end, after the wait's end is measured.
fn resume<P: AsyncPlatform>(
    shared: &RunShared,
    platform: &P,
    slot: &mut GilSlot<'_>,
    times: &mut TimeBreakdown,
) {
    if slot.may_block() {
        platform.before_work();
    }
    slot.acquire(times);
    shared.charge(|c| c.resume, slot, times);
}

/// A closure that runs `action` on another thread and returns its time
/// breakdown, counting the wait for that thread as `offload_wait`.
fn offloaded(
    shared: Arc<RunShared>,
    action: Action,
    under_gil: bool,
) -> impl FnOnce() -> TimeBreakdown + Send + 'static {
    let queued = Instant::now();
    move || {
        let mut times = TimeBreakdown {
            offload_wait: queued.elapsed(),
            ..Default::default()
        };
        let gil = if under_gil { shared.gil.as_ref() } else { None };
        let mut slot = GilSlot::new(gil);
        slot.acquire(&mut times);
        shared.run_action_sync(action, &mut slot, &mut times);
        if under_gil {
            shared.charge(|c| c.complete, &mut slot, &mut times);
        }
        slot.release();
        times
    }
}

/// Runs `f` on a rayon pool and awaits its result.
async fn on_rayon<R: Send + 'static>(
    pool: &rayon::ThreadPool,
    f: impl FnOnce() -> R + Send + 'static,
) -> Option<R> {
    let (tx, rx) = futures_channel::oneshot::channel();
    pool.spawn(move || {
        let _ = tx.send(f());
    });
    rx.await.ok()
}
