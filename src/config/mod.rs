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

mod check;
mod duration;
mod error;
mod keyword;
mod locate;
mod raw;
mod step;
mod text;
mod validate;

#[cfg(test)]
mod input_tests;
#[cfg(test)]
mod tests;

use std::io::Read;
use std::path::Path;

pub(crate) use check::control_refusal;
pub use duration::parse_duration;
pub use error::{ConfigError, Problem};
pub use locate::{backend_problem, busiest_group_problem};
pub(crate) use text::first_control;
pub use text::{escape_controls, truncate_echo};

/// Largest config file accepted, in bytes (1 MiB). The biggest example
/// config is under 3 KB; a config this size already holds tens of thousands
/// of groups, far past [`limits::MAX_GROUPS`].
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// Reads and parses the config at `path`. A file that cannot be read, or
/// that is larger than [`MAX_CONFIG_BYTES`], is a [`ConfigError::Io`].
pub fn load(path: &Path) -> Result<JobSet, ConfigError> {
    let source = read_bounded(path)?;
    parse(&source, path)
}

/// Reads at most [`MAX_CONFIG_BYTES`] (+1, to tell "exactly the cap" from
/// "more"), so `/dev/zero`, a FIFO or a huge file never grows memory past
/// the cap.
pub(crate) fn read_bounded(path: &Path) -> Result<String, ConfigError> {
    let io = |source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "the file is larger than {} bytes (1 MiB), the most a config may be; \
                 a config describes groups of jobs, not the jobs themselves",
                MAX_CONFIG_BYTES
            ),
        )));
    }
    String::from_utf8(bytes).map_err(|e| {
        io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "the file is not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
        ))
    })
}

/// Parses and validates config text. `path` is used for messages, for
/// [`JobSet::source`], and for the default `name` (the file's stem).
pub fn parse(source: &str, path: &Path) -> Result<JobSet, ConfigError> {
    let raw: raw::RawConfig =
        toml::from_str(source).map_err(|e| ConfigError::from_toml(path, source, &e))?;
    validate::job_set(raw, source, path).map_err(|e| ConfigError::invalid_all(path, source, e))
}
