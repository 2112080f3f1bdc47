//! Reading saved JSON back: the run reports, sweeps and plans that
//! `gilsim report`, `gilsim compare` and `gilsim merge` take. A saved file
//! is input like a config: it is read with a bound (`/dev/zero` or a huge
//! file never grows memory past it) and checked before anything is
//! rendered or compared, so a hand-edited or damaged file is refused once,
//! with the file's name, instead of half-rendered or silently misread.

use std::io::Read;
use std::path::Path;

use super::{decode_histogram, Report, RunReport};

/// Largest saved file read: a report is a few kB to a few MB, a sweep of
/// [`crate::capacity::sweep::MAX_POINTS`] points some hundreds of MB at most.
pub const MAX_SAVED_BYTES: u64 = 256 << 20;

/// Why a saved file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SavedError {
    /// The file cannot be opened or read.
    #[error("cannot read it: {0}")]
    Read(#[from] std::io::Error),
    /// The path is a directory.
    #[error("is a directory; give a JSON file")]
    Directory,
    /// More than [`MAX_SAVED_BYTES`].
    #[error(
        "is larger than {MAX_SAVED_BYTES} bytes, more than a saved report, sweep or plan can be"
    )]
    TooLarge,
    /// What the file holds is not what was expected, or contradicts itself.
    #[error("{0}")]
    Invalid(String),
}

/// The bytes of `path`, at most [`MAX_SAVED_BYTES`]. A FIFO or
/// `/dev/stdin` is read until its end, as `cat` would.
pub fn read(path: &Path) -> Result<Vec<u8>, SavedError> {
    if std::fs::metadata(path)?.is_dir() {
        return Err(SavedError::Directory);
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_SAVED_BYTES + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_SAVED_BYTES {
        return Err(SavedError::TooLarge);
    }
    Ok(bytes)
}

/// Checks a run report read back from JSON: what a config would have
/// refused, and what would make its files or a comparison wrong. Names
/// hold no control characters (they reach terminals and every file
/// format); backend labels are unique in a report, and group names in a
/// run (files and comparisons find them by name); a run's wall time and
/// throughput are not negative; every latency histogram decodes (the
/// `.hgrm` files are rendered from it).
pub fn check_report(r: &Report) -> Result<(), String> {
    name("config", &r.config)?;
    for (i, run) in r.runs.iter().enumerate() {
        if r.runs[..i].iter().any(|x| x.backend == run.backend) {
            return Err(format!(
                "config `{}` has two runs labelled `{}`; backend labels must be unique",
                r.config, run.backend
            ));
        }
        check_run(run)?;
    }
    if let Some(plan) = &r.plan {
        for g in &plan.groups {
            name("group", &g.name)?;
        }
    }
    Ok(())
}

/// [`check_report`] for one backend's run.
pub fn check_run(run: &RunReport) -> Result<(), String> {
    name("backend", &run.backend)?;
    for (what, x) in [
        ("wall_s", run.wall_s),
        ("throughput_per_s", run.throughput_per_s),
    ] {
        if x.is_sign_negative() {
            return Err(format!(
                "backend `{}`: `{what}` is {}; it cannot be negative",
                run.backend,
                if x.abs() < 1e15 {
                    x.to_string()
                } else {
                    format!("{x:e}")
                }
            ));
        }
    }
    for (i, g) in run.groups.iter().enumerate() {
        name("group", &g.name)?;
        if run.groups[..i].iter().any(|x| x.name == g.name) {
            return Err(format!(
                "backend `{}` has two groups named `{}`; group names must be unique",
                run.backend, g.name
            ));
        }
        if let Some(h) = &g.latency_histogram {
            decode_histogram(h).map_err(|e| {
                format!("the latency histogram of {} / {}: {e}", run.backend, g.name)
            })?;
        }
    }
    for c in &run.counters {
        name("counter", &c.name)?;
    }
    Ok(())
}

/// Refuses a name with a control character, as a config does.
pub fn name(what: &str, s: &str) -> Result<(), String> {
    match crate::config::first_control(s) {
        None => Ok(()),
        Some(c) => Err(format!(
            "the {what} name \"{}\" {}",
            crate::config::truncate_echo(s, 40),
            crate::config::control_refusal(c)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures;

    fn report(runs: Vec<RunReport>) -> Report {
        fixtures::report("demo", runs, vec![])
    }

    fn group(name: &str) -> crate::report::GroupReport {
        fixtures::group(name, 3, fixtures::quantiles(1_000), Default::default())
    }

    #[test]
    fn a_sound_report_passes() {
        let r = report(vec![
            fixtures::run("threads", 1.0, vec![group("a"), group("b")]),
            fixtures::run("rayon", 1.0, vec![group("a"), group("b")]),
        ]);
        assert_eq!(check_report(&r), Ok(()));
    }

    #[test]
    fn control_characters_duplicates_and_negative_figures_are_refused() {
        let mut r = report(vec![fixtures::run("threads", 1.0, vec![group("a")])]);
        r.config = "a\u{1b}[2J".into();
        let e = check_report(&r).unwrap_err();
        assert!(e.contains("U+001B") && !e.contains('\u{1b}'), "{e}");
        r.config = "threads\u{202e}lig+".into();
        let e = check_report(&r).unwrap_err();
        assert!(e.contains("U+202E") && !e.contains('\u{202e}'), "{e}");

        let r = report(vec![
            fixtures::run("threads", 1.0, vec![group("a")]),
            fixtures::run("threads", 1.0, vec![group("a")]),
        ]);
        assert!(check_report(&r)
            .unwrap_err()
            .contains("two runs labelled `threads`"));

        let r = report(vec![fixtures::run("t", 1.0, vec![group("a"), group("a")])]);
        assert!(check_report(&r)
            .unwrap_err()
            .contains("two groups named `a`"));

        let mut run = fixtures::run("t", 1.0, vec![group("a")]);
        run.throughput_per_s = -1.0;
        assert!(check_report(&report(vec![run]))
            .unwrap_err()
            .contains("cannot be negative"));

        let mut g = group("a");
        g.latency_histogram = Some("!!".into());
        let r = report(vec![fixtures::run("t", 1.0, vec![g])]);
        assert!(check_report(&r).unwrap_err().contains("not base64"));
    }

    #[test]
    fn directories_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(read(dir.path()), Err(SavedError::Directory)));
    }
}
