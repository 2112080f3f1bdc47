//! `--out DIR`: every file of one config's report, each written whole or
//! not at all ([`crate::fsout::write_atomic`]). `gilsim run --out` and
//! `gilsim report --out` both call [`write_files`], so the two give the same
//! files.

use std::io;
use std::path::{Path, PathBuf};

use super::hgrm::{self, file_part};
use super::{Csv, Exporter, Html, Json, Markdown, Report, Svg};
use crate::fsout::{write_atomic, write_bytes_atomic};

/// A file that could not be written, and why.
#[derive(Debug)]
pub struct FileError {
    /// The file (or directory) that failed.
    pub path: PathBuf,
    /// The cause.
    pub source: io::Error,
}

/// Files written one after another into one directory, each whole or not
/// at all; the first that fails stops the set, and those already written
/// stay. What `sweep --out` and `plan --out` write through.
pub(crate) struct FileSet<'d> {
    dir: &'d Path,
    written: Vec<PathBuf>,
}

impl<'d> FileSet<'d> {
    /// An empty set of files in `dir`.
    pub(crate) fn new(dir: &'d Path) -> Self {
        Self {
            dir,
            written: Vec::new(),
        }
    }

    /// Writes `dir/name` with what `fill` writes.
    pub(crate) fn put(
        &mut self,
        name: String,
        fill: impl FnOnce(&mut dyn io::Write) -> io::Result<()>,
    ) -> Result<(), FileError> {
        let path = self.dir.join(name);
        write_atomic(&path, fill).map_err(|source| FileError {
            path: path.clone(),
            source,
        })?;
        self.written.push(path);
        Ok(())
    }

    /// The paths written, in order.
    pub(crate) fn written(self) -> Vec<PathBuf> {
        self.written
    }
}

/// The stem of a config's files under `--out`: its name, made safe for a
/// file name ([`file_part`]).
pub fn stem(report: &Report) -> String {
    file_part(&report.config)
}

/// The formats [`write_files`] writes as `NAME.EXT`.
const EXPORTERS: [&dyn Exporter; 5] = [&Json, &Csv, &Markdown, &Svg, &Html];

/// Each of [`EXPORTERS`] with the `dir/STEM.EXT` it writes.
fn exported<'a>(
    dir: &'a Path,
    stem: &'a str,
) -> impl Iterator<Item = (&'static dyn Exporter, PathBuf)> + 'a {
    EXPORTERS
        .into_iter()
        .map(move |e| (e, dir.join(format!("{stem}.{}", e.extension()))))
}

/// Whether [`write_files`] into `dir` would write `path` for a config
/// named `config`: one of its `NAME.EXT` files, or anything under `NAME/`.
/// Compare resolved paths ([`crate::fsout::resolved`]).
pub fn writes(dir: &Path, config: &str, path: &Path) -> bool {
    let stem = file_part(config);
    exported(dir, &stem).any(|(_, p)| p == path) || path.starts_with(dir.join(&stem))
}

/// The first of the files [`write_files`] would write into `dir` for a
/// config named `config` that cannot be a file there: a `NAME.EXT` that is
/// a directory, or a `NAME` (where the `.hgrm` files go) that is not one.
/// Checked before a run, so that it fails before the run, not after.
pub fn blocked(dir: &Path, config: &str) -> Option<PathBuf> {
    let stem = file_part(config);
    let report = exported(dir, &stem).map(|(_, p)| p).find(|p| p.is_dir());
    report.or_else(|| Some(dir.join(&stem)).filter(|p| p.exists() && !p.is_dir()))
}

/// Writes `NAME.json`, `NAME.csv`, `NAME.md`, `NAME.svg`, `NAME.html` and
/// `NAME/BACKEND/GROUP.hgrm` for `report` into `dir`; returns the paths
/// written. Stops at the first file that fails; files already written
/// stay (each is complete).
pub fn write_files(dir: &Path, report: &Report) -> Result<Vec<PathBuf>, FileError> {
    let stem = stem(report);
    // The `.hgrm` texts first: a histogram that does not decode stops the
    // set before any file is written.
    let hgrms = hgrm::files(report).map_err(|e| FileError {
        path: dir.join(&stem),
        source: io::Error::new(io::ErrorKind::InvalidData, e),
    })?;
    let mut written = Vec::new();
    for (exporter, path) in exported(dir, &stem) {
        write_atomic(&path, |w| exporter.export(std::slice::from_ref(report), w)).map_err(
            |source| FileError {
                path: path.clone(),
                source,
            },
        )?;
        written.push(path);
    }
    for f in hgrms {
        let path = dir.join(&f.path);
        let fail = |source| FileError {
            path: path.clone(),
            source,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(fail)?;
        }
        write_bytes_atomic(&path, f.text.as_bytes()).map_err(fail)?;
        written.push(path);
    }
    Ok(written)
}
