//! The GIL protocol in virtual time: `take_gil` / `drop_gil` of CPython's
//! "new GIL" as `src/work/gil.rs` implements it, event by event.
//!
//! - A thread that finds the GIL held waits on the condition for at most
//!   `switch_interval` (plus the timer's overshoot). If it timed out, the GIL
//!   is still held and no switch happened meanwhile, it sets the drop
//!   request, and waits again.
//! - The holder sees the drop request at its next eval-breaker check: after
//!   the tick of interpreted work in progress (`[gil] tick`), or the counter
//!   increment in progress. It then releases the GIL and, because the
//!   request was pending (FORCE_SWITCHING), waits until another thread has
//!   taken it before it asks again.
//! - A release signals one waiter, chosen as glibc's condition variable
//!   does under CPython ([`crate::work::gil::WakeOrder`]): the oldest entry
//!   of the older group, or, at a forced release whose holder checked the
//!   request inside the requester's wait-entry window, the requester. The
//!   woken thread runs `gil_handoff` later and takes the GIL if it is still
//!   free; a thread that comes back from IO in between takes it first
//!   (barging), and the woken waiter waits again with a fresh interval.
//!   That retake against a CPU-bound holder is the convoy effect.
//! - Waiters are kept in order of entry into their current wait; a
//!   timed-out waiter enters again at the back.

use std::collections::VecDeque;
use std::time::Duration;

use hdrhistogram::Histogram;
use rand::Rng;

use super::clock::Ns;
use super::ops::{Block, Ev, Flow, Thread, Tid};
use super::world::World;
use crate::config::GilSettings;
use crate::metrics::new_histogram;
use crate::work::gil::requester_wins;

/// The GIL's state and statistics.
pub(super) struct GilState {
    interval: Ns,
    timer_slack: Ns,
    locked: bool,
    pub holder: Option<Tid>,
    /// Serial of the thread that holds or last held it (0: nobody).
    last_holder: u64,
    switch_number: u64,
    pub drop_request: bool,
    /// Waiting on the condition: (thread, its wait token, entry number), in
    /// entry order. Entries whose token is stale were woken or timed out
    /// and are skipped.
    waiters: VecDeque<(Tid, u32, u64)>,
    /// Entry number of the next wait (glibc's `__wseq`).
    next_seq: u64,
    /// Entries numbered below this are the older group, G1.
    g1_end: u64,
    /// The pending drop request: (requester, when).
    request: Option<(Tid, Ns)>,
    /// The holder that saw the drop request at its check, and when: its
    /// next release is the forced one.
    pub noticed: Option<(Tid, Ns)>,
    /// Forced releases whose signal went to the requester.
    pub requester_wakes: u64,
    /// Threads that released on a drop request and wait for a switch.
    forced: Vec<Tid>,
    hold_start: Ns,
    pub acquisitions: u64,
    pub forced_switches: u64,
    pub wait_ns: u64,
    pub hold_us: Histogram<u64>,
    pub handoff_us: Histogram<u64>,
    /// Every hold (serial, start, end), when a trace asked for them.
    pub holds: Option<Vec<(u64, Ns, Ns)>>,
}

impl GilState {
    /// A free GIL.
    pub fn new(settings: GilSettings, record_holds: bool) -> Self {
        Self {
            interval: settings.switch_interval.as_nanos() as Ns,
            timer_slack: settings.timer_slack.as_nanos() as Ns,
            locked: false,
            holder: None,
            last_holder: 0,
            switch_number: 0,
            drop_request: false,
            waiters: VecDeque::new(),
            next_seq: 0,
            g1_end: 0,
            request: None,
            noticed: None,
            requester_wakes: 0,
            forced: Vec::new(),
            hold_start: 0,
            acquisitions: 0,
            forced_switches: 0,
            wait_ns: 0,
            hold_us: new_histogram(),
            handoff_us: new_histogram(),
            holds: record_holds.then(Vec::new),
        }
    }
}

/// Most GIL holds kept for a trace.
const MAX_HOLDS: usize = crate::trace::DEFAULT_LIMIT;

impl GilState {
    /// `take_gil` by `tid`.
    pub(super) fn acquire(&mut self, w: &mut World<'_>, tid: Tid) -> Flow {
        let th = &w.threads[tid as usize];
        if !th.gil_ctx || th.holds_gil {
            return Flow::Continue;
        }
        if !self.locked {
            self.take(w, tid);
            return Flow::Continue;
        }
        let th = &mut w.threads[tid as usize];
        th.block = Block::Gil;
        th.wait_began = w.now;
        th.requested_at = None;
        self.wait_again(w, tid);
        Flow::Blocked
    }

    /// A timed wait on the GIL's condition.
    fn wait_again(&mut self, w: &mut World<'_>, tid: Tid) {
        let th = &mut w.threads[tid as usize];
        th.gen = th.gen.wrapping_add(1);
        th.saved_sn = self.switch_number;
        self.waiters.push_back((tid, th.gen, self.next_seq));
        self.next_seq += 1;
        // The timed wait ends up to `timer_slack` late (the kernel's
        // hrtimer range), then the thread needs waking: that jitter is what
        // reorders the waiters at each switch (docs/gil.md §5).
        let gen = th.gen;
        let slack = w.rng.random_range(0..=self.timer_slack);
        let at = w.now + self.interval + slack + w.costs.wake;
        w.q.push(at, Ev::GilTimeout(tid, gen));
    }

    /// A waiter's timed wait ran out; true when it took the GIL and runs
    /// on.
    pub(super) fn timeout(&mut self, w: &mut World<'_>, tid: Tid) -> bool {
        if !self.locked {
            self.take(w, tid);
            return true;
        }
        if self.switch_number == w.threads[tid as usize].saved_sn {
            self.drop_request = true;
            self.request = Some((tid, w.now));
            let holder = self.holder;
            let now = w.now;
            w.threads[tid as usize].requested_at.get_or_insert(now);
            if let Some(h) = holder {
                w.interrupt_holder(h);
            }
        }
        self.wait_again(w, tid);
        false
    }

    /// A notified waiter runs again; true when it took the GIL and runs on.
    pub(super) fn woken(&mut self, w: &mut World<'_>, tid: Tid) -> bool {
        if self.locked {
            self.wait_again(w, tid);
            false
        } else {
            self.take(w, tid);
            true
        }
    }

    /// `tid` takes the free GIL.
    fn take(&mut self, w: &mut World<'_>, tid: Tid) {
        let now = w.now;
        let wake = w.costs.wake;
        let serial = w.threads[tid as usize].serial;
        self.locked = true;
        self.holder = Some(tid);
        if self.last_holder != serial {
            self.last_holder = serial;
            self.switch_number += 1;
            // switch_cond: every thread waiting for a switch may go on.
            for f in std::mem::take(&mut self.forced) {
                let th = &mut w.threads[f as usize];
                th.gen = th.gen.wrapping_add(1);
                let gen = th.gen;
                w.q.push(now + wake, Ev::Wake(f, gen));
            }
        }
        self.hold_start = now;
        self.drop_request = false;
        self.request = None;
        self.acquisitions += 1;
        let th = &mut w.threads[tid as usize];
        th.holds_gil = true;
        if th.block == Block::Gil {
            th.block = Block::No;
            let waited = now - th.wait_began;
            self.wait_ns += waited;
            if let Some(at) = th.requested_at.take() {
                self.handoff_us.saturating_record((now - at) / 1_000);
            }
            let began = th.wait_began;
            w.charge(tid, |t| &mut t.gil_wait, waited);
            w.span(tid, "gil_wait", began, None);
        }
    }

    /// `drop_gil` by `tid`, if it holds the GIL.
    pub(super) fn release(&mut self, w: &mut World<'_>, tid: Tid) -> Flow {
        let now = w.now;
        let handoff = w.costs.handoff;
        let th = &w.threads[tid as usize];
        let serial = th.serial;
        if !th.gil_ctx || !th.holds_gil {
            return Flow::Continue;
        }
        self.locked = false;
        self.holder = None;
        self.hold_us
            .saturating_record((now - self.hold_start) / 1_000);
        if let Some(h) = &mut self.holds {
            if h.len() < MAX_HOLDS {
                h.push((serial, self.hold_start, now));
            }
        }
        w.threads[tid as usize].holds_gil = false;
        if let Some(waiter) = self.signal(&w.threads, tid) {
            let wt = &mut w.threads[waiter as usize];
            wt.gen = wt.gen.wrapping_add(1);
            let gen = wt.gen;
            w.q.push(now + handoff, Ev::GilWoken(waiter, gen));
        }
        if self.drop_request && self.last_holder == serial {
            self.drop_request = false;
            self.forced.push(tid);
            let th = &mut w.threads[tid as usize];
            th.gen = th.gen.wrapping_add(1);
            th.block = Block::Forced;
            th.wait_began = now;
            return Flow::Blocked;
        }
        Flow::Continue
    }

    /// pthread_cond_signal at `tid`'s release (see `WakeOrder`): skips the
    /// entries at the front that were woken or timed out, switches groups
    /// when G1 is empty, then takes the requester if the holder checked
    /// inside its wait-entry window, else the oldest live entry. Returns
    /// the waiter to wake.
    fn signal(&mut self, threads: &[Thread], tid: Tid) -> Option<Tid> {
        let live = |w: Tid, gen: u32| {
            let wt = &threads[w as usize];
            wt.gen == gen && wt.block == Block::Gil
        };
        while self
            .waiters
            .front()
            .is_some_and(|&(w, gen, _)| !live(w, gen))
        {
            self.waiters.pop_front();
        }
        let noticed = self.noticed.take().filter(|&(t, _)| t == tid);
        let &(_, _, first) = self.waiters.front()?;
        if first >= self.g1_end {
            self.g1_end = self.next_seq;
        }
        let react = noticed
            .zip(self.request)
            .map(|((_, at), (_, asked))| at.saturating_sub(asked));
        let requester = match (react, self.request) {
            (Some(react), Some((r, _))) if requester_wins(Duration::from_nanos(react)) => {
                let g1_end = self.g1_end;
                self.waiters
                    .iter()
                    .rposition(|&(w, gen, seq)| w == r && seq < g1_end && live(w, gen))
            }
            _ => None,
        };
        if requester.is_some() {
            self.requester_wakes += 1;
        }
        self.waiters
            .remove(requester.unwrap_or(0))
            .map(|(w, _, _)| w)
    }

    /// A thread that released on a drop request saw another take the GIL:
    /// its wait is charged (and counted by the GIL, if there is one).
    pub(super) fn forced_wait_over(gil: Option<&mut Self>, w: &mut World<'_>, tid: Tid) {
        let began = w.threads[tid as usize].wait_began;
        let waited = w.now - began;
        if let Some(g) = gil {
            g.wait_ns += waited;
        }
        w.charge(tid, |t| &mut t.gil_wait, waited);
        w.span(tid, "gil_wait", began, Some("forced=true"));
    }

    /// Closes a hold still open at `now`, the end (none should be).
    pub(super) fn finish_hold(&mut self, now: Ns) {
        if self.locked {
            self.hold_us
                .saturating_record((now - self.hold_start) / 1_000);
        }
    }
}
