//! A second yardstick for IO precision: the same `nanosleep` as the plain
//! one, made by two threads on two CPUs that take turns.
//!
//! On a virtual machine a timer's wake-up costs more when the virtual CPU
//! it lands on has been idle for a while: the host polls a halted virtual
//! CPU for a short time before it deschedules it, and waking one it has
//! descheduled takes longer. One thread sleeping in a loop keeps its CPU in
//! that short window, which makes it the best case the machine can give.
//! A backend whose waits end on a thread other than the last one that ran
//! (a new thread per job, a pool, an executor's other worker) lands on a
//! CPU that idled through the whole wait and the work before it. Measured
//! here (2-core KVM guest, 2026-11-26): 200 µs waits overshot by about 4 µs
//! in the loop, 8–9 µs when two threads on two CPUs took turns, and 13–16
//! µs on a CPU idle for 3 ms before. This figure shows that spread beside
//! the plain one, so a backend's ratio can be read against both.

use std::time::Duration;

use super::affinity::{allowed_cpus, pin};
use crate::work::sleep::{overshoot_once_us, p50_p99};

/// The first two CPUs this process may run on, if it may run on two.
fn two_cpus() -> Option<(usize, usize)> {
    let cpus = allowed_cpus();
    Some((*cpus.first()?, *cpus.get(1)?))
}

/// p50 and p99 overshoot in µs of `samples` waits of `d`, made in turn by
/// two threads on two CPUs (each waits while the other's CPU idles); `None`
/// on a machine where the process may not use two CPUs.
pub fn taking_turns_overshoot_us(d: Duration, samples: u64) -> Option<(f64, f64)> {
    let (a, b) = two_cpus()?;
    let (go, turn) = crossbeam_channel::bounded::<()>(1);
    let (report, reported) = crossbeam_channel::bounded::<f64>(1);
    let other = std::thread::spawn(move || {
        let pinned = pin(b);
        for () in turn {
            let _ = report.send(if pinned {
                overshoot_once_us(d)
            } else {
                f64::NAN
            });
        }
    });
    let mine = std::thread::spawn(move || {
        let pinned = pin(a);
        let mut v = Vec::with_capacity(samples as usize);
        for i in 0..samples.max(2) {
            if i % 2 == 0 {
                v.push(if pinned {
                    overshoot_once_us(d)
                } else {
                    f64::NAN
                });
            } else {
                let _ = go.send(());
                v.push(reported.recv().unwrap_or(f64::NAN));
            }
        }
        v
    });
    let v = mine.join().ok()?;
    let _ = other.join();
    if v.iter().any(|x| x.is_nan()) {
        return None;
    }
    Some(p50_p99(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every wait lasts at least what it asked for, so the overshoots are
    /// never negative; on one CPU there is nothing to measure. (The test
    /// thread itself is never pinned: threads it starts later would inherit
    /// the pin.)
    #[test]
    fn turns_give_non_negative_overshoots_where_two_cpus_exist() {
        match taking_turns_overshoot_us(Duration::from_micros(200), 20) {
            Some((p50, p99)) => {
                assert!(p50 >= 0.0 && p99 >= p50, "p50 {p50} p99 {p99}");
                assert!(two_cpus().is_some());
            }
            None => assert!(
                two_cpus().is_none(),
                "two CPUs are usable, yet the turns were not measured"
            ),
        }
    }
}
