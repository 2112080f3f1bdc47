//! `gilsim merge SWEEP.json...` (SPEC §5): the shards of one sweep, joined,
//! as JSON on stdout.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use gilsim::capacity::{merge, output};
use gilsim::error::Error;

/// `gilsim merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The shards' sweep files (gilsim sweep --shard K/N --format json).
    #[arg(value_name = "SWEEP.json", required = true)]
    pub files: Vec<PathBuf>,
}

pub fn merge(args: &MergeArgs) -> Result<(), Error> {
    let files = args
        .files
        .iter()
        .map(|p| merge::read(p).map(|f| (p.clone(), f)))
        .collect::<Result<Vec<_>, Error>>()?;
    let merged = merge::merge(files)?;
    let mut out = std::io::stdout().lock();
    output::json(&merged, &mut out)
        .and_then(|_| out.flush())
        .map_err(|source| Error::Output {
            path: "<stdout>".into(),
            source,
        })
}
