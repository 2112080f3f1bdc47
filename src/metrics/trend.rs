//! Whether a run kept up with its arrivals: how latency moves with due time.
//!
//! A backend that keeps up with an open-loop stream gives its jobs
//! latencies from one distribution, early or late in the run. A backend
//! that falls behind gives each job a little more latency than the jobs
//! due before it: with a capacity of μ jobs a second against λ offered,
//! a job due t seconds into the run waits t·(λ/μ − 1) more than the first.
//! So the least-squares slope g of latency against due time (seconds of
//! latency per second of arrivals) says how far behind it fell, and jobs
//! completed at 1/(1 + g) of the offered rate.
//!
//! `gilsim plan` asks this of every open-loop probe (SPEC §5: achieved
//! throughput ≥ 99% of offered). Aggregates of the whole run cannot tell
//! the two cases apart: a fast stream with a long latency tail ends its
//! run up to its largest latencies after its last due time, as a stream
//! that falls behind does.
//!
//! The fit is kept as a count and four sums, so shards, processes and
//! runs merge by adding (each moved to one first due time). Due times are
//! seconds from a fixed origin: the run's start on the model engine, the
//! process's clock epoch on the real one (`crate::stamp`); the slope does
//! not depend on the origin. One job in [`SAMPLE_EVERY`] goes into the fit.

/// The running sums of a least-squares fit of latency on due time.
///
/// Due times are summed from the first one added (`t0`), not from the
/// origin: a run's due times span seconds, and squares of times an hour
/// from the origin would leave their spread to rounding.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Trend {
    /// Jobs offered to the fit ([`Trend::offer`]).
    seen: u64,
    /// Jobs in the fit.
    n: u64,
    t0: f64,
    t: f64,
    tt: f64,
    l: f64,
    tl: f64,
}

/// One job in this many goes into the fit. Adding a job costs about 10 ns
/// on the real engine's job path (a 1 µs job's whole record costs 35–55
/// ns); a quarter of a 10,000-job probe still fixes the slope to about
/// 0.1% for latencies spread by 10 ms over a one-second probe, against the
/// 1% the rule looks for.
pub const SAMPLE_EVERY: u64 = 4;

impl Trend {
    /// Offers one job to the fit: the first of every [`SAMPLE_EVERY`]
    /// offered goes in, with the due time and latency (seconds) `job`
    /// works out, only then.
    #[inline]
    pub fn offer(&mut self, job: impl FnOnce() -> (f64, f64)) {
        self.seen += 1;
        if self.seen % SAMPLE_EVERY == 1 {
            let (due_s, latency_s) = job();
            self.add(due_s, latency_s);
        }
    }

    /// Adds one job, due `due_s` seconds after the origin, with a latency
    /// of `latency_s` seconds.
    #[inline]
    pub fn add(&mut self, due_s: f64, latency_s: f64) {
        if self.n == 0 {
            self.t0 = due_s;
        }
        let due_s = due_s - self.t0;
        self.n += 1;
        self.t += due_s;
        self.tt += due_s * due_s;
        self.l += latency_s;
        self.tl += due_s * latency_s;
    }

    /// Adds `other`'s jobs (measured from the same origin).
    pub fn merge(&mut self, other: &Trend) {
        if other.n == 0 {
            self.seen += other.seen;
            return;
        }
        if self.n == 0 {
            let seen = self.seen;
            *self = *other;
            self.seen += seen;
            return;
        }
        // `other`'s sums moved from its first due time to ours.
        let d = other.t0 - self.t0;
        let n = other.n as f64;
        self.seen += other.seen;
        self.n += other.n;
        self.t += other.t + n * d;
        self.tt += other.tt + 2.0 * d * other.t + n * d * d;
        self.l += other.l;
        self.tl += other.tl + d * other.l;
    }

    /// Jobs in the fit.
    pub fn jobs(&self) -> u64 {
        self.n
    }

    /// Seconds of latency gained per second of due time; `None` with fewer
    /// than two jobs or with every job due at one instant (a batch).
    pub fn slope(&self) -> Option<f64> {
        if self.n < 2 {
            return None;
        }
        let n = self.n as f64;
        let var = self.tt - self.t * self.t / n;
        let cov = self.tl - self.t * self.l / n;
        // Due times that differ by less than a nanosecond over the whole
        // run are one instant, whatever rounding left in `var`.
        let spread = (var / n).max(0.0).sqrt();
        (spread > 1e-9).then(|| cov / var)
    }

    /// The share of the offered rate the jobs completed at: 1/(1 + g) for
    /// a slope g > 0, 1 for a run whose latency did not grow; `None` as for
    /// [`Trend::slope`].
    pub fn achieved_share(&self) -> Option<f64> {
        self.slope().map(|g| 1.0 / (1.0 + g.max(0.0)))
    }
}

/// `ns` nanoseconds in seconds (a due time on the real engine's or the
/// model's time line: the fit is the same whatever the origin, see
/// [`Trend::add`]).
#[inline]
pub fn ns_to_s(ns: u64) -> f64 {
    ns as f64 / 1e9
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream that keeps up with a long latency tail has no slope; one
    /// served at 80% of its rate has latency growing at 0.25 s a second,
    /// and its share is 0.8.
    #[test]
    fn the_slope_tells_a_long_tail_from_falling_behind() {
        let (mut keeps, mut falls) = (Trend::default(), Trend::default());
        let mut x = 7u64;
        for i in 0..20_000u64 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let u = (x >> 11) as f64 / (1u64 << 53) as f64;
            let due = i as f64 / 10_000.0;
            // Exponential latencies, mean 14 ms, the last ones as long as
            // any: the tail is the same early and late.
            keeps.add(due, -0.014 * (1.0 - u).ln());
            // Served at 8,000/s: job i ends at i / 8,000 s.
            falls.add(due, i as f64 / 8_000.0 - due + 0.002);
        }
        assert!(keeps.slope().unwrap().abs() < 0.002, "{:?}", keeps.slope());
        assert!(keeps.achieved_share().unwrap() > 0.998);
        assert!((falls.slope().unwrap() - 0.25).abs() < 1e-9);
        assert!((falls.achieved_share().unwrap() - 0.8).abs() < 1e-9);
    }

    /// Merged halves give the whole's fit; a batch (one due time) and a
    /// single job have none; the origin does not matter.
    #[test]
    fn halves_merge_and_a_batch_has_no_slope() {
        let (mut a, mut b, mut whole, mut shifted) = Default::default();
        for i in 0..1_000u64 {
            let (t, l) = (i as f64 * 1e-3, 0.01 + 0.05 * i as f64 * 1e-3);
            whole = add(whole, t, l);
            shifted = add(shifted, t + 3_600.0, l);
            // Halves that start at different due times.
            if i < 300 {
                a = add(a, t, l);
            } else {
                b = add(b, t, l);
            }
        }
        a.merge(&b);
        assert_eq!(a.jobs(), whole.jobs());
        assert!((a.slope().unwrap() - 0.05).abs() < 1e-9);
        assert!((shifted.slope().unwrap() - 0.05).abs() < 1e-6);
        let mut batch = Trend::default();
        for l in [0.1, 0.2, 0.3] {
            batch.add(0.0, l);
        }
        assert_eq!(batch.slope(), None);
        assert_eq!(add(Trend::default(), 1.0, 1.0).slope(), None);
    }

    #[test]
    fn one_job_in_sample_every_goes_into_the_fit() {
        let mut t = Trend::default();
        for i in 0..10 {
            t.offer(|| (f64::from(i), 1.0));
        }
        assert_eq!(t.jobs(), 3, "the 1st, 5th and 9th of 10");
        assert_eq!(t.t0, 0.0);
        assert_eq!(t.t, 4.0 + 8.0, "due times 0, 4 and 8 from the first");
        // The job's times are worked out only for the jobs that go in.
        let mut asked = 0;
        let mut u = Trend::default();
        for _ in 0..3 {
            u.offer(|| {
                asked += 1;
                (0.0, 1.0)
            });
        }
        assert_eq!((asked, u.jobs()), (1, 1));
        t.merge(&u);
        assert_eq!(t.seen, 13);
    }

    fn add(mut t: Trend, due: f64, latency: f64) -> Trend {
        t.add(due, latency);
        t
    }

    #[test]
    fn the_slope_does_not_depend_on_the_origin() {
        let (mut near, mut far) = (Trend::default(), Trend::default());
        for i in 0..1_000u64 {
            let due_ns = i * 1_000_000;
            let latency = ns_to_s(2_000_000 + i * 300_000);
            near.add(ns_to_s(due_ns), latency);
            // The same jobs an hour later on the time line.
            far.add(ns_to_s(due_ns + 3_600_000_000_000), latency);
        }
        let (a, b) = (near.slope().unwrap(), far.slope().unwrap());
        assert!(
            (a - 0.3).abs() < 1e-9 && (a - b).abs() < 1e-6,
            "{a} against {b}"
        );
        assert_eq!(ns_to_s(1_500_000_000), 1.5);
    }
}
