//! `gilsim compare BASE.json NEW.json` (SPEC §5).

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use gilsim::capacity::compare;
use gilsim::error::Error;

/// `gilsim compare`.
#[derive(Debug, Args)]
#[command(
    after_help = "Exit status: 0 when no figure is worse beyond the threshold, \
1 when one is (higher p50 or p99, lower throughput), 2 on bad input."
)]
pub struct CompareArgs {
    /// The reference run report (gilsim run --format json).
    #[arg(value_name = "BASE.json")]
    pub base: PathBuf,

    /// The run report to judge against it.
    #[arg(value_name = "NEW.json")]
    pub new: PathBuf,

    /// Changes beyond this are marked; a worse one makes the exit status 1.
    #[arg(
        long,
        value_name = "PERCENT",
        default_value = "5%",
        allow_hyphen_values = true
    )]
    pub threshold: String,
}

/// Compares and returns whether NEW is worse beyond the threshold.
pub fn compare(args: &CompareArgs) -> Result<bool, Error> {
    let threshold = compare::parse_threshold(&args.threshold).map_err(Error::Usage)?;
    let base = compare::read_reports(&args.base)?;
    let new = compare::read_reports(&args.new)?;
    let c = compare::compare(&base, &new, threshold)?;
    let mut out = std::io::stdout().lock();
    compare::table(&c, &mut out)
        .and_then(|_| out.flush())
        .map_err(|source| Error::Output {
            path: "<stdout>".into(),
            source,
        })?;
    Ok(c.worse())
}
