//! The "input" section of `gilsim bench`: memory for reading, validating
//! and planning big configs, which must not grow with the job count (a
//! plan of 10^8 open-loop jobs once took 786 MB just to validate), and
//! for reading an endless file (`validate /dev/zero` once grew to 5.4 GB).
//!
//! Peak RSS is measured for `gilsim validate FILE` in a fresh process
//! (`wait4`'s `ru_maxrss`), so nothing else the benchmark did is counted;
//! a batch plan of the same size is the reference. Walking every arrival
//! of the open-loop plan is measured in this process.

use std::path::Path;
use std::time::Instant;

use super::{figure, read_peak_rss, reset_peak_rss, with_goal, Figure};
use crate::config;
use crate::plan::Plan;

/// Jobs of the big plans.
const JOBS: u64 = 100_000_000;

/// Adds the input figures. `exe` is the gilsim binary (for the fresh
/// processes); `walk` is how many arrivals to draw in-process.
pub(super) fn input_memory(exe: Option<&Path>, walk: u64, figs: &mut Vec<Figure>) {
    let dir = std::env::temp_dir().join(format!("gilsim-bench-input-{}", std::process::id()));
    if std::fs::create_dir_all(&dir).is_err() {
        return;
    }
    let open = dir.join("open.toml");
    let batch = dir.join("batch.toml");
    let group = |arrival: &str| {
        format!("[[group]]\njobs = {JOBS}\narrival = {arrival}\nsteps = [{{ io = \"1ms\" }}]\n")
    };
    let written = std::fs::write(&open, group("{ rate = 1000000 }")).is_ok()
        && std::fs::write(&batch, group("\"batch\"")).is_ok();
    if let (Some(exe), true) = (exe, written) {
        let mut peak = |what: &str, path: &Path, limit_mb: f64| {
            if let Some(kb) = child_peak_rss_kb(exe, path) {
                let mb = kb as f64 / 1024.0;
                figs.push(with_goal(
                    figure("input", format!("peak RSS, gilsim validate {what}"), mb, "MB"),
                    format!("< {limit_mb} MB"),
                    mb < limit_mb,
                ));
            }
        };
        peak("(10^8 open-loop jobs)", &open, 20.0);
        peak("(10^8 batch jobs, reference)", &batch, 20.0);
        peak("/dev/zero (refused at the 1 MiB cap)", Path::new("/dev/zero"), 20.0);
    }
    walk_arrivals(&open, walk, figs);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Draws `n` arrivals of the open-loop plan in this process: their rate,
/// and how much the peak RSS grew meanwhile (nothing is kept per job).
fn walk_arrivals(open: &Path, n: u64, figs: &mut Vec<Figure>) {
    let Ok(set) = config::load(open) else { return };
    let reset = reset_peak_rss();
    let before = read_peak_rss();
    let plan = Plan::new(&set);
    let t = Instant::now();
    let last = plan
        .open_arrivals(0)
        .map(|a| a.take(n as usize).fold(0u64, |_, x| x));
    let secs = t.elapsed().as_secs_f64();
    std::hint::black_box(last);
    figs.push(figure(
        "input",
        format!("open-loop arrivals drawn lazily ({n} of 10^8)"),
        n as f64 / secs / 1e6,
        "M/s",
    ));
    if let (true, Some(before), Some(after)) = (reset, before, read_peak_rss()) {
        let mb = after.saturating_sub(before) as f64 / 1e6;
        figs.push(with_goal(
            figure(
                "input",
                format!("peak RSS growth while planning and drawing {n} arrivals"),
                mb,
                "MB",
            ),
            "< 1 MB",
            mb < 1.0,
        ));
    }
}

/// Peak RSS of `exe validate path`, in KiB, from `wait4`.
fn child_peak_rss_kb(exe: &Path, path: &Path) -> Option<u64> {
    let child = std::process::Command::new(exe)
        .arg("validate")
        .arg(path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    let pid = libc::pid_t::try_from(child.id()).ok()?;
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 only writes to the two
    // out-parameters we pass, for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    (reaped == pid).then(|| u64::try_from(usage.ru_maxrss).unwrap_or(0))
}
