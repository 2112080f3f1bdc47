//! The simulator's vocabulary: handles, events, the states and micro-ops
//! of modelled threads, jobs in flight, costs in ns, and how one action
//! becomes micro-ops. Plain data and pure functions, shared by every part of
//! the simulator (`world.rs`, `gil.rs`, `sync.rs`, `exec.rs`, `deploy.rs`,
//! `sim.rs`) and the fast path, so that none of them needs another's.

use std::collections::VecDeque;
use std::time::Duration;

use super::clock::Ns;
use super::costs::Costs;
use crate::config::Guard;
use crate::metrics::TimeBreakdown;
use crate::plan::{Action, JobCursor, JobId};
use crate::work::counter::INCREMENT_COST;

/// Thread and task handles (indices into the simulator's slabs).
pub(super) type Tid = u32;
pub(super) type TaskId = u32;

/// Something scheduled for a virtual time. (Its `Default` fills the
/// places of the event queue's calendar that hold no event; it is never
/// run.)
#[derive(Debug, Clone, Copy)]
pub(super) enum Ev {
    /// The next job of an open-loop group is due.
    Open(u32),
    /// A closed client's next job is due (after its think time): group and
    /// job index (a `u32` group keeps an event at 16 bytes).
    Closed(u32, u64),
    /// A blocked thread resumes (token as in [`Thread::gen`]).
    Wake(Tid, u32),
    /// A GIL waiter's timed wait runs out.
    GilTimeout(Tid, u32),
    /// A notified GIL waiter runs again and looks at the GIL.
    GilWoken(Tid, u32),
    /// An async task's IO wait is over.
    IoDone(TaskId),
}

impl Default for Ev {
    fn default() -> Self {
        Ev::Open(0)
    }
}

/// What a thread is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    /// Started for one job, ends with it.
    Job,
    /// A pool or executor worker.
    Worker,
    /// A blocking-pool thread (spawn_blocking).
    Blocking,
    /// A worker of the CPU offload pool (cpu_mode = "rayon").
    Offload,
    /// The Python thread that feeds a pool under a GIL (`submit`).
    Submitter,
}

/// Why a thread is not running its ops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Block {
    /// Running (on the cores, or between ops).
    No,
    /// Idle, waiting for work.
    Idle,
    /// Starting, or woken to look for work.
    Start,
    /// In an IO sleep of this many ns.
    Sleep(u64),
    /// Waiting to take the GIL.
    Gil,
    /// Released the GIL on a drop request; waits for another to take it.
    Forced,
    /// Waiting for an application lock (granted when woken).
    Lock,
    /// A CPU segment on the cores.
    Cpu,
}

/// Kinds of CPU segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CpuKind {
    /// Interpreted work: under the GIL, checks the drop request every tick.
    Interp,
    /// Native work: no GIL.
    Native,
    /// gilsim's own per-job cost.
    Harness,
    /// Counter increments (50 ns each), checked after each.
    Counter {
        counter: u32,
        guard: Guard,
        switch_inside: bool,
    },
}

/// One step of a thread's work.
#[derive(Debug, Clone, Copy)]
pub(super) enum Op {
    /// The job starts on this thread (queue time ends).
    JobStart,
    /// Take the GIL (when this thread runs under it and does not hold it).
    GilAcquire,
    /// Release the GIL if held.
    GilRelease,
    /// Run `ns` of work on the cores.
    Cpu { ns: u64, kind: CpuKind },
    /// A blocking IO wait.
    Sleep(u64),
    /// An awaited IO wait: the task leaves the thread.
    AwaitIo(u64),
    /// The task's pending offloaded action ([`Task::offload`]): the task
    /// leaves the thread until it is done. (The action waits in the task,
    /// not here, so that an op stays 16 bytes.)
    Offload,
    /// Take a lock (releasing the GIL while blocked).
    LockTake(u32),
    /// Wait for a lock that was busy.
    LockWait(u32),
    /// Release a lock.
    LockRelease(u32),
    /// The job is complete: record it.
    EndJob,
    /// An offloaded action is complete: wake its task.
    OffloadDone,
    /// The submitting thread hands this task to its pool, or an asyncio
    /// loop's reader queues its first step.
    Submit(TaskId),
}

/// Whether a thread goes on with its next op.
pub(super) enum Flow {
    Continue,
    Blocked,
}

/// The current CPU segment of a thread.
#[derive(Debug, Clone, Copy)]
pub(super) struct Seg {
    pub ns: u64,
    pub kind: CpuKind,
    pub start_t: Ns,
    pub start_s: f64,
    /// Where the segment stops early (a drop request), in ns of its work.
    pub stop: Option<u64>,
}

/// One modelled OS thread.
pub(super) struct Thread {
    /// Token of the thread's live event; bumping it cancels the event.
    pub gen: u32,
    /// Token of its live CPU segment.
    pub cpu_gen: u32,
    /// Unique id over the run (thread slots are reused).
    pub serial: u64,
    pub role: Role,
    pub block: Block,
    pub task: Option<TaskId>,
    pub ops: VecDeque<Op>,
    /// Whether this thread's Python code runs under the run's GIL.
    pub gil_ctx: bool,
    pub holds_gil: bool,
    pub seg: Seg,
    /// When the current wait began.
    pub wait_began: Ns,
    /// GIL switch number when the current timed wait began.
    pub saved_sn: u64,
    /// When this waiter set the drop request.
    pub requested_at: Option<Ns>,
    /// An unguarded increment read before a forced switch: (counter, value).
    pub pending_write: Option<(u32, u64)>,
    /// Counter service clock when its segment began (parallel increments).
    pub counter_acc0: f64,
}

impl Thread {
    /// A new idle thread with run-wide id `serial`.
    pub fn new(serial: u64, role: Role, gil_ctx: bool) -> Self {
        Self {
            gen: 0,
            cpu_gen: 0,
            serial,
            role,
            block: Block::Idle,
            task: None,
            ops: VecDeque::new(),
            gil_ctx,
            holds_gil: false,
            seg: Seg {
                ns: 0,
                kind: CpuKind::Harness,
                start_t: 0,
                start_s: 0.0,
                stop: None,
            },
            wait_began: 0,
            saved_sn: 0,
            requested_at: None,
            pending_write: None,
            counter_acc0: 0.0,
        }
    }
}

/// One job in flight.
pub(super) struct Task<'p> {
    pub id: JobId,
    pub due: Ns,
    pub start: Option<Ns>,
    pub cursor: JobCursor<'p>,
    pub times: TimeBreakdown,
    /// Ops left over when the task left its thread (async).
    pub saved: VecDeque<Op>,
    /// When it last became ready to run (async).
    pub ready_at: Ns,
    /// Whether the cursor is exhausted and the end is queued.
    pub ending: bool,
    /// The action an [`Op::Offload`] queued on its thread sends away.
    pub offload: Option<Action>,
    /// Trace id of the thread that started it (for its job span).
    pub first_thread: u64,
}

/// Costs in ns.
#[derive(Debug, Clone, Copy)]
pub(super) struct CostNs {
    pub thread_start: Ns,
    pub wake: Ns,
    pub handoff: Ns,
    pub overshoot: Ns,
    pub job: Ns,
}

impl From<&Costs> for CostNs {
    fn from(c: &Costs) -> Self {
        Self {
            thread_start: Costs::ns(c.thread_start_us),
            wake: Costs::ns(c.wake_us),
            handoff: Costs::ns(c.gil_handoff_us),
            overshoot: Costs::ns(c.io_overshoot_us),
            job: Costs::ns(c.job_overhead_us),
        }
    }
}

/// `[gil.cost]` in ns.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct InterpNs {
    pub task: u64,
    pub resume: u64,
    pub io_call: u64,
    pub submit: u64,
    pub complete: u64,
}

/// How a thread expands an action run on it into micro-ops: whether it
/// runs under the GIL, where the counter locks begin, and the interpreter's
/// cost of an IO call.
#[derive(Debug, Clone, Copy)]
pub(super) struct SyncOps {
    /// Whether the thread's Python code runs under a GIL.
    pub gil: bool,
    /// Counter `c`'s lock (guard = lock) is lock `lock_base + c`.
    pub lock_base: u32,
    /// `[gil.cost] io_call`, in ns.
    pub io_call: u64,
}

impl SyncOps {
    /// Queues the micro-ops of one action run on the calling thread, as
    /// `RunShared::run_action_sync` runs it.
    pub fn push(self, action: Action, ops: &mut VecDeque<Op>) {
        use Op::*;
        let ns = |d: Duration| d.as_nanos() as u64;
        if self.gil {
            return self.push_with_gil_ops(action, ops);
        }
        // No GIL on this thread: its GIL ops would do nothing; leave them
        // out (the common case pays for fewer micro-ops, nothing else moves).
        match action {
            Action::Cpu(d) => ops.push_back(Cpu {
                ns: ns(d),
                kind: CpuKind::Interp,
            }),
            Action::Native(d) => ops.push_back(Cpu {
                ns: ns(d),
                kind: CpuKind::Native,
            }),
            Action::Io(d) => {
                ops.push_back(Sleep(ns(d)));
                interp_ops(self.io_call, ops);
            }
            Action::Lock { .. } | Action::Counter { .. } => self.push_with_gil_ops(action, ops),
        }
    }

    /// [`SyncOps::push`] with every GIL op written out.
    fn push_with_gil_ops(self, action: Action, ops: &mut VecDeque<Op>) {
        let Self {
            gil,
            lock_base,
            io_call,
        } = self;
        use Op::*;
        let ns = |d: Duration| d.as_nanos() as u64;
        match action {
            Action::Cpu(d) => ops.extend([
                GilAcquire,
                Cpu {
                    ns: ns(d),
                    kind: CpuKind::Interp,
                },
            ]),
            Action::Native(d) => ops.extend([
                GilRelease,
                Cpu {
                    ns: ns(d),
                    kind: CpuKind::Native,
                },
                GilAcquire,
            ]),
            Action::Io(d) => {
                // The Python side of the call runs under the GIL, after the
                // retake (as on the real engine: one GIL wait per operation).
                ops.extend([GilRelease, Sleep(ns(d)), GilAcquire]);
                interp_ops(io_call, ops);
            }
            Action::Lock { lock, cpu } => ops.extend([
                LockTake(lock as u32),
                GilAcquire,
                Cpu {
                    ns: ns(cpu),
                    kind: CpuKind::Interp,
                },
                LockRelease(lock as u32),
            ]),
            Action::Counter {
                counter,
                add,
                guard,
                switch_inside,
            } => {
                let work = add.saturating_mul(INCREMENT_COST.as_nanos() as u64);
                let kind = CpuKind::Counter {
                    counter: counter as u32,
                    guard,
                    switch_inside,
                };
                // Under a GIL a `lock` guard never loses updates and is not
                // contended unless a switch falls inside an increment: the step
                // runs as one segment. Without a GIL the increments serialize on
                // the counter's lock.
                if guard == Guard::Lock && !gil {
                    let l = lock_base + counter as u32;
                    ops.extend([LockTake(l), Cpu { ns: work, kind }, LockRelease(l)]);
                } else {
                    ops.extend([GilAcquire, Cpu { ns: work, kind }]);
                }
            }
        }
    }
}

/// Queues one interpreter cost (`[gil.cost]`): interpreted work under the
/// GIL, taken first if need be; nothing for a zero cost.
pub(super) fn interp_ops(ns: u64, ops: &mut VecDeque<Op>) {
    if ns > 0 {
        ops.extend([
            Op::GilAcquire,
            Op::Cpu {
                ns,
                kind: CpuKind::Interp,
            },
        ]);
    }
}
