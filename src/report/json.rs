//! `--format json`: each config's report as one compact JSON object on its
//! own line, so one config gives exactly one object and several give JSON
//! Lines that `jq` reads as a stream.

use std::io::Write;

use super::{Exporter, Report};

/// The JSON exporter.
pub struct Json;

impl Exporter for Json {
    fn export(&self, reports: &[Report], out: &mut dyn Write) -> std::io::Result<()> {
        for r in reports {
            serde_json::to_writer(&mut *out, r)?;
            writeln!(out)?;
        }
        Ok(())
    }

    fn extension(&self) -> &'static str {
        "json"
    }
}
