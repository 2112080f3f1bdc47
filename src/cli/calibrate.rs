//! `gilsim calibrate`: the CPU kernel's rate, how precise IO waits are, and
//! the costs the model engine uses (`--save` keeps them for it).

use std::path::PathBuf;
use std::time::Duration;

use gilsim::error::{Error, RunError};
use gilsim::model::costs::default_path;
use gilsim::report::fmt_us;
use gilsim::work::kernel::Calibration;
use gilsim::work::sleep::overshoot_us;

pub fn calibrate(samples: u32, save: Option<PathBuf>) -> Result<(), Error> {
    let c = Calibration::from_env_or_measure().map_err(RunError::Calibration)?;
    let mut text = format!(
        "cpu kernel: {:.1} iterations per µs (1 ms of CPU work = {} iterations)\n",
        c.iters_per_us,
        c.iters_for(Duration::from_millis(1))
    );
    text += &format!(
        "io wait overshoot (blocking sleep to a deadline, timer slack 1 ns), \
         {samples} samples each:\n"
    );
    for d in [Duration::from_micros(200), Duration::from_millis(1)] {
        let (p50, p99) = overshoot_us(d, u64::from(samples));
        text += &format!(
            "  {:>6}: p50 +{}  p99 +{}\n",
            fmt_us(d.as_micros() as u64),
            fmt_us(p50.round() as u64),
            fmt_us(p99.round() as u64)
        );
    }
    let costs = gilsim::model::calibrate::measure(c, samples).map_err(|why| RunError::Refused {
        backend: "calibrate".into(),
        why,
    })?;
    text += "model engine costs (medians):\n";
    for (name, v) in costs.named() {
        text += &format!("  {name:<16} {v:>8.1} µs\n");
    }
    if let Some(path) = save {
        let path = if path.as_os_str().is_empty() {
            default_path().ok_or_else(|| {
                Error::Usage(
                    "--save: no HOME or XDG_CONFIG_HOME to save under; give --save FILE".into(),
                )
            })?
        } else {
            path
        };
        costs.save(&path).map_err(|source| Error::Output {
            path: path.clone(),
            source,
        })?;
        text += &format!("saved to {} (the model engine reads it)\n", path.display());
    }
    super::print_stdout(&text)
}
