//! A 4-ary min-heap on `u128` keys: the event queue's and the cores'.
//!
//! Both of the model's priority queues order entries by a key that packs
//! everything the order depends on into one `u128` (time and sequence
//! number; attained service, thread and generation), so a comparison is one
//! integer compare and the heap never calls back into the simulation. With
//! every key distinct, the order entries leave in depends on the keys only,
//! not on the heap's shape: any correct heap pops the same sequence, which
//! is what keeps runs identical to those made with `std`'s `BinaryHeap`.
//!
//! Four children per node instead of two: half the levels, and the four
//! keys of a node's children are 64 contiguous bytes, so a pop (the
//! operation on every event) waits on fewer dependent loads.

/// Children per node.
const ARITY: usize = 4;

/// The key of a pad (see [`Heap`]).
const PAD: u128 = u128::MAX;

/// Entries `(key, value)`, smallest key first.
///
/// Keys and values live apart: a pop compares keys only, so a node's
/// four children's keys are 64 contiguous bytes, and values move only when
/// their keys do. The keys are followed by at least [`ARITY`] pads (keys
/// of [`PAD`], above every entry's or equal to it), so every node that has
/// a child has four readable children: a pop never takes a separate path
/// for the last, partly filled node, and a pad never wins a tournament
/// against an entry (ties go to the lower index, and entries come first).
pub struct Heap<T> {
    /// Entries' keys, then pads: `keys.len() >= len + ARITY`.
    keys: Vec<u128>,
    /// `vals[i]` is entry `i`'s value (`i < len`); past `len`, stale copies.
    vals: Vec<T>,
    len: usize,
}

impl<T: Copy> Heap<T> {
    /// An empty heap.
    pub fn new() -> Self {
        Self {
            keys: vec![PAD; ARITY],
            vals: Vec::new(),
            len: 0,
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
        if self.len > 0 {
            self.keys.first().copied()
        } else {
            None
        }
    }

    /// Adds an entry.
    #[inline]
    pub fn push(&mut self, key: u128, value: T) {
        let n = self.len;
        // Keep `ARITY` pads past the entries (one more entry: one more pad).
        if self.keys.len() < n + 1 + ARITY {
            self.keys.push(PAD);
        }
        if self.vals.len() <= n {
            self.vals.push(value);
        }
        self.len = n + 1;
        // Move parents down into the hole until the new entry fits (most
        // new entries are later than their parent and stay where pushed).
        let mut i = n;
        while i > 0 {
            let parent = (i - 1) / ARITY;
            let pk = self.keys[parent];
            if pk <= key {
                break;
            }
            self.keys[i] = pk;
            self.vals[i] = self.vals[parent];
            i = parent;
        }
        self.keys[i] = key;
        self.vals[i] = value;
    }

    /// Takes the smallest entry.
    #[inline]
    pub fn pop(&mut self) -> Option<(u128, T)> {
        if self.len == 0 {
            return None;
        }
        let n = self.len - 1;
        self.len = n;
        let top = (self.keys[0], self.vals[0]);
        let (last_key, last) = (self.keys[n], self.vals[n]);
        // The last entry's place becomes a pad (with `n == 0`, the root:
        // the heap is empty).
        self.keys[n] = PAD;
        if n == 0 {
            return Some(top);
        }
        // Sift the last entry down from the root through the hole.
        let mut i = 0;
        loop {
            let first = ARITY * i + 1;
            if first >= n {
                break;
            }
            // Four children (entries or pads: `first + ARITY <= n + 3`,
            // within the keys and their pads). A tournament of selects
            // on indices, free of branches: the children's order is
            // random, so a branch per compare would be mispredicted half
            // the time.
            // The keys are selected as values, not reloaded by index: a
            // load would wait on the compare before it.
            let c = &self.keys[first..first + ARITY];
            let (c0, c1, c2, c3) = (c[0], c[1], c[2], c[3]);
            let (l1, l3) = (c1 < c0, c3 < c2);
            let (ka, kb) = (pick(l1, c1, c0), pick(l3, c3, c2));
            let lb = kb < ka;
            let min_key = pick(lb, kb, ka);
            let (a, b) = (usize::from(l1), 2 + usize::from(l3));
            let m = a ^ ((a ^ b) & usize::from(lb).wrapping_neg());
            if last_key <= min_key {
                break;
            }
            self.keys[i] = min_key;
            self.vals[i] = self.vals[first + m];
            i = first + m;
        }
        self.keys[i] = last_key;
        self.vals[i] = last;
        Some(top)
    }
}

/// `x` if `cond` else `y`, as arithmetic (which the compiler keeps free
/// of branches).
#[inline(always)]
fn pick(cond: bool, x: u128, y: u128) -> u128 {
    y ^ ((x ^ y) & u128::from(cond).wrapping_neg())
}

impl<T: Copy> Default for Heap<T> {
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

    #[test]
    fn pops_in_the_same_order_as_a_binary_heap() {
        // Interleaved pushes and pops, with many equal high halves (equal
        // times), against std's heap on the same distinct keys.
        let mut rng = Pcg64Mcg::seed_from_u64(5);
        let mut ours = Heap::new();
        let mut std = BinaryHeap::new();
        let mut seq = 0u64;
        for round in 0..20_000 {
            for _ in 0..rng.random_range(0..4) {
                seq += 1;
                let at: u64 = rng.random_range(0..50);
                let key = (u128::from(at) << 64) | u128::from(seq);
                ours.push(key, seq);
                std.push(Reverse((key, seq)));
            }
            for _ in 0..rng.random_range(0..3) {
                assert_eq!(ours.pop(), std.pop().map(|r| r.0), "round {round}");
            }
            assert_eq!(ours.len(), std.len());
            assert_eq!(ours.peek_key(), std.peek().map(|r| r.0 .0));
        }
        while let Some(e) = std.pop() {
            assert_eq!(ours.pop(), Some(e.0));
        }
        assert_eq!(ours.pop(), None);
        assert_eq!(ours.peek_key(), None);
        // Small heaps, emptied again and again (the pads at every size).
        for round in 0..20_000 {
            for _ in 0..rng.random_range(0..6) {
                seq += 1;
                let key = (u128::from(rng.random_range(0..8u64)) << 64) | u128::from(seq);
                ours.push(key, seq);
                std.push(Reverse((key, seq)));
            }
            for _ in 0..rng.random_range(0..7) {
                assert_eq!(ours.pop(), std.pop().map(|r| r.0), "round {round}");
            }
            assert_eq!(ours.len(), std.len());
            assert_eq!(ours.peek_key(), std.peek().map(|r| r.0 .0));
        }
    }
}
