//! Precise blocking waits for thread backends (SPEC §1.2).
//!
//! Linux rounds a thread's timed sleeps up by its *timer slack* (50 µs by
//! default), which alone would inflate a 200 µs IO wait by a quarter. Every
//! thread that sleeps through here lowers its own slack to 1 ns first, so a
//! wait overshoots only by what the scheduler itself costs.

use std::cell::Cell;
use std::time::{Duration, Instant};

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

/// Blocks until `deadline` (returns at once when it has passed).
pub fn sleep_until(deadline: Instant) {
    let now = Instant::now();
    if deadline > now {
        precise_sleep(deadline - now);
    }
}

/// Overshoot of `samples` waits of `d` through [`precise_sleep`]: (p50, p99)
/// in microseconds. What `gilsim calibrate` prints and the yardstick the
/// benchmark compares every backend's waits against.
pub fn overshoot_us(d: Duration, samples: u64) -> (f64, f64) {
    p50_p99((0..samples.max(1)).map(|_| overshoot_once_us(d)).collect())
}

/// How much longer than `d` one wait through [`precise_sleep`] lasted, µs.
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

    #[test]
    fn zero_and_past_deadlines_return_at_once() {
        let t = Instant::now();
        precise_sleep(Duration::ZERO);
        sleep_until(t);
        assert!(t.elapsed() < Duration::from_millis(50));
    }
}
