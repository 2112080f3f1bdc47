//! The Universal Scalability Law (Gunther):
//! X(N) = λN / (1 + σ(N−1) + κN(N−1)), fitted by nonlinear least squares.
//!
//! σ is contention (the serial fraction: 1 means no speed-up at all, as
//! CPU-bound threads under a GIL), κ is coherency (crosstalk that makes
//! throughput fall past a peak), λ is the throughput of one unit of
//! concurrency. The solver is the `levenberg-marquardt` crate, started from
//! the linearised fit (N/C(N) − 1 = σ(N−1) + κN(N−1), with C(N) = X(N)/X(1));
//! standard errors come from the Jacobian at the optimum,
//! cov = s²(JᵀJ)⁻¹ with s² = RSS/(m − 3).

use levenberg_marquardt::{LeastSquaresProblem, LevenbergMarquardt};
use nalgebra::storage::Owned;
use nalgebra::{DMatrix, DVector, Dyn, Matrix3, Vector3, U3};
use serde::{Deserialize, Serialize};

/// Fewest distinct concurrency levels a fit accepts: three parameters and
/// enough left over to judge them.
pub const MIN_LEVELS: usize = 6;

/// z for a 5% test: σ or κ below this many standard errors is not
/// told apart from 0.
const KAPPA_Z: f64 = 1.96;

/// σ or κ below this is 0 whatever its error (a κ of 1e-9 would put the
/// peak past 30,000 units of concurrency).
const NEGLIGIBLE: f64 = 1e-9;

/// Why a data set cannot be fitted (checked before anything runs when the
/// levels are known).
pub fn check_levels(levels: &[f64]) -> Result<(), String> {
    let mut distinct: Vec<f64> = levels.to_vec();
    distinct.sort_by(f64::total_cmp);
    distinct.dedup();
    if let Some(bad) = distinct.iter().find(|n| **n < 1.0 || n.fract() != 0.0) {
        return Err(format!(
            "the USL needs concurrency levels that are whole numbers from 1; found {bad}"
        ));
    }
    if distinct.len() < MIN_LEVELS {
        return Err(format!(
            "the USL fit needs at least {MIN_LEVELS} distinct concurrency levels to pin three \
             parameters with errors; found {} ({})",
            distinct.len(),
            distinct
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if distinct.first() != Some(&1.0) {
        return Err(
            "the USL fit needs a point at N = 1: λ is the throughput of one unit of \
             concurrency, and the fit is anchored there"
                .into(),
        );
    }
    Ok(())
}

/// Standard errors of the parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Errors {
    pub sigma: f64,
    pub kappa: f64,
    pub lambda: f64,
}

/// A converged fit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Usl {
    /// Contention (serial fraction).
    pub sigma: f64,
    /// Coherency (crosstalk).
    pub kappa: f64,
    /// Throughput at N = 1, per second.
    pub lambda: f64,
    /// Standard errors; `None` when the Jacobian is singular at the optimum.
    pub se: Option<Errors>,
    /// Where throughput peaks, √((1−σ)/κ); `None` when limitless.
    pub n_star: Option<f64>,
    /// The highest throughput the curve reaches: X(N*), or λ/σ, its limit,
    /// when limitless (`None` when that is unbounded too).
    pub x_max: Option<f64>,
    /// κ is not told apart from 0: throughput never falls, it only levels
    /// off.
    pub limitless: bool,
    /// Coefficient of determination of the fit.
    pub r2: f64,
}

impl Usl {
    /// The fitted throughput at concurrency `n`.
    pub fn at(&self, n: f64) -> f64 {
        model(self.sigma, self.kappa, self.lambda, n)
    }
}

fn model(sigma: f64, kappa: f64, lambda: f64, n: f64) -> f64 {
    lambda * n / (1.0 + sigma * (n - 1.0) + kappa * n * (n - 1.0))
}

/// A fit that could not be made, and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct NoFit(pub String);

/// Fits the USL to `(N, X)` pairs (repeated N allowed).
pub fn fit(points: &[(f64, f64)]) -> Result<Usl, NoFit> {
    let levels: Vec<f64> = points.iter().map(|p| p.0).collect();
    check_levels(&levels).map_err(NoFit)?;
    if points.iter().any(|(_, x)| !x.is_finite() || *x < 0.0) {
        return Err(NoFit("a throughput is negative or not a number".into()));
    }
    let ones: Vec<f64> = points
        .iter()
        .filter(|(n, _)| *n == 1.0)
        .map(|p| p.1)
        .collect();
    let x1 = ones.iter().sum::<f64>() / ones.len() as f64;
    if x1 <= 0.0 {
        return Err(NoFit(
            "the throughput at N = 1 is 0; nothing to scale".into(),
        ));
    }
    let (sigma0, kappa0) = linearised(points, x1);
    let problem = Problem {
        n: DVector::from_iterator(points.len(), points.iter().map(|p| p.0)),
        // Throughput in units of X(1), so every parameter is of order 1
        // whatever the workload's rate.
        x: DVector::from_iterator(points.len(), points.iter().map(|p| p.1 / x1)),
        p: Vector3::new(sigma0, kappa0, 1.0),
    };
    let (solved, report) = LevenbergMarquardt::new().minimize(problem);
    if !report.termination.was_successful() {
        return Err(NoFit(format!(
            "the least-squares solver did not converge ({:?})",
            report.termination
        )));
    }
    let p = solved.p;
    if p.iter().any(|v| !v.is_finite()) {
        return Err(NoFit("the fit ran off to infinity".into()));
    }
    let (sigma, kappa, lambda) = (p[0], p[1], p[2] * x1);
    let se = errors(&solved).map(|e| Errors {
        sigma: e[0],
        kappa: e[1],
        lambda: e[2] * x1,
    });
    // σ at 1 (or not told apart from it) is a fully serial system: one
    // unit does all there is to do, and more only add contention, so the
    // peak is N = 1 whatever κ is. Checked first: with κ ≈ 0 too it would
    // otherwise read as "limitless", levelling off at X(1).
    let serial = sigma >= 1.0 || se.is_some_and(|e| 1.0 - sigma < KAPPA_Z * e.sigma);
    let limitless =
        !serial && (kappa <= NEGLIGIBLE || se.is_some_and(|e| kappa < KAPPA_Z * e.kappa));
    let contended = sigma > NEGLIGIBLE && se.map_or(true, |e| sigma >= KAPPA_Z * e.sigma);
    let (n_star, x_max) = if serial {
        (Some(1.0), Some(lambda))
    } else if limitless {
        (None, contended.then(|| lambda / sigma))
    } else {
        let n = ((1.0 - sigma) / kappa).sqrt();
        (Some(n), Some(model(sigma, kappa, lambda, n)))
    };
    Ok(Usl {
        sigma,
        kappa,
        lambda,
        se,
        n_star,
        x_max,
        limitless,
        r2: r_squared(&solved),
    })
}

/// σ and κ from the linear regression through the origin of
/// N/C − 1 on (N − 1, N(N − 1)): the usual starting point.
fn linearised(points: &[(f64, f64)], x1: f64) -> (f64, f64) {
    let rows: Vec<(f64, f64, f64)> = points
        .iter()
        .filter(|(n, x)| *n > 1.0 && *x > 0.0)
        .map(|(n, x)| (n - 1.0, n * (n - 1.0), n / (x / x1) - 1.0))
        .collect();
    let a = DMatrix::from_fn(
        rows.len(),
        2,
        |i, j| if j == 0 { rows[i].0 } else { rows[i].1 },
    );
    let b = DVector::from_iterator(rows.len(), rows.iter().map(|r| r.2));
    let guess = (a.transpose() * &a)
        .try_inverse()
        .map(|inv| inv * a.transpose() * b);
    match guess {
        Some(g) if g.iter().all(|v| v.is_finite()) => (g[0], g[1]),
        _ => (0.1, 0.0),
    }
}

/// The least-squares problem in units of X(1).
struct Problem {
    n: DVector<f64>,
    x: DVector<f64>,
    p: Vector3<f64>,
}

impl LeastSquaresProblem<f64, Dyn, U3> for Problem {
    type ResidualStorage = Owned<f64, Dyn>;
    type JacobianStorage = Owned<f64, Dyn, U3>;
    type ParameterStorage = Owned<f64, U3>;

    fn set_params(&mut self, p: &Vector3<f64>) {
        self.p.copy_from(p);
    }

    fn params(&self) -> Vector3<f64> {
        self.p
    }

    fn residuals(&self) -> Option<DVector<f64>> {
        let (s, k, l) = (self.p[0], self.p[1], self.p[2]);
        let r = DVector::from_iterator(
            self.n.len(),
            self.n
                .iter()
                .zip(self.x.iter())
                .map(|(n, x)| model(s, k, l, *n) - x),
        );
        r.iter().all(|v| v.is_finite()).then_some(r)
    }

    fn jacobian(&self) -> Option<nalgebra::OMatrix<f64, Dyn, U3>> {
        let (s, k, l) = (self.p[0], self.p[1], self.p[2]);
        let mut j = nalgebra::OMatrix::<f64, Dyn, U3>::zeros(self.n.len());
        for (i, n) in self.n.iter().enumerate() {
            let d = 1.0 + s * (n - 1.0) + k * n * (n - 1.0);
            let top = l * n;
            j[(i, 0)] = -top * (n - 1.0) / (d * d);
            j[(i, 1)] = -top * n * (n - 1.0) / (d * d);
            j[(i, 2)] = n / d;
        }
        j.iter().all(|v| v.is_finite()).then_some(j)
    }
}

/// Standard errors from cov = s²(JᵀJ)⁻¹ at the optimum.
fn errors(p: &Problem) -> Option<Vector3<f64>> {
    let j = p.jacobian()?;
    let r = p.residuals()?;
    let dof = p.n.len().checked_sub(3).filter(|d| *d > 0)? as f64;
    let s2 = r.norm_squared() / dof;
    let jtj: Matrix3<f64> = j.transpose() * &j;
    let cov = jtj.try_inverse()? * s2;
    let se = Vector3::new(cov[(0, 0)], cov[(1, 1)], cov[(2, 2)]).map(|v| v.max(0.0).sqrt());
    se.iter().all(|v| v.is_finite()).then_some(se)
}

fn r_squared(p: &Problem) -> f64 {
    let Some(r) = p.residuals() else {
        return f64::NAN;
    };
    let mean = p.x.mean();
    let total = p.x.iter().map(|x| (x - mean).powi(2)).sum::<f64>();
    if total == 0.0 {
        return if r.norm_squared() == 0.0 { 1.0 } else { 0.0 };
    }
    1.0 - r.norm_squared() / total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn synthetic(sigma: f64, kappa: f64, lambda: f64, noise: &[f64]) -> Vec<(f64, f64)> {
        (1..=noise.len())
            .map(|n| {
                let n = n as f64;
                (
                    n,
                    model(sigma, kappa, lambda, n) * (1.0 + noise[n as usize - 1]),
                )
            })
            .collect()
    }

    #[test]
    fn recovers_known_parameters_from_exact_data() {
        let pts = synthetic(0.05, 0.002, 1000.0, &[0.0; 32]);
        let f = fit(&pts).expect("exact data fits");
        assert!((f.sigma - 0.05).abs() < 1e-6, "{f:?}");
        assert!((f.kappa - 0.002).abs() < 1e-8, "{f:?}");
        assert!((f.lambda - 1000.0).abs() < 1e-3, "{f:?}");
        assert!(!f.limitless);
        let n_star = (0.95f64 / 0.002).sqrt();
        assert!((f.n_star.expect("peak") - n_star).abs() < 1e-3, "{f:?}");
        assert!((f.x_max.expect("peak") - model(0.05, 0.002, 1000.0, n_star)).abs() < 1e-2);
    }

    #[test]
    fn recovers_parameters_under_noise_within_their_errors() {
        // ±2% deterministic noise, alternating.
        let noise: Vec<f64> = (0..24)
            .map(|i| if i % 2 == 0 { 0.02 } else { -0.02 } * ((i % 3) as f64 - 1.0))
            .collect();
        let pts = synthetic(0.1, 0.001, 500.0, &noise);
        let f = fit(&pts).expect("fits");
        let se = f.se.expect("errors");
        assert!((f.sigma - 0.1).abs() < 4.0 * se.sigma + 1e-3, "{f:?}");
        assert!((f.kappa - 0.001).abs() < 4.0 * se.kappa + 1e-5, "{f:?}");
        assert!((f.lambda - 500.0).abs() < 4.0 * se.lambda + 1.0, "{f:?}");
        assert!(se.sigma > 0.0 && se.kappa > 0.0 && se.lambda > 0.0);
        assert!(f.r2 > 0.98, "{f:?}");
    }

    #[test]
    fn flat_throughput_is_fully_serial_and_linear_is_not() {
        let flat: Vec<(f64, f64)> = (1..=8).map(|n| (n as f64, 200.0)).collect();
        let f = fit(&flat).expect("fits");
        assert!((f.sigma - 1.0).abs() < 1e-6, "{f:?}");
        // More units add nothing: the peak is at one, not "limitless".
        assert!(!f.limitless, "{f:?}");
        assert_eq!(f.n_star, Some(1.0), "{f:?}");
        assert!((f.x_max.expect("peak") - 200.0).abs() < 1e-3, "{f:?}");
        // Contention beyond serial (σ = 1.5, κ = 0): throughput falls from
        // N = 1 on, towards λ/σ; the peak is still N = 1.
        let falling = synthetic(1.5, 0.0, 200.0, &[0.0; 8]);
        let f = fit(&falling).expect("fits");
        assert!(!f.limitless, "{f:?}");
        assert_eq!(f.n_star, Some(1.0), "{f:?}");
        let linear: Vec<(f64, f64)> = (1..=8).map(|n| (n as f64, 200.0 * n as f64)).collect();
        let f = fit(&linear).expect("fits");
        assert!(f.sigma.abs() < 1e-6, "{f:?}");
        assert!(f.limitless, "{f:?}");
        assert_eq!(f.x_max, None, "linear scaling has no ceiling: {f:?}");
    }

    #[test]
    fn refuses_too_few_levels_and_a_missing_n_of_one() {
        let five: Vec<(f64, f64)> = (1..=5).map(|n| (n as f64, n as f64)).collect();
        assert!(fit(&five).unwrap_err().0.contains("at least 6"));
        let no_one: Vec<(f64, f64)> = (2..=9).map(|n| (n as f64, n as f64)).collect();
        assert!(fit(&no_one).unwrap_err().0.contains("N = 1"));
        let repeated: Vec<(f64, f64)> = (0..12).map(|i| ((i % 3 + 1) as f64, 1.0)).collect();
        assert!(fit(&repeated).unwrap_err().0.contains("distinct"));
        assert!(check_levels(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]).is_err());
        assert!(check_levels(&[1.0, 1.5, 2.0, 3.0, 4.0, 5.0]).is_err());
    }

    #[test]
    fn hostile_data_is_reported_not_panicked_on() {
        let zero: Vec<(f64, f64)> = (1..=6).map(|n| (n as f64, 0.0)).collect();
        assert!(fit(&zero).is_err());
        let nan: Vec<(f64, f64)> = (1..=6).map(|n| (n as f64, f64::NAN)).collect();
        assert!(fit(&nan).is_err());
        // Wild data: must come back as a fit or a reason, never a panic.
        let wild: Vec<(f64, f64)> = (1..=6)
            .map(|n| (n as f64, if n % 2 == 0 { 1e12 } else { 1e-9 }))
            .collect();
        let _ = fit(&wild);
    }
}
