//! Virtual time and the event queue.
//!
//! Time is whole nanoseconds from the start of the run. Events at the same
//! instant fire in the order they were scheduled (a sequence number breaks
//! ties), which is what makes a run deterministic: nothing depends on hash
//! order, thread timing or the allocator.
//!
//! Most events a model run schedules are due later (CPU, IO, timers) and go
//! to a calendar queue (`calendar.rs`: a ring of buckets by time, with the
//! 4-ary heap of `heap.rs` behind it for what the ring does not hold). Those due *now* (a zero cost: a thread
//! start or a wake-up on an ideal machine, a job handed over at once) go to
//! a FIFO instead: O(1) each way, and the order is the heap's own, because
//! every heap entry due now was scheduled before time reached now, so it
//! has a smaller sequence number than anything in the FIFO.
//!
//! Events of a *stream* (an open-loop group's arrivals: each schedules the
//! next, in due order) go to a lane of their own ([`EventQueue::push_stream`]),
//! a heap that holds one entry per stream. An arrival is due soon, so in
//! the main heap it would climb to the root on every push and sink through
//! every level on every pop; in its lane it costs one comparison with the
//! main heap's top. The keys are the same (time, sequence number from the
//! one counter), and a pop takes the smallest of the three places, so the
//! order is exactly that of a single queue.

use std::collections::VecDeque;

use super::calendar::Calendar;

/// Virtual nanoseconds since the start of the run.
pub type Ns = u64;

/// The heap key of an event: (time, sequence number) packed into one
/// `u128`, so earlier time first, then earlier scheduled, in one integer
/// compare.
#[inline]
fn key(at: Ns, seq: u64) -> u128 {
    (u128::from(at) << 64) | u128::from(seq)
}

/// The time of a key.
#[inline]
fn key_at(key: u128) -> Ns {
    (key >> 64) as Ns
}

/// Where the next event waits (see [`EventQueue::next`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// The main heap.
    Heap,
    /// The streams' lane.
    Stream,
    /// The FIFO of events due now.
    Now,
}

/// Pending events, earliest first; FIFO among events at the same time.
pub struct EventQueue<E> {
    heap: Calendar<E>,
    /// Streams' next events (see the module doc).
    streams: Lane<E>,
    /// Events due at `now`, in the order they were scheduled.
    due_now: VecDeque<(u64, E)>,
    /// The smaller of the main heap's and the streams' smallest keys
    /// (`u128::MAX`: both empty; no event has that key, which would take
    /// 2^64 pushes), kept up to date on every push and pop: the queue is
    /// asked for its front several times per event, and changes once.
    first: u128,
    /// Whether `first` is the streams'.
    first_stream: bool,
    /// The current time, as the simulation last set it.
    now: Ns,
    seq: u64,
    /// Events popped so far (the report's `sim.events` counts these plus
    /// CPU completions).
    pub popped: u64,
}

impl<E: Copy + Default> EventQueue<E> {
    /// An empty queue.
    pub fn new() -> Self {
        Self {
            heap: Calendar::new(),
            streams: Lane::new(),
            due_now: VecDeque::new(),
            first: u128::MAX,
            first_stream: false,
            now: 0,
            seq: 0,
            popped: 0,
        }
    }

    /// Moves the queue's notion of now forward (never back). Events still
    /// due at the old now keep their place: they move to the heap.
    #[inline]
    pub fn set_now(&mut self, now: Ns) {
        if now <= self.now {
            return;
        }
        if !self.due_now.is_empty() {
            self.flush_due_now();
        }
        self.now = now;
    }

    /// Moves the events due at the old now to the heap (rare: time moves
    /// on once they have fired).
    #[cold]
    fn flush_due_now(&mut self) {
        let at = self.now;
        while let Some((seq, event)) = self.due_now.pop_front() {
            self.push_heap(key(at, seq), at, event);
        }
    }

    /// Schedules `event` at `at`.
    #[inline(always)]
    pub fn push(&mut self, at: Ns, event: E) {
        self.seq += 1;
        if at == self.now {
            self.due_now.push_back((self.seq, event));
        } else {
            self.push_heap(key(at, self.seq), at, event);
        }
    }

    /// Puts an event in the main heap.
    #[inline(always)]
    fn push_heap(&mut self, key: u128, at: Ns, event: E) {
        self.heap.push(key, at, event);
        self.note_first(key, false);
    }

    /// Makes `key`, just pushed, the front if it is smaller. Branch-free
    /// (masks, not a select the compiler may turn back into a branch):
    /// for a stream's next event, whether it comes before the heap's is a
    /// coin toss.
    #[inline(always)]
    fn note_first(&mut self, key: u128, stream: bool) {
        let smaller = key < self.first;
        let mask = u128::from(smaller).wrapping_neg();
        self.first = (key & mask) | (self.first & !mask);
        self.first_stream = (smaller & stream) | (!smaller & self.first_stream);
    }

    /// Whether an event scheduled now for `at` would be the next one
    /// taken: due now, with nothing else due now and nothing in the heaps
    /// due by now (whatever is scheduled after it comes after it). Then it
    /// is counted as scheduled and taken, and the caller runs it before
    /// taking anything else from the queue; else nothing changes (the
    /// caller pushes it).
    #[inline]
    pub fn take_at_once(&mut self, at: Ns) -> bool {
        if at != self.now || !self.due_now.is_empty() {
            return false;
        }
        if self.first_key().is_some_and(|(k, _)| key_at(k) <= at) {
            return false;
        }
        self.seq += 1;
        self.popped += 1;
        true
    }

    /// Schedules the next event of a stream at `at` (see the module doc):
    /// the same order as [`EventQueue::push`], for a stream that has one
    /// event pending at a time.
    #[inline]
    pub fn push_stream(&mut self, at: Ns, event: E) {
        self.seq += 1;
        if at == self.now {
            self.due_now.push_back((self.seq, event));
        } else {
            let key = key(at, self.seq);
            self.streams.push(key, event);
            self.note_first(key, true);
        }
    }

    /// The smaller key of the main heap's and the streams' tops, and
    /// whether it is the streams'.
    #[inline]
    fn first_key(&self) -> Option<(u128, bool)> {
        (self.first != u128::MAX).then_some((self.first, self.first_stream))
    }

    /// Finds `first` again after a pop from the main heap or the streams.
    #[inline]
    fn refresh_first(&mut self) {
        let h = self.heap.peek_key().unwrap_or(u128::MAX);
        let s = self.streams.peek_key().unwrap_or(u128::MAX);
        self.first_stream = s < h;
        self.first = h.min(s);
    }

    /// When the next event is due.
    #[inline]
    pub fn peek_time(&self) -> Option<Ns> {
        let first = self.first_key().map(|(k, _)| key_at(k));
        if !self.due_now.is_empty() {
            // Nothing in the heaps is earlier than now.
            return Some(first.map_or(self.now, |t| t.min(self.now)));
        }
        first
    }

    /// When the next event is due and where it waits: [`EventQueue::pop`]
    /// in two halves, for a caller that looks at the time before it takes
    /// the event (one decision instead of one per half).
    #[inline]
    pub fn next(&self) -> Option<(Ns, Place)> {
        let first = self.first_key();
        let place = |stream| if stream { Place::Stream } else { Place::Heap };
        match (first, self.due_now.front()) {
            // Heap entries due by now were scheduled before the FIFO's.
            (Some((k, stream)), Some((seq, _))) if k < key(self.now, *seq) => {
                Some((key_at(k), place(stream)))
            }
            (_, Some(_)) => Some((self.now, Place::Now)),
            (Some((k, stream)), None) => Some((key_at(k), place(stream))),
            (None, None) => None,
        }
    }

    /// Takes the next event from `place`, as [`EventQueue::next`] said.
    #[inline]
    pub fn take(&mut self, place: Place) -> Option<(Ns, E)> {
        let out = match place {
            Place::Heap => self.heap.pop().map(|(k, e)| (key_at(k), e)),
            Place::Stream => self.streams.pop().map(|(k, e)| (key_at(k), e)),
            Place::Now => self.due_now.pop_front().map(|(_, e)| (self.now, e)),
        };
        if place != Place::Now {
            self.refresh_first();
        }
        self.popped += u64::from(out.is_some());
        out
    }

    /// Takes the next event.
    #[inline]
    pub fn pop(&mut self) -> Option<(Ns, E)> {
        // Heap entries due by now were scheduled before the FIFO's.
        let from = match (self.first_key(), self.due_now.front()) {
            (Some((k, stream)), Some((seq, _))) if k < key(self.now, *seq) => Some(stream),
            (Some(_), Some(_)) => None,
            (Some((_, stream)), None) => Some(stream),
            (None, _) => None,
        };
        let out = match from {
            Some(stream) => {
                let (k, event) = if stream {
                    self.streams.pop()?
                } else {
                    self.heap.pop()?
                };
                self.refresh_first();
                (key_at(k), event)
            }
            None => {
                let (_, event) = self.due_now.pop_front()?;
                (self.now, event)
            }
        };
        self.popped += 1;
        Some(out)
    }
}

/// The streams' lane: one pending event per stream, few streams (one per
/// open-loop group), so a list with its smallest key found again after a
/// pop, instead of a heap. The smallest key is kept beside its index: it
/// is asked for after every pop of the queue.
struct Lane<E> {
    entries: Vec<(u128, E)>,
    /// The index of the smallest key (with `entries` not empty).
    min: usize,
    /// The smallest key (`u128::MAX` with `entries` empty).
    min_key: u128,
}

impl<E: Copy> Lane<E> {
    fn new() -> Self {
        Self {
            entries: Vec::new(),
            min: 0,
            min_key: u128::MAX,
        }
    }

    #[inline]
    fn peek_key(&self) -> Option<u128> {
        (!self.entries.is_empty()).then_some(self.min_key)
    }

    #[inline]
    fn push(&mut self, key: u128, event: E) {
        if self.entries.is_empty() || key <= self.min_key {
            self.min = self.entries.len();
            self.min_key = key;
        }
        self.entries.push((key, event));
    }

    #[inline]
    fn pop(&mut self) -> Option<(u128, E)> {
        if self.entries.len() <= 1 {
            // One stream (the usual case): no search.
            self.min = 0;
            self.min_key = u128::MAX;
            return self.entries.pop();
        }
        let out = self.entries.swap_remove(self.min);
        self.find_min();
        Some(out)
    }

    /// The smallest key and its index (several streams).
    #[inline(never)]
    fn find_min(&mut self) {
        self.min = (0..self.entries.len())
            .min_by_key(|&i| self.entries[i].0)
            .unwrap_or(0);
        self.min_key = self.entries.get(self.min).map_or(u128::MAX, |e| e.0);
    }
}

impl<E: Copy + Default> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_first_and_fifo_among_equal_times() {
        let mut q = EventQueue::new();
        q.push(5, 'a');
        q.push(1, 'b');
        q.push(5, 'c');
        q.push(1, 'd');
        let order: Vec<char> = std::iter::from_fn(|| q.pop().map(|e| e.1)).collect();
        assert_eq!(order, vec!['b', 'd', 'a', 'c']);
    }

    #[test]
    fn streams_fire_in_the_order_of_a_single_queue() {
        // Three streams (each with one event pending, scheduled when the
        // previous one fires) among other events, against the same pushes
        // all made with `push`: the same events at the same times.
        use rand::{Rng, SeedableRng};
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(4);
        let (mut lanes, mut single) = (EventQueue::new(), EventQueue::new());
        for s in 0..3u64 {
            let at = rng.random_range(0..5);
            lanes.push_stream(at, (s, 0));
            single.push(at, (s, 0));
        }
        let mut other = 100u64;
        let mut now = 0;
        for _ in 0..50_000 {
            // The lanes taken in two halves (`next`, `take`), the single
            // queue with `pop`.
            let a = lanes.next().and_then(|(_, place)| lanes.take(place));
            assert_eq!(a, single.pop());
            let Some((at, (kind, n))) = a else { break };
            assert!(at >= now);
            now = at;
            lanes.set_now(now);
            single.set_now(now);
            if kind < 3 {
                let next = now + rng.random_range(0..4);
                lanes.push_stream(next, (kind, n + 1));
                single.push(next, (kind, n + 1));
            }
            for _ in 0..rng.random_range(0..3) {
                other += 1;
                let at = now + [0, 0, 1, 3, 20][rng.random_range(0..5)];
                lanes.push(at, (other, 0));
                single.push(at, (other, 0));
            }
            assert_eq!(lanes.peek_time(), single.peek_time());
            assert_eq!(lanes.next().map(|n| n.0), single.peek_time());
        }
        assert_eq!(lanes.popped, single.popped);
    }

    #[test]
    fn an_event_taken_at_once_is_the_one_a_pop_would_give_next() {
        // The same random pushes into two queues; in one, an event that
        // `take_at_once` accepts runs next without going in. Both give
        // the same events at the same times, and count the same.
        use rand::{Rng, SeedableRng};
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(11);
        let (mut fast, mut single) = (EventQueue::new(), EventQueue::new());
        let (mut id, mut now, mut at_once) = (0u64, 0, 0);
        let mut pending: Option<u64> = None;
        for _ in 0..50_000 {
            let a = match pending.take() {
                Some(e) => Some((now, e)),
                None => fast.next().and_then(|(_, place)| fast.take(place)),
            };
            let b = single.pop();
            assert_eq!(a, b);
            if let Some((at, _)) = a {
                now = at;
                fast.set_now(now);
                single.set_now(now);
            }
            let pushes = if a.is_none() {
                1
            } else {
                rng.random_range(0..3)
            };
            for _ in 0..pushes {
                id += 1;
                let at = now + [0, 0, 0, 1, 3, 20][rng.random_range(0..6)];
                if pending.is_none() && fast.take_at_once(at) {
                    pending = Some(id);
                    at_once += 1;
                } else {
                    fast.push(at, id);
                }
                single.push(at, id);
            }
        }
        // An event taken at once counts when taken, before it runs.
        assert_eq!(fast.popped, single.popped + u64::from(pending.is_some()));
        assert!(at_once > 1_000, "{at_once}");
    }

    #[test]
    fn events_due_now_keep_their_order_among_earlier_scheduled_ones() {
        // Scheduled for 5 before time reached 5, then at 5: all in
        // scheduling order, with the heap's and the FIFO's interleaved
        // correctly, and a FIFO left over when time moves on still fires
        // in its place.
        let mut q = EventQueue::new();
        q.push(5, 'a');
        q.push(7, 'x');
        q.push(5, 'b');
        q.set_now(5);
        q.push(5, 'c');
        q.push(6, 'y');
        q.push(5, 'd');
        assert_eq!(q.peek_time(), Some(5));
        assert_eq!(q.pop(), Some((5, 'a')));
        q.push(5, 'e');
        let order: Vec<(Ns, char)> = std::iter::from_fn(|| q.pop()).take(4).collect();
        assert_eq!(order, vec![(5, 'b'), (5, 'c'), (5, 'd'), (5, 'e')]);
        q.push(5, 'f');
        q.set_now(6);
        assert_eq!(q.peek_time(), Some(5));
        let order: Vec<(Ns, char)> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(order, vec![(5, 'f'), (6, 'y'), (7, 'x')]);
        assert_eq!(q.popped, 8);
    }
}
