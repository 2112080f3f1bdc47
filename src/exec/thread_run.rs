//! The run a runtime's thread works for, so that a job handed to it need
//! not carry its own reference to the run.
//!
//! A task or a rayon job must own what it uses, so each one used to hold a
//! clone of the run's `Arc<RunShared>`: the driver incremented the count as
//! it submitted the job and the worker decremented it when the job ended.
//! That count is one cache line written by the driver and every worker, a
//! cache miss on each side of every job (about 40 ns a 1 µs job on rayon,
//! measured), which a bare program, whose jobs own nothing, does not pay.
//! Backends whose threads belong to one run (rayon, tokio, smol: a pool or a
//! runtime built per run) instead give each thread its own reference when it
//! starts ([`adopt`]), and their jobs look it up ([`with_thread_run`]).

use std::cell::RefCell;
use std::sync::Arc;

use super::RunShared;

thread_local! {
    static THREAD_RUN: RefCell<Option<Arc<RunShared>>> = const { RefCell::new(None) };
}

/// Makes `shared` the run of the calling thread (replacing any other). Call
/// it first thing on a thread that runs only `shared`'s jobs.
pub fn adopt(shared: &Arc<RunShared>) {
    THREAD_RUN.with_borrow_mut(|r| *r = Some(shared.clone()));
}

/// Drops the calling thread's reference to its run, if it has one.
pub fn release() {
    THREAD_RUN.with_borrow_mut(|r| *r = None);
}

/// Runs `f` with the calling thread's run; `None` (and `f` not called) on a
/// thread that did not [`adopt`] one.
#[inline]
pub fn with_thread_run<R>(f: impl FnOnce(&RunShared) -> R) -> Option<R> {
    THREAD_RUN.with_borrow(|r| r.as_deref().map(f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_sees_only_the_run_it_adopted() {
        let (tx, _rx) = crossbeam_channel::unbounded();
        let shared = Arc::new(super::super::tests::shared(tx));
        assert_eq!(with_thread_run(|_| ()), None);
        adopt(&shared);
        assert_eq!(with_thread_run(|s| s.plan.groups.len()), Some(1));
        let other = std::thread::spawn(|| with_thread_run(|_| ()).is_none());
        assert!(other.join().unwrap(), "another thread has no run");
        assert_eq!(Arc::strong_count(&shared), 2);
        release();
        assert_eq!(with_thread_run(|_| ()), None);
        assert_eq!(Arc::strong_count(&shared), 1);
    }
}
