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
//! keys of a node's children sit in two cache lines, so a pop (the
//! operation on every event) waits on fewer dependent loads.

/// Children per node.
const ARITY: usize = 4;

/// Entries `(key, value)`, smallest key first.
pub struct Heap<T> {
    v: Vec<(u128, T)>,
}

impl<T: Copy> Heap<T> {
    /// An empty heap.
    pub fn new() -> Self {
        Self { v: Vec::new() }
    }

    /// Number of entries.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.v.len()
    }

    /// The smallest key.
    #[inline]
    pub fn peek_key(&self) -> Option<u128> {
        self.v.first().map(|e| e.0)
    }

    /// Adds an entry.
    #[inline]
    pub fn push(&mut self, key: u128, value: T) {
        let len = self.v.len();
        self.v.push((key, value));
        // Move parents down into the hole until the new entry fits (most
        // new entries are later than their parent and stay where pushed).
        let mut i = len;
        while i > 0 {
            let parent = (i - 1) / ARITY;
            if self.v[parent].0 <= key {
                break;
            }
            self.v[i] = self.v[parent];
            i = parent;
        }
        if i != len {
            self.v[i] = (key, value);
        }
    }

    /// Takes the smallest entry.
    #[inline]
    pub fn pop(&mut self) -> Option<(u128, T)> {
        let last = self.v.pop()?;
        let Some(&top) = self.v.first() else {
            return Some(last);
        };
        // Sift the last entry down from the root through the hole.
        let n = self.v.len();
        let mut i = 0;
        loop {
            let first = ARITY * i + 1;
            if first >= n {
                break;
            }
            let (min, min_key) = if first + ARITY <= n {
                // A full node: a tournament of selects, which compile to
                // conditional moves (the children's order is random, so a
                // branch per compare would be mispredicted half the time).
                let c = &self.v[first..first + ARITY];
                let (a, ka) = if c[1].0 < c[0].0 {
                    (1, c[1].0)
                } else {
                    (0, c[0].0)
                };
                let (b, kb) = if c[3].0 < c[2].0 {
                    (3, c[3].0)
                } else {
                    (2, c[2].0)
                };
                if kb < ka {
                    (first + b, kb)
                } else {
                    (first + a, ka)
                }
            } else {
                let mut min = first;
                let mut min_key = self.v[first].0;
                for c in first + 1..n {
                    let k = self.v[c].0;
                    if k < min_key {
                        min = c;
                        min_key = k;
                    }
                }
                (min, min_key)
            };
            if last.0 <= min_key {
                break;
            }
            self.v[i] = self.v[min];
            i = min;
        }
        self.v[i] = last;
        Some(top)
    }
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
    }
}
