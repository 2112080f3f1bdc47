//! Reports: the SPEC §4 model built from measurements, and the formats it
//! is written in. Building a report never runs anything; exporters only
//! format a finished [`Report`].

pub mod charts;
mod csv_export;
mod detail;
pub mod files;
#[cfg(test)]
pub(crate) mod fixtures;
pub mod hgrm;
pub mod html;
mod json;
pub(crate) mod markdown;
mod model;
pub(crate) mod plot;
mod repeat;
pub mod saved;
mod svg;
mod table;
mod verdict;
mod words;

use std::io::Write;

pub use csv_export::Csv;
pub use detail::{
    decode_histogram, encode_histogram, GilTimeline, GroupPlanSummary, PlanSummary, TIMELINE_HOLDS,
    TIMELINE_LANES,
};
pub use html::Html;
pub use json::Json;
pub use markdown::Markdown;
pub use model::*;
pub use repeat::repeat;
pub use svg::Svg;
pub use table::{fmt_rate, fmt_secs, fmt_us, shares, Table};
pub use words::{count, incomplete, wrap};

/// An output format (hyperfine-style: one exporter per format).
pub trait Exporter {
    /// Writes `reports` (one per config, in command-line order) to `out`.
    fn export(&self, reports: &[Report], out: &mut dyn Write) -> std::io::Result<()>;

    /// File extension for `--out` artefacts.
    fn extension(&self) -> &'static str;
}

/// Output formats users choose with `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A human-readable table per config, with GIL and counter summaries.
    Table,
    /// One JSON object per config (SPEC §4), one per line.
    Json,
    /// One row per backend × group, with a header.
    Csv,
}

impl Format {
    /// The exporter for this format.
    pub fn exporter(self) -> Box<dyn Exporter> {
        match self {
            Format::Table => Box::new(Table),
            Format::Json => Box::new(Json),
            Format::Csv => Box::new(Csv),
        }
    }
}
