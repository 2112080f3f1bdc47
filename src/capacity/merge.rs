//! `gilsim merge SWEEP.json...` (SPEC §5): joins the shards of one sweep
//! into the sweep an unsharded run gives: the same points, ordered by point
//! then run, with the summaries and (with `--fit usl`) the fits worked out
//! from the joined points.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::sweep::{self, SweepFile};
use crate::error::Error;
use crate::report::saved;

/// Reads one sweep file (at most [`saved::MAX_SAVED_BYTES`]) and
/// [`check`]s it.
pub fn read(path: &Path) -> Result<SweepFile, Error> {
    let bad = |why: String| Error::Usage(format!("{}: {why}", path.display()));
    let text = saved::read(path).map_err(|e| bad(e.to_string()))?;
    let file = serde_json::from_slice(&text).map_err(|e| {
        bad(format!(
            "not a gilsim sweep file (gilsim sweep --format json): {e}"
        ))
    })?;
    check(&file).map_err(bad)?;
    Ok(file)
}

/// Checks a sweep read back from JSON: its names (as
/// [`saved::check_report`] does, and every point's report), and that its
/// size is one a sweep can have: `points_total` is the product of the
/// keys' value counts, at most [`sweep::MAX_POINTS`], and `runs` is in
/// 1..=[`sweep::MAX_RUNS`], so that merging never walks an edited count.
pub fn check(file: &SweepFile) -> Result<(), String> {
    let s = &file.sweep;
    saved::name("config", &s.config)?;
    for b in &s.backends {
        saved::name("backend", b)?;
    }
    for k in &s.keys {
        saved::name("key", k)?;
    }
    if s.keys.len() != s.values.len() {
        return Err(format!(
            "the sweep has {} keys and {} lists of values; the file was altered",
            s.keys.len(),
            s.values.len()
        ));
    }
    let product = s
        .values
        .iter()
        .try_fold(1usize, |n, v| n.checked_mul(v.len()));
    if product != Some(s.points_total) || s.points_total > sweep::MAX_POINTS {
        return Err(format!(
            "`points_total` is {}, but the keys' values make {}; the file was altered",
            s.points_total,
            product.map_or_else(|| "too many".to_string(), |n| n.to_string())
        ));
    }
    if !(1..=sweep::MAX_RUNS).contains(&s.runs) {
        return Err(format!(
            "`runs` is {}; a sweep runs each point 1 to {} times",
            s.runs,
            sweep::MAX_RUNS
        ));
    }
    for p in &s.points {
        saved::check_report(&p.report)
            .map_err(|e| format!("point {} run {}: {e}", p.index, p.run))?;
        check_set(s, p)?;
    }
    Ok(())
}

/// Checks that point `p`'s key values are the ones its index stands for
/// in the keys' product (the last key varying fastest, as
/// [`sweep::grid`] orders it): merge places points by index and shows
/// them by set, so a point whose two disagree would be shown at the wrong
/// values.
fn check_set(s: &sweep::Sweep, p: &sweep::Point) -> Result<(), String> {
    let mut rest = p.index;
    let mut expected = Vec::with_capacity(s.keys.len());
    for (key, values) in s.keys.iter().zip(&s.values).rev() {
        // `check` made points_total the product of these lengths, so
        // none is 0 when a point exists.
        let n = values.len().max(1);
        if let Some(v) = values.get(rest % n) {
            expected.push((key.clone(), v.clone()));
        }
        rest /= n;
    }
    expected.reverse();
    // A set lists its keys in its own order (a seed last).
    let sorted = |set: &[(String, crate::capacity::keys::Value)]| {
        let mut v = set.to_vec();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    };
    if rest != 0 || sorted(&expected) != sorted(&p.set.0) {
        return Err(format!(
            "point {} run {} is set to {}, but point {} of the keys' values is {}; the file was altered",
            p.index,
            p.run,
            show(&p.set.0),
            p.index,
            if rest != 0 {
                "outside the sweep".to_string()
            } else {
                show(&expected)
            }
        ));
    }
    Ok(())
}

/// `key=value, key=value`, as a message shows a point's set.
fn show(set: &[(String, crate::capacity::keys::Value)]) -> String {
    let parts: Vec<String> = set.iter().map(|(k, v)| format!("{k}={v}")).collect();
    parts.join(", ")
}

/// Joins shards. They must be of one sweep (config, engine, keys, values,
/// runs, backends), hold no point twice, and together hold every point.
pub fn merge(files: Vec<(PathBuf, SweepFile)>) -> Result<SweepFile, Error> {
    let mut files = files.into_iter();
    let Some((first_path, first)) = files.next() else {
        return Err(Error::Usage("merge needs at least one sweep file".into()));
    };
    let mut out = first;
    let mut seen: BTreeSet<(usize, usize)> = BTreeSet::new();
    let mut add = |path: &Path, points: Vec<sweep::Point>, into: &mut Vec<sweep::Point>| {
        for p in points {
            if !seen.insert((p.index, p.run)) {
                return Err(Error::Usage(format!(
                    "{}: point {} run {} is also in an earlier file; give each shard once",
                    path.display(),
                    p.index,
                    p.run
                )));
            }
            into.push(p);
        }
        Ok(())
    };
    let first_points = std::mem::take(&mut out.sweep.points);
    add(&first_path, first_points, &mut out.sweep.points)?;
    for (path, file) in files {
        let s = &file.sweep;
        let o = &out.sweep;
        let differs = [
            ("config", s.config != o.config),
            ("engine", s.engine != o.engine),
            ("keys", s.keys != o.keys),
            ("values", s.values != o.values),
            ("runs", s.runs != o.runs),
            ("backends", s.backends != o.backends),
            ("fit", s.fit_model != o.fit_model),
            // Sweeps written before the hash existed cannot be told apart.
            (
                "configs' contents (config_sha256)",
                s.config_sha256.is_some()
                    && o.config_sha256.is_some()
                    && s.config_sha256 != o.config_sha256,
            ),
        ];
        if let Some((what, _)) = differs.iter().find(|d| d.1) {
            return Err(Error::Usage(format!(
                "{} and {} are not shards of one sweep: their {what} differ",
                first_path.display(),
                path.display()
            )));
        }
        if let Some(what) = other_machine(&out.sweep, s) {
            return Err(Error::Usage(format!(
                "{} and {} are not shards of one sweep: {what}",
                first_path.display(),
                path.display()
            )));
        }
        add(&path, file.sweep.points, &mut out.sweep.points)?;
    }
    if let Some((i, r)) = seen
        .iter()
        .find(|(i, r)| *i >= out.sweep.points_total || *r >= out.sweep.runs)
    {
        return Err(Error::Usage(format!(
            "point {i} run {r} lies outside a sweep of {} points × {} runs; the file was altered",
            out.sweep.points_total, out.sweep.runs
        )));
    }
    // `check` bounded points_total and runs, so this walk is bounded too.
    let missing: Vec<usize> = (0..out.sweep.points_total)
        .filter(|i| (0..out.sweep.runs).any(|r| !seen.contains(&(*i, r))))
        .collect();
    if !missing.is_empty() {
        let shown: Vec<String> = missing.iter().take(20).map(ToString::to_string).collect();
        return Err(Error::Usage(format!(
            "the files hold {} of {} points; missing point(s) {}{}: give every shard's file",
            out.sweep.points_total - missing.len(),
            out.sweep.points_total,
            shown.join(", "),
            if missing.len() > 20 { ", ..." } else { "" }
        )));
    }
    out.sweep.shard = None;
    // Every point is here, so the merged sweep is whole.
    out.sweep.complete = true;
    out.sweep.stopped = None;
    let key = sweep::fit_key_of(&out.sweep)?;
    sweep::finish(&mut out.sweep, key.as_ref());
    Ok(out)
}

/// Why shard `b` ran on another machine than shard `a`, on the model
/// engine, where the machine is an input (`--cores`, or the config's
/// `[model] cores`) rather than where the shard happened to run: their
/// points' virtual core counts differ while `cores` is not a key.
/// `None` when they agree (or on the real engine, where the docs ask for
/// the same kind of machine but a shard cannot tell).
fn other_machine(a: &sweep::Sweep, b: &sweep::Sweep) -> Option<String> {
    if a.engine != "model" || a.keys.iter().any(|k| k == "cores") {
        return None;
    }
    let cores = |s: &sweep::Sweep| s.points.first().map(|p| p.report.machine.cores);
    match (cores(a), cores(b)) {
        (Some(x), Some(y)) if x != y => {
            Some(format!("they ran on {x} and {y} virtual cores (--cores)"))
        }
        _ => None,
    }
}
