//! The clock a job's start and end are stamped with: `Instant::now()`'s
//! readings, at about half the cost where the CPU's time-stamp counter can
//! stand in for the kernel's clock.
//!
//! Every job reads the clock at least twice (start, end). On the VMs gilsim
//! was measured on a `clock_gettime(CLOCK_MONOTONIC)` costs about 30 ns,
//! against 12–15 ns for reading the time-stamp counter (`rdtsc`): on a 1 µs
//! job the difference is a few percent of throughput, which is gilsim's
//! cost, not the runtime's.
//!
//! [`stamp`] returns the reading as a [`Stamp`] (ns since the process's
//! clock epoch, cheap to subtract), the job path's currency; [`now`] as an
//! [`Instant`].
//!
//! [`now`] returns an [`Instant`] on the same time line as `Instant::now()`
//! (CLOCK_MONOTONIC), so stamps mix freely with the driver's due times, IO
//! deadlines and every other reading: each thread keeps an anchor (a counter
//! reading taken together with an `Instant::now()`) and a rate (ns per tick,
//! measured from the process's first anchor, so it gets more precise the
//! longer the process runs), and re-anchors every [`REANCHOR`]; a reading is
//! the anchor's stamp plus the ticks since, converted. Between anchors the
//! only error is the rate's, at most a few ns per [`REANCHOR`]; re-anchoring
//! keeps the kernel's own adjustments (NTP slewing) from accumulating.
//!
//! Used only when the kernel itself keeps CLOCK_MONOTONIC on the
//! time-stamp counter (clocksource `tsc`, x86-64): the kernel then has
//! checked that the counter is invariant and synchronised between CPUs, so
//! a reading taken on one CPU compares with one taken on another. Elsewhere,
//! during the first [`WARM_UP`] of the process (while the rate is not yet
//! precise), and when switched off ([`set_cheap_clock`]), [`now`] is
//! `Instant::now()`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::stamp::Stamp;

/// How often a thread takes a fresh anchor: bounds the error a rate off by
/// a few parts per million (or the kernel's NTP slewing) can add up to
/// between anchors to about a ns.
pub const REANCHOR: Duration = Duration::from_micros(256);

/// How long after the process's first anchor readings are `Instant::now()`
/// itself: the rate is measured over at least this long (±20 ns of anchor
/// skew over 20 ms is a rate within 2 parts per million).
pub const WARM_UP: Duration = Duration::from_millis(20);

static ENABLED: AtomicBool = AtomicBool::new(true);

/// Switches the counter-based clock on or off for the whole process (off:
/// [`now`] is `Instant::now()`); for side-by-side measurements.
pub fn set_cheap_clock(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

/// The current instant: `Instant::now()`, or the same reading derived from
/// the time-stamp counter where that is cheaper and safe (see the module
/// doc).
#[inline]
pub fn now() -> Instant {
    #[cfg(target_arch = "x86_64")]
    if let Some(t) = tsc::now() {
        return t.instant();
    }
    Instant::now()
}

/// [`now`] as a [`Stamp`], without converting the counter's reading to an
/// `Instant` (the job path's reading: see `crate::stamp`).
#[inline]
pub fn stamp() -> Stamp {
    #[cfg(target_arch = "x86_64")]
    if let Some(t) = tsc::now() {
        return t;
    }
    Stamp::now()
}

/// Starts the rate's measurement now, if it has not started: call it well
/// before the first reading that should be cheap (a run's set-up), so that
/// [`WARM_UP`] has passed when jobs start.
pub fn warm_up() {
    crate::stamp::epoch();
    #[cfg(target_arch = "x86_64")]
    tsc::origin();
}

#[cfg(target_arch = "x86_64")]
mod tsc {
    use std::cell::Cell;
    use std::sync::atomic::Ordering;
    use std::sync::OnceLock;
    use std::time::Instant;

    use super::{ENABLED, REANCHOR, WARM_UP};
    use crate::stamp::Stamp;

    /// One thread's reference point.
    #[derive(Debug, Clone, Copy)]
    struct Anchor {
        tsc: u64,
        at: Stamp,
        /// ns per tick, 32.32 fixed point.
        mult: u64,
        /// Ticks after `tsc` this anchor serves; past them, re-anchor.
        span: u64,
    }

    /// ns per tick, 32.32 fixed point, of a 10 GHz and a 100 MHz counter.
    const MIN_MULT: u64 = (1 << 32) / 10;
    const MAX_MULT: u64 = 10 << 32;

    /// The process's first anchor, or `None` when the counter cannot be
    /// used.
    static ORIGIN: OnceLock<Option<(u64, Instant)>> = OnceLock::new();

    thread_local! {
        static ANCHOR: Cell<Option<Anchor>> = const { Cell::new(None) };
    }

    fn rdtsc() -> u64 {
        // SAFETY: `rdtsc` has no preconditions; every x86-64 CPU has it.
        unsafe { core::arch::x86_64::_rdtsc() }
    }

    /// Whether the kernel keeps CLOCK_MONOTONIC on the time-stamp counter.
    fn kernel_uses_tsc() -> bool {
        std::fs::read_to_string("/sys/devices/system/clocksource/clocksource0/current_clocksource")
            .is_ok_and(|s| s.trim() == "tsc")
    }

    /// Tries [`pair`] takes.
    const PAIR_TRIES: usize = 3;

    /// An `Instant::now()` with the counter reading at the same moment:
    /// the midpoint of two readings around it, from the narrowest of
    /// [`PAIR_TRIES`] tries. The instant lies anywhere between the two
    /// readings, so a thread preempted between them (a host stealing the
    /// vCPU for 10 µs) would put its anchor up to half that off, and every
    /// reading for the next [`REANCHOR`] with it: a loaded run of the test
    /// below read 3.5 µs off in 1 of 20 runs, and CI 5.1 µs. Three tries
    /// cost about 60 ns per anchor, one per 256 µs of a busy thread.
    fn pair() -> (u64, Instant) {
        let once = || {
            let a = rdtsc();
            let at = Instant::now();
            let width = rdtsc().wrapping_sub(a);
            (width, a + width / 2, at)
        };
        let mut best = once();
        for _ in 1..PAIR_TRIES {
            let next = once();
            if next.0 < best.0 {
                best = next;
            }
        }
        (best.1, best.2)
    }

    pub(super) fn origin() -> Option<(u64, Instant)> {
        *ORIGIN.get_or_init(|| kernel_uses_tsc().then(pair))
    }

    #[inline]
    pub(super) fn now() -> Option<Stamp> {
        if !ENABLED.load(Ordering::Relaxed) {
            return None;
        }
        ANCHOR.with(|cell| {
            if let Some(a) = cell.get() {
                let ticks = rdtsc().wrapping_sub(a.tsc);
                // A reading before the anchor wraps to a huge count and
                // re-anchors too.
                if ticks < a.span {
                    let ns = ((u128::from(ticks) * u128::from(a.mult)) >> 32) as u64;
                    return Some(a.at.add_ns(ns));
                }
            }
            reanchor(cell)
        })
    }

    #[cold]
    fn reanchor(cell: &Cell<Option<Anchor>>) -> Option<Stamp> {
        let (tsc0, at0) = origin()?;
        // Within the warm-up every reading comes here. It needs only the
        // kernel's clock: a pair (three tries) would make each of a job's
        // readings cost about 150 ns instead of 30 for the first 20 ms of
        // a process, which is 20 ms of a short run's jobs.
        let first = Instant::now();
        if first.saturating_duration_since(at0) < WARM_UP {
            return Some(Stamp::of(first));
        }
        let (tsc, instant) = pair();
        let at = Stamp::of(instant);
        let ns = instant.saturating_duration_since(at0);
        let ticks = tsc.wrapping_sub(tsc0);
        // `ns` is past the warm-up: `instant` was read after `first`.
        if ticks == 0 || ticks > u64::MAX / 2 {
            cell.set(None);
            return Some(at);
        }
        let mult = ((ns.as_nanos() << 32) / u128::from(ticks)) as u64;
        // A counter running slower than 100 MHz or faster than 10 GHz is not
        // one the kernel would keep its clock on: distrust it.
        if !(MIN_MULT..=MAX_MULT).contains(&mult) {
            cell.set(None);
            return Some(at);
        }
        let span = ((REANCHOR.as_nanos() << 32) / u128::from(mult.max(1))) as u64;
        cell.set(Some(Anchor {
            tsc,
            at,
            mult,
            span,
        }));
        Some(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_agree_with_instant_now_and_do_not_run_backwards_much() {
        warm_up();
        std::thread::sleep(WARM_UP + Duration::from_millis(5));
        let until = Instant::now() + Duration::from_millis(60);
        let (mut worst, mut back, mut n) = (Duration::ZERO, Duration::ZERO, 0u64);
        let mut last = now();
        while Instant::now() < until {
            let a = Instant::now();
            let c = now();
            let b = Instant::now();
            // `c` was read between `a` and `b`: how far outside that window.
            let off = a.saturating_duration_since(c) + c.saturating_duration_since(b);
            worst = worst.max(off);
            back = back.max(last.saturating_duration_since(c));
            last = c;
            n += 1;
            if n % 1000 == 0 {
                // Let the thread move between CPUs now and then.
                std::thread::yield_now();
            }
        }
        assert!(n > 1000);
        // Generous for a loaded VM (a preemption between the readings only
        // widens the window); a wrong rate or an unsynchronised counter would
        // be off by µs to ms.
        assert!(worst < Duration::from_micros(2), "off by {worst:?}");
        assert!(back < Duration::from_micros(1), "ran back {back:?}");
    }

    #[test]
    fn stamps_are_the_same_readings() {
        warm_up();
        std::thread::sleep(WARM_UP + Duration::from_millis(5));
        let mut worst = 0;
        for _ in 0..10_000 {
            let a = Stamp::now();
            let c = stamp();
            let b = Stamp::now();
            worst = worst.max(a.ns_since(c) + c.ns_since(b));
        }
        // As generous as the test above: a wrong epoch or anchor would be
        // off by ms.
        assert!(worst < 2_000, "off by {worst} ns");
    }

    #[test]
    fn switched_off_it_is_instant_now() {
        set_cheap_clock(false);
        let a = Instant::now();
        let c = now();
        let b = Instant::now();
        set_cheap_clock(true);
        assert!(a <= c && c <= b);
    }
}
