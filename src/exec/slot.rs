//! Whether the current thread holds the GIL, and the bookkeeping of taking
//! and releasing it.

use std::time::Duration;

use crate::metrics::TimeBreakdown;
use crate::work::gil::Gil;

/// One thread's view of the GIL during a job (or one segment of an async
/// task). With no GIL every operation is a no-op. Dropping a slot that
/// holds the GIL releases it, so a panicking job cannot wedge the run.
#[derive(Debug)]
pub struct GilSlot<'g> {
    gil: Option<&'g Gil>,
    held: bool,
}

impl<'g> GilSlot<'g> {
    /// A slot that does not hold `gil` yet.
    pub fn new(gil: Option<&'g Gil>) -> Self {
        Self { gil, held: false }
    }

    /// Whether this thread holds the GIL through this slot.
    pub fn is_held(&self) -> bool {
        self.held
    }

    /// Whether [`GilSlot::acquire`] may block: there is a GIL to take.
    pub fn may_block(&self) -> bool {
        self.gil.is_some()
    }

    /// Whether a waiter asked the holder to drop the GIL (false when this
    /// slot does not hold it).
    #[inline]
    pub fn drop_requested(&self) -> bool {
        matches!((self.gil, self.held), (Some(gil), true) if gil.drop_requested())
    }

    /// Takes the GIL unless held, adding the wait to `times.gil_wait`.
    pub fn acquire(&mut self, times: &mut TimeBreakdown) {
        if let (Some(gil), false) = (self.gil, self.held) {
            times.gil_wait += gil.acquire();
            self.held = true;
        }
    }

    /// Releases the GIL if held.
    pub fn release(&mut self) {
        if let (Some(gil), true) = (self.gil, self.held) {
            gil.release();
            self.held = false;
        }
    }

    /// The eval-breaker check: yields the GIL if a waiter asked for it.
    /// Returns the time spent without it.
    #[inline]
    pub fn check_eval_breaker(&mut self) -> Duration {
        match (self.gil, self.held) {
            (Some(gil), true) => gil.check_eval_breaker(),
            _ => Duration::ZERO,
        }
    }
}

impl Drop for GilSlot<'_> {
    fn drop(&mut self) {
        self.release();
    }
}
