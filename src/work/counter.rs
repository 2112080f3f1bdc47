//! Shared counters for `counter` steps.
//!
//! A counter is an `AtomicU64` even when the step is unguarded: a `none`
//! guard does a separate `load` and `store`, which loses updates exactly
//! like an unsynchronised read-modify-write, without undefined behaviour.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;

/// CPU work per increment: about what CPython 3.11 spends on one
/// `counter = counter + 1` loop iteration. It gives the increment a width,
/// so a GIL switch or a parallel thread can land inside it.
pub const INCREMENT_COST: Duration = Duration::from_nanos(50);

/// One shared counter.
#[derive(Debug, Default)]
pub struct Counter {
    value: AtomicU64,
    lock: Mutex<()>,
}

impl Counter {
    /// The current value.
    pub fn load(&self) -> u64 {
        self.value.load(Ordering::Relaxed)
    }

    /// Overwrites the value (the second half of an unguarded update).
    pub fn store(&self, v: u64) {
        self.value.store(v, Ordering::Relaxed)
    }

    /// One indivisible increment.
    pub fn fetch_add(&self) {
        self.value.fetch_add(1, Ordering::Relaxed);
    }

    /// The lock used by `guard = "lock"`.
    pub fn lock(&self) -> &Mutex<()> {
        &self.lock
    }
}

/// Expected, observed and lost increments of one counter after a run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CounterResult {
    /// The counter's name.
    pub name: String,
    /// Increments the plan made.
    pub expected: u64,
    /// The final value.
    pub observed: u64,
    /// `expected - observed`.
    pub lost: u64,
}
