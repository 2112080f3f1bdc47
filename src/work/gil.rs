//! An emulated CPython "new GIL" (CPython 3.2+, `Python/ceval_gil.h`).
//!
//! The protocol, as in `take_gil` / `drop_gil`:
//! - The GIL is a flag guarded by a mutex, with a condition variable that
//!   waiters sleep on.
//! - A waiter sleeps on the condition for at most `switch_interval`. If it
//!   timed out, the GIL is still held and no switch happened meanwhile, it
//!   sets the *drop request*.
//! - The holder polls the drop request between ticks of CPU work (the
//!   eval-breaker check, [`Gil::drop_requested`]). When it is set the holder
//!   releases ([`Gil::yield_forced`]) and, under FORCE_SWITCHING, waits until
//!   another thread has taken the GIL before it asks for it again, so a
//!   thread that releases cannot simply win it straight back.
//! - Blocking operations (`io`, `native`, waiting for an application lock)
//!   release the GIL and retake it afterwards ([`Gil::release`] /
//!   [`Gil::acquire`]); the retake is where the convoy effect comes from.
//!
//! - Who a release wakes follows glibc's condition variable, which CPython
//!   waits on, not a plain FIFO: see [`WakeOrder`].
//!
//! Holders are identified by OS thread ([`thread_token`]), as CPython
//! identifies them by thread state.

use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use parking_lot::{Condvar, Mutex};

use crate::config::GilSettings;
use crate::hist::new_histogram;

/// A per-OS-thread identity, never 0 (0 means "nobody").
pub fn thread_token() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    thread_local! {
        static TOKEN: Cell<u64> = const { Cell::new(0) };
    }
    TOKEN.with(|t| {
        if t.get() == 0 {
            t.set(NEXT.fetch_add(1, Ordering::Relaxed));
        }
        t.get()
    })
}

#[derive(Debug)]
struct State {
    locked: bool,
    /// The thread that holds the GIL, or held it last (`gil->last_holder`).
    last_holder: u64,
    /// Incremented whenever the GIL passes to a different thread.
    switch_number: u64,
    /// When the current hold began.
    hold_start: Option<Instant>,
    /// Threads waiting on the GIL's condition, in order of entry into their
    /// current timed wait (see [`WakeOrder`]).
    waiters: VecDeque<Waiter>,
    /// Entry number of the next wait (glibc's `__wseq`).
    next_seq: u64,
    /// Waits entered before this number form the condition's oldest group,
    /// G1; later ones are G2 (glibc's `__g1_start` plus G1's size).
    g1_end: u64,
    /// The pending drop request: who set it, when, and on which CPU.
    request: Option<Request>,
}

/// A pending drop request.
#[derive(Debug, Clone, Copy)]
struct Request {
    token: u64,
    at: Instant,
    cpu: Option<usize>,
}

/// The holder's eval-breaker check that saw a drop request.
#[derive(Debug, Clone, Copy)]
struct Noticed {
    at: Instant,
    cpu: Option<usize>,
}

/// The CPU the calling thread runs on, if the OS says.
fn current_cpu() -> Option<usize> {
    // SAFETY: sched_getcpu takes no arguments and only reads.
    let cpu = unsafe { libc::sched_getcpu() };
    usize::try_from(cpu).ok()
}

/// How long after a drop request made `elapsed` before the holder's check
/// that saw it the holder's first check after the request came, with
/// checks every `tick`: the holder's checks fall on a grid ending at the
/// one that saw it, and the requester's race is decided at the first of
/// them after the request. (The later checks that missed the request only
/// show how long the request took to reach the holder's core in gilsim,
/// a cost of the emulator that CPython's eval loop does not have.)
fn first_check_after(elapsed: Duration, tick: Duration) -> Duration {
    match u64::try_from(tick.as_nanos()) {
        Ok(t) if t > 0 => Duration::from_nanos((elapsed.as_nanos() % u128::from(t)) as u64),
        _ => elapsed,
    }
}

/// One thread in a timed wait on the GIL's condition.
#[derive(Debug)]
struct Waiter {
    token: u64,
    seq: u64,
    /// Its own condition variable, so that a signal can go to a chosen
    /// waiter and not only to the oldest (as parking_lot's would).
    cv: Arc<Condvar>,
}

/// Who a release of the GIL wakes: CPython 3.11's `take_gil` / `drop_gil`
/// on glibc's (2.25+) condition variable, as traced on CPython 3.11.7 with
/// glibc 2.36 (docs/gil.md §5).
///
/// - Waiters are kept in order of entry into their *current* timed wait; a
///   waiter that timed out enters again, at the back.
/// - glibc splits them in two groups. A signal goes to the older group, G1;
///   when G1 has nobody left (every member was signalled or timed out and
///   re-entered), the signal first makes every current waiter G1.
/// - Within G1 the signal is normally taken by the oldest entry (the
///   kernel's futex queue is FIFO). But a waiter that is still on its way
///   into the wait (it has joined the condition and released the mutex,
///   and not yet blocked in the kernel) sees the signal first and takes it.
///   At a forced switch that waiter is the *requester*: it set the drop
///   request and entered its next wait an instant before the holder
///   signals. Whether the holder's signal lands in that window is a race
///   between the two threads' code paths, decided by when the holder's next
///   eval-breaker check comes: a check sooner than [`ENTRY_LOCKED`] after
///   the request finds the mutex still held by the requester, and glibc's
///   mutex puts the holder to sleep until the requester has blocked; a check
///   later than [`ENTRY_LOCKED`] + [`ENTRY_OPEN`] finds it blocked. In
///   between, the requester takes the GIL back.
///
/// On CPython the requester took 0.32-0.68 of forced switches this way
/// (seven runs on an idle machine, median 0.60), the oldest entry nearly
/// all the others.
/// The share falls to ~0 when the requester wakes on the holder's core (the
/// holder cannot check before the requester has blocked): CPython under
/// load. The real engine looks at the two threads' CPUs the same way, and
/// takes the holder's reaction from where its first check after the request
/// fell (`first_check_after`); the model engine from the virtual time to
/// the holder's next tick boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WakeOrder {
    /// The oldest G1 entry.
    Oldest,
    /// The requester, still entering its wait.
    Requester,
}

/// From a drop request to the requester releasing the GIL's mutex inside
/// its next wait: a holder whose check comes sooner sleeps on the mutex and
/// signals only after the requester has blocked. On CPython 3.11.7 the
/// requester's timeout returned 0.5-1 µs before its next
/// `pthread_cond_timedwait` call; with [`ENTRY_OPEN`], a holder that checks
/// every 1 µs (the default `tick`) wins 0.6 of the races, the median of
/// seven traced CPython runs (0.32-0.68).
pub const ENTRY_LOCKED: Duration = Duration::from_nanos(400);

/// How long the requester stays on its way into the wait after releasing
/// the mutex, before it blocks in the kernel: a signal in this window is
/// taken by it. CPython 3.11.7 on glibc 2.36: the signals the requester took
/// came 0.6-3.7 µs after its timeout returned (p10-p90 of seven runs),
/// spread over about 1-2 µs in each run.
pub const ENTRY_OPEN: Duration = Duration::from_nanos(1_000);

/// Whether a holder that checked the eval breaker `react` after the drop
/// request was set signals while the requester is still entering its wait.
pub fn requester_wins(react: Duration) -> bool {
    react >= ENTRY_LOCKED && react < ENTRY_LOCKED + ENTRY_OPEN
}

/// Counts and times kept by a [`Gil`] over a run.
#[derive(Debug, Clone)]
pub struct GilStats {
    /// Successful `take_gil` calls.
    pub acquisitions: u64,
    /// Releases caused by a drop request.
    pub forced_switches: u64,
    /// Forced releases whose signal the requester took, still entering its
    /// wait ([`WakeOrder::Requester`]).
    pub requester_wakes: u64,
    /// Total time threads spent waiting to take the GIL.
    pub wait: Duration,
    /// How long each hold lasted, in microseconds.
    pub hold_us: Histogram<u64>,
    /// From a waiter setting the drop request to that waiter holding the
    /// GIL, in microseconds: how fast a forced switch hands over.
    pub handoff_us: Histogram<u64>,
}

/// One hold of the GIL, for the trace's GIL track.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hold {
    /// [`thread_token`] of the holder.
    pub thread: u64,
    /// When the hold began.
    pub start: Instant,
    /// When it ended.
    pub end: Instant,
}

/// The emulated global interpreter lock.
#[derive(Debug)]
pub struct Gil {
    settings: GilSettings,
    state: Mutex<State>,
    /// `switch_cond`: signalled when a thread takes the GIL.
    switch_cond: Condvar,
    /// `gil_drop_request`, polled without the mutex by the holder.
    drop_request: AtomicBool,
    acquisitions: AtomicU64,
    forced_switches: AtomicU64,
    requester_wakes: AtomicU64,
    wait_ns: AtomicU64,
    /// Only the holder records here, so the lock is never contended.
    hold_us: Mutex<Histogram<u64>>,
    handoff_us: Mutex<Histogram<u64>>,
    /// Holds, oldest first, when a trace or a report asked for them.
    holds: Option<Mutex<Vec<Hold>>>,
    /// Most holds kept in `holds`; later ones are not logged.
    hold_log_limit: usize,
}

impl Gil {
    /// A released GIL with the given `[gil]` settings.
    pub fn new(settings: GilSettings) -> Self {
        Self {
            settings,
            state: Mutex::new(State {
                locked: false,
                last_holder: 0,
                switch_number: 0,
                hold_start: None,
                waiters: VecDeque::new(),
                next_seq: 0,
                g1_end: 0,
                request: None,
            }),
            switch_cond: Condvar::new(),
            drop_request: AtomicBool::new(false),
            acquisitions: AtomicU64::new(0),
            forced_switches: AtomicU64::new(0),
            requester_wakes: AtomicU64::new(0),
            wait_ns: AtomicU64::new(0),
            hold_us: Mutex::new(new_histogram()),
            handoff_us: Mutex::new(new_histogram()),
            holds: None,
            hold_log_limit: usize::MAX,
        }
    }

    /// Also keeps a log of every hold (for the trace's GIL track).
    pub fn with_hold_log(mut self) -> Self {
        self.holds = Some(Mutex::new(Vec::new()));
        self
    }

    /// Keeps a log of the run's first `limit` holds only (for the report's
    /// GIL timeline, which must not grow with the run).
    pub fn with_bounded_hold_log(mut self, limit: usize) -> Self {
        self.holds = Some(Mutex::new(Vec::with_capacity(limit.min(4096))));
        self.hold_log_limit = limit;
        self
    }

    /// The settings this GIL runs with.
    pub fn settings(&self) -> GilSettings {
        self.settings
    }

    /// `take_gil`: blocks until the calling thread holds the GIL and returns
    /// how long it waited.
    pub fn acquire(&self) -> Duration {
        crate::work::sleep::reduce_timer_slack();
        let me = thread_token();
        let mut st = self.state.lock();
        let mut waited = Duration::ZERO;
        if st.locked {
            let span = tracing::trace_span!("gil_wait");
            let _enter = span.enter();
            let began = Instant::now();
            let mut requested_at = None;
            let cv = Arc::new(Condvar::new());
            // The timed waits end as late as CPython's would: with the
            // thread's timer slack (Linux's default for CPython threads).
            crate::work::sleep::set_timer_slack(self.settings.timer_slack);
            while st.locked {
                let saved = st.switch_number;
                let seq = st.next_seq;
                st.next_seq += 1;
                st.waiters.push_back(Waiter {
                    token: me,
                    seq,
                    cv: cv.clone(),
                });
                let timed_out = cv
                    .wait_for(&mut st, self.settings.switch_interval)
                    .timed_out();
                // A release that chose this wait took it off the queue: then
                // it was signalled, even if the timeout fired meanwhile.
                let signalled = match st.waiters.iter().position(|w| w.seq == seq) {
                    Some(i) => {
                        st.waiters.remove(i);
                        false
                    }
                    None => true,
                };
                let timed_out = timed_out && !signalled;
                if timed_out && st.locked && st.switch_number == saved {
                    self.drop_request.store(true, Ordering::Relaxed);
                    let now = Instant::now();
                    st.request = Some(Request {
                        token: me,
                        at: now,
                        cpu: current_cpu(),
                    });
                    requested_at.get_or_insert(now);
                }
            }
            crate::work::sleep::restore_precise_timer_slack();
            waited = began.elapsed();
            if let Some(at) = requested_at {
                self.handoff_us
                    .lock()
                    .saturating_record(at.elapsed().as_micros() as u64);
            }
            self.wait_ns
                .fetch_add(waited.as_nanos() as u64, Ordering::Relaxed);
        }
        st.locked = true;
        if st.last_holder != me {
            st.last_holder = me;
            st.switch_number += 1;
        }
        st.hold_start = Some(Instant::now());
        self.switch_cond.notify_all();
        // The request was meant for the previous holder; it has been served.
        self.drop_request.store(false, Ordering::Relaxed);
        st.request = None;
        self.acquisitions.fetch_add(1, Ordering::Relaxed);
        waited
    }

    /// `drop_gil`: the calling thread, which must hold the GIL, releases it.
    /// When a drop request is pending, waits until another thread has taken
    /// it (FORCE_SWITCHING).
    pub fn release(&self) {
        self.release_noticed(None);
    }

    /// [`Gil::release`]; `noticed` is the holder's eval-breaker check that
    /// saw the drop request, for a forced release.
    fn release_noticed(&self, noticed: Option<Noticed>) {
        let me = thread_token();
        let mut st = self.state.lock();
        debug_assert!(st.locked, "release of a GIL that is not held");
        debug_assert_eq!(
            st.last_holder, me,
            "release by a thread that does not hold the GIL"
        );
        st.locked = false;
        if let Some(start) = st.hold_start.take() {
            self.record_hold(me, start);
        }
        // A requester that ran on the holder's core had blocked again before
        // the holder could check: it cannot win the race (see `WakeOrder`).
        let react = match (noticed, st.request) {
            (Some(n), Some(r)) if n.cpu.is_none() || n.cpu != r.cpu => Some(first_check_after(
                n.at.saturating_duration_since(r.at),
                self.settings.tick,
            )),
            _ => None,
        };
        if signal(&mut st, react) == Some(WakeOrder::Requester) {
            self.requester_wakes.fetch_add(1, Ordering::Relaxed);
        }
        if self.drop_request.load(Ordering::Relaxed) && st.last_holder == me {
            self.drop_request.store(false, Ordering::Relaxed);
            while st.last_holder == me {
                self.switch_cond.wait(&mut st);
            }
        }
    }

    /// The eval-breaker check: whether a waiter asked the holder to drop.
    #[inline]
    pub fn drop_requested(&self) -> bool {
        self.drop_request.load(Ordering::Relaxed)
    }

    /// What the eval loop does when the drop request is set: release, let
    /// another thread run, take the GIL back. Returns the time spent without
    /// the GIL.
    pub fn yield_forced(&self) -> Duration {
        let began = Instant::now();
        let noticed = Noticed {
            at: began,
            cpu: current_cpu(),
        };
        self.forced_switches.fetch_add(1, Ordering::Relaxed);
        let handoff = {
            let span = tracing::trace_span!("gil_wait", forced = true);
            let _enter = span.enter();
            self.release_noticed(Some(noticed));
            began.elapsed()
        };
        // The wait for a successor inside release() is GIL wait too.
        self.wait_ns
            .fetch_add(handoff.as_nanos() as u64, Ordering::Relaxed);
        handoff + self.acquire()
    }

    /// Polls the drop request and yields if it is set; returns the time spent
    /// without the GIL (zero when no switch happened).
    #[inline]
    pub fn check_eval_breaker(&self) -> Duration {
        if self.drop_requested() {
            self.yield_forced()
        } else {
            Duration::ZERO
        }
    }

    fn record_hold(&self, thread: u64, start: Instant) {
        let end = Instant::now();
        let us = (end - start).as_micros() as u64;
        self.hold_us.lock().saturating_record(us);
        // A hold spans several steps (and, on async backends, would have to
        // cross an await), so it is emitted as a finished interval.
        tracing::trace!(name: "gil_hold", dur_ns = (end - start).as_nanos() as u64);
        if let Some(log) = &self.holds {
            let mut log = log.lock();
            if log.len() < self.hold_log_limit {
                log.push(Hold { thread, start, end });
            }
        }
    }

    /// Counts and times so far.
    pub fn stats(&self) -> GilStats {
        GilStats {
            acquisitions: self.acquisitions.load(Ordering::Relaxed),
            forced_switches: self.forced_switches.load(Ordering::Relaxed),
            requester_wakes: self.requester_wakes.load(Ordering::Relaxed),
            wait: Duration::from_nanos(self.wait_ns.load(Ordering::Relaxed)),
            hold_us: self.hold_us.lock().clone(),
            handoff_us: self.handoff_us.lock().clone(),
        }
    }

    /// Every hold logged so far (empty unless [`Gil::with_hold_log`]).
    pub fn holds(&self) -> Vec<Hold> {
        self.holds
            .as_ref()
            .map(|h| h.lock().clone())
            .unwrap_or_default()
    }
}

/// `pthread_cond_signal` on the GIL's condition (see [`WakeOrder`]): picks
/// the waiter the signal goes to, takes it off the queue and wakes it.
/// `react` is, at a forced release, how long after the drop request the
/// holder's check saw it. Returns whom it woke, `None` with no waiter.
fn signal(st: &mut State, react: Option<Duration>) -> Option<WakeOrder> {
    let first = st.waiters.front()?.seq;
    if first >= st.g1_end {
        // G1 is empty: every current waiter becomes G1.
        st.g1_end = st.next_seq;
    }
    let requester = match (react, st.request) {
        (Some(react), Some(r)) if requester_wins(react) => st
            .waiters
            .iter()
            .rposition(|w| w.token == r.token && w.seq < st.g1_end),
        _ => None,
    };
    let (i, order) = requester.map_or((0, WakeOrder::Oldest), |i| (i, WakeOrder::Requester));
    let w = st.waiters.remove(i)?;
    w.cv.notify_one();
    Some(order)
}

/// The wake-order statistic, as `python/gil_wake_order.py` computes it:
/// of the hand-offs in a sequence of GIL holders (consecutive holds by one
/// thread count once), the share that went to the thread that ran least
/// recently, counted once every thread has held the GIL; with the number
/// of hand-offs counted. `None` when there is none.
pub fn longest_waiter_share(holders: impl IntoIterator<Item = u64>) -> Option<(f64, u32)> {
    let mut seq: Vec<u64> = holders.into_iter().collect();
    seq.dedup();
    let threads: std::collections::BTreeSet<u64> = seq.iter().copied().collect();
    let mut last_ran = std::collections::HashMap::new();
    let (mut hits, mut total) = (0u32, 0u32);
    for (k, &holder) in seq.iter().enumerate() {
        if k > 0 && last_ran.len() == threads.len() {
            let longest = threads
                .iter()
                .filter(|&&t| t != seq[k - 1])
                .min_by_key(|&&t| last_ran[&t])
                .copied();
            hits += u32::from(longest == Some(holder));
            total += 1;
        }
        last_ran.insert(holder, k);
    }
    (total > 0).then(|| (f64::from(hits) / f64::from(total), total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;
    use std::thread;

    fn gil(interval_ms: u64) -> Arc<Gil> {
        Arc::new(Gil::new(GilSettings {
            switch_interval: Duration::from_millis(interval_ms),
            tick: Duration::from_micros(1),
            ..GilSettings::default()
        }))
    }

    #[test]
    fn uncontended_acquire_does_not_wait_or_request_a_drop() {
        let g = gil(5);
        assert_eq!(g.acquire(), Duration::ZERO);
        assert!(!g.drop_requested());
        g.release();
        assert_eq!(g.acquire(), Duration::ZERO);
        g.release();
        let s = g.stats();
        assert_eq!(s.acquisitions, 2);
        assert_eq!(s.forced_switches, 0);
        assert_eq!(s.hold_us.len(), 2);
    }

    #[test]
    fn waiter_sets_drop_request_only_after_the_switch_interval() {
        let g = gil(20);
        g.acquire();
        let g2 = g.clone();
        let waiter = thread::spawn(move || {
            let w = g2.acquire();
            g2.release();
            w
        });
        thread::sleep(Duration::from_millis(5));
        assert!(
            !g.drop_requested(),
            "request set before the interval elapsed"
        );
        let t = Instant::now();
        while !g.drop_requested() {
            assert!(
                t.elapsed() < Duration::from_secs(2),
                "drop request never set"
            );
            thread::yield_now();
        }
        g.yield_forced();
        g.release();
        let waited = waiter.join().unwrap();
        assert!(
            waited >= Duration::from_millis(15),
            "waited only {waited:?}"
        );
    }

    #[test]
    fn forced_switch_hands_the_gil_to_the_waiter() {
        // Two CPU-bound threads polling the eval breaker must alternate:
        // each must observe the other holding the GIL at some point.
        let g = gil(1);
        let last_seen = Arc::new(AtomicU64::new(0));
        let switches = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let (g, last_seen, switches) = (g.clone(), last_seen.clone(), switches.clone());
                thread::spawn(move || {
                    let me = thread_token();
                    g.acquire();
                    let end = Instant::now() + Duration::from_millis(60);
                    while Instant::now() < end {
                        if last_seen.swap(me, Ordering::Relaxed) != me {
                            switches.fetch_add(1, Ordering::Relaxed);
                        }
                        g.check_eval_breaker();
                    }
                    g.release();
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        // 60 ms at a 1 ms interval: many hand-offs, far more than 2.
        assert!(
            switches.load(Ordering::Relaxed) >= 6,
            "{} switches",
            switches.load(Ordering::Relaxed)
        );
        assert!(g.stats().forced_switches >= 3);
    }

    #[test]
    fn holders_never_overlap() {
        let g = gil(1);
        let inside = Arc::new(AtomicUsize::new(0));
        let overlaps = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let (g, inside, overlaps) = (g.clone(), inside.clone(), overlaps.clone());
                // Counted only while the GIL is surely held: a forced
                // switch inside check_eval_breaker lets another thread in,
                // rightly. An overlap is counted, not asserted here: a
                // thread that panicked while holding the GIL would leave
                // the others waiting for it forever.
                let critical = move || {
                    if inside.fetch_add(1, Ordering::SeqCst) != 0 {
                        overlaps.fetch_add(1, Ordering::SeqCst);
                    }
                    crate::work::kernel::spin(1, 2_000);
                    inside.fetch_sub(1, Ordering::SeqCst);
                };
                thread::spawn(move || {
                    for _ in 0..200 {
                        g.acquire();
                        critical();
                        g.check_eval_breaker();
                        critical();
                        g.release();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(overlaps.load(Ordering::SeqCst), 0, "two holders at once");
        assert_eq!(
            g.stats().acquisitions as usize,
            800 + g.stats().forced_switches as usize
        );
    }

    #[test]
    fn a_waiter_is_not_starved_by_a_cpu_bound_holder() {
        // The holder never releases on its own; only the drop request lets
        // the waiter in, within a few switch intervals.
        let g = gil(2);
        let stop = Arc::new(AtomicBool::new(false));
        g.acquire();
        let (g2, stop2) = (g.clone(), stop.clone());
        let waiter = thread::spawn(move || {
            let w = g2.acquire();
            stop2.store(true, Ordering::Relaxed);
            g2.release();
            w
        });
        let t = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            assert!(t.elapsed() < Duration::from_secs(5), "waiter starved");
            crate::work::kernel::spin(1, 1_000);
            g.check_eval_breaker();
        }
        g.release();
        let waited = waiter.join().unwrap();
        assert!(waited < Duration::from_millis(500), "waited {waited:?}");
    }

    /// [`longest_waiter_share`] of the holds.
    fn share_of(holds: &[Hold]) -> Option<f64> {
        longest_waiter_share(holds.iter().map(|h| h.thread)).map(|(share, _)| share)
    }

    /// CPU time the machine's *other* processes used while `f` ran, as a
    /// share of all cores' time: busy time in `/proc/stat` minus this
    /// process's own CPU time. `None` where `/proc/stat` cannot be read.
    fn others_busy_share<R>(f: impl FnOnce() -> R) -> (R, Option<f64>) {
        fn busy_ticks() -> Option<u64> {
            let stat = std::fs::read_to_string("/proc/stat").ok()?;
            let line = stat.lines().find(|l| l.starts_with("cpu "))?;
            let v: Vec<u64> = line
                .split_whitespace()
                .skip(1)
                .map(|x| x.parse().unwrap_or(0))
                .collect();
            // user nice system idle iowait irq softirq steal: all but idle
            // and iowait.
            Some(v.iter().take(8).sum::<u64>() - v.get(3)? - v.get(4)?)
        }
        // SAFETY: sysconf only reads system constants.
        let (hz, cpus) = unsafe {
            (
                libc::sysconf(libc::_SC_CLK_TCK),
                libc::sysconf(libc::_SC_NPROCESSORS_ONLN),
            )
        };
        let (b0, own0, t0) = (
            busy_ticks(),
            crate::metrics::process_cpu_time(),
            Instant::now(),
        );
        let r = f();
        let (b1, own1, wall) = (
            busy_ticks(),
            crate::metrics::process_cpu_time(),
            t0.elapsed(),
        );
        let share = match (b0, b1) {
            (Some(b0), Some(b1)) if hz > 0 && cpus > 0 => {
                let busy = (b1 - b0) as f64 / hz as f64;
                let own = (own1 - own0).as_secs_f64();
                Some(((busy - own) / (wall.as_secs_f64() * cpus as f64)).max(0.0))
            }
            _ => None,
        };
        (r, share)
    }

    /// Most of the cores' time other processes may use while the real
    /// engine's wake order is measured: above it, waiters wake on the
    /// holder's core and the entry order rules on CPython too (docs/gil.md
    /// §5), so the figure says nothing about the rule.
    const QUIET: f64 = 0.10;

    #[test]
    fn a_forced_switch_is_not_a_strict_fifo_hand_off() {
        // 4 CPU-bound threads for 1.5 s at CPython's 5 ms interval. A FIFO
        // hand-off gives the longest waiter ~0.9 of the switches. CPython
        // gives the GIL back to the requester when the holder signals while
        // the requester is still entering its wait (0.32-0.68 of switches on
        // an idle machine), and the longest waiter gets 0.22-0.44; gilsim
        // 0.37-0.43 on an idle machine. On a loaded machine the requester
        // wakes on the holder's core and cannot win, and both CPython and
        // gilsim fall back to the entry order (0.8-0.9 seen on both): the
        // test checks the rule only when the machine was quiet, and says so
        // when it was not. The model engine's share, which no load moves,
        // is checked in tests/gil_wake.rs.
        let g = Arc::new(Gil::new(GilSettings::default()).with_hold_log());
        let ((), others) = others_busy_share(|| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    let g = g.clone();
                    thread::spawn(move || {
                        g.acquire();
                        let end = Instant::now() + Duration::from_millis(1500);
                        while Instant::now() < end {
                            crate::work::kernel::spin(1, 500);
                            g.check_eval_breaker();
                        }
                        g.release();
                    })
                })
                .collect();
            for h in handles {
                h.join().unwrap();
            }
        });
        let holds = g.holds();
        // Leave out the end, when fewer threads are left.
        let share = share_of(&holds[..holds.len() * 7 / 10]).unwrap();
        match others {
            Some(o) if o <= QUIET => assert!(
                (0.05..0.8).contains(&share),
                "longest waiter got {share:.2} of {} switches on a quiet machine \
                 (other processes used {:.0}% of the cores)",
                holds.len(),
                o * 100.0
            ),
            Some(o) => eprintln!(
                "wake order not checked: other processes used {:.0}% of the cores \
                 (more than {:.0}%), so waiters share the holder's core; the longest \
                 waiter got {share:.2}",
                o * 100.0,
                QUIET * 100.0
            ),
            None => eprintln!(
                "wake order not checked: /proc/stat unreadable, the machine's load is \
                 unknown; the longest waiter got {share:.2}"
            ),
        }
    }

    /// A GIL state with `n` waiters (tokens 1..=n, entered in that order),
    /// all in G2, the last of them the requester, `asked_ago` since the
    /// request.
    fn queued(n: u64, asked_ago: Duration) -> (State, Vec<Arc<Condvar>>) {
        let cvs: Vec<_> = (0..n).map(|_| Arc::new(Condvar::new())).collect();
        let st = State {
            locked: true,
            last_holder: 99,
            switch_number: 1,
            hold_start: None,
            waiters: (0..n)
                .map(|i| Waiter {
                    token: i + 1,
                    seq: i,
                    cv: cvs[i as usize].clone(),
                })
                .collect(),
            next_seq: n,
            g1_end: 0,
            request: Some(Request {
                token: n,
                at: Instant::now() - asked_ago,
                cpu: None,
            }),
        };
        (st, cvs)
    }

    fn tokens(st: &State) -> Vec<u64> {
        st.waiters.iter().map(|w| w.token).collect()
    }

    #[test]
    fn a_signal_goes_to_the_oldest_waiter_unless_the_requester_is_still_entering() {
        // Outside the window: the oldest entry, whether the holder checked
        // too soon (it would have slept on the mutex) or too late.
        for react in [
            Duration::from_nanos(100),
            Duration::from_micros(5),
            Duration::ZERO,
        ] {
            let (mut st, _cvs) = queued(3, react);
            assert_eq!(signal(&mut st, Some(react)), Some(WakeOrder::Oldest));
            assert_eq!(tokens(&st), [2, 3]);
        }
        // A release that is not forced never hands the GIL to the requester.
        let (mut st, _cvs) = queued(3, Duration::from_micros(1));
        assert_eq!(signal(&mut st, None), Some(WakeOrder::Oldest));
        // Inside it: the requester, even though it entered last.
        let react = ENTRY_LOCKED + ENTRY_OPEN / 2;
        assert!(requester_wins(react));
        let (mut st, _cvs) = queued(3, react);
        assert_eq!(signal(&mut st, Some(react)), Some(WakeOrder::Requester));
        assert_eq!(tokens(&st), [1, 2]);
        // The signal switched groups: everyone waiting is G1 now.
        assert_eq!(st.g1_end, 3);
        // Nobody waits: nobody is woken.
        let (mut st, _cvs) = queued(0, react);
        assert_eq!(signal(&mut st, Some(react)), None);
    }

    #[test]
    fn the_race_is_decided_at_the_holders_first_check_after_the_request() {
        let tick = Duration::from_micros(1);
        let us = |x: f64| Duration::from_secs_f64(x * 1e-6);
        // Seen 0.7 µs after: that was the first check.
        assert_eq!(first_check_after(us(0.7), tick), us(0.7));
        // Seen 3.7 µs after: checks came at 0.7, 1.7 and 2.7 µs too.
        let first = first_check_after(us(3.7), tick);
        assert!((first.as_nanos() as i64 - 700).abs() <= 1, "{first:?}");
        assert!(requester_wins(first));
        assert_eq!(first_check_after(us(3.0), Duration::ZERO), us(3.0));
    }

    #[test]
    fn a_requester_in_the_newer_group_cannot_take_a_signal_meant_for_the_older_one() {
        // Waiters 1 and 2 are still G1 (they entered before the last group
        // switch); the requester, 3, entered after it: the signal goes to
        // G1's oldest, as glibc's does.
        let react = ENTRY_LOCKED + ENTRY_OPEN / 2;
        let (mut st, _cvs) = queued(3, react);
        st.g1_end = 2;
        assert_eq!(signal(&mut st, Some(react)), Some(WakeOrder::Oldest));
        assert_eq!(tokens(&st), [2, 3]);
        assert_eq!(st.g1_end, 2, "G1 still has a member: no switch");
    }

    #[test]
    fn hold_log_records_every_hold_in_order() {
        let g = Gil::new(GilSettings::default()).with_hold_log();
        for _ in 0..3 {
            g.acquire();
            g.release();
        }
        let holds = g.holds();
        assert_eq!(holds.len(), 3);
        assert!(holds.windows(2).all(|w| w[0].end <= w[1].start));
    }
}
