//! `gilsim calibrate`: the CPU kernel's rate and how precise IO waits are.

use std::time::{Duration, Instant};

use gilsim::error::{Error, RunError};
use gilsim::report::fmt_us;
use gilsim::work::kernel::Calibration;
use gilsim::work::sleep::precise_sleep;

pub fn calibrate(samples: u32) -> Result<(), Error> {
    let c = Calibration::from_env_or_measure().map_err(RunError::Calibration)?;
    println!(
        "cpu kernel: {:.1} iterations per µs (1 ms of CPU work = {} iterations)",
        c.iters_per_us,
        c.iters_for(Duration::from_millis(1))
    );
    println!("io wait overshoot (blocking sleep, timer slack 1 ns), {samples} samples each:");
    for d in [Duration::from_micros(200), Duration::from_millis(1)] {
        let (p50, p99) = overshoot(d, samples);
        println!(
            "  {:>6}: p50 +{}  p99 +{}",
            fmt_us(d.as_micros() as u64),
            fmt_us(p50),
            fmt_us(p99)
        );
    }
    Ok(())
}

/// p50 and p99 overshoot of `samples` waits of `d`, in µs.
fn overshoot(d: Duration, samples: u32) -> (u64, u64) {
    let mut v: Vec<u64> = (0..samples)
        .map(|_| {
            let t = Instant::now();
            precise_sleep(d);
            t.elapsed().saturating_sub(d).as_micros() as u64
        })
        .collect();
    v.sort_unstable();
    let at = |q: f64| v[((v.len() - 1) as f64 * q) as usize];
    (at(0.5), at(0.99))
}
