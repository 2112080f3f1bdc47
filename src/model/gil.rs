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
use super::sim::{Block, Ev, Flow, Sim, Tid};
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

impl Sim<'_> {
    /// `take_gil` by `tid`.
    pub(super) fn gil_acquire(&mut self, tid: Tid) -> Flow {
        let th = &self.threads[tid as usize];
        let Some(g) = &self.gil else {
            return Flow::Continue;
        };
        if !th.gil_ctx || th.holds_gil {
            return Flow::Continue;
        }
        if !g.locked {
            self.gil_take(tid);
            return Flow::Continue;
        }
        let th = &mut self.threads[tid as usize];
        th.block = Block::Gil;
        th.wait_began = self.now;
        th.requested_at = None;
        self.gil_wait_again(tid);
        Flow::Blocked
    }

    /// A timed wait on the GIL's condition.
    fn gil_wait_again(&mut self, tid: Tid) {
        let Some(g) = &mut self.gil else { return };
        let th = &mut self.threads[tid as usize];
        th.gen = th.gen.wrapping_add(1);
        th.saved_sn = g.switch_number;
        g.waiters.push_back((tid, th.gen, g.next_seq));
        g.next_seq += 1;
        // The timed wait ends up to `timer_slack` late (the kernel's
        // hrtimer range), then the thread needs waking: that jitter is what
        // reorders the waiters at each switch (docs/gil.md §5).
        let slack = self.rng.random_range(0..=g.timer_slack);
        let at = self.now + g.interval + slack + self.costs.wake;
        self.q.push(at, Ev::GilTimeout(tid, th.gen));
    }

    /// A waiter's timed wait ran out.
    pub(super) fn gil_timeout(&mut self, tid: Tid) {
        let Some(g) = &mut self.gil else { return };
        if !g.locked {
            self.gil_take(tid);
            self.resume(tid);
            return;
        }
        if g.switch_number == self.threads[tid as usize].saved_sn {
            g.drop_request = true;
            g.request = Some((tid, self.now));
            let holder = g.holder;
            let th = &mut self.threads[tid as usize];
            th.requested_at.get_or_insert(self.now);
            if let Some(h) = holder {
                self.interrupt_holder(h);
            }
        }
        self.gil_wait_again(tid);
    }

    /// A notified waiter runs again.
    pub(super) fn gil_woken(&mut self, tid: Tid) {
        let Some(g) = &self.gil else { return };
        if g.locked {
            self.gil_wait_again(tid);
        } else {
            self.gil_take(tid);
            self.resume(tid);
        }
    }

    /// `tid` takes the free GIL.
    fn gil_take(&mut self, tid: Tid) {
        let now = self.now;
        let wake = self.costs.wake;
        let serial = self.threads[tid as usize].serial;
        let Some(g) = &mut self.gil else { return };
        g.locked = true;
        g.holder = Some(tid);
        if g.last_holder != serial {
            g.last_holder = serial;
            g.switch_number += 1;
            // switch_cond: every thread waiting for a switch may go on.
            for f in std::mem::take(&mut g.forced) {
                let th = &mut self.threads[f as usize];
                th.gen = th.gen.wrapping_add(1);
                self.q.push(now + wake, Ev::Wake(f, th.gen));
            }
        }
        g.hold_start = now;
        g.drop_request = false;
        g.request = None;
        g.acquisitions += 1;
        let th = &mut self.threads[tid as usize];
        th.holds_gil = true;
        if th.block == Block::Gil {
            th.block = Block::No;
            let waited = now - th.wait_began;
            g.wait_ns += waited;
            if let Some(at) = th.requested_at.take() {
                g.handoff_us.saturating_record((now - at) / 1_000);
            }
            let began = th.wait_began;
            self.charge(tid, |t| &mut t.gil_wait, waited);
            self.span(tid, "gil_wait", began, None);
        }
    }

    /// `drop_gil` by `tid`, if it holds the GIL.
    pub(super) fn gil_release(&mut self, tid: Tid) -> Flow {
        let now = self.now;
        let handoff = self.costs.handoff;
        let th = &self.threads[tid as usize];
        let serial = th.serial;
        let Some(g) = &mut self.gil else {
            return Flow::Continue;
        };
        if !th.gil_ctx || !th.holds_gil {
            return Flow::Continue;
        }
        g.locked = false;
        g.holder = None;
        g.hold_us.saturating_record((now - g.hold_start) / 1_000);
        if let Some(h) = &mut g.holds {
            if h.len() < MAX_HOLDS {
                h.push((serial, g.hold_start, now));
            }
        }
        self.threads[tid as usize].holds_gil = false;
        // pthread_cond_signal (see `WakeOrder`): skip the entries at the
        // front that were woken or timed out, switch groups when G1 is
        // empty, then wake the requester if the holder checked inside its
        // wait-entry window, else the oldest live entry.
        let threads = &self.threads;
        let live = |w: Tid, gen: u32| {
            let wt = &threads[w as usize];
            wt.gen == gen && wt.block == Block::Gil
        };
        while g.waiters.front().is_some_and(|&(w, gen, _)| !live(w, gen)) {
            g.waiters.pop_front();
        }
        let noticed = g.noticed.take().filter(|&(t, _)| t == tid);
        if let Some(&(_, _, first)) = g.waiters.front() {
            if first >= g.g1_end {
                g.g1_end = g.next_seq;
            }
            let react = noticed
                .zip(g.request)
                .map(|((_, at), (_, asked))| at.saturating_sub(asked));
            let requester = match (react, g.request) {
                (Some(react), Some((r, _))) if requester_wins(Duration::from_nanos(react)) => {
                    let g1_end = g.g1_end;
                    g.waiters
                        .iter()
                        .rposition(|&(w, gen, seq)| w == r && seq < g1_end && live(w, gen))
                }
                _ => None,
            };
            if requester.is_some() {
                g.requester_wakes += 1;
            }
            if let Some((w, _, _)) = g.waiters.remove(requester.unwrap_or(0)) {
                let wt = &mut self.threads[w as usize];
                wt.gen = wt.gen.wrapping_add(1);
                self.q.push(now + handoff, Ev::GilWoken(w, wt.gen));
            }
        }
        if g.drop_request && g.last_holder == serial {
            g.drop_request = false;
            g.forced.push(tid);
            let th = &mut self.threads[tid as usize];
            th.gen = th.gen.wrapping_add(1);
            th.block = Block::Forced;
            th.wait_began = now;
            return Flow::Blocked;
        }
        Flow::Continue
    }

    /// A thread that released on a drop request saw another take the GIL.
    pub(super) fn forced_wait_over(&mut self, tid: Tid) {
        let began = self.threads[tid as usize].wait_began;
        let waited = self.now - began;
        if let Some(g) = &mut self.gil {
            g.wait_ns += waited;
        }
        self.charge(tid, |t| &mut t.gil_wait, waited);
        self.span(tid, "gil_wait", began, Some("forced=true"));
    }

    /// Closes a hold still open at the end (none should be).
    pub(super) fn finish_gil_hold(&mut self) {
        if let Some(g) = &mut self.gil {
            if g.locked {
                g.hold_us
                    .saturating_record((self.now - g.hold_start) / 1_000);
            }
        }
    }
}
