//! The "input" section of `gilsim bench`: memory for reading, validating
//! and planning big configs, which must not grow with the job count (a
//! plan of 10^8 open-loop jobs once took 786 MB just to validate), and
//! for reading an endless file (`validate /dev/zero` once grew to 5.4 GB).
//!
//! Each figure is the growth of this process's peak RSS (reset through
//! `/proc/self/clear_refs`) over its RSS before the step; a batch plan of
//! the same size is the reference. (A child's `ru_maxrss` is no good here:
//! it includes the pages of the parent it was forked from.)

use std::path::Path;
use std::time::Instant;

use super::rss;
use super::{figure, with_goal, Figure};
use crate::config;
use crate::plan::Plan;

/// Jobs of the big plans.
const JOBS: u64 = 100_000_000;

/// Adds the input figures; `walk` is how many arrivals to draw.
pub(super) fn input_memory(walk: u64, figs: &mut Vec<Figure>) {
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
    if written {
        let mut growth = |what: &str, path: &Path| {
            if let Some(mb) = validate_growth_mb(path) {
                figs.push(with_goal(
                    figure(
                        "input",
                        format!("peak RSS growth, validating {what}"),
                        mb,
                        "MB",
                    ),
                    "< 5 MB",
                    mb < 5.0,
                ));
            }
        };
        growth("10^8 open-loop jobs", &open);
        growth("10^8 batch jobs (reference)", &batch);
        growth(
            "/dev/zero (refused at the 1 MiB cap)",
            Path::new("/dev/zero"),
        );
    }
    walk_arrivals(&open, walk, figs);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Draws `n` arrivals of the open-loop plan in this process: their rate,
/// and how much the peak RSS grew meanwhile (nothing is kept per job).
fn walk_arrivals(open: &Path, n: u64, figs: &mut Vec<Figure>) {
    let Ok(set) = config::load(open) else { return };
    let reset = rss::reset_peak();
    let before = rss::current();
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
    if let (true, Some(before), Some(after)) = (reset, before, rss::peak()) {
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

/// How much the peak RSS grows while doing what `gilsim validate` does
/// with `path` (read, check, preflight, plan), in MB; `None` where the
/// peak cannot be reset. Measured in this process: a child's `ru_maxrss`
/// would include the parent's pages it was forked from.
fn validate_growth_mb(path: &Path) -> Option<f64> {
    if !rss::reset_peak() {
        return None;
    }
    let before = rss::current()?;
    if let Ok(set) = config::load(path) {
        let sets = std::slice::from_ref(&set);
        let _ = crate::preflight::check(sets, 2, Some(crate::preflight::DEFAULT_MAX_THREADS));
        let plan = Plan::new(&set);
        std::hint::black_box(plan.totals());
    }
    Some(rss::peak()?.saturating_sub(before) as f64 / 1e6)
}
