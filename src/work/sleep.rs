//! Precise blocking waits for thread backends (SPEC §1.2), and the
//! absolute time every precise wait is armed at.
//!
//! Linux rounds a thread's timed sleeps up by its *timer slack* (50 µs by
//! default), which alone would inflate a 200 µs IO wait by a quarter. Every
//! thread that sleeps through here lowers its own slack to 1 ns first, so a
//! wait overshoots only by what the scheduler itself costs.
//!
//! A wait ends at a deadline, so its timer is armed at that deadline
//! ([`monotonic_at`], `TIMER_ABSTIME`), not at the time left: a relative
//! timer starts counting when the kernel reads its clock inside the system
//! call, after the caller computed the time left, and the call's entry
//! (about half a µs on a KVM guest) would be added to every wait.

use std::cell::Cell;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rustix::thread::{clock_nanosleep_absolute, ClockId};
use rustix::time::Timespec;

thread_local! {
    static SLACK_SET: Cell<bool> = const { Cell::new(false) };
}

/// Lowers this thread's timer slack to 1 ns, once per thread.
pub fn reduce_timer_slack() {
    SLACK_SET.with(|done| {
        if !done.get() {
            // SAFETY: prctl(PR_SET_TIMERSLACK) takes plain integers and only
            // changes a property of the calling thread.
            unsafe {
                libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0);
            }
            done.set(true);
        }
    });
}

/// Sets this thread's timer slack to `slack` (at least 1 ns: Linux reads 0
/// as "back to the default"). For the GIL's timed waits, which keep the
/// slack CPython's threads have; the caller restores 1 ns with
/// [`restore_precise_timer_slack`].
pub fn set_timer_slack(slack: Duration) {
    let ns = slack.as_nanos().clamp(1, libc::c_ulong::MAX as u128) as libc::c_ulong;
    // SAFETY: as in `reduce_timer_slack`.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, ns, 0, 0, 0);
    }
    SLACK_SET.with(|done| done.set(ns == 1));
}

/// Puts this thread's timer slack back to 1 ns after [`set_timer_slack`].
pub fn restore_precise_timer_slack() {
    reduce_timer_slack();
}

/// Blocks the calling thread for `d` without using CPU.
pub fn precise_sleep(d: Duration) {
    if d.is_zero() {
        return;
    }
    reduce_timer_slack();
    std::thread::sleep(d);
}

/// Blocks until `deadline` (returns at once when it has passed), on a
/// timer armed at the deadline itself (see the module doc).
pub fn sleep_until(deadline: Instant) {
    let now = Instant::now();
    if deadline <= now {
        return;
    }
    reduce_timer_slack();
    let at = monotonic_at(deadline);
    loop {
        match clock_nanosleep_absolute(ClockId::Monotonic, &at) {
            // A signal handler ran: the deadline has not moved.
            Err(rustix::io::Errno::INTR) => continue,
            Ok(()) => return,
            // Not expected on Linux; a relative sleep still waits.
            Err(_) => {
                precise_sleep(deadline.saturating_duration_since(Instant::now()));
                return;
            }
        }
    }
}

/// `CLOCK_MONOTONIC`'s reading at `at`, for timers armed with
/// `TIMER_ABSTIME`; never before `at` (later by at most the tens of ns
/// between the two readings of the process's anchor).
///
/// `Instant` is a `CLOCK_MONOTONIC` reading on Linux, but std does not
/// expose it: the anchor pairs an `Instant` with a `clock_gettime` reading
/// taken right after it, once per process. Were `Instant` ever to follow
/// `CLOCK_BOOTTIME` instead, a suspend while the process runs would make
/// later waits end late by the time suspended, never early.
pub fn monotonic_at(at: Instant) -> Timespec {
    let (inst, ts) = *ANCHOR.get_or_init(anchor);
    let ns = |t: Timespec| t.tv_sec as i128 * 1_000_000_000 + t.tv_nsec as i128;
    let offset = match at.checked_duration_since(inst) {
        Some(after) => after.as_nanos() as i128,
        None => -(inst.duration_since(at).as_nanos() as i128),
    };
    let total = (ns(ts) + offset).max(0);
    Timespec {
        tv_sec: (total / 1_000_000_000).min(i64::MAX as i128) as _,
        tv_nsec: (total % 1_000_000_000) as _,
    }
}

/// The process's `Instant` ↔ `CLOCK_MONOTONIC` pair (see [`monotonic_at`]).
static ANCHOR: OnceLock<(Instant, Timespec)> = OnceLock::new();

/// Of a few tries, the pair whose two readings were closest together (a
/// third reading bounds the gap): an interrupt between them only ever
/// makes the gap, and so the lateness, larger.
fn anchor() -> (Instant, Timespec) {
    let pair = || {
        let inst = Instant::now();
        let ts = rustix::time::clock_gettime(ClockId::Monotonic);
        (inst.elapsed(), inst, ts)
    };
    let (_, inst, ts) =
        (1..8).map(|_| pair()).fold(
            pair(),
            |best, next| if next.0 < best.0 { next } else { best },
        );
    (inst, ts)
}

/// Overshoot of `samples` waits of `d` as a thread backend makes them
/// ([`sleep_until`] a deadline `d` after a clock reading): (p50, p99) in
/// microseconds. What `gilsim calibrate` measures for the model engine's
/// IO waits.
pub fn overshoot_us(d: Duration, samples: u64) -> (f64, f64) {
    p50_p99(
        (0..samples.max(1))
            .map(|_| {
                let t = Instant::now();
                sleep_until(t + d);
                overshoot_of_us(t.elapsed(), d)
            })
            .collect(),
    )
}

/// How much longer than `d` one plain relative sleep ([`precise_sleep`])
/// lasted, µs: the yardstick the benchmark compares every backend's waits
/// against.
pub fn overshoot_once_us(d: Duration) -> f64 {
    let t = Instant::now();
    precise_sleep(d);
    overshoot_of_us(t.elapsed(), d)
}

/// How much longer than `d` a wait that took `took` lasted, µs (0 for one
/// that did not).
pub fn overshoot_of_us(took: Duration, d: Duration) -> f64 {
    took.saturating_sub(d).as_secs_f64() * 1e6
}

/// How long each of `n` waits of `d` made one after another by `wait`
/// lasted (its output, if any, is dropped): the async counterpart of
/// [`overshoot_once_us`], for a runtime's own timer.
pub async fn wait_times<F, Fut>(n: u64, d: Duration, mut wait: F) -> Vec<Duration>
where
    F: FnMut(Duration) -> Fut,
    Fut: std::future::Future,
{
    let mut v = Vec::with_capacity(usize::try_from(n).unwrap_or(0));
    for _ in 0..n {
        let t = Instant::now();
        wait(d).await;
        v.push(t.elapsed());
    }
    v
}

/// The p50 and p99 of `v` (NaN for none).
pub fn p50_p99(mut v: Vec<f64>) -> (f64, f64) {
    if v.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[(v.len() * 99 / 100).min(v.len() - 1)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sleep_lasts_at_least_the_request() {
        let t = Instant::now();
        precise_sleep(Duration::from_micros(300));
        assert!(t.elapsed() >= Duration::from_micros(300));
    }

    /// The anchor maps an `Instant` to the kernel's clock no earlier than
    /// it was read, and only a little later.
    #[test]
    fn an_instant_maps_to_the_monotonic_clock_not_before_it() {
        let ns = |t: Timespec| t.tv_sec as i128 * 1_000_000_000 + t.tv_nsec as i128;
        for _ in 0..1_000 {
            let before = ns(rustix::time::clock_gettime(ClockId::Monotonic));
            let at = ns(monotonic_at(Instant::now()));
            let after = ns(rustix::time::clock_gettime(ClockId::Monotonic));
            assert!(at >= before, "{at} maps before {before}");
            // Generous: a preempted loop iteration, not the anchor's error.
            assert!(at <= after + 1_000_000, "{at} maps far after {after}");
        }
        let base = Instant::now();
        let later = base + Duration::from_secs(3);
        let earlier = base
            .checked_sub(Duration::from_millis(1))
            .expect("up for over 1 ms");
        assert_eq!(
            ns(monotonic_at(later)) - ns(monotonic_at(earlier)),
            3_001_000_000
        );
    }

    #[test]
    fn sleep_until_ends_at_its_deadline_not_before() {
        for us in [50, 300, 2_000] {
            let deadline = Instant::now() + Duration::from_micros(us);
            sleep_until(deadline);
            assert!(Instant::now() >= deadline, "woke before a {us} µs deadline");
        }
    }

    #[test]
    fn zero_and_past_deadlines_return_at_once() {
        let t = Instant::now();
        precise_sleep(Duration::ZERO);
        sleep_until(t);
        assert!(t.elapsed() < Duration::from_millis(50));
    }
}
