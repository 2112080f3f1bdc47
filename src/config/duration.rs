//! Durations: `"1.5ms"` strings and distribution tables.
//!
//! Accepted units are `ns`, `us` (also `µs` / `μs`), `ms` and `s`, after a
//! plain decimal number (`"2s"`, `"1.5ms"`, `"0.25 us"`). Bare numbers,
//! negative values, exponents, `nan`/`inf`, other units and values past
//! [`limits::MAX_DURATION_SECS`] are rejected. Durations have nanosecond
//! resolution; a value that does not fall on a whole nanosecond
//! (`"0.5ns"`) is rejected rather than silently rounded.

use std::fmt;
use std::ops::Range;
use std::time::Duration;

use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use toml::Spanned;

use super::error::{key_span, Located};
use super::keyword::{Keyword, Kw};
use super::model::{limits, DurationSpec};
use super::text::{truncate_echo, MAX_ECHO_CHARS};

/// The examples shown whenever a duration is malformed.
const EXAMPLES: &str = "(\"250ns\", \"40us\", \"1.5ms\", \"2s\")";

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// Parses a duration string with a unit: `"250ns"`, `"40us"`, `"40µs"`,
/// `"1.5ms"`, `"2s"`. Whitespace around the string and between the number
/// and the unit is allowed.
///
/// The error is a one-line explanation meant for users, e.g.
/// `missing unit in "5"; write e.g. "5ms" (units: ns, us, µs, ms, s)`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let text = s.trim();
    let shown = quoted(text);
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let unit = unit.trim_start();

    if number.is_empty() {
        return Err(no_number_message(text));
    }
    if is_exponent(unit) {
        return Err(format!(
            "exponent notation is not accepted in durations, found {shown}; \
             write the number out with a unit, e.g. \"1500ms\" (at most {}s, one day)",
            limits::MAX_DURATION_SECS
        ));
    }
    let Some(unit_nanos) = unit_nanos(unit) else {
        return Err(if unit.is_empty() {
            format!(
                "missing unit in {shown}; write e.g. \"{}ms\" (units: ns, us, µs, ms, s)",
                truncate_echo(number, MAX_ECHO_CHARS)
            )
        } else {
            format!(
                "unknown unit {} in {shown}; use ns, us (or µs), ms or s",
                quoted(unit)
            )
        });
    };
    let nanos = decimal_nanos(number, unit_nanos).map_err(|why| format!("{why} in {shown}"))?;
    if nanos > u128::from(limits::MAX_DURATION_SECS) * NANOS_PER_SEC {
        return Err(format!(
            "duration {shown} is longer than the limit of {}s (one day)",
            limits::MAX_DURATION_SECS
        ));
    }
    // The limit above keeps `nanos` far below u64::MAX.
    Ok(Duration::from_nanos(
        u64::try_from(nanos).unwrap_or(u64::MAX),
    ))
}

/// `"text"`, control characters escaped and cut at [`MAX_ECHO_CHARS`]: a
/// 10,000-digit value is echoed in one short line.
fn quoted(text: &str) -> String {
    format!("\"{}\"", truncate_echo(text, MAX_ECHO_CHARS))
}

/// `e30s`, `E-3ms`, `e+3s`: what follows the digits of `1e30s`.
fn is_exponent(unit: &str) -> bool {
    let Some(rest) = unit.strip_prefix(['e', 'E']) else {
        return false;
    };
    let rest = rest.strip_prefix(['+', '-']).unwrap_or(rest);
    rest.starts_with(|c: char| c.is_ascii_digit())
}

/// Explains a duration that does not start with a digit.
fn no_number_message(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let shown = quoted(text);
    if text.starts_with('-') {
        format!("a duration cannot be negative, found {shown}")
    } else if ["nan", "inf", "+inf", "+nan"]
        .iter()
        .any(|p| lower.starts_with(p))
    {
        format!("a duration must be a finite number with a unit, found {shown}")
    } else if text.is_empty() {
        format!("empty duration; expected a number with a unit {EXAMPLES}")
    } else {
        format!("expected a number followed by a unit {EXAMPLES}, found {shown}")
    }
}

fn unit_nanos(unit: &str) -> Option<u128> {
    match unit {
        "ns" => Some(1),
        // U+00B5 MICRO SIGN and U+03BC GREEK SMALL LETTER MU look the same;
        // accept both so a copy-pasted "µs" always works.
        "us" | "\u{b5}s" | "\u{3bc}s" => Some(1_000),
        "ms" => Some(1_000_000),
        "s" => Some(NANOS_PER_SEC),
        _ => None,
    }
}

/// `number` × `unit_nanos`, computed exactly in integers so that "1.1ms" is
/// exactly 1 100 000 ns (floating point would give 1 099 999.99…).
fn decimal_nanos(number: &str, unit_nanos: u128) -> Result<u128, String> {
    let (int, frac) = number.split_once('.').unwrap_or((number, ""));
    if int.is_empty() || (number.contains('.') && frac.is_empty()) || frac.contains('.') {
        return Err(format!("malformed number {}", quoted(number)));
    }
    let too_long = || {
        format!(
            "number too large (durations are at most {}s, one day)",
            limits::MAX_DURATION_SECS
        )
    };
    let int: u128 = int.parse().map_err(|_| too_long())?;
    let frac = frac.trim_end_matches('0');
    // unit_nanos ≤ 10^9, so more than 9 significant decimals can never land
    // on a whole nanosecond (and 10^digits would overflow further on).
    if frac.len() > 9 {
        return Err("finer than 1ns, the resolution of durations".to_string());
    }
    let scale = 10u128.pow(frac.len() as u32);
    let frac_units: u128 = if frac.is_empty() {
        0
    } else {
        frac.parse().map_err(|_| too_long())?
    };
    let frac_nanos = frac_units * unit_nanos;
    if frac_nanos % scale != 0 {
        return Err("finer than 1ns, the resolution of durations".to_string());
    }
    int.checked_mul(unit_nanos)
        .and_then(|n| n.checked_add(frac_nanos / scale))
        .ok_or_else(too_long)
}

/// Formats a duration the way users write them ("1.5ms", "250ns"), for
/// messages.
pub(crate) fn format_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    let (unit, per) = match nanos {
        n if n >= NANOS_PER_SEC => ("s", NANOS_PER_SEC),
        n if n >= 1_000_000 => ("ms", 1_000_000),
        n if n >= 1_000 => ("us", 1_000),
        _ => ("ns", 1),
    };
    let whole = nanos / per;
    let rest = nanos % per;
    if rest == 0 {
        return format!("{whole}{unit}");
    }
    let width = per.ilog10() as usize;
    let digits = format!("{rest:0width$}");
    format!("{whole}.{}{unit}", digits.trim_end_matches('0'))
}

/// A duration value as written: fixed (already checked by
/// [`parse_duration`]) or a distribution table, checked by [`resolve`].
#[derive(Debug)]
pub(crate) enum RawDuration {
    Fixed(Duration),
    Dist(RawDist),
}

impl<'de> Deserialize<'de> for RawDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(DurationVisitor)
    }
}

struct DurationVisitor;

impl<'de> Visitor<'de> for DurationVisitor {
    type Value = RawDuration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a duration with a unit {EXAMPLES} or a distribution table"
        )
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<RawDuration, E> {
        parse_duration(v).map(RawDuration::Fixed).map_err(E::custom)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawDuration, A::Error> {
        RawDist::deserialize(MapAccessDeserializer::new(map)).map(RawDuration::Dist)
    }
}

/// A duration that must be fixed: `[gil]` settings and distribution
/// parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct FixedDuration(pub Duration);

impl<'de> Deserialize<'de> for FixedDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(FixedVisitor)
    }
}

struct FixedVisitor;

impl<'de> Visitor<'de> for FixedVisitor {
    type Value = FixedDuration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a duration with a unit {EXAMPLES}")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<FixedDuration, E> {
        parse_duration(v).map(FixedDuration).map_err(E::custom)
    }
}

/// `{ dist = "...", ... }` with every parameter any distribution takes.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, expecting = "a distribution table")]
pub(crate) struct RawDist {
    dist: Spanned<Kw<DistKind>>,
    mean: Option<Spanned<FixedDuration>>,
    min: Option<Spanned<FixedDuration>>,
    max: Option<Spanned<FixedDuration>>,
    stddev: Option<Spanned<FixedDuration>>,
    median: Option<Spanned<FixedDuration>>,
    p99: Option<Spanned<FixedDuration>>,
}

/// The `dist = "..."` names.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum DistKind {
    Exp,
    Uniform,
    Normal,
    LogNormal,
}

impl Keyword for DistKind {
    const WHAT: &'static str = "distribution";
    const ALL: &'static [Self] = &[
        DistKind::Exp,
        DistKind::Uniform,
        DistKind::Normal,
        DistKind::LogNormal,
    ];
    fn keyword(self) -> &'static str {
        match self {
            DistKind::Exp => "exp",
            DistKind::Uniform => "uniform",
            DistKind::Normal => "normal",
            DistKind::LogNormal => "lognormal",
        }
    }
}

impl DistKind {
    /// The parameters this distribution takes, in the order users write them.
    fn params(self) -> &'static [&'static str] {
        match self {
            DistKind::Exp => &["mean"],
            DistKind::Uniform => &["min", "max"],
            DistKind::Normal => &["mean", "stddev"],
            DistKind::LogNormal => &["median", "p99"],
        }
    }
}

impl RawDist {
    /// Every parameter present, with its name, in a fixed order.
    fn given(&self) -> impl Iterator<Item = (&'static str, &Spanned<FixedDuration>)> {
        [
            ("mean", &self.mean),
            ("min", &self.min),
            ("max", &self.max),
            ("stddev", &self.stddev),
            ("median", &self.median),
            ("p99", &self.p99),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.as_ref().map(|v| (name, v)))
    }
}

/// Checks a written duration and turns it into the model's [`DurationSpec`].
/// `source` is the config text, used to point at keys.
pub(crate) fn resolve(raw: &Spanned<RawDuration>, source: &str) -> Result<DurationSpec, Located> {
    match raw.get_ref() {
        RawDuration::Fixed(d) => Ok(DurationSpec::Fixed(*d)),
        RawDuration::Dist(dist) => resolve_dist(dist, raw.span(), source),
    }
}

fn resolve_dist(
    dist: &RawDist,
    table: Range<usize>,
    source: &str,
) -> Result<DurationSpec, Located> {
    let kind = dist.dist.get_ref().0;
    let params = kind.params();
    let name = kind.keyword();
    if let Some((key, value)) = dist.given().find(|(key, _)| !params.contains(key)) {
        return Err(Located::new(
            key_span(source, &value.span()),
            format!(
                "`{key}` is not a parameter of the {name} distribution; it takes {}",
                quoted_and(params)
            ),
        ));
    }
    let need = |key: &str, value: &Option<Spanned<FixedDuration>>| {
        value.as_ref().map(|v| v.get_ref().0).ok_or_else(|| {
            Located::new(
                table.clone(),
                format!(
                    "the {name} distribution needs `{key}`; it takes {}",
                    quoted_and(params)
                ),
            )
        })
    };
    Ok(match kind {
        DistKind::Exp => DurationSpec::Exp {
            mean: need("mean", &dist.mean)?,
        },
        DistKind::Uniform => {
            let (min, max) = (need("min", &dist.min)?, need("max", &dist.max)?);
            if min > max {
                return Err(order_error(&dist.max, "max", "min", min));
            }
            DurationSpec::Uniform { min, max }
        }
        DistKind::Normal => DurationSpec::Normal {
            mean: need("mean", &dist.mean)?,
            stddev: need("stddev", &dist.stddev)?,
        },
        DistKind::LogNormal => {
            let (median, p99) = (need("median", &dist.median)?, need("p99", &dist.p99)?);
            if median.is_zero() {
                // The log of 0 is -∞: there is no log-normal with median 0.
                let span = dist.median.as_ref().map_or(table.clone(), Spanned::span);
                return Err(Located::new(
                    span,
                    "a lognormal `median` must be greater than 0",
                ));
            }
            if p99 < median {
                return Err(order_error(&dist.p99, "p99", "median", median));
            }
            DurationSpec::LogNormal { median, p99 }
        }
    })
}

/// "`min` and `max`".
fn quoted_and(keys: &[&str]) -> String {
    let quoted: Vec<String> = keys.iter().map(|k| format!("`{k}`")).collect();
    quoted.join(" and ")
}

/// "`max` (1ms) must not be less than `min` (3ms)", at `upper`'s value.
fn order_error(
    upper: &Option<Spanned<FixedDuration>>,
    upper_key: &str,
    lower_key: &str,
    lower: Duration,
) -> Located {
    let (span, value) = upper
        .as_ref()
        .map_or((0..0, Duration::ZERO), |v| (v.span(), v.get_ref().0));
    Located::new(
        span,
        format!(
            "`{upper_key}` ({}) must not be less than `{lower_key}` ({})",
            format_duration(value),
            format_duration(lower)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> u128 {
        match parse_duration(s) {
            Ok(d) => d.as_nanos(),
            Err(e) => panic!("{s:?} should parse: {e}"),
        }
    }

    fn err(s: &str) -> String {
        match parse_duration(s) {
            Ok(d) => panic!("{s:?} should not parse, got {d:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn parses_every_unit() {
        assert_eq!(ok("250ns"), 250);
        assert_eq!(ok("40us"), 40_000);
        assert_eq!(ok("40µs"), 40_000);
        assert_eq!(ok("40\u{3bc}s"), 40_000);
        assert_eq!(ok("1.5ms"), 1_500_000);
        assert_eq!(ok("2s"), 2_000_000_000);
    }

    #[test]
    fn parses_decimals_exactly() {
        assert_eq!(ok("1.1ms"), 1_100_000);
        assert_eq!(ok("0.000000001s"), 1);
        assert_eq!(ok("0.5us"), 500);
        assert_eq!(ok("1.500000000000ms"), 1_500_000);
        assert_eq!(ok("007ms"), 7_000_000);
    }

    #[test]
    fn accepts_zero_and_whitespace() {
        assert_eq!(ok("0s"), 0);
        assert_eq!(ok("0.0ms"), 0);
        assert_eq!(ok("  3 ms "), 3_000_000);
    }

    #[test]
    fn accepts_exactly_the_limit() {
        assert_eq!(ok("86400s"), 86_400 * NANOS_PER_SEC);
        assert_eq!(ok("86400000ms"), 86_400 * NANOS_PER_SEC);
        assert!(err("86400.000000001s").contains("limit"));
        assert!(err("86401s").contains("limit"));
    }

    #[test]
    fn rejects_bad_input_with_a_reason() {
        let cases = [
            ("5", "missing unit"),
            ("", "empty duration"),
            ("   ", "empty duration"),
            ("ms", "expected a number"),
            ("-1ms", "negative"),
            ("nan ms", "finite"),
            ("infs", "finite"),
            ("5m", "unknown unit \"m\""),
            ("5min", "unknown unit"),
            ("5h", "unknown unit"),
            ("5 MS", "unknown unit"),
            ("1e3ns", "exponent notation is not accepted"),
            ("1e30s", "exponent notation is not accepted"),
            ("2E-3s", "exponent notation is not accepted"),
            ("1.5e+3ms", "exponent notation is not accepted"),
            ("5 each", "unknown unit \"each\""),
            ("1.2.3ms", "malformed number"),
            ("1.ms", "malformed number"),
            (".5ms", "malformed number"),
            ("0.5ns", "finer than 1ns"),
            ("0.0000000001s", "finer than 1ns"),
            ("1.0000000001s", "finer than 1ns"),
            ("99999999999999999999999999999999999999999s", "too large"),
            ("340282366920938463463374607431768211455s", "too large"),
            ("1000000000000000000000000ms", "limit"),
            ("+1ms", "expected a number"),
            ("1 ms s", "unknown unit"),
        ];
        for (input, phrase) in cases {
            let e = err(input);
            assert!(e.contains(phrase), "{input:?}: {e:?} lacks {phrase:?}");
        }
    }

    #[test]
    fn runaway_values_are_echoed_short() {
        for input in [
            format!("{}s", "9".repeat(10_000)),
            "9".repeat(10_000),
            format!("1{}", "x".repeat(10_000)),
            format!("0.{}1ns", "0".repeat(10_000)),
            format!("-{}", "1".repeat(10_000)),
        ] {
            let e = err(&input);
            assert!(e.len() < 300, "{} bytes: {e}", e.len());
            assert!(
                e.contains("(10001 characters)") || e.contains("characters)"),
                "{e}"
            );
        }
        assert!(err(&format!("{}s", "9".repeat(10_000))).contains("too large"));
    }

    #[test]
    fn control_characters_in_values_are_escaped() {
        let e = err("5\u{1b}[2J");
        assert!(!e.contains('\u{1b}'), "{e:?}");
        assert!(e.contains("\\u{1b}"), "{e:?}");
    }

    #[test]
    fn formats_for_messages() {
        let f = |n: u64| format_duration(Duration::from_nanos(n));
        assert_eq!(f(0), "0ns");
        assert_eq!(f(250), "250ns");
        assert_eq!(f(1_500), "1.5us");
        assert_eq!(f(1_500_000), "1.5ms");
        assert_eq!(f(2_000_000_000), "2s");
        assert_eq!(f(1_000_000_001), "1.000000001s");
        assert_eq!(f(5_000_000), "5ms");
    }

    #[test]
    fn formatted_durations_parse_back() {
        for n in [0u64, 1, 999, 1_000, 1_001, 123_456_789, 86_400_000_000_000] {
            let d = Duration::from_nanos(n);
            assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }
    }
}
