//! A calendar queue in front of the 4-ary heap: the same order, cheaper
//! pushes and pops for entries due soon.
//!
//! Both of the model's priority queues hold entries whose *position* (an
//! event's time, a CPU segment's end on the cores' service clock) is
//! mostly a little ahead of the current one. A calendar exploits that: a
//! ring of [`SLOTS`] buckets of `2^shift` position units each, from the
//! bucket of its smallest entry on, each holding up to [`PER_SLOT`]
//! entries unsorted, keys and values in the bucket's own places (a pop
//! scans one bucket's keys: one cache line, with no index to follow
//! first). A push computes its bucket and appends (where a heap push may
//! climb); a pop takes the ring's smallest entry, then finds the next one
//! as the smallest of the first occupied bucket (a bitmap finds it; a
//! bucket holds about one entry when the width suits the load). An entry the
//! ring does not take — before its first bucket, beyond its reach, or in
//! a full bucket — goes to the heap behind, and a pop takes the smaller of
//! the two fronts.
//!
//! The order is exactly the keys' order, whatever the width and whatever
//! the ring and the heap hold: every key is distinct, positions are in the
//! keys' order (the caller's promise: a smaller key never has a larger
//! position), so buckets are in key order and the ring's first occupied
//! bucket holds its smallest key, and the front is the smaller of the
//! ring's and the heap's smallest. The width only decides how much lands
//! in the heap, so it adapts to the load: every [`WINDOW`] pushes it
//! doubles when more than one in 32 went beyond the ring's reach, and
//! halves when more than one in 32 found its bucket full, the ring's
//! entries moving to the heap when it changes. Tested against `std`'s
//! `BinaryHeap` (`pops_in_the_same_order_as_a_binary_heap`, with delays
//! of five scales, ties and full buckets), and through the event queue's
//! and the cores' own tests and the fast path's.

use super::heap::Heap;

/// Buckets in the ring (a power of two, a multiple of 64).
const SLOTS: usize = 512;

/// Entries a bucket holds.
const PER_SLOT: usize = 4;

/// Pushes between two choices of the width.
const WINDOW: u32 = 1024;

/// Bitmap words.
const WORDS: usize = SLOTS / 64;

/// Places in the ring.
const PLACES: usize = SLOTS * PER_SLOT;

/// Entries `(key, value)` with a position each, smallest key first (see
/// the module doc).
pub struct Calendar<T> {
    /// log2 of a bucket's width in position units.
    shift: u32,
    /// With the ring not empty, the bucket of its smallest entry: the ring
    /// holds buckets `cur..cur + SLOTS`, bucket `b` in slot `b % SLOTS`.
    cur: u64,
    /// The ring's entries' keys and values, `PER_SLOT` places per slot
    /// (fixed-size, so that a masked index needs no bounds check; places
    /// past a slot's count are stale). Before, the places held `u16`
    /// indices into a slab of keys and values: finding a bucket's smallest
    /// key then waited for two loads in a row per entry, on the path of
    /// every pop.
    keys: Box<[u128; PLACES]>,
    vals: Box<[T; PLACES]>,
    /// Entries per slot.
    counts: Box<[u8; SLOTS]>,
    /// Occupied slots.
    bits: [u64; WORDS],
    /// Entries in the ring.
    ring_len: usize,
    /// Entries in all.
    len: usize,
    /// The ring's smallest key (`u128::MAX` with the ring empty) and its
    /// place in `ring`.
    min_key: u128,
    min_at: usize,
    /// Entries the ring does not hold, and their smallest key
    /// (`u128::MAX`: none).
    far: Heap<T>,
    far_key: u128,
    /// This window's pushes, those beyond the ring's reach, and those
    /// that found their slot full.
    pushes: u32,
    beyond: u32,
    full: u32,
}

impl<T: Copy + Default> Calendar<T> {
    /// An empty calendar.
    pub fn new() -> Self {
        Self {
            shift: 10,
            cur: 0,
            keys: Box::new([0; PLACES]),
            vals: Box::new([T::default(); PLACES]),
            counts: Box::new([0; SLOTS]),
            bits: [0; WORDS],
            ring_len: 0,
            len: 0,
            min_key: u128::MAX,
            min_at: 0,
            far: Heap::new(),
            far_key: u128::MAX,
            pushes: 0,
            beyond: 0,
            full: 0,
        }
    }

    /// Number of entries.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len
    }

    /// The smallest key.
    #[inline]
    pub fn peek_key(&self) -> Option<u128> {
        if self.len == 0 {
            return None;
        }
        Some(self.far_key.min(self.min_key))
    }

    /// The absolute bucket of ring slot `slot`.
    #[inline]
    fn bucket_of_slot(&self, slot: usize) -> u64 {
        let from = (self.cur as usize) & (SLOTS - 1);
        self.cur + ((slot.wrapping_sub(from)) & (SLOTS - 1)) as u64
    }

    /// Adds an entry at position `pos`. Positions must be in the keys'
    /// order (a smaller key never has a larger position); the ring takes
    /// an entry from its smallest entry's bucket to `SLOTS` buckets on.
    #[inline(always)]
    pub fn push(&mut self, key: u128, pos: u64, value: T) {
        self.len += 1;
        self.pushes += 1;
        if self.pushes >= WINDOW {
            self.choose_width();
        }
        let bucket = pos >> self.shift;
        if self.ring_len == 0 {
            self.cur = bucket;
        }
        let ahead = bucket.wrapping_sub(self.cur);
        if ahead < SLOTS as u64 {
            let slot = (bucket as usize) & (SLOTS - 1);
            let n = usize::from(self.counts[slot]);
            if n < PER_SLOT {
                let at = (slot * PER_SLOT + n) & (PLACES - 1);
                self.keys[at] = key;
                self.vals[at] = value;
                self.counts[slot] = n as u8 + 1;
                self.bits[slot / 64] |= 1 << (slot % 64);
                self.ring_len += 1;
                if key < self.min_key {
                    self.min_key = key;
                    self.min_at = at;
                    self.cur = bucket;
                }
                return;
            }
        }
        self.push_far(key, ahead, value);
    }

    /// An entry the ring does not take goes to the heap.
    #[inline(never)]
    fn push_far(&mut self, key: u128, ahead: u64, value: T) {
        // A full slot, or beyond the ring's reach (else before its front).
        self.full += u32::from(ahead < SLOTS as u64);
        self.beyond += u32::from((SLOTS as u64..1 << 63).contains(&ahead));
        self.far.push(key, value);
        self.far_key = self.far_key.min(key);
    }

    /// Takes the smallest entry.
    #[inline(always)]
    pub fn pop(&mut self) -> Option<(u128, T)> {
        if self.len == 0 {
            return None;
        }
        self.len -= 1;
        if self.far_key < self.min_key {
            return self.pop_far();
        }
        let at = self.min_at & (PLACES - 1);
        let out = (self.min_key, self.vals[at]);
        let slot = at / PER_SLOT;
        let n = usize::from(self.counts[slot]) - 1;
        // The slot's last entry fills the hole.
        let last = (slot * PER_SLOT + n) & (PLACES - 1);
        self.keys[at] = self.keys[last];
        self.vals[at] = self.vals[last];
        self.counts[slot] = n as u8;
        self.ring_len -= 1;
        // Whether the slot is now empty is a coin toss: its bit is cleared
        // without a branch.
        self.bits[slot / 64] &= !(u64::from(n == 0) << (slot % 64));
        if self.ring_len == 0 {
            self.min_key = u128::MAX;
            return Some(out);
        }
        self.find_min(slot);
        Some(out)
    }

    /// Takes the heap's smallest entry.
    #[inline(never)]
    fn pop_far(&mut self) -> Option<(u128, T)> {
        let out = self.far.pop();
        self.far_key = self.far.peek_key().unwrap_or(u128::MAX);
        out
    }

    /// Sets the ring's smallest entry, and `cur` to its bucket: the
    /// smallest of the first occupied slot from `slot` on (the ring holds
    /// one, and nothing before it).
    #[inline(always)]
    fn find_min(&mut self, slot: usize) {
        let slot = self.first_occupied(slot);
        let base = slot * PER_SLOT;
        let n = usize::from(self.counts[slot]);
        let mut best = base;
        let mut best_key = self.keys[base & (PLACES - 1)];
        for i in base + 1..base + n {
            let k = self.keys[i & (PLACES - 1)];
            if k < best_key {
                best = i;
                best_key = k;
            }
        }
        self.min_key = best_key;
        self.min_at = best;
        self.cur = self.bucket_of_slot(slot);
    }

    /// The first occupied slot from `slot` on, around the ring (one
    /// exists).
    #[inline(always)]
    fn first_occupied(&self, slot: usize) -> usize {
        let mut w = slot / 64;
        let mut word = self.bits[w] & (u64::MAX << (slot % 64));
        for _ in 0..=WORDS {
            if word != 0 {
                return (w * 64 + word.trailing_zeros() as usize) & (SLOTS - 1);
            }
            w = (w + 1) % WORDS;
            word = self.bits[w];
        }
        unreachable!("the ring holds an entry, so a bit is set")
    }

    /// Sets the width for the last window's pushes: twice as wide when
    /// more than one in 32 went beyond the ring's reach, half as wide when
    /// more than one in 32 found its slot full (and not both). When it
    /// changes, the ring's entries move to the heap.
    #[cold]
    #[inline(never)]
    fn choose_width(&mut self) {
        let (beyond, full) = (self.beyond > WINDOW / 32, self.full > WINDOW / 32);
        let shift = match (beyond, full) {
            (true, false) => (self.shift + 1).min(56),
            (false, true) => self.shift.saturating_sub(1),
            _ => self.shift,
        };
        self.pushes = 0;
        self.beyond = 0;
        self.full = 0;
        if shift == self.shift {
            return;
        }
        for slot in 0..SLOTS {
            let base = slot * PER_SLOT;
            for i in base..base + usize::from(self.counts[slot]) {
                self.far.push(self.keys[i], self.vals[i]);
                self.far_key = self.far_key.min(self.keys[i]);
            }
            self.counts[slot] = 0;
        }
        self.bits = [0; WORDS];
        self.ring_len = 0;
        self.min_key = u128::MAX;
        self.shift = shift;
    }
}

impl<T: Copy + Default> Default for Calendar<T> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_pcg::Pcg64Mcg;
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;

    /// Random monotone use (positions never below the current one, the
    /// current one moving to popped entries' positions and sometimes
    /// beyond an entry's position but not past its bucket's start) against
    /// std's heap: the same pops, for delays of several scales (the width
    /// adapting, entries moving to the heap and back), many ties of
    /// position and full buckets.
    #[test]
    fn pops_in_the_same_order_as_a_binary_heap() {
        let mut rng = Pcg64Mcg::seed_from_u64(9);
        for scale in [1u64, 50, 3_000, 1 << 20, 1 << 40] {
            let mut ours = Calendar::new();
            let mut std = BinaryHeap::new();
            let mut seq = 0u64;
            let mut pos = 0u64;
            for round in 0..60_000 {
                if round % 20_000 == 10_000 {
                    // A change of scale mid-run.
                    pos += 1;
                }
                for _ in 0..rng.random_range(0..4) {
                    seq += 1;
                    let ahead = match rng.random_range(0..6) {
                        0 => 0,
                        1 => rng.random_range(0..4),
                        _ => rng.random_range(0..scale.max(1) * 4),
                    };
                    let at = pos + ahead;
                    let key = (u128::from(at) << 64) | u128::from(seq);
                    ours.push(key, at, seq);
                    std.push(Reverse((key, seq)));
                }
                for _ in 0..rng.random_range(0..3) {
                    let a = ours.pop();
                    assert_eq!(a, std.pop().map(|r| r.0), "scale {scale}, round {round}");
                    if let Some((k, _)) = a {
                        pos = pos.max((k >> 64) as u64);
                    }
                }
                assert_eq!(ours.len(), std.len());
                assert_eq!(ours.peek_key(), std.peek().map(|r| r.0 .0));
            }
            while let Some(e) = std.pop() {
                assert_eq!(ours.pop(), Some(e.0));
            }
            assert_eq!(ours.pop(), None);
            assert_eq!(ours.peek_key(), None);
        }
    }

    /// The cores' use: the current position may pass entries' positions
    /// (several segments ending at one instant): the order holds.
    #[test]
    fn a_position_past_pending_entries_keeps_their_order() {
        let mut rng = Pcg64Mcg::seed_from_u64(3);
        let mut ours = Calendar::new();
        let mut std = BinaryHeap::new();
        let mut seq = 0u64;
        let mut pos = 0u64;
        for round in 0..100_000 {
            for _ in 0..rng.random_range(0..3) {
                seq += 1;
                let at = pos + rng.random_range(0..5_000);
                let key = (u128::from(at) << 64) | u128::from(seq);
                ours.push(key, at, seq);
                std.push(Reverse((key, seq)));
            }
            if let Some(Reverse((k, _))) = std.peek() {
                // Past the next entry by up to a few units.
                pos = pos.max((k >> 64) as u64 + rng.random_range(0..3));
            }
            for _ in 0..rng.random_range(0..3) {
                assert_eq!(ours.pop(), std.pop().map(|r| r.0), "round {round}");
            }
        }
    }
}
