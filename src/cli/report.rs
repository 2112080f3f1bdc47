//! `gilsim report REPORT.json --out DIR`: renders the `--out` files (JSON,
//! CSV, markdown, SVG, HTML, `.hgrm`) again from a saved JSON report, so a
//! CI job can archive the JSON and render the pages later.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;

use gilsim::error::Error;
use gilsim::fsout;
use gilsim::report::{files, Report};

/// `gilsim report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A JSON report saved by `gilsim run --format json` or `--out` (one
    /// object per config, one per line).
    #[arg(value_name = "REPORT.json")]
    pub report: PathBuf,

    /// Where to write the files.
    #[arg(long, value_name = "DIR", required = true)]
    pub out: PathBuf,
}

/// Largest report file read (a report is a few kB to a few MB).
const MAX_REPORT_BYTES: u64 = 256 << 20;

pub fn report(args: &ReportArgs) -> Result<(), Error> {
    let reports = load(&args.report)?;
    let mut stems: Vec<String> = Vec::new();
    for r in &reports {
        let stem = files::stem(r);
        if stems.contains(&stem) {
            return Err(Error::Usage(format!(
                "{}: two reports are named `{}`; their files would overwrite each other",
                args.report.display(),
                r.config
            )));
        }
        stems.push(stem);
    }
    fsout::check_writable_dir(&args.out).map_err(|source| Error::Unwritable {
        path: args.out.clone(),
        source,
    })?;
    let mut stdout = std::io::stdout().lock();
    for r in &reports {
        let written = files::write_files(&args.out, r).map_err(|e| Error::Output {
            path: e.path,
            source: e.source,
        })?;
        for path in written {
            writeln!(stdout, "{}", path.display()).map_err(|source| Error::Output {
                path: "<stdout>".into(),
                source,
            })?;
        }
    }
    Ok(())
}

/// Every report in `path`: one JSON object, or several one after another.
fn load(path: &Path) -> Result<Vec<Report>, Error> {
    let bad = |why: String| Error::Usage(format!("{}: {why}", path.display()));
    let meta = std::fs::metadata(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
    if meta.is_dir() {
        return Err(bad("is a directory; give a JSON report file".into()));
    }
    if meta.len() > MAX_REPORT_BYTES {
        return Err(bad(format!(
            "is {} bytes, more than a report can be ({MAX_REPORT_BYTES})",
            meta.len()
        )));
    }
    let text = std::fs::read(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
    let mut reports = Vec::new();
    for value in serde_json::Deserializer::from_slice(&text).into_iter::<Report>() {
        let r = value.map_err(|e| {
            bad(format!(
                "not a gilsim JSON report: {e} (write one with `gilsim run --format json` or --out)"
            ))
        })?;
        reports.push(r);
    }
    if reports.is_empty() {
        return Err(bad("holds no report".into()));
    }
    Ok(reports)
}
