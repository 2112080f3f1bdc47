//! `gilsim merge SWEEP.json...` (SPEC §5): joins the shards of one sweep
//! into the sweep an unsharded run gives: the same points, ordered by point
//! then run, with the summaries and (with `--fit usl`) the fits worked out
//! from the joined points.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::sweep::{self, SweepFile};
use crate::error::Error;

/// Reads one sweep file.
pub fn read(path: &Path) -> Result<SweepFile, Error> {
    let bad = |why: String| Error::Usage(format!("{}: {why}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
    serde_json::from_str(&text).map_err(|e| {
        bad(format!(
            "not a gilsim sweep file (gilsim sweep --format json): {e}"
        ))
    })
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
        ];
        if let Some((what, _)) = differs.iter().find(|d| d.1) {
            return Err(Error::Usage(format!(
                "{} and {} are not shards of one sweep: their {what} differ",
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
