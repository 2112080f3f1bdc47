//! [`Stamp`]: a reading of the monotonic clock as whole nanoseconds since
//! the process's clock epoch, the currency of every job's start, end and due
//! time on the job path.
//!
//! An [`Instant`] is the portable type, but its arithmetic is not free: each
//! `Instant + Duration` and each `Instant - Instant` goes through `std`'s
//! out-of-line `timespec` normalisation (a few ns each; about 15 ns for two
//! additions and a subtraction on the VMs gilsim was measured on). A 1 µs
//! job did five or six of them between its two clock readings, its record
//! and its completion count. A `Stamp` is a `u64`: a difference is one
//! saturating subtraction. The driver keeps its due times as stamps too, and
//! a job's end goes back to it (and to a closed-loop client's next job) as
//! one, so a stamp becomes an `Instant` only where the driver sleeps until
//! one and where a run's start and end are reported.
//!
//! The epoch is fixed at the first use in the process. Every run fixes it
//! before it computes its first due time (`RunShared::new` warms the clock
//! up), so no stamp of a run is taken from an instant before it; one that
//! were would saturate to the epoch itself.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A moment on the monotonic clock, in ns since [`epoch`] (see the module
/// doc). Ordered as the instants it stands for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Stamp(u64);

/// The process's clock epoch: the instant of the first call.
pub fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

impl Stamp {
    /// The stamp `ns` nanoseconds after the epoch.
    #[inline]
    pub const fn from_ns(ns: u64) -> Self {
        Self(ns)
    }

    /// Nanoseconds since the epoch.
    #[inline]
    pub const fn ns(self) -> u64 {
        self.0
    }

    /// The stamp of `at` (the epoch itself for an instant before it;
    /// saturating 584 years after it).
    #[inline]
    pub fn of(at: Instant) -> Self {
        let d = at.saturating_duration_since(epoch());
        Self(
            d.as_secs()
                .saturating_mul(1_000_000_000)
                .saturating_add(u64::from(d.subsec_nanos())),
        )
    }

    /// The instant this stamp stands for.
    #[inline]
    pub fn instant(self) -> Instant {
        epoch() + Duration::from_nanos(self.0)
    }

    /// The current moment, from `Instant::now()` (the cheaper reading is
    /// `exec::clock::stamp`).
    #[inline]
    pub fn now() -> Self {
        Self::of(Instant::now())
    }

    /// Nanoseconds from `earlier` to this stamp, 0 if `earlier` is later.
    #[inline]
    pub fn ns_since(self, earlier: Stamp) -> u64 {
        self.0.saturating_sub(earlier.0)
    }

    /// [`Stamp::ns_since`] as a `Duration`.
    #[inline]
    pub fn since(self, earlier: Stamp) -> Duration {
        Duration::from_nanos(self.ns_since(earlier))
    }

    /// This stamp `ns` nanoseconds later (saturating).
    #[inline]
    pub fn add_ns(self, ns: u64) -> Self {
        Self(self.0.saturating_add(ns))
    }
}

/// The stamp `d` later, saturating where `Instant + Duration` would panic:
/// a think time comes from a user's config.
impl std::ops::Add<Duration> for Stamp {
    type Output = Stamp;

    #[inline]
    fn add(self, d: Duration) -> Stamp {
        self.add_ns(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_is_its_instant_in_ns_and_back() {
        let e = epoch();
        assert_eq!(Stamp::of(e), Stamp::from_ns(0));
        let later = e + Duration::new(3, 250_000_007);
        let s = Stamp::of(later);
        assert_eq!(s.ns(), 3_250_000_007);
        assert_eq!(s.instant(), later);
        if let Some(before) = e.checked_sub(Duration::from_millis(5)) {
            assert_eq!(
                Stamp::of(before),
                Stamp::from_ns(0),
                "saturates at the epoch"
            );
        }
    }

    #[test]
    fn differences_saturate_and_match_the_instants() {
        let a = Stamp::now();
        let b = a.add_ns(1_500);
        assert_eq!(b.ns_since(a), 1_500);
        assert_eq!(a.ns_since(b), 0);
        assert_eq!(b.since(a), Duration::from_nanos(1_500));
        assert_eq!(
            b.since(a),
            b.instant().saturating_duration_since(a.instant())
        );
        assert!(a < b);
        assert_eq!(Stamp::from_ns(u64::MAX).add_ns(1), Stamp::from_ns(u64::MAX));
        assert_eq!(a + Duration::from_nanos(1_500), b);
        assert_eq!(a + Duration::MAX, Stamp::from_ns(u64::MAX));
    }
}
