//! `gilsim calibrate`: the CPU kernel's rate and how precise IO waits are.

use std::time::Duration;

use gilsim::error::{Error, RunError};
use gilsim::report::fmt_us;
use gilsim::work::kernel::Calibration;
use gilsim::work::sleep::overshoot_us;

pub fn calibrate(samples: u32) -> Result<(), Error> {
    let c = Calibration::from_env_or_measure().map_err(RunError::Calibration)?;
    let mut text = format!(
        "cpu kernel: {:.1} iterations per µs (1 ms of CPU work = {} iterations)\n",
        c.iters_per_us,
        c.iters_for(Duration::from_millis(1))
    );
    text +=
        &format!("io wait overshoot (blocking sleep, timer slack 1 ns), {samples} samples each:\n");
    for d in [Duration::from_micros(200), Duration::from_millis(1)] {
        let (p50, p99) = overshoot_us(d, u64::from(samples));
        text += &format!(
            "  {:>6}: p50 +{}  p99 +{}\n",
            fmt_us(d.as_micros() as u64),
            fmt_us(p50.round() as u64),
            fmt_us(p99.round() as u64)
        );
    }
    super::print_stdout(&text)
}
