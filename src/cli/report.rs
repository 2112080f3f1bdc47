//! `gilsim report REPORT.json --out DIR`: renders the `--out` files (JSON,
//! CSV, markdown, SVG, HTML, `.hgrm`) again from a saved JSON report, so a
//! CI job can archive the JSON and render the pages later. A saved sweep
//! (`gilsim sweep --format json`) or plan (`gilsim plan --format json`)
//! is rendered as `sweep --out` and `plan --out` would have.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;

use gilsim::capacity::plan_output::PlanDocument;
use gilsim::capacity::sweep::SweepFile;
use gilsim::capacity::{merge, plan_page, sweep_page};
use gilsim::error::Error;
use gilsim::fsout;
use gilsim::report::files::FileError;
use gilsim::report::{files, saved, Report};

/// `gilsim report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A JSON report saved by `gilsim run --format json` or `--out` (one
    /// object per config, one per line), or a sweep or plan saved by
    /// `gilsim sweep` / `gilsim plan` (`--format json` or `--out`).
    #[arg(value_name = "REPORT.json")]
    pub report: PathBuf,

    /// Where to write the files.
    #[arg(long, value_name = "DIR", required = true)]
    pub out: PathBuf,
}

/// What a saved JSON file holds.
enum Saved {
    /// Run reports, one per config.
    Runs(Vec<Report>),
    /// A sweep.
    Sweep(Box<SweepFile>),
    /// A plan.
    Plan(Box<PlanDocument>),
}

/// `gilsim report`: reads the saved file, checks `--out`, writes the files
/// and prints their paths.
pub fn report(args: &ReportArgs) -> Result<(), Error> {
    let saved = load(&args.report)?;
    if let Saved::Runs(reports) = &saved {
        distinct_stems(&args.report, reports)?;
    }
    fsout::check_writable_dir(&args.out).map_err(|source| Error::Unwritable {
        path: args.out.clone(),
        source,
    })?;
    let written = match &saved {
        Saved::Runs(reports) => {
            let mut all = Vec::new();
            for r in reports {
                all.extend(files::write_files(&args.out, r).map_err(output_error)?);
            }
            all
        }
        Saved::Sweep(sweep) => sweep_page::write_files(&args.out, sweep).map_err(output_error)?,
        Saved::Plan(doc) => plan_page::write_files(&args.out, &doc.plan).map_err(output_error)?,
    };
    let mut stdout = std::io::stdout().lock();
    for path in written {
        writeln!(stdout, "{}", path.display()).map_err(|source| Error::Output {
            path: "<stdout>".into(),
            source,
        })?;
    }
    Ok(())
}

/// A file that could not be written, as the CLI reports it.
fn output_error(e: FileError) -> Error {
    Error::Output {
        path: e.path,
        source: e.source,
    }
}

/// Refuses two reports whose files would overwrite each other.
fn distinct_stems(path: &Path, reports: &[Report]) -> Result<(), Error> {
    let mut stems: Vec<String> = Vec::new();
    for r in reports {
        let stem = files::stem(r);
        if stems.contains(&stem) {
            return Err(Error::Usage(format!(
                "{}: two reports are named `{}`; their files would overwrite each other",
                path.display(),
                r.config
            )));
        }
        stems.push(stem);
    }
    Ok(())
}

/// What `path` holds: a sweep or a plan (one object with a `sweep` or
/// `plan` member), else run reports (one JSON object, or several one after
/// another), each checked ([`saved`]) before anything is written.
fn load(path: &Path) -> Result<Saved, Error> {
    let bad = |why: String| Error::Usage(format!("{}: {why}", path.display()));
    let text = saved::read(path).map_err(|e| bad(e.to_string()))?;
    if let Some(saved) = capacity_document(&text).map_err(&bad)? {
        return Ok(saved);
    }
    let mut reports = Vec::new();
    for value in serde_json::Deserializer::from_slice(&text).into_iter::<Report>() {
        let r = value.map_err(|e| {
            bad(format!(
                "not a gilsim JSON report: {e} (write one with `gilsim run --format json` or --out)"
            ))
        })?;
        saved::check_report(&r).map_err(&bad)?;
        reports.push(r);
    }
    if reports.is_empty() {
        return Err(bad("holds no report".into()));
    }
    Ok(Saved::Runs(reports))
}

/// A sweep or plan document, if `text` is one: its first JSON value is an
/// object with a `sweep` or `plan` member. `Ok(None)` for anything else,
/// which is read as run reports.
fn capacity_document(text: &[u8]) -> Result<Option<Saved>, String> {
    let Some(Ok(first)) = serde_json::Deserializer::from_slice(text)
        .into_iter::<serde_json::Value>()
        .next()
    else {
        return Ok(None);
    };
    let is = |member: &str| first.get(member).is_some_and(serde_json::Value::is_object);
    if is("plan") {
        let doc: PlanDocument = first_as(text, "plan")?;
        doc.check()?;
        Ok(Some(Saved::Plan(Box::new(doc))))
    } else if is("sweep") {
        let file: SweepFile = first_as(text, "sweep")?;
        merge::check(&file)?;
        Ok(Some(Saved::Sweep(Box::new(file))))
    } else {
        Ok(None)
    }
}

/// The first JSON value of `text` as a saved `what` (`plan`, `sweep`),
/// parsed from the text rather than from an already parsed value, so
/// that an error says where in the file it is.
fn first_as<T: serde::de::DeserializeOwned>(text: &[u8], what: &str) -> Result<T, String> {
    serde_json::Deserializer::from_slice(text)
        .into_iter()
        .next()
        .transpose()
        .map_err(|e| format!("not a gilsim {what} (gilsim {what} --format json): {e}"))?
        .ok_or_else(|| format!("holds no {what}"))
}
