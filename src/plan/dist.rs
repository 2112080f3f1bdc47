//! Drawing durations from [`DurationSpec`]s, and their expected values.

use std::time::Duration;

use rand::Rng;
use rand_distr::{Distribution, Exp, Exp1, LogNormal, Normal, Uniform};

use crate::config::DurationSpec;

/// z-score of the 99th percentile of a standard normal distribution.
const Z99: f64 = 2.326_347_874_040_841;

/// Draws one duration. Fixed durations do not touch the RNG, so adding a
/// distribution to one step does not change the draws of the others... only
/// the draws after it in the same job.
pub fn sample<R: Rng + ?Sized>(spec: &DurationSpec, rng: &mut R) -> Duration {
    let secs = match *spec {
        DurationSpec::Fixed(d) => return d,
        DurationSpec::Exp { mean } => match Exp::new(1.0 / mean.as_secs_f64()) {
            Ok(e) => e.sample(rng),
            Err(_) => 0.0, // mean = 0: rate infinite
        },
        DurationSpec::Uniform { min, max } => {
            if min >= max {
                return min;
            }
            match Uniform::new_inclusive(min.as_secs_f64(), max.as_secs_f64()) {
                Ok(u) => u.sample(rng),
                Err(_) => min.as_secs_f64(),
            }
        }
        DurationSpec::Normal { mean, stddev } => {
            match Normal::new(mean.as_secs_f64(), stddev.as_secs_f64()) {
                // Truncation by rejection keeps the distribution's shape
                // above 0; the bound only matters when almost all of the
                // mass is negative, where 0 is the honest answer.
                Ok(n) => (0..64)
                    .map(|_| n.sample(rng))
                    .find(|x| *x >= 0.0)
                    .unwrap_or(0.0),
                Err(_) => mean.as_secs_f64(),
            }
        }
        DurationSpec::LogNormal { median, p99 } => {
            let (mu, sigma) = lognormal_params(median, p99);
            match LogNormal::new(mu, sigma) {
                Ok(l) => l.sample(rng),
                Err(_) => median.as_secs_f64(),
            }
        }
    };
    secs_to_duration(secs)
}

/// A [`DurationSpec`] prepared for many draws: [`Sampler::sample`] gives
/// exactly what [`sample`] gives from the same stream (the same
/// arithmetic), with the distribution's parameters computed once instead of
/// on every draw (for `exp`, three divisions per draw).
#[derive(Debug, Clone, Copy)]
pub enum Sampler {
    /// A fixed duration (draws nothing).
    Fixed(Duration),
    /// An exponential distribution: the scale (mean) of the `Exp` that
    /// [`sample`] builds, computed as `Exp::new` computes it (`None` where
    /// that fails: a draw is then zero). A draw is `Exp1 × scale`, which
    /// is `Exp::sample`'s own arithmetic, without its `Rng::sample` layer,
    /// whose inlining the compiler decides anew with every change to the
    /// model's loop (2% of a reference job's instructions either way).
    Exp(Option<f64>),
    /// Every other distribution, drawn by [`sample`].
    Other(DurationSpec),
}

impl Sampler {
    /// `spec`, prepared.
    pub fn new(spec: &DurationSpec) -> Self {
        match *spec {
            DurationSpec::Fixed(d) => Sampler::Fixed(d),
            DurationSpec::Exp { mean } => Sampler::Exp(exp_scale(1.0 / mean.as_secs_f64())),
            other => Sampler::Other(other),
        }
    }

    /// Whether a draw consumes randomness.
    pub fn is_random(&self) -> bool {
        !matches!(self, Sampler::Fixed(_))
    }

    /// One duration, as [`sample`] would draw it.
    #[inline]
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Duration {
        match self {
            Sampler::Fixed(d) => *d,
            Sampler::Exp(scale) => secs_to_duration(match scale {
                Some(scale) => draw_exp(*scale, rng),
                None => 0.0,
            }),
            Sampler::Other(spec) => sample(spec, rng),
        }
    }

    /// [`Sampler::sample`]'s duration in whole nanoseconds (the same value
    /// as `sample(rng).as_nanos() as u64`: every draw is at most a day),
    /// without building a `Duration` to take apart again (the model's fast
    /// path draws on every step).
    #[inline(always)]
    pub fn sample_ns<R: Rng + ?Sized>(&self, rng: &mut R) -> WholeNs {
        match self {
            Sampler::Fixed(d) => WholeNs::of(d.as_nanos() as u64),
            Sampler::Exp(scale) => secs_to_ns(match scale {
                Some(scale) => draw_exp(*scale, rng),
                None => 0.0,
            }),
            Sampler::Other(spec) => WholeNs::of(sample(spec, rng).as_nanos() as u64),
        }
    }
}

/// A whole number of nanoseconds, as an integer and as the same value in
/// an `f64` (exact: a draw is at most a day, below 2^53 ns).
///
/// Why both: the model's fast path adds a CPU step's duration to the
/// cores' service clock, an `f64`. Rounding an exponential draw to whole
/// ns (adding 2^52) has the float at hand; converting the integer back
/// took a conversion and a branch on the path from the draw to the cores'
/// next completion, which the simulation waits for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WholeNs {
    /// The nanoseconds.
    pub int: u64,
    /// `int` as an `f64`.
    pub float: f64,
}

impl WholeNs {
    /// `ns`, with its float.
    #[inline]
    pub fn of(ns: u64) -> Self {
        Self {
            int: ns,
            float: u64_to_f64(ns),
        }
    }
}

/// `x as f64`, through a signed conversion when `x` fits one (the same
/// value: both round the same integer to nearest; baseline x86-64 converts
/// only signed integers in one instruction, and the model converts on
/// every event's path).
#[inline]
pub fn u64_to_f64(x: u64) -> f64 {
    if x <= i64::MAX as u64 {
        x as i64 as f64
    } else {
        u64_to_f64_rare(x)
    }
}

/// [`u64_to_f64`] beyond `i64`, out of line: inlined, the compiler
/// merges the two arms back into the unsigned conversion (five
/// instructions).
#[cold]
#[inline(never)]
fn u64_to_f64_rare(x: u64) -> f64 {
    x as f64
}

/// `x as u64` (truncating; NaN and negatives 0, beyond `u64` its
/// maximum), in one `cvttsd2si` for `x` in `[0, 4.6e18)`. Rust's `as`
/// saturates: an unsigned conversion takes about ten instructions on
/// baseline x86-64, and even a signed one keeps its clamp and NaN selects
/// (six instructions) right after a range check that rules both out. The
/// model truncates a float on the path of every event (an arrival's due
/// time, a CPU segment's calendar position, its end in whole ns); callers
/// that check the range themselves have the two checks merged.
#[inline(always)]
pub fn f64_to_u64(x: f64) -> u64 {
    if (0.0..4.6e18).contains(&x) {
        // SAFETY: `x` is finite and, truncated, fits an `i64` (below
        // 2^62), which is all `to_int_unchecked` asks; non-negative, so
        // the `u64` is the same integer.
        unsafe { x.to_int_unchecked::<i64>() as u64 }
    } else {
        f64_to_u64_rare(x)
    }
}

/// [`f64_to_u64`] for the rest, out of line: inlined, the compiler
/// computes both conversions and selects one.
#[cold]
#[inline(never)]
fn f64_to_u64_rare(x: f64) -> u64 {
    x as u64
}

/// `Exp::new(lambda)`'s scale (`1 / lambda`, as it computes it), or
/// `None` where `Exp::new` fails.
pub(crate) fn exp_scale(lambda: f64) -> Option<f64> {
    Exp::new(lambda).ok().map(|_| 1.0 / lambda)
}

/// A draw of an exponential distribution of mean `scale`: the value
/// `Exp::sample` gives for the `Exp` of that scale (`rand_distr` 0.5:
/// `rng.sample(Exp1) * lambda_inverse`; tested against it).
#[inline(always)]
pub(crate) fn draw_exp<R: Rng + ?Sized>(scale: f64, rng: &mut R) -> f64 {
    let unit: f64 = Exp1.sample(rng);
    unit * scale
}

/// [`secs_to_duration`] in whole nanoseconds.
///
/// The usual draw, in (0, a day], is told by two comparisons (a NaN fails
/// both); written as `is_finite() && > 0` the compiler tests the float's
/// bits in about eighteen instructions, on every draw of the model's fast
/// path. The rest (beyond a day, infinite, NaN, not positive) is
/// [`secs_to_ns_rare`].
#[inline(always)]
fn secs_to_ns(secs: f64) -> WholeNs {
    if secs > 0.0 && secs <= 86_400.0 {
        // `secs * 1e9` is at most a day's 8.64e13 ns: rounding is monotone.
        match nearest_within_a_day(secs) {
            Some(n) => n,
            None => WholeNs::of(Duration::from_secs_f64(secs).as_nanos() as u64),
        }
    } else {
        WholeNs::of(secs_to_ns_rare(secs))
    }
}

/// [`secs_to_ns`] outside (0, a day].
#[cold]
#[inline(never)]
fn secs_to_ns_rare(secs: f64) -> u64 {
    if secs.is_finite() && secs > 0.0 {
        Duration::from_secs(86_400).as_nanos() as u64
    } else {
        0
    }
}

/// The mean of the distribution (of the truncated distribution for
/// `normal`), used for plan summaries.
pub fn mean(spec: &DurationSpec) -> Duration {
    let secs = match *spec {
        DurationSpec::Fixed(d) => return d,
        DurationSpec::Exp { mean } => mean.as_secs_f64(),
        DurationSpec::Uniform { min, max } => (min.as_secs_f64() + max.as_secs_f64()) / 2.0,
        DurationSpec::Normal { mean, stddev } => {
            truncated_normal_mean(mean.as_secs_f64(), stddev.as_secs_f64())
        }
        DurationSpec::LogNormal { median, p99 } => {
            let (mu, sigma) = lognormal_params(median, p99);
            clamped_lognormal_mean(mu, sigma, MAX_DRAW_SECS)
        }
    };
    secs_to_duration(secs)
}

/// The longest draw, in seconds: every draw is clamped to a day.
const MAX_DRAW_SECS: f64 = 86_400.0;

/// The mean of `min(X, cap)` for a lognormal `X` of parameters `mu` and
/// `sigma`: what the clamped draws average. Without the clamp a wide
/// lognormal's mean is astronomical (median 1 ns and p99 a day give
/// e^74 s), and a plain `min(mean, cap)` then says a day per job where the
/// draws average about 1,060 s. E[min(X, c)] = e^(μ+σ²/2) Φ((ln c − μ −
/// σ²)/σ) + c (1 − Φ((ln c − μ)/σ)), the first term taken in logs.
fn clamped_lognormal_mean(mu: f64, sigma: f64, cap: f64) -> f64 {
    if sigma <= 0.0 {
        return mu.exp().min(cap);
    }
    let w = (cap.ln() - mu) / sigma;
    let below = (mu + sigma * sigma / 2.0 + ln_norm_cdf(w - sigma)).exp();
    let above = cap * ln_norm_cdf(-w).exp();
    below + above
}

/// ln Φ(z), the standard normal distribution's log CDF, without underflow
/// far in the left tail.
fn ln_norm_cdf(z: f64) -> f64 {
    let x = z / std::f64::consts::SQRT_2;
    if z < 0.0 {
        ln_erfc_nonneg(-x) - std::f64::consts::LN_2
    } else {
        (1.0 - 0.5 * erfc(x)).ln()
    }
}

/// Whether drawing from `spec` consumes randomness.
pub fn is_random(spec: &DurationSpec) -> bool {
    !matches!(spec, DurationSpec::Fixed(_))
}

fn lognormal_params(median: Duration, p99: Duration) -> (f64, f64) {
    let m = median.as_secs_f64().max(f64::MIN_POSITIVE);
    let sigma = ((p99.as_secs_f64() / m).ln() / Z99).max(0.0);
    (m.ln(), sigma)
}

/// Clamps to [0, a day] and converts; negative draws (normal) truncate at 0.
fn secs_to_duration(secs: f64) -> Duration {
    if secs.is_finite() && secs > 0.0 {
        let secs = secs.min(86_400.0);
        nearest_ns(secs).map_or_else(|| Duration::from_secs_f64(secs), Duration::from_nanos)
    } else {
        Duration::ZERO
    }
}

/// `Duration::from_secs_f64(secs)` in whole ns (the exact product rounded
/// to nearest) for `secs` in (0, a day], the cheap way, or `None` where
/// the cheap way cannot be sure. This runs on every draw, and the standard
/// conversion takes the float apart bit by bit.
///
/// `y = secs * 1e9` is the exact product rounded once: within half an ulp
/// of `y` of it, and `y * 2^-53` (an exact scaling) is at least that.
/// Rounding to the nearest integer only jumps at half-integers, so when
/// `y`'s fraction is farther than that from one half, `y` and the exact
/// product round to the same integer (tested against the standard
/// conversion: `cheap_conversion_is_the_standard_one`). Below 2^47 (a day
/// is 8.64e13 ns) the margin is under 2^-6; for draws of milliseconds
/// (about 2^20 ns) it is about 2^-33, so the standard conversion is almost
/// never needed.
#[inline]
fn nearest_ns(secs: f64) -> Option<u64> {
    if !(0.0..8.7e13).contains(&(secs * 1e9)) {
        return None;
    }
    nearest_within_a_day(secs).map(|n| n.int)
}

/// [`nearest_ns`] for `secs * 1e9` in [0, 8.7e13), which the caller has
/// made sure of, with the integer's float.
///
/// `y + 2^52` rounds `y` to the nearest integer (ties to even: every double
/// from 2^52 to 2^53 is an integer), and its bits minus those of 2^52 are
/// that integer. This takes no float-to-integer conversion, which Rust
/// makes saturating (five more instructions on every draw). `y` minus the
/// rounded value is exact (within 0.5 of `y`, in `y`'s ulps), so `y` is
/// as close to a half-integer as `|frac|` is to 0.5: the same test, and the
/// same answer, as rounding `t + (frac > 0.5)` from the truncated `t`.
#[inline(always)]
fn nearest_within_a_day(secs: f64) -> Option<WholeNs> {
    const TWO_52: f64 = 4_503_599_627_370_496.0;
    let y = secs * 1e9;
    let r = y + TWO_52;
    // The nearest integer, as a float (exact).
    let float = r - TWO_52;
    let frac = y - float;
    // At least half an ulp of `y` (see [`nearest_ns`]).
    let margin = y * (f64::EPSILON / 2.0);
    (0.5 - frac.abs() > margin).then(|| WholeNs {
        int: r.to_bits() - TWO_52.to_bits(),
        float,
    })
}

/// Mean of N(mu, sigma) truncated below at 0.
fn truncated_normal_mean(mu: f64, sigma: f64) -> f64 {
    if sigma <= 0.0 {
        return mu.max(0.0);
    }
    let alpha = -mu / sigma;
    let pdf = (-alpha * alpha / 2.0).exp() / (2.0 * std::f64::consts::PI).sqrt();
    let tail = 0.5 * erfc(alpha / std::f64::consts::SQRT_2);
    if tail <= 0.0 {
        0.0
    } else {
        mu + sigma * pdf / tail
    }
}

/// Complementary error function (Numerical Recipes' erfcc, relative
/// error < 1.2e-7).
fn erfc(x: f64) -> f64 {
    let r = ln_erfc_nonneg(x.abs()).exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

/// ln erfc(z) for z ≥ 0. erfcc is t·e^(poly), so its log is ln t + poly,
/// finite where erfc itself underflows (z past about 27).
fn ln_erfc_nonneg(z: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.5 * z);
    t.ln()
        + (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_pcg::Pcg64Mcg;

    #[test]
    fn the_cheap_truncation_is_the_saturating_cast() {
        let mut rng = Pcg64Mcg::seed_from_u64(5);
        let mut xs = vec![
            f64::NEG_INFINITY,
            -1e300,
            -1.0,
            -0.5,
            -0.0,
            0.0,
            0.5,
            1.0,
            4.6e18,
            f64::from_bits(4.6e18f64.to_bits() - 1),
            9.2e18,
            9_223_372_036_854_775_808.0,
            1.8e19,
            18_446_744_073_709_551_616.0,
            1e300,
            f64::INFINITY,
            f64::NAN,
            -f64::NAN,
        ];
        xs.extend((0..100_000).map(|_| rng.random::<f64>() * 10f64.powi(rng.random_range(-3..20))));
        for x in xs {
            assert_eq!(f64_to_u64(x), x as u64, "{x:e}");
        }
    }

    #[test]
    fn cheap_conversion_is_the_standard_one() {
        let mut rng = Pcg64Mcg::seed_from_u64(3);
        let mut cheap = 0u64;
        let mut check = |secs: f64| {
            // The fast path's whole-ns conversion, for every input.
            let ns = secs_to_duration(secs).as_nanos() as u64;
            assert_eq!(secs_to_ns(secs), WholeNs::of(ns), "{secs:e}");
            if !(secs.is_finite() && secs > 0.0) {
                return;
            }
            let secs = secs.min(86_400.0);
            let want = Duration::from_secs_f64(secs);
            assert_eq!(secs_to_duration(secs), want, "{secs:e}");
            if let Some(ns) = nearest_ns(secs) {
                assert_eq!(Duration::from_nanos(ns), want, "{secs:e}");
                cheap += 1;
            }
        };
        for _ in 0..2_000_000 {
            // Every scale from sub-ns to past a day.
            let scale = 10f64.powi(rng.random_range(-11..6));
            check(rng.random::<f64>() * scale);
            // Near half a nanosecond, where rounding turns.
            let k = rng.random_range(0..100_000_000_000u64) as f64;
            let off = (rng.random::<f64>() - 0.5) * 1e-3;
            check((k + 0.5 + off) / 1e9);
            check((k + 0.5) / 1e9);
            check(k / 1e9);
            // Milliseconds within a few ulps of half a nanosecond, where
            // the margin is smallest.
            let h = ((k as u64 % 10_000_000) as f64 + 0.5) / 1e9;
            let ulps = rng.random_range(-4i64..=4);
            check(f64::from_bits((h.to_bits() as i64 + ulps) as u64));
            check(h + (rng.random::<f64>() - 0.5) * 1e-16);
        }
        for ns in [
            1u64,
            2,
            999,
            1_000_000,
            86_400_000_000_000,
            86_399_999_999_999,
        ] {
            check(ns as f64 / 1e9);
            check((ns as f64 + 0.5) / 1e9);
            check(f64::from_bits((ns as f64 / 1e9).to_bits() + 1));
            check(f64::from_bits((ns as f64 / 1e9).to_bits() - 1));
        }
        check(f64::MIN_POSITIVE);
        check(5e-324);
        check(1e300);
        let day = 86_400.0f64;
        for odd in [
            0.0,
            -0.0,
            -1e-3,
            f64::NAN,
            -f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::from_bits(day.to_bits() + 1),
            f64::from_bits(day.to_bits() - 1),
            f64::MAX,
        ] {
            check(odd);
        }
        // The cheap way is the common one.
        assert!(cheap > 3_500_000, "{cheap}");
    }

    fn ms(x: f64) -> Duration {
        Duration::from_secs_f64(x / 1e3)
    }

    /// Sample mean of n draws, in ms.
    fn sample_mean(spec: DurationSpec, n: usize) -> f64 {
        let mut rng = Pcg64Mcg::seed_from_u64(7);
        (0..n)
            .map(|_| sample(&spec, &mut rng).as_secs_f64() * 1e3)
            .sum::<f64>()
            / n as f64
    }

    #[test]
    fn sample_means_match_the_distribution_means() {
        let specs = [
            DurationSpec::Exp { mean: ms(1.0) },
            DurationSpec::Uniform {
                min: ms(1.0),
                max: ms(3.0),
            },
            DurationSpec::Normal {
                mean: ms(1.0),
                stddev: ms(0.2),
            },
            DurationSpec::Normal {
                mean: ms(1.0),
                stddev: ms(2.0),
            }, // heavily truncated
            DurationSpec::LogNormal {
                median: ms(1.0),
                p99: ms(20.0),
            },
            // So wide that the clamp at a day decides the mean: 1% of the
            // draws are a day, the rest mostly far below a second.
            DurationSpec::LogNormal {
                median: Duration::from_nanos(1),
                p99: Duration::from_secs(86_400),
            },
        ];
        for spec in specs {
            let want = mean(&spec).as_secs_f64() * 1e3;
            let got = sample_mean(spec, 200_000);
            assert!(
                (got - want).abs() / want < 0.03,
                "{spec:?}: sample mean {got} vs {want}"
            );
        }
    }

    #[test]
    fn a_prepared_sampler_draws_what_sample_draws() {
        let specs = [
            DurationSpec::Fixed(ms(2.0)),
            DurationSpec::Exp { mean: ms(1.0) },
            DurationSpec::Exp { mean: ms(0.0) },
            DurationSpec::Exp { mean: ms(0.0123) },
            DurationSpec::Exp { mean: ms(7.3) },
            DurationSpec::Exp {
                mean: Duration::from_secs(100_000),
            },
            DurationSpec::Uniform {
                min: ms(1.0),
                max: ms(3.0),
            },
            DurationSpec::LogNormal {
                median: ms(1.0),
                p99: ms(20.0),
            },
        ];
        for spec in specs {
            let (mut a, mut b) = (Pcg64Mcg::seed_from_u64(9), Pcg64Mcg::seed_from_u64(9));
            let mut c = Pcg64Mcg::seed_from_u64(9);
            let s = Sampler::new(&spec);
            assert_eq!(s.is_random(), is_random(&spec));
            for _ in 0..100_000 {
                let want = sample(&spec, &mut b);
                assert_eq!(s.sample(&mut a), want, "{spec:?}");
                let ns = s.sample_ns(&mut c);
                assert_eq!(ns.int, want.as_nanos() as u64, "{spec:?}");
                assert_eq!(ns.float, ns.int as f64, "{spec:?}");
            }
        }
    }

    #[test]
    fn lognormal_p99_is_where_asked() {
        let spec = DurationSpec::LogNormal {
            median: ms(1.0),
            p99: ms(20.0),
        };
        let mut rng = Pcg64Mcg::seed_from_u64(1);
        let mut v: Vec<f64> = (0..100_000)
            .map(|_| sample(&spec, &mut rng).as_secs_f64())
            .collect();
        v.sort_by(f64::total_cmp);
        let (p50, p99) = (v[50_000] * 1e3, v[99_000] * 1e3);
        assert!((p50 - 1.0).abs() < 0.05, "median {p50}");
        assert!((p99 - 20.0).abs() / 20.0 < 0.08, "p99 {p99}");
    }

    #[test]
    fn fixed_durations_ignore_the_rng_and_normal_never_goes_negative() {
        let mut rng = Pcg64Mcg::seed_from_u64(3);
        assert_eq!(sample(&DurationSpec::Fixed(ms(2.0)), &mut rng), ms(2.0));
        let spec = DurationSpec::Normal {
            mean: ms(0.1),
            stddev: ms(1.0),
        };
        assert!((0..10_000).all(|_| sample(&spec, &mut rng) >= Duration::ZERO));
    }
}
