//! Application locks and shared counters in virtual time.
//!
//! A lock is handed to its waiters in FIFO order; a waiter that held the
//! GIL released it first and takes it back once it has the lock, as
//! `threading.Lock.acquire` does. Counters keep their value; unguarded
//! increments lose updates in two ways:
//! - under a GIL with `switch_inside`, a forced switch lands between the
//!   read and the write: the thread writes its stale value + 1 when it runs
//!   again, overwriting every increment made meanwhile;
//! - without a GIL, threads incrementing the same counter at the same time
//!   overwrite each other: with `a` of them running, each read-modify-write
//!   survives with probability 1/a (they interleave in lockstep), so the
//!   counter advances by one increment's worth of work per 50 ns across
//!   them. `a` counts writers on a core at the same instant: a writer, plus
//!   each other writer's chance to be on another core then (with `k`
//!   runnable threads on `n` cores, (n-1)/(k-1) at most 1). This is tracked as a service clock per counter that advances by
//!   (each thread's service) / a.

use std::collections::VecDeque;

use super::ops::{Block, Ev, Flow, Op, Thread, Tid};
use super::world::World;
use crate::config::Guard;
use crate::plan::Plan;
use crate::work::counter::INCREMENT_COST;

/// One application lock (or a counter's lock for `guard = "lock"`).
#[derive(Debug, Default)]
pub(super) struct LockState {
    holder: Option<Tid>,
    waiters: VecDeque<Tid>,
}

/// One shared counter.
#[derive(Debug, Default)]
pub(super) struct CounterState {
    /// Its value.
    pub value: u64,
    /// Threads incrementing it in parallel without a guard or a GIL.
    pub active: u32,
    /// Work each of them has got done so far, divided among them.
    pub acc: f64,
}

/// The run's application locks and counters (every process's: see
/// `deploy.rs`).
#[derive(Debug, Default)]
pub(super) struct SyncState {
    /// Every process's application locks, then every process's counter
    /// locks (`guard = "lock"`).
    pub locks: Vec<LockState>,
    /// Every process's counters, process by process.
    pub counters: Vec<CounterState>,
}

impl SyncState {
    /// The locks and counters of `processes` copies of `plan`'s.
    pub fn new(plan: &Plan, processes: usize) -> Self {
        let n = processes.max(1);
        Self {
            locks: (0..(plan.locks.len() + plan.counters.len()) * n)
                .map(|_| LockState::default())
                .collect(),
            counters: (0..plan.counters.len() * n)
                .map(|_| CounterState::default())
                .collect(),
        }
    }

    /// `lock.acquire()`: takes a free lock, else releases the GIL and waits.
    pub(super) fn lock_take(&mut self, w: &mut World<'_>, tid: Tid, l: u32) -> Flow {
        let lock = &mut self.locks[l as usize];
        if lock.holder.is_none() {
            lock.holder = Some(tid);
            return Flow::Continue;
        }
        let th = &mut w.threads[tid as usize];
        if th.holds_gil {
            th.ops.push_front(Op::GilAcquire);
            th.ops.push_front(Op::LockWait(l));
            th.ops.push_front(Op::GilRelease);
        } else {
            th.ops.push_front(Op::LockWait(l));
        }
        Flow::Continue
    }

    /// Waits for a busy lock (the GIL already released).
    pub(super) fn lock_wait(&mut self, w: &mut World<'_>, tid: Tid, l: u32) -> Flow {
        let lock = &mut self.locks[l as usize];
        if lock.holder.is_none() {
            lock.holder = Some(tid);
            return Flow::Continue;
        }
        lock.waiters.push_back(tid);
        let th = &mut w.threads[tid as usize];
        th.gen = th.gen.wrapping_add(1);
        th.block = Block::Lock;
        th.wait_began = w.now;
        Flow::Blocked
    }

    /// Releases a lock, handing it to the first waiter.
    pub(super) fn lock_release(&mut self, w: &mut World<'_>, l: u32) {
        let lock = &mut self.locks[l as usize];
        lock.holder = lock.waiters.pop_front();
        if let Some(waiter) = lock.holder {
            let th = &mut w.threads[waiter as usize];
            th.gen = th.gen.wrapping_add(1);
            let gen = th.gen;
            w.q.push(w.now + w.costs.wake, Ev::Wake(waiter, gen));
        }
    }

    /// Applies a counter segment of `th` that ran `done` ns of its work;
    /// `stopped` when a forced switch interrupted it, `landed_inside` when
    /// that switch fell between a read and its write.
    pub(super) fn counter_progress(
        &mut self,
        th: &mut Thread,
        counter: u32,
        guard: Guard,
        landed_inside: bool,
        done: u64,
        stopped: bool,
    ) {
        let inc = INCREMENT_COST.as_nanos() as u64;
        let k = done / inc;
        let c = &mut self.counters[counter as usize];
        if guard == Guard::None && !th.holds_gil {
            c.active = c.active.saturating_sub(1);
            let gained = ((c.acc - th.counter_acc0) / inc as f64).round().max(0.0) as u64;
            c.value = c.value.wrapping_add(gained.min(k));
        } else if stopped && landed_inside && guard == Guard::None && k > 0 {
            // The check before the write: the last increment read its
            // value and is written after the switch.
            c.value = c.value.wrapping_add(k - 1);
            th.pending_write = Some((counter, c.value));
        } else {
            c.value = c.value.wrapping_add(k);
        }
    }
}
