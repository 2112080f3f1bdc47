//! Pointing back into a config after it was validated.
//!
//! Some refusals are decided after loading, from the machine or from
//! several configs together (async-std's single executor, the thread
//! limit). [`JobSet`] keeps no spans, so this module re-reads the file and
//! finds the backend the refusal is about, to give it the same
//! `file:line:col` and caret as every other config error.

use toml::Spanned;

use super::error::{key_span, ConfigError, Located};
use super::model::{BackendSpec, JobSet};
use super::raw::{RawBackend, RawConfig};

/// A config error at backend `backend` of `set` (at its `workers` key when
/// `at_workers` and the key is written, else at its `kind`), saying
/// `message`. `None` when the backend is not written in the file (the
/// default set) or the file cannot be read again; callers then report the
/// refusal without a position.
pub fn backend_problem(
    set: &JobSet,
    backend: &str,
    at_workers: bool,
    message: &str,
) -> Option<ConfigError> {
    let source = super::read_bounded(&set.source).ok()?;
    let raw: RawConfig = toml::from_str(&source).ok()?;
    let b = raw.backend.iter().map(Spanned::get_ref).find(|b| {
        let name = match &b.name {
            Some(n) => n.get_ref().clone(),
            None => BackendSpec::default_name(b.kind.get_ref().0, b.gil.unwrap_or(false)),
        };
        name == backend
    })?;
    let span = span_of(b, at_workers, &source);
    Some(ConfigError::invalid(
        &set.source,
        &source,
        Located::new(span, message),
    ))
}

fn span_of(b: &RawBackend, at_workers: bool, source: &str) -> std::ops::Range<usize> {
    match &b.workers {
        Some(w) if at_workers => key_span(source, &w.span()),
        _ => key_span(source, &b.kind.span()),
    }
}
