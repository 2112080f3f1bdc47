//! The microsecond histogram every measurement uses, from the GIL's hold
//! times up to a run's latencies.
//!
//! It sits below both [`crate::work`] and [`crate::metrics`] so the GIL can
//! record hold times without the work layer importing the metrics layer.

use hdrhistogram::Histogram;

/// Highest value a histogram tracks: one hour, in microseconds.
pub const HIST_MAX_US: u64 = 3_600_000_000;

/// A microsecond histogram with 3 significant digits, from 1 µs to 1 h.
pub fn new_histogram() -> Histogram<u64> {
    // Static, valid bounds: construction cannot fail.
    Histogram::new_with_bounds(1, HIST_MAX_US, 3).expect("valid static histogram bounds")
}

/// The `q` quantile of `h`, a histogram of whole µs truncated (a wait of
/// 217.9 µs is recorded as 217), as the midpoint of the real values its
/// bucket stands for: a recorded `v` means anywhere in `[v, v + 1)` µs
/// below 2,048 µs, and in a wider bucket above. NaN when `h` is empty.
///
/// For comparing with a figure measured to the ns: the recorded value
/// itself reads half a µs short on average, which is 4–5% of the 10–12 µs
/// a 200 µs `nanosleep` overshoots by on the hosts gilsim is measured on.
pub fn quantile_midpoint_us(h: &Histogram<u64>, q: f64) -> f64 {
    if h.is_empty() {
        return f64::NAN;
    }
    let v = h.value_at_quantile(q);
    let (low, high) = (h.lowest_equivalent(v), h.highest_equivalent(v));
    (low as f64 + high as f64 + 1.0) / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A recorded 217 stands for 217.0–217.99 µs: its midpoint is 217.5.
    /// Above 2,048 µs a bucket is wider, and the midpoint is its middle.
    #[test]
    fn a_quantile_is_the_middle_of_what_its_bucket_stands_for() {
        let mut h = new_histogram();
        for v in [216, 217, 217, 217, 230] {
            h.record(v).unwrap();
        }
        assert_eq!(quantile_midpoint_us(&h, 0.5), 217.5);
        let mut wide = new_histogram();
        wide.record(50_001).unwrap();
        let (low, high) = (
            wide.lowest_equivalent(50_001),
            wide.highest_equivalent(50_001),
        );
        assert!(high > low, "a wide bucket up there");
        assert_eq!(
            quantile_midpoint_us(&wide, 0.5),
            (low + high + 1) as f64 / 2.0
        );
        assert!(quantile_midpoint_us(&new_histogram(), 0.5).is_nan());
    }
}
