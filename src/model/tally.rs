//! Histogram recording for the model's fast path: counts kept in
//! HdrHistogram's own layout, added to the histogram once at the end.
//!
//! A job's three latency records are a good part of the fast path's cost
//! when each goes through `Histogram::saturating_record` (an out-of-line
//! call, a checked index, resize and clamp branches, min/max and total
//! updates). A [`Tally`] computes the same counts-array index inline and
//! bumps a plain counter; [`Tally::add_to`] then records each bucket's count
//! once, with values chosen so that the histogram ends in exactly the state
//! recording every value would leave: the same count in every bucket, the
//! same total, the same minimum and maximum (tested against direct
//! recording: `a_tally_leaves_the_histogram_of_direct_recording`).

use hdrhistogram::Histogram;

/// Counts of one histogram's values, indexed as the histogram indexes them.
///
/// A count is split in two: its low 16 bits in `low`, the rest in `high`
/// (touched once per 65,536 records of a bucket). The counts a run touches
/// are spread over thousands of buckets; at two bytes each they stay in the
/// nearest cache where eight-byte counts (HdrHistogram's) do not.
pub(super) struct Tally {
    low: Vec<u16>,
    high: Vec<u64>,
    /// log2 of half the sub-buckets per bucket.
    half_mag: u32,
    /// Leading zeros of a value in bucket 0, minus the bucket count's
    /// magnitude (HdrHistogram's `leading_zero_count_base`).
    lz_base: u32,
    /// Sub-bucket mask (maps small values to bucket 0).
    sub_mask: u64,
    /// The histogram's highest trackable value (what a value out of range
    /// is clamped to, as `saturating_record` clamps it).
    high_value: u64,
    /// Values recorded.
    total: u64,
    /// Smallest non-zero value (`u64::MAX`: none).
    min_nz: u64,
    /// Largest value.
    max: u64,
}

impl Tally {
    /// A tally for `h`; `None` for a histogram whose lowest discernible
    /// value is not 1 (one unit per sub-bucket at the bottom, the layout
    /// this mirrors; every gilsim histogram is one).
    pub fn for_histogram(h: &Histogram<u64>) -> Option<Self> {
        if h.low() != 1 {
            return None;
        }
        // HdrHistogram's construction, with a unit magnitude of 0.
        let largest = 2 * 10_u32.checked_pow(u32::from(h.sigfig()))?;
        let sub_mag = f64::from(largest).log2().ceil() as u32;
        let sub_count = 1_u64 << sub_mag;
        Some(Self {
            low: vec![0; h.distinct_values()],
            high: vec![0; h.distinct_values()],
            half_mag: sub_mag - 1,
            lz_base: 64 - sub_mag,
            sub_mask: sub_count - 1,
            high_value: h.high(),
            total: 0,
            min_nz: u64::MAX,
            max: 0,
        })
    }

    /// The counts-array index of `value` (HdrHistogram's `index_for`).
    #[inline]
    fn index(&self, value: u64) -> usize {
        let bucket = self.lz_base - (value | self.sub_mask).leading_zeros();
        let sub = value >> bucket;
        (((u64::from(bucket) + 1) << self.half_mag) + sub - (1 << self.half_mag)) as usize
    }

    /// The lowest value of index `i`'s bucket.
    fn lowest(&self, i: usize) -> u64 {
        let half = 1_u64 << self.half_mag;
        let bucket = (i as u64 >> self.half_mag) as i64 - 1;
        let sub = (i as u64 & (half - 1)) + half;
        if bucket < 0 {
            sub - half
        } else {
            sub << bucket
        }
    }

    /// Records `value` as `Histogram::saturating_record` would.
    #[inline]
    pub fn record(&mut self, value: u64) {
        let mut value = value;
        let mut i = self.index(value);
        if i >= self.low.len() {
            value = self.high_value;
            i = self.index(value);
        }
        let c = &mut self.low[i];
        *c = c.wrapping_add(1);
        if *c == 0 {
            self.high[i] += 1 << 16;
        }
        self.total += 1;
        self.max = self.max.max(value);
        if value != 0 {
            self.min_nz = self.min_nz.min(value);
        }
    }

    /// Adds everything recorded to `h` (the histogram this tally was made
    /// for), as if each value had been recorded there.
    pub fn add_to(&self, h: &mut Histogram<u64>) {
        if self.total == 0 {
            return;
        }
        let max_i = self.index(self.max);
        let min_i = (self.min_nz != u64::MAX).then(|| self.index(self.min_nz));
        // Nothing was recorded above the maximum's bucket: the rest of the
        // arrays (most of them; untouched pages of zeros) is not read.
        let end = (max_i + 1).min(self.low.len());
        for (i, (&low, &high)) in self.low[..end].iter().zip(&self.high[..end]).enumerate() {
            let c = high + u64::from(low);
            if c == 0 {
                continue;
            }
            // Any value of a bucket lands in that bucket; the one used must
            // not move the histogram's minimum or maximum: the minimum's
            // bucket records the minimum, the maximum's the maximum once
            // (and the rest at the bucket's lowest value, or at the minimum
            // when they share the bucket). Every other bucket lies strictly
            // between the two, or holds only zeros.
            let base = if Some(i) == min_i {
                self.min_nz
            } else {
                self.lowest(i)
            };
            if i == max_i {
                record(h, base, c - 1);
                record(h, self.max, 1);
            } else {
                record(h, base, c);
            }
        }
    }
}

/// `count` records of `value` (in range by construction).
fn record(h: &mut Histogram<u64>, value: u64, count: u64) {
    if count > 0 {
        h.saturating_record_n(value, count);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hist::{new_histogram, HIST_MAX_US};
    use rand::{Rng, SeedableRng};
    use rand_pcg::Pcg64Mcg;

    fn both(values: &[u64]) {
        let mut direct = new_histogram();
        let mut tallied = new_histogram();
        let mut t = Tally::for_histogram(&tallied).unwrap();
        for &v in values {
            direct.saturating_record(v);
            t.record(v);
        }
        t.add_to(&mut tallied);
        assert_eq!(direct, tallied, "{values:?}");
        assert_eq!(direct.len(), tallied.len());
        assert_eq!(direct.max(), tallied.max());
        assert_eq!(direct.min_nz(), tallied.min_nz());
        assert_eq!(direct.min(), tallied.min());
        for q in [0.0, 0.5, 0.9, 0.99, 0.999, 1.0] {
            assert_eq!(direct.value_at_quantile(q), tallied.value_at_quantile(q));
        }
        assert_eq!(direct.mean().to_bits(), tallied.mean().to_bits());
        assert_eq!(direct.stdev().to_bits(), tallied.stdev().to_bits());
    }

    #[test]
    fn indexes_as_the_histogram_does() {
        let h = new_histogram();
        let t = Tally::for_histogram(&h).unwrap();
        let mut v = 0u64;
        while v < HIST_MAX_US {
            let i = t.index(v);
            assert!(t.lowest(i) <= v, "{v}");
            assert_eq!(t.lowest(i), h.lowest_equivalent(v), "{v}");
            v = v * 9 / 8 + 1;
        }
    }

    #[test]
    fn a_tally_leaves_the_histogram_of_direct_recording() {
        both(&[]);
        both(&[0]);
        both(&[0, 0, 0]);
        both(&[1]);
        both(&[5, 5]);
        // Same wide bucket for minimum and maximum.
        both(&[1_000_001, 1_000_003, 1_000_002]);
        both(&[1_000_003, 1_000_001]);
        // Beyond the highest trackable value: clamped.
        both(&[HIST_MAX_US + 1, u64::MAX, 7]);
        both(&[HIST_MAX_US, HIST_MAX_US - 1, 0]);
        // Counts past 16 bits in one bucket, and in the minimum's and the
        // maximum's buckets.
        let mut many = vec![0u64; 200_000];
        many.extend(std::iter::repeat_n(3_000, 70_000));
        many.extend(std::iter::repeat_n(1_000_001, 65_536));
        many.extend(std::iter::repeat_n(7, 65_535));
        many.extend(std::iter::repeat_n(9_999_999, 131_072));
        both(&many);
        let mut rng = Pcg64Mcg::seed_from_u64(9);
        for round in 0..200 {
            let n = rng.random_range(1..400);
            let top: u64 = [10, 3_000, 50_000, 10_000_000, u64::MAX][round % 5];
            let values: Vec<u64> = (0..n).map(|_| rng.random_range(0..top)).collect();
            both(&values);
        }
    }
}
