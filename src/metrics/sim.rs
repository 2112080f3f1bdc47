//! What a run on the model engine adds to its measurement: the
//! simulation's own figures, the costs it assumed, and the virtual-time
//! spans a trace draws. Plain data, so that reports and traces read it
//! without knowing which engine produced the run.

use std::time::{Duration, Instant};

/// What a model run adds to its measurement.
#[derive(Debug, Clone, Default)]
pub struct SimStats {
    /// Events the simulation processed (timers, wake-ups, CPU completions).
    pub events: u64,
    /// Real time the simulation took.
    pub wall: Duration,
    /// The calibrated costs it used, µs, each with its key, in a fixed
    /// order.
    pub costs_us: Vec<(&'static str, f64)>,
    /// Where the costs came from: `defaults` or the costs file.
    pub costs_source: String,
    /// Virtual-time spans for `--trace` (empty unless a trace asked).
    pub spans: Vec<VirtualSpan>,
    /// Names of the virtual threads that appear in `spans` and GIL holds.
    pub thread_names: Vec<(u64, String)>,
    /// When virtual time 0 was, as an `Instant`.
    pub base: Option<Instant>,
}

/// One finished interval on a virtual thread, in virtual ns.
#[derive(Debug, Clone)]
pub struct VirtualSpan {
    /// The virtual thread's id.
    pub tid: u64,
    /// `job`, `queue`, `step`, `gil_wait`, `lock_wait`.
    pub name: &'static str,
    /// Start, virtual ns.
    pub start_ns: u64,
    /// End, virtual ns.
    pub end_ns: u64,
    /// `k=v` fields.
    pub args: Option<String>,
}
