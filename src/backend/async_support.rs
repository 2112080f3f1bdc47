//! Pieces every async backend shares: where offloaded CPU work runs,
//! wrapping work for a blocking pool gilsim does not own, the switch
//! between gilsim's precise waits and the runtimes' own, the reading a
//! precise wait ends with, and the one warning when a precise sleep cannot
//! be had.

use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Once};
use std::time::Instant;

use super::available_cores;
use super::rayon_pool::build_pool;
use crate::config::CpuMode;
use crate::error::RunError;
use crate::exec::{clock, never_awaits, Offload, RunShared};
use crate::stamp::Stamp;

/// Where `cpu_mode` sends CPU-type steps; [`CpuMode::Rayon`] gets its own
/// pool of one worker per core (the "process pool").
pub(super) fn offload_for(backend: &str, mode: CpuMode) -> Result<Offload, RunError> {
    Ok(match mode {
        CpuMode::Inline => Offload::Inline,
        CpuMode::SpawnBlocking => Offload::Blocking,
        CpuMode::Rayon => Offload::Rayon(Arc::new(build_pool(
            &format!("{backend}-cpu"),
            available_cores(),
        )?)),
    })
}

/// `f` for a blocking pool gilsim does not own: a panic becomes `None`
/// instead of unwinding into the awaiting task.
pub(super) fn catching<R>(
    f: impl FnOnce() -> R + Send + 'static,
) -> impl FnOnce() -> Option<R> + Send + 'static {
    move || catch_unwind(AssertUnwindSafe(f)).ok()
}

/// Per group of `shared`'s plan, whether its jobs never await when their
/// CPU work runs on `offload` ([`never_awaits`]): those are spawned as a
/// small task running [`RunShared::run_task_inline`].
pub(super) fn inline_groups(shared: &RunShared, offload: &Offload) -> Vec<bool> {
    (0..shared.plan.groups.len())
        .map(|g| never_awaits(&shared.plan, g, offload))
        .collect()
}

/// Whether smol runs on gilsim's `block_on` and async-std's threads get a
/// same-thread kick (on by default; the IO-precision measurement turns it
/// off to compare with the path before, side by side).
static PRECISE: AtomicBool = AtomicBool::new(true);

/// Turns gilsim's `block_on` for smol (and the async-std kick,
/// `async_timer`) on or off, for side-by-side measurements only.
/// Takes effect at the next run's launch.
pub fn set_precise_wait(on: bool) {
    PRECISE.store(on, Ordering::Relaxed);
}

/// Whether [`set_precise_wait`] is on.
pub(super) fn precise_wait() -> bool {
    PRECISE.load(Ordering::Relaxed)
}

/// Logs, once per process, that precise sleeps fell back to a runtime's timer.
pub(super) fn warn_fallback(e: &io::Error) {
    static WARNED: Once = Once::new();
    WARNED.call_once(|| {
        let hint = match e.raw_os_error() {
            Some(libc::EMFILE) => " (too many open files: raise `ulimit -n`, or run fewer IO jobs at once)",
            Some(libc::ENFILE) => " (the system's file table is full)",
            _ => "",
        };
        tracing::warn!(
            "precise async sleeps are unavailable: {e}{hint}; falling back to the runtime's own timer, \
             whose granularity is coarser (about 1 ms on tokio), so IO waits will overshoot more"
        );
    });
}

/// A reading of gilsim's clock when a wait is over (its deadline has
/// passed); `None` while it is not. Every precise wait (`async_timer`'s
/// timerfd waits, smol's per-worker timer) asks this when it is polled.
///
/// The reading is taken as soon as the deadline is seen to have passed,
/// before the wait does anything else (hands its timer back, returns
/// through the job's futures): a job whose last step is an IO wait ends
/// here, and none of that is counted in it. The deadline is checked first:
/// a reading taken before it could come out a few ns short of the request.
pub(super) fn fired(deadline: Instant) -> Option<Stamp> {
    (Instant::now() >= deadline).then(clock::stamp)
}
