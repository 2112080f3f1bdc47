//! `gilsim calibrate`: the CPU kernel's rate, how precise IO waits are, and
//! the costs the model engine uses (`--save` keeps them for it).

use std::path::{Path, PathBuf};
use std::time::Duration;

use gilsim::error::{Error, RunError};
use gilsim::fsout;
use gilsim::model::costs::{default_path, COSTS_ENV};
use gilsim::report::fmt_us;
use gilsim::work::kernel::Calibration;
use gilsim::work::sleep::overshoot_us;

/// `save`: `--save` with no FILE is `Some(None)`, the default file.
pub fn calibrate(samples: u32, save: Option<Option<PathBuf>>) -> Result<(), Error> {
    // Checked before the measurement, which takes seconds.
    let save = save.map(save_path).transpose()?;
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
        costs.save(&path).map_err(|source| Error::Output {
            path: path.clone(),
            source,
        })?;
        text += &format!("saved to {} ({})\n", path.display(), who_reads(&path));
    }
    super::print_stdout(&text)
}

/// Where `--save` writes (`None`: the default file), once its directory
/// exists and takes files: a path that cannot be written is bad input,
/// refused before anything is measured.
fn save_path(path: Option<PathBuf>) -> Result<PathBuf, Error> {
    let path = match path {
        Some(p) => p,
        None => default_path().ok_or_else(|| {
            Error::Usage(
                "--save: no HOME or XDG_CONFIG_HOME to save under; give --save FILE".into(),
            )
        })?,
    };
    let unwritable = |source| Error::Unwritable {
        path: path.clone(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(unwritable)?;
    }
    fsout::check_writable_file(&path).map_err(unwritable)?;
    Ok(path)
}

/// Whether model runs read costs saved at `path` as they are, or what it
/// takes: they read `GILSIM_MODEL_COSTS` when it is set, else the default
/// file.
fn who_reads(path: &Path) -> String {
    let read = match std::env::var_os(COSTS_ENV) {
        Some(file) => fsout::resolved(Path::new(&file)) == fsout::resolved(path),
        None => default_path().is_some_and(|d| fsout::resolved(&d) == fsout::resolved(path)),
    };
    if read {
        "the model engine reads it".into()
    } else {
        format!(
            "the model engine reads it with {COSTS_ENV}={}",
            path.display()
        )
    }
}
