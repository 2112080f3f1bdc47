//! When a finished job wakes the driver.
//!
//! Waking a parked thread costs the finishing worker a system call and a
//! context switch, and the driver does not need every completion at once:
//! during a batch it only needs to hear when the backlog must be topped up
//! or when everything is done. Each job rings the bell when it ends
//! ([`Bell::ring`]), after sending its completion if the driver asked for
//! it. The driver either says how many completions it wants before it is
//! woken ([`Bell::wait`]: only the ring that reaches that count wakes it),
//! or, when nothing it does depends on hearing of a completion at once,
//! looks at the count now and then ([`Bell::poll`]), so that rings cost the
//! workers no shared write at all.
//!
//! The count and the latest end time are kept per thread shard, each on its
//! own cache line: a shared counter written by every worker after every job
//! would bounce one cache line between the cores, which on short jobs costs
//! more than the rest of the bookkeeping. What is measured does not change:
//! a job stamps its own completion time before it rings.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::thread::Thread;
use std::time::{Duration, Instant};

use crate::stamp::Stamp;
use crate::work::gil::thread_token;

/// Nobody waits.
const NOBODY: u64 = u64::MAX;

/// Shards of the count; threads share one when there are more of them.
const SHARDS: usize = 8;

/// One thread shard's part of the count, alone on its cache line.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Shard {
    /// Rings counted here.
    rung: AtomicU64,
    /// The latest end time rung here, as its [`Stamp`]'s ns, plus one
    /// (0: none).
    last_end: AtomicU64,
}

/// Counts completions and wakes one waiting thread at a chosen count.
#[derive(Debug)]
pub struct Bell {
    shards: [Shard; SHARDS],
    /// The count at which the waiter wants to be woken ([`NOBODY`] when it
    /// is not waiting, or has already been woken).
    wake_at: AtomicU64,
    /// The thread that waits (the driver), once known.
    waiter: OnceLock<Thread>,
}

impl Default for Bell {
    fn default() -> Self {
        Self {
            shards: Default::default(),
            wake_at: AtomicU64::new(NOBODY),
            waiter: OnceLock::new(),
        }
    }
}

impl Bell {
    /// Counts one completion (sent just before, if it was sent); wakes the
    /// waiter if this is the one it waits for.
    pub fn ring(&self) {
        self.count(&self.shards[thread_token() as usize % SHARDS]);
    }

    /// [`Bell::ring`] for a completion that ended at `end`, which
    /// [`Bell::last_end`] then takes into account.
    pub fn ring_ended(&self, end: Stamp) {
        let shard = self.shard_ended(end);
        self.count(shard);
    }

    /// [`Bell::ring_ended`] that never wakes the waiter: the completion is
    /// counted, but the waiter has nothing to do about it (a closed-loop
    /// client that went on by itself). A waiter waiting for a count this
    /// ring reaches is woken by the next loud ring, or its deadline.
    pub fn ring_ended_quietly(&self, end: Stamp) {
        let shard = self.shard_ended(end);
        shard.rung.fetch_add(1, Ordering::SeqCst);
    }

    /// This thread's shard, with `end` taken into its latest end time.
    fn shard_ended(&self, end: Stamp) -> &Shard {
        let shard = &self.shards[thread_token() as usize % SHARDS];
        let ns = end.ns().saturating_add(1);
        // Published by the SeqCst add of the count that follows, which the
        // reader's SeqCst loads of the count synchronise with.
        shard.last_end.fetch_max(ns, Ordering::Relaxed);
        shard
    }

    fn count(&self, shard: &Shard) {
        // SeqCst pairs with `wait`: either this ring sees the waiter's
        // `wake_at`, or the waiter's sum sees this ring's count. The last
        // ring to be counted sees every other one in its own sum.
        shard.rung.fetch_add(1, Ordering::SeqCst);
        let want = self.wake_at.load(Ordering::SeqCst);
        if want != NOBODY
            && self.rung() >= want
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

    /// Completions rung so far.
    pub fn rung(&self) -> u64 {
        self.shards
            .iter()
            .map(|s| s.rung.load(Ordering::SeqCst))
            .sum()
    }

    /// The latest end time rung so far, if any job rang.
    pub fn last_end(&self) -> Option<Instant> {
        // Each shard's count is read first: its SeqCst load makes the end
        // times rung before it visible.
        let _ = self.rung();
        let ns = self
            .shards
            .iter()
            .map(|s| s.last_end.load(Ordering::Relaxed))
            .max()
            .unwrap_or(0);
        ns.checked_sub(1).map(|ns| Stamp::from_ns(ns).instant())
    }

    /// Parks the calling thread (always the same one) until `want`
    /// completions have been rung or `deadline` passes (`None`: no
    /// deadline). Returns at once when the count is already there.
    pub fn wait(&self, want: u64, deadline: Option<Instant>) {
        let me = self.waiter.get_or_init(std::thread::current);
        debug_assert_eq!(me.id(), std::thread::current().id());
        self.wake_at.store(want, Ordering::SeqCst);
        while self.rung() < want {
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

    /// Like [`Bell::wait`], but without asking to be woken: sleeps in steps
    /// of `every` and looks at the count after each. The rings then write
    /// nothing another thread reads until the next look; the waiter hears
    /// of the wanted count up to `every` late.
    pub fn poll(&self, want: u64, deadline: Option<Instant>, every: Duration) {
        loop {
            if self.rung() >= want {
                return;
            }
            let now = Instant::now();
            let mut until = now + every;
            if let Some(d) = deadline {
                if now >= d {
                    return;
                }
                until = until.min(d);
            }
            std::thread::sleep(until - now);
        }
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
    fn the_latest_end_is_kept_whichever_thread_rang_it() {
        let bell = Arc::new(Bell::default());
        assert_eq!(bell.last_end(), None);
        let t0 = Stamp::now();
        let late = t0.add_ns(5_000_000);
        bell.ring_ended(late);
        let b = bell.clone();
        std::thread::spawn(move || b.ring_ended(t0.add_ns(1_000_000)))
            .join()
            .unwrap();
        bell.ring();
        assert_eq!(bell.rung(), 3);
        assert_eq!(bell.last_end(), Some(late.instant()));
    }

    #[test]
    fn a_poll_returns_once_the_count_is_there_or_at_the_deadline() {
        let bell = Arc::new(Bell::default());
        let b = bell.clone();
        let ringer = std::thread::spawn(move || {
            for _ in 0..5 {
                std::thread::sleep(Duration::from_millis(2));
                b.ring();
            }
        });
        let t = Instant::now();
        bell.poll(5, None, Duration::from_millis(1));
        assert_eq!(bell.rung(), 5);
        assert!(t.elapsed() >= Duration::from_millis(8));
        ringer.join().unwrap();
        let t = Instant::now();
        bell.poll(
            6,
            Some(t + Duration::from_millis(10)),
            Duration::from_millis(1),
        );
        assert!(t.elapsed() >= Duration::from_millis(10));
        assert_eq!(bell.rung(), 5);
    }

    #[test]
    fn a_quiet_ring_counts_without_waking_and_a_later_loud_one_wakes() {
        let bell = Arc::new(Bell::default());
        let b = bell.clone();
        let ringer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(5));
            b.ring_ended_quietly(Stamp::now());
            std::thread::sleep(Duration::from_millis(30));
            b.ring_ended(Stamp::now());
        });
        let t = Instant::now();
        bell.wait(1, Some(t + Duration::from_secs(10)));
        assert!(
            t.elapsed() >= Duration::from_millis(30),
            "woken by the quiet ring"
        );
        assert_eq!(bell.rung(), 2);
        ringer.join().unwrap();
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
