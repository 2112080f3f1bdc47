//! Statistics over repeated measurements: mean, sample standard deviation
//! and a 95% confidence interval from Student's t, and Welch's test for
//! whether two figures differ beyond their noise.
//!
//! Repeated runs (`run --runs N`, `sweep --runs N`) summarise every figure
//! with [`Summary`]; verdicts call [`differ`] before naming a winner.

use serde::{Deserialize, Serialize};

/// The median of `xs` (the mean of the middle two for an even count);
/// `None` when empty.
pub fn median(xs: &[f64]) -> Option<f64> {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

/// One figure over repeated runs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Number of runs.
    pub n: usize,
    /// Arithmetic mean.
    pub mean: f64,
    /// Sample standard deviation (n − 1); 0 for a single run.
    pub stddev: f64,
    /// Lower end of the 95% confidence interval of the mean.
    pub ci95_lo: f64,
    /// Upper end of the 95% confidence interval of the mean.
    pub ci95_hi: f64,
}

impl Summary {
    /// Summarises `xs`; `None` when empty or when any value is not finite.
    pub fn of(xs: &[f64]) -> Option<Self> {
        if xs.is_empty() || xs.iter().any(|x| !x.is_finite()) {
            return None;
        }
        let n = xs.len();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let stddev = if n > 1 {
            (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        } else {
            0.0
        };
        let half = if n > 1 {
            t95(n - 1) * stddev / (n as f64).sqrt()
        } else {
            0.0
        };
        Some(Self {
            n,
            mean,
            stddev,
            ci95_lo: mean - half,
            ci95_hi: mean + half,
        })
    }

    /// Half the width of the 95% interval: the `±` a table prints.
    pub fn half_width(&self) -> f64 {
        (self.ci95_hi - self.ci95_lo) / 2.0
    }

    /// Standard error of the mean.
    fn sem(&self) -> f64 {
        self.stddev / (self.n as f64).sqrt()
    }
}

/// Whether two figures differ beyond their noise: Welch's t-test at the 5%
/// level (two-sided). Needs at least two runs on each side; with fewer there
/// is no noise estimate and this returns `None`, so the caller must fall back
/// to a stated margin.
pub fn differ(a: &Summary, b: &Summary) -> Option<bool> {
    if a.n < 2 || b.n < 2 {
        return None;
    }
    let (va, vb) = (a.sem().powi(2), b.sem().powi(2));
    let se = (va + vb).sqrt();
    if se == 0.0 {
        return Some(a.mean != b.mean);
    }
    let t = (a.mean - b.mean).abs() / se;
    // Welch–Satterthwaite degrees of freedom.
    let df = (va + vb).powi(2) / (va.powi(2) / (a.n - 1) as f64 + vb.powi(2) / (b.n - 1) as f64);
    Some(t > t95(df.floor().max(1.0) as usize))
}

/// The two-sided 95% critical value of Student's t with `df` degrees of
/// freedom (table to 30, then the normal approximation's 1.96 bound from
/// above by interpolation in 1/df).
pub fn t95(df: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::INFINITY,
        1..=30 => TABLE[df - 1],
        // t(df) ≈ 1.96 + 2.46/df over df > 30 (within 0.003 of the exact value).
        _ => 1.96 + 2.46 / df as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_of_known_values() {
        let s = Summary::of(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]).unwrap();
        assert_eq!(s.n, 8);
        assert!((s.mean - 5.0).abs() < 1e-12);
        // Sample stddev of this classic set is sqrt(32/7).
        assert!((s.stddev - (32.0f64 / 7.0).sqrt()).abs() < 1e-12);
        let half = 2.365 * s.stddev / 8f64.sqrt();
        assert!((s.half_width() - half).abs() < 1e-9);
    }

    #[test]
    fn one_run_has_no_spread_and_no_test() {
        let s = Summary::of(&[3.0]).unwrap();
        assert_eq!((s.stddev, s.ci95_lo, s.ci95_hi), (0.0, 3.0, 3.0));
        assert_eq!(differ(&s, &s), None);
        assert_eq!(Summary::of(&[]), None);
        assert_eq!(Summary::of(&[1.0, f64::NAN]), None);
    }

    #[test]
    fn welch_separates_clear_differences_and_not_noise() {
        let a = Summary::of(&[10.0, 10.2, 9.9, 10.1, 10.0]).unwrap();
        let b = Summary::of(&[12.0, 12.1, 11.9, 12.2, 12.0]).unwrap();
        let c = Summary::of(&[10.1, 9.8, 10.3, 10.0, 9.9]).unwrap();
        assert_eq!(differ(&a, &b), Some(true));
        assert_eq!(differ(&a, &c), Some(false));
    }

    #[test]
    fn t_table_is_monotone_and_meets_the_normal_bound() {
        let mut last = f64::INFINITY;
        for df in 1..200 {
            let t = t95(df);
            assert!(t < last && t > 1.96, "df {df}: {t}");
            last = t;
        }
    }

    #[test]
    fn the_median_takes_the_middle_or_the_mean_of_the_middle_two() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0]), Some(3.0));
        assert_eq!(median(&[5.0, 1.0, 3.0]), Some(3.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 100.0]), Some(3.5));
    }
}
