//! Join handles the driver keeps until their tasks end, so that a finished
//! task's memory is freed on the thread that allocated it.
//!
//! A task spawned from outside a runtime is allocated on the spawning
//! thread (the driver). Detached, it is freed by the worker that finishes
//! it, and glibc's malloc serves a free from another thread through the
//! allocating thread's arena: one lock taken per task, against the driver's
//! own allocations, plus coalescing. On 1 µs jobs that cost tokio a third
//! of its throughput. A program that awaits its tasks' handles (the bare
//! programs of `gilsim bench` do) drops the last reference on its own
//! thread, where the free is a thread-cache push. Keeping the handle until
//! the task has ended does the same for gilsim. tokio and async-std keep
//! their handles; smol, whose tasks are spawned the same way, already ran at
//! its bare program's throughput and is left as it was.

use std::collections::VecDeque;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Wake, Waker};

use parking_lot::Mutex;

/// The fewest handles kept before a full sweep looks past the oldest one.
const MIN_SWEEP: usize = 1024;

/// Handles kept between two looks at the oldest ones.
///
/// Why not at every call: the oldest task not yet seen to have ended is
/// usually the one a worker is running at that moment, and asking whether
/// it has ended reads the cache line the worker is writing its state and
/// output to. Asked at every submission, that line went back and forth
/// between the driver's core and the worker's once per job (tokio's
/// `Core::set_stage` then took 1.7% of a current_thread run's samples
/// against 0.25% in its bare program, which keeps its handles untouched
/// until the end). Once per this many handles, the look mostly finds tasks
/// that have ended, at the cost of at most this many more handles kept.
const FRONT_EVERY: usize = 64;

/// A join handle that can say whether its task has ended.
pub(super) trait Ended {
    /// Whether the task has run to completion (or was cancelled).
    fn ended(&mut self) -> bool;
}

impl<T> Ended for tokio::task::JoinHandle<T> {
    fn ended(&mut self) -> bool {
        self.is_finished()
    }
}

impl<T> Ended for async_std::task::JoinHandle<T> {
    /// async-std's handle cannot be asked, only polled: a task that has
    /// ended hands over its output (dropped here), one still running keeps
    /// a waker that does nothing. A task whose job panicked has no output,
    /// and polling its handle panics: that task has ended too (the job's
    /// guard has reported the failure).
    fn ended(&mut self) -> bool {
        let mut cx = Context::from_waker(noop_waker());
        catch_unwind(AssertUnwindSafe(|| Pin::new(self).poll(&mut cx).is_ready())).unwrap_or(true)
    }
}

/// A waker that does nothing (`Waker::noop` is newer than gilsim's MSRV).
fn noop_waker() -> &'static Waker {
    struct Noop;
    impl Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }
    static NOOP: OnceLock<Waker> = OnceLock::new();
    NOOP.get_or_init(|| Waker::from(Arc::new(Noop)))
}

/// The handles of tasks submitted and not yet seen to have ended.
#[derive(Debug)]
pub(super) struct Kept<H> {
    inner: Mutex<Inner<H>>,
}

#[derive(Debug)]
struct Inner<H> {
    /// In submission order.
    handles: VecDeque<H>,
    /// The length at which the next full sweep runs.
    sweep_at: usize,
    /// Handles kept since the oldest ones were last looked at.
    since_front: usize,
}

impl<H> Default for Kept<H> {
    fn default() -> Self {
        Self {
            inner: Mutex::new(Inner {
                handles: VecDeque::new(),
                sweep_at: MIN_SWEEP,
                since_front: 0,
            }),
        }
    }
}

impl<H: Ended> Kept<H> {
    /// Keeps `handle`, and drops the handles of tasks that have ended.
    ///
    /// The oldest tasks usually end first, so the front is swept every
    /// [`FRONT_EVERY`] calls. Tasks that end out of order (an IO job behind
    /// a long one) are caught by a full sweep whenever the count doubles,
    /// which keeps the handles bounded by about twice the tasks in flight
    /// plus [`FRONT_EVERY`], at O(1) amortised cost per call.
    pub(super) fn keep(&self, handle: H) {
        let mut g = self.inner.lock();
        g.handles.push_back(handle);
        g.since_front += 1;
        if g.since_front >= FRONT_EVERY {
            g.since_front = 0;
            while g.handles.front_mut().is_some_and(Ended::ended) {
                g.handles.pop_front();
            }
        }
        if g.handles.len() >= g.sweep_at {
            g.handles.retain_mut(|h| !h.ended());
            g.sweep_at = (2 * g.handles.len()).max(MIN_SWEEP);
        }
    }

    /// How many handles are kept.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner.lock().handles.len()
    }

    /// Drops every handle (their tasks, once ended, are freed here).
    pub(super) fn clear(&self) {
        // Taken out first, so that the frees run outside the lock.
        let handles = std::mem::take(&mut self.inner.lock().handles);
        drop(handles);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    /// A handle whose task ends when the test says so.
    struct Fake(Arc<AtomicBool>);

    impl Ended for Fake {
        fn ended(&mut self) -> bool {
            self.0.load(Ordering::Relaxed)
        }
    }

    /// Whether `handle` says its task has ended within 10 s. Asks until
    /// the first yes: an async-std handle hands its output over only once.
    fn ends_soon(handle: &mut impl Ended) -> bool {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if handle.ended() {
                return true;
            }
            std::thread::yield_now();
        }
        false
    }

    fn task() -> (Fake, Arc<AtomicBool>) {
        let flag = Arc::new(AtomicBool::new(false));
        (Fake(flag.clone()), flag)
    }

    /// The front is looked at once every `FRONT_EVERY` handles, not at
    /// each: an ended task there is dropped at the next look, and until
    /// then at most `FRONT_EVERY` more handles are kept.
    #[test]
    fn ended_tasks_at_the_front_are_dropped_at_the_next_look() {
        let kept = Kept::default();
        let (a, a_done) = task();
        let (b, _) = task();
        kept.keep(a);
        kept.keep(b);
        a_done.store(true, Ordering::Relaxed);
        for _ in 2..FRONT_EVERY - 1 {
            kept.keep(task().0);
        }
        assert_eq!(kept.len(), FRONT_EVERY - 1, "no look yet");
        kept.keep(task().0);
        assert_eq!(
            kept.len(),
            FRONT_EVERY - 1,
            "the look at the FRONT_EVERY-th handle drops the ended front task"
        );
    }

    /// Between two looks the running tasks' handles are not touched at
    /// all: a handle that counts its questions is asked nothing until the
    /// `FRONT_EVERY`-th keep.
    #[test]
    fn a_running_task_is_not_asked_at_every_keep() {
        struct Counting(Arc<std::sync::atomic::AtomicUsize>);
        impl Ended for Counting {
            fn ended(&mut self) -> bool {
                self.0.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
        let asked = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let kept = Kept::default();
        for _ in 0..FRONT_EVERY - 1 {
            kept.keep(Counting(asked.clone()));
        }
        assert_eq!(asked.load(Ordering::Relaxed), 0);
        kept.keep(Counting(asked.clone()));
        assert_eq!(asked.load(Ordering::Relaxed), 1, "one look, at the front");
    }

    #[test]
    fn tasks_ended_behind_a_running_one_are_dropped_by_a_full_sweep() {
        let kept = Kept::default();
        let (first, _) = task();
        kept.keep(first);
        for _ in 0..10 * MIN_SWEEP {
            let (h, done) = task();
            done.store(true, Ordering::Relaxed);
            kept.keep(h);
        }
        // The first task never ends, so the front sweep never passes it;
        // only full sweeps drop the others.
        assert!(
            kept.len() <= MIN_SWEEP,
            "{} handles kept for 1 task running",
            kept.len()
        );
    }

    #[test]
    fn clear_drops_every_handle() {
        let kept = Kept::default();
        for _ in 0..10 {
            kept.keep(task().0);
        }
        kept.clear();
        assert_eq!(kept.len(), 0);
    }

    #[test]
    fn a_tokio_handle_has_ended_once_its_task_has_run_and_not_before() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .expect("a runtime");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let mut waiting = rt.spawn(async move {
            let _ = rx.await;
        });
        let mut done = rt.spawn(async {});
        assert!(ends_soon(&mut done), "a task that ran has ended");
        assert!(!waiting.ended(), "a task still waiting has not");
        let _ = tx.send(());
    }

    #[test]
    fn an_async_std_handle_has_ended_once_its_task_has_run_and_not_before() {
        let (tx, rx) = futures_channel::oneshot::channel::<()>();
        let mut waiting = async_std::task::spawn(async move {
            let _ = rx.await;
        });
        let mut done = async_std::task::spawn(async {});
        assert!(ends_soon(&mut done), "a task that ran has ended");
        assert!(!waiting.ended(), "a task still waiting has not");
        let _ = tx.send(());
    }

    #[test]
    fn an_async_std_task_that_panicked_has_ended_without_a_panic_here() {
        let mut failed = async_std::task::spawn(async { panic!("a job failed") });
        assert!(ends_soon(&mut failed));
    }
}
