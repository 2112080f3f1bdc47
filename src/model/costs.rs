//! The costs the model cannot derive from a plan: how long this machine
//! takes to start a thread, wake a blocked one, hand the GIL over, overshoot
//! an IO wait, and run gilsim's own per-job bookkeeping.
//!
//! `gilsim calibrate --save` measures them and writes them to a small TOML
//! file ([`default_path`]); every model run reads that file, or falls back
//! to [`Costs::DEFAULTS`] (typical figures of a 2-core Linux VM) when there
//! is none. `GILSIM_MODEL_COSTS=FILE` reads another file, and
//! `GILSIM_MODEL_COSTS=defaults` ignores any file (what the tests use, so
//! their results do not depend on the machine's last calibration).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Environment variable naming the costs file (or `defaults`).
pub const COSTS_ENV: &str = "GILSIM_MODEL_COSTS";

/// Largest cost accepted from a file: anything above is a broken file.
const MAX_COST_US: f64 = 1_000_000.0;

/// Costs in microseconds, and where they came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Costs {
    /// From spawning an OS thread to it running its job.
    pub thread_start_us: f64,
    /// From notifying a blocked thread (condition variable, queue, timer
    /// already fired) to it running.
    pub wake_us: f64,
    /// From the GIL's release to the notified waiter holding it.
    pub gil_handoff_us: f64,
    /// How much longer than requested an IO wait (or a timed GIL wait) lasts.
    pub io_overshoot_us: f64,
    /// CPU gilsim spends per job on the thread that runs it (cursor,
    /// recording, the hand-over from the driver).
    pub job_overhead_us: f64,
    /// Where these figures came from: `defaults` or the file's path.
    #[serde(default, skip_deserializing)]
    pub source: String,
}

impl Costs {
    /// Built-in figures, used when no calibration was saved: medians
    /// measured on a 2-core Linux VM with `gilsim calibrate`.
    pub const DEFAULTS: Costs = Costs {
        thread_start_us: 40.0,
        wake_us: 15.0,
        gil_handoff_us: 20.0,
        io_overshoot_us: 35.0,
        job_overhead_us: 2.0,
        source: String::new(),
    };

    /// All costs zero: an ideal machine (the reference benchmark, and tests
    /// of the pure protocol).
    pub fn zero() -> Costs {
        Costs {
            thread_start_us: 0.0,
            wake_us: 0.0,
            gil_handoff_us: 0.0,
            io_overshoot_us: 0.0,
            job_overhead_us: 0.0,
            source: "zero".into(),
        }
    }

    /// The built-in defaults, labelled as such.
    pub fn defaults() -> Costs {
        Costs {
            source: "defaults".into(),
            ..Self::DEFAULTS
        }
    }

    /// The costs a model run uses: `GILSIM_MODEL_COSTS`, else the saved
    /// calibration at [`default_path`], else the defaults. A file that
    /// exists but cannot be read or parsed is an error (never silently
    /// ignored).
    pub fn load() -> Result<Costs, String> {
        match std::env::var_os(COSTS_ENV) {
            Some(v) if v == "defaults" => Ok(Self::defaults()),
            Some(v) => Self::read(Path::new(&v)),
            None => match default_path() {
                Some(p) if p.exists() => Self::read(&p),
                _ => Ok(Self::defaults()),
            },
        }
    }

    /// Reads a costs file written by [`Costs::save`].
    pub fn read(path: &Path) -> Result<Costs, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("model costs file {}: {e}", path.display()))?;
        let mut c: Costs = toml::from_str(&text)
            .map_err(|e| format!("model costs file {}: {e}", path.display()))?;
        c.check()
            .map_err(|e| format!("model costs file {}: {e}", path.display()))?;
        c.source = path.display().to_string();
        Ok(c)
    }

    /// Writes these costs as TOML to `path` (creating its directory).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let text = toml::to_string(&SavedCosts::from(self)).map_err(std::io::Error::other)?;
        crate::fsout::write_bytes_atomic(path, text.as_bytes())
    }

    fn check(&self) -> Result<(), String> {
        for (name, v) in self.named() {
            if !(v.is_finite() && (0.0..=MAX_COST_US).contains(&v)) {
                return Err(format!(
                    "`{name}` = {v} is not a cost between 0 and {MAX_COST_US} µs"
                ));
            }
        }
        Ok(())
    }

    /// Each cost with its key, in a fixed order.
    pub fn named(&self) -> [(&'static str, f64); 5] {
        [
            ("thread_start_us", self.thread_start_us),
            ("wake_us", self.wake_us),
            ("gil_handoff_us", self.gil_handoff_us),
            ("io_overshoot_us", self.io_overshoot_us),
            ("job_overhead_us", self.job_overhead_us),
        ]
    }

    /// A cost in whole nanoseconds.
    pub(super) fn ns(us: f64) -> u64 {
        (us * 1e3).round().max(0.0) as u64
    }
}

/// The file form: the costs without their `source`.
#[derive(Serialize)]
struct SavedCosts {
    thread_start_us: f64,
    wake_us: f64,
    gil_handoff_us: f64,
    io_overshoot_us: f64,
    job_overhead_us: f64,
}

impl From<&Costs> for SavedCosts {
    fn from(c: &Costs) -> Self {
        Self {
            thread_start_us: c.thread_start_us,
            wake_us: c.wake_us,
            gil_handoff_us: c.gil_handoff_us,
            io_overshoot_us: c.io_overshoot_us,
            job_overhead_us: c.job_overhead_us,
        }
    }
}

/// Where `gilsim calibrate --save` writes and the model reads:
/// `$XDG_CONFIG_HOME/gilsim/model-costs.toml`, else
/// `$HOME/.config/gilsim/model-costs.toml`.
pub fn default_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("gilsim").join("model-costs.toml"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_costs_read_back_with_their_source() {
        let dir = std::env::temp_dir().join(format!("gilsim-costs-{}", std::process::id()));
        let path = dir.join("c.toml");
        let c = Costs {
            wake_us: 7.5,
            ..Costs::defaults()
        };
        c.save(&path).unwrap();
        let back = Costs::read(&path).unwrap();
        assert_eq!(back.wake_us, 7.5);
        assert_eq!(back.source, path.display().to_string());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_broken_costs_file_is_an_error_not_a_default() {
        let dir = std::env::temp_dir().join(format!("gilsim-costs-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.toml");
        std::fs::write(&path, "wake_us = -3\n").unwrap();
        assert!(Costs::read(&path).is_err());
        std::fs::write(&path, "thread_start_us = 1\nwake_us = -3\ngil_handoff_us = 1\nio_overshoot_us = 1\njob_overhead_us = 1\n").unwrap();
        let e = Costs::read(&path).unwrap_err();
        assert!(e.contains("wake_us"), "{e}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
