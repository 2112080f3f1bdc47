//! Loading and checking config files (SPEC §2; user reference in
//! `docs/config.md`).
//!
//! Parsing runs in two stages:
//! 1. `raw`: serde + toml read the file into mirror types with
//!    `deny_unknown_fields`, checking keys and value types. Values that a
//!    later rule may complain about are kept [`toml::Spanned`].
//! 2. `validate` / `step` / `duration`: ranges, cross-field rules and
//!    defaults, producing the [`model`] types.
//!
//! Both stages report a byte span; [`ConfigError`] turns it into
//! `file:line:column`, the source line and a caret.

pub mod model;
pub use model::*;

mod duration;
mod error;
mod raw;
mod step;
mod validate;

#[cfg(test)]
mod tests;

use std::path::Path;

pub use duration::parse_duration;
pub use error::{ConfigError, Problem};

/// Reads and parses the config at `path`. A file that cannot be read is a
/// [`ConfigError::Io`].
pub fn load(path: &Path) -> Result<JobSet, ConfigError> {
    let source = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&source, path)
}

/// Parses and validates config text. `path` is used for messages, for
/// [`JobSet::source`], and for the default `name` (the file's stem).
pub fn parse(source: &str, path: &Path) -> Result<JobSet, ConfigError> {
    let raw: raw::RawConfig =
        toml::from_str(source).map_err(|e| ConfigError::from_toml(path, source, &e))?;
    validate::job_set(raw, source, path).map_err(|e| ConfigError::invalid_all(path, source, e))
}
