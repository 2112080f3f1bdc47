//! The CPU kernel: a fixed amount of computation per iteration, calibrated
//! once so that a requested `cpu = "1ms"` becomes a number of iterations
//! (SPEC §1.1). CPU work is *work*, never "spin until the clock says so":
//! only then do cores, a GIL and preemption show up as longer wall time.

use std::hint::black_box;
use std::time::{Duration, Instant};

/// Iterations of [`spin`] per microsecond on one otherwise idle core.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Calibration {
    /// Kernel iterations per microsecond.
    pub iters_per_us: f64,
}

/// Environment variable that pins the calibration instead of measuring it
/// (for reproducible comparisons across machines or runs).
pub const CALIBRATION_ENV: &str = "GILSIM_ITERS_PER_US";

impl Calibration {
    /// Measures the kernel's rate: the best of several short runs, because on
    /// a shared machine interference only ever makes a run slower.
    pub fn measure() -> Self {
        // Warm up caches and let the CPU frequency settle.
        spin(0, 2_000_000);
        let probe = 4_000_000u64;
        let best = (0..7)
            .map(|_| {
                let t = Instant::now();
                spin(1, probe);
                t.elapsed()
            })
            .min()
            .unwrap_or(Duration::from_millis(1));
        let us = best.as_secs_f64() * 1e6;
        Self {
            iters_per_us: (probe as f64 / us.max(1e-3)).max(1e-3),
        }
    }

    /// The calibration from [`CALIBRATION_ENV`] when set to a positive
    /// number, else a fresh measurement.
    pub fn from_env_or_measure() -> Result<Self, String> {
        match std::env::var(CALIBRATION_ENV) {
            Ok(v) => match v.trim().parse::<f64>() {
                Ok(x) if x.is_finite() && x > 0.0 => Ok(Self { iters_per_us: x }),
                _ => Err(format!(
                    "{CALIBRATION_ENV}={v:?} is not a positive number of kernel iterations per microsecond"
                )),
            },
            Err(_) => Ok(Self::measure()),
        }
    }

    /// Iterations that make up `d` of CPU work.
    pub fn iters_for(&self, d: Duration) -> u64 {
        (d.as_secs_f64() * 1e6 * self.iters_per_us).round() as u64
    }
}

/// Runs `iters` iterations of the kernel, continuing from `state`, and
/// returns the new state. A dependent multiply-xorshift chain: the compiler
/// cannot vectorise or skip it, and it touches no memory, so its speed does
/// not depend on what other threads do with caches.
#[inline(never)]
pub fn spin(state: u64, iters: u64) -> u64 {
    let mut x = state | 1;
    for _ in 0..iters {
        x = x
            .wrapping_mul(0x5851_F42D_4C95_7F2D)
            .wrapping_add(0x1405_7B7E_F767_814F);
        x ^= x >> 29;
    }
    black_box(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iterations_scale_with_duration() {
        let c = Calibration {
            iters_per_us: 300.0,
        };
        assert_eq!(c.iters_for(Duration::from_millis(1)), 300_000);
        assert_eq!(c.iters_for(Duration::ZERO), 0);
        assert_eq!(c.iters_for(Duration::from_nanos(500)), 150);
    }

    #[test]
    fn spin_is_deterministic_and_resumable() {
        let whole = spin(7, 1000);
        let halves = spin(spin(7, 400), 600);
        assert_eq!(whole, halves);
    }

    #[test]
    fn calibration_is_positive() {
        assert!(Calibration::measure().iters_per_us > 0.0);
    }
}
