//! When a finished job wakes the driver.
//!
//! Completions travel to the driver on a channel, but waking a parked thread
//! costs the finishing worker a system call and a context switch, and the
//! driver does not need every completion at once: during a batch it only
//! needs to hear when the backlog must be topped up or when everything is
//! done. The driver says how many completions it wants to have been sent
//! before it is woken ([`Bell::wait`]); each job rings the bell after
//! sending its completion ([`Bell::ring`]), and only the ring that reaches
//! the wanted count wakes the driver. What is measured does not change: a
//! job stamps its own completion time before it rings.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::thread::Thread;
use std::time::Instant;

/// Nobody waits.
const NOBODY: u64 = u64::MAX;

/// Counts completions sent and wakes one waiting thread at a chosen count.
#[derive(Debug)]
pub struct Bell {
    /// Completions sent so far.
    rung: AtomicU64,
    /// The count at which the waiter wants to be woken ([`NOBODY`] when it
    /// is not waiting, or has already been woken).
    wake_at: AtomicU64,
    /// The thread that waits (the driver), once known.
    waiter: OnceLock<Thread>,
}

impl Default for Bell {
    fn default() -> Self {
        Self {
            rung: AtomicU64::new(0),
            wake_at: AtomicU64::new(NOBODY),
            waiter: OnceLock::new(),
        }
    }
}

impl Bell {
    /// Counts one completion, sent just before; wakes the waiter if this is
    /// the one it waits for.
    pub fn ring(&self) {
        // SeqCst pairs with `wait`: either this ring sees the waiter's
        // `wake_at`, or the waiter sees this ring's count.
        let n = self.rung.fetch_add(1, Ordering::SeqCst) + 1;
        let want = self.wake_at.load(Ordering::SeqCst);
        if n >= want
            && self
                .wake_at
                .compare_exchange(want, NOBODY, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        {
            if let Some(t) = self.waiter.get() {
                t.unpark();
            }
        }
    }

    /// Completions sent so far.
    pub fn rung(&self) -> u64 {
        self.rung.load(Ordering::SeqCst)
    }

    /// Parks the calling thread (always the same one) until `want`
    /// completions have been sent or `deadline` passes (`None`: no
    /// deadline). Returns at once when the count is already there.
    pub fn wait(&self, want: u64, deadline: Option<Instant>) {
        let me = self.waiter.get_or_init(std::thread::current);
        debug_assert_eq!(me.id(), std::thread::current().id());
        self.wake_at.store(want, Ordering::SeqCst);
        while self.rung.load(Ordering::SeqCst) < want {
            match deadline {
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        break;
                    }
                    std::thread::park_timeout(d - now);
                }
                None => std::thread::park(),
            }
        }
        self.wake_at.store(NOBODY, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn wakes_at_the_wanted_count_not_before() {
        let bell = Arc::new(Bell::default());
        let b = bell.clone();
        let ringer = std::thread::spawn(move || {
            for _ in 0..10 {
                std::thread::sleep(Duration::from_millis(2));
                b.ring();
            }
        });
        let t = Instant::now();
        bell.wait(10, None);
        assert_eq!(bell.rung(), 10);
        assert!(t.elapsed() >= Duration::from_millis(18));
        ringer.join().unwrap();
    }

    #[test]
    fn a_count_already_reached_returns_at_once_and_a_deadline_ends_a_wait() {
        let bell = Bell::default();
        bell.ring();
        bell.wait(1, None);
        let t = Instant::now();
        bell.wait(2, Some(t + Duration::from_millis(20)));
        assert!(t.elapsed() >= Duration::from_millis(20));
        assert_eq!(bell.rung(), 1);
    }

    #[test]
    fn many_ringers_never_lose_the_wake() {
        for _ in 0..50 {
            let bell = Arc::new(Bell::default());
            let hs: Vec<_> = (0..4)
                .map(|_| {
                    let b = bell.clone();
                    std::thread::spawn(move || (0..1000).for_each(|_| b.ring()))
                })
                .collect();
            let mut want = 1;
            while want <= 4000 {
                bell.wait(want, Some(Instant::now() + Duration::from_secs(10)));
                assert!(bell.rung() >= want);
                want = bell.rung() + 1;
            }
            hs.into_iter().for_each(|h| h.join().unwrap());
        }
    }
}
