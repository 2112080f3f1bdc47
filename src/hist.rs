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
