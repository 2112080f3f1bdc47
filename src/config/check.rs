//! Checks of single values as users write them (names, integers in a
//! range), each failing with a message located at the value.

use toml::Spanned;

use super::error::Located;
use super::model::limits;
use super::raw::RawInt;
use super::text::first_control;

/// A name as users write it: not blank, no control characters (names are
/// printed on terminals and in reports, where a newline or an ESC sequence
/// would forge or garble output), at most [`limits::MAX_NAME_CHARS`].
pub(crate) fn checked_name(name: &Spanned<String>, what: &str) -> Result<String, Located> {
    let text = name.get_ref();
    if text.trim().is_empty() {
        return Err(Located::new(name.span(), format!("{what} cannot be empty")));
    }
    if let Some(c) = first_control(text) {
        return Err(Located::new(
            name.span(),
            format!("{what} {}", control_refusal(c)),
        ));
    }
    let chars = text.chars().count();
    if chars > limits::MAX_NAME_CHARS {
        return Err(Located::new(
            name.span(),
            format!(
                "{what} is {chars} characters long; at most {} are allowed",
                limits::MAX_NAME_CHARS
            ),
        ));
    }
    Ok(text.clone())
}

/// Why a name holding the control character `c` is refused, after the
/// name: configs and saved reports ([`crate::report::saved`]) say it
/// alike.
pub(crate) fn control_refusal(c: char) -> String {
    format!(
        "contains the control character U+{:04X}; names are printed on terminals and in \
         reports, so control characters (newline, tab, ESC, NUL, a right-to-left override, ...) \
         are not allowed",
        c as u32
    )
}

/// A backend's or group's name ([`checked_name`]), which must not be `*`:
/// sweep keys (`backend.*.workers`) and SLOs (`*.p99`) read `*` as every
/// backend or group, so one named `*` could never be picked alone.
pub(crate) fn checked_label(name: &Spanned<String>, what: &str) -> Result<String, Located> {
    let text = checked_name(name, what)?;
    if text.trim() == "*" {
        return Err(Located::new(
            name.span(),
            format!(
                "{what} cannot be `*`: sweep keys (`backend.*.workers`) and SLOs (`*.p99`) \
                 read `*` as every one; choose another name"
            ),
        ));
    }
    Ok(text)
}

/// An integer in `min..=max`, with a message naming `key`.
pub(crate) fn u64_in(v: &Spanned<RawInt>, key: &str, min: u64, max: u64) -> Result<u64, Located> {
    let n = v.get_ref().0;
    let out_of_range = |message: String| Located::new(v.span(), message);
    if n < i128::from(min) {
        return Err(out_of_range(if min == 0 {
            format!("`{key}` cannot be negative, found {n}")
        } else {
            format!("`{key}` must be at least {min}, found {n}")
        }));
    }
    if n > i128::from(max) {
        return Err(out_of_range(format!(
            "`{key}` must be at most {max}, found {n}"
        )));
    }
    u64::try_from(n).map_err(|_| out_of_range(format!("`{key}` is out of range, found {n}")))
}

pub(crate) fn usize_in(
    v: &Spanned<RawInt>,
    key: &str,
    min: usize,
    max: usize,
) -> Result<usize, Located> {
    let as_u64 = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
    let n = u64_in(v, key, as_u64(min), as_u64(max))?;
    usize::try_from(n).map_err(|_| Located::new(v.span(), format!("`{key}` is out of range")))
}
