//! Knowing when an awaited future was woken, to tell "waiting for IO" from
//! "ready, but the executor thread was busy" (executor blocked).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Instant;

use parking_lot::Mutex;

#[derive(Default)]
struct Stamp {
    woken_at: Mutex<Option<Instant>>,
    waker: Mutex<Option<Waker>>,
}

impl Wake for Stamp {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref()
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken_at.lock().get_or_insert_with(Instant::now);
        if let Some(w) = self.waker.lock().as_ref() {
            w.wake_by_ref();
        }
    }
}

/// Awaits `fut` and returns its output with the instant of the wake-up that
/// led to its completion (`None` if it completed without waiting).
///
/// A plain function, not an `async fn`: an `async fn` would keep `fut`
/// unboxed in its own state, and so in the state of every job's task (960
/// instead of ~300 bytes on tokio, page faults and copies on every spawn).
pub fn stamped<F: Future>(fut: F) -> Stamped<F> {
    Stamped {
        inner: Box::pin(fut),
        stamp: Arc::new(Stamp::default()),
    }
}

/// The future of [`stamped`].
pub struct Stamped<F: Future> {
    inner: Pin<Box<F>>,
    stamp: Arc<Stamp>,
}

impl<F: Future> Future for Stamped<F> {
    type Output = (F::Output, Option<Instant>);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        {
            let mut w = self.stamp.waker.lock();
            if !w.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *w = Some(cx.waker().clone());
            }
        }
        let waker = Waker::from(self.stamp.clone());
        let mut inner_cx = Context::from_waker(&waker);
        match self.inner.as_mut().poll(&mut inner_cx) {
            Poll::Ready(out) => Poll::Ready((out, self.stamp.woken_at.lock().take())),
            Poll::Pending => {
                // Only the wake that leads to the completing poll counts.
                *self.stamp.woken_at.lock() = None;
                Poll::Pending
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn ready_futures_have_no_wake() {
        let (v, at) = futures_executor_lite(stamped(async { 5 }));
        assert_eq!(v, 5);
        assert!(at.is_none());
    }

    #[test]
    fn a_late_poll_is_measured_from_the_wake() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (_, at) = stamped(tokio::time::sleep(Duration::from_millis(5))).await;
            assert!(at.is_some());
        });
    }

    fn futures_executor_lite<F: Future>(f: F) -> F::Output {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(f)
    }
}
