//! Config errors and their rendering.
//!
//! Every problem in a config file becomes one [`ConfigError::Invalid`] that
//! names the file, the 1-based line and column, says what was expected, and
//! shows the offending source line with a caret under the culprit, in the
//! style of rustc:
//!
//! ```text
//! configs/x.toml:12:18: error: expected a duration with a unit ("250ns", "40us", "1.5ms", "2s") or a distribution table, found integer `5`
//!    |
//! 12 | steps = [{ cpu = 5 }]
//!    |                  ^
//! ```

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// Most problems one config reports: past this, later ones are usually
/// echoes of the same mistake.
pub(crate) const MAX_PROBLEMS: usize = 20;

/// Why a config could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{}: error: cannot read the config file: {source}", path.display())]
    Io {
        /// The file that was asked for.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The file was read but is not a valid config.
    #[error(fmt = render_invalid)]
    Invalid {
        /// The file the problems are in.
        path: PathBuf,
        /// The first problem, in file order (boxed: it is large, and errors
        /// travel through every `Result` of the loading path).
        problem: Box<Problem>,
        /// Further problems, in file order (at most
        /// `MAX_PROBLEMS` in all). A TOML
        /// syntax or type error stops parsing, so it always comes alone.
        more: Vec<Problem>,
        /// Problems found beyond those shown.
        omitted: usize,
    },
}

/// One problem in a config file, located for a human.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// 1-based line of the offending key or value.
    pub line: usize,
    /// 1-based column (in characters) of the offending key or value.
    pub column: usize,
    /// What is wrong and what was expected, on one line.
    pub message: String,
    /// The whole source line `line` (without its line break).
    pub snippet: String,
    /// How many characters from `column` on to underline (≥ 1).
    pub highlight: usize,
}

impl Problem {
    fn of(source: &str, located: Located) -> Self {
        let pos = Position::of(source, &located.span);
        Problem {
            line: pos.line,
            column: pos.column,
            message: located.message,
            snippet: pos.snippet,
            highlight: pos.highlight,
        }
    }

    /// `file:line:col: error: message`, then the source line with a caret.
    fn render(&self, path: &Path, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Problem {
            line,
            column,
            message,
            snippet,
            highlight,
        } = self;
        let number = line.to_string();
        let gutter = " ".repeat(number.len());
        let (text, caret) = snippet_lines(snippet, *column, *highlight);
        // Messages quote the config (names, keys, values): keep them one
        // line, free of terminal commands, and short.
        let message = super::text::truncate_echo(message, MAX_MESSAGE_CHARS);
        write!(
            f,
            "{}:{line}:{column}: error: {message}\n{gutter} |\n{number} | {text}\n{gutter} | {caret}",
            path.display(),
        )
    }
}

/// Most characters of a message shown (values inside it are already cut
/// at [`MAX_ECHO_CHARS`](super::text::MAX_ECHO_CHARS); this is the
/// backstop for messages quoting what serde or toml saw).
const MAX_MESSAGE_CHARS: usize = 400;

/// Most characters of a source line shown; a longer line is shown as a
/// window around the culprit, with "…" at the cut ends.
const MAX_SNIPPET_CHARS: usize = 100;
/// Characters kept before the culprit when the line is cut.
const SNIPPET_CONTEXT: usize = 30;

/// The source line as shown (control characters escaped, long lines cut)
/// and the caret line under it. The caret is placed by terminal columns,
/// so it stays under the culprit after wide (CJK) characters and escapes;
/// tabs are reproduced so it stays aligned whatever the tab width.
fn snippet_lines(snippet: &str, column: usize, highlight: usize) -> (String, String) {
    use super::text::{display_width, push_char};
    let chars: Vec<char> = snippet.chars().collect();
    let at = column.saturating_sub(1).min(chars.len());
    let (start, end) = if chars.len() <= MAX_SNIPPET_CHARS {
        (0, chars.len())
    } else {
        let start = at
            .saturating_sub(SNIPPET_CONTEXT)
            .min(chars.len() - MAX_SNIPPET_CHARS);
        (start, start + MAX_SNIPPET_CHARS)
    };
    let mut text = String::new();
    let mut caret = String::new();
    if start > 0 {
        text.push('…');
        caret.push(' ');
    }
    for (i, &c) in chars[start..end].iter().enumerate() {
        push_char(&mut text, c, true);
        if start + i < at {
            if c == '\t' {
                caret.push('\t');
            } else {
                caret.push_str(&" ".repeat(display_width(c, true)));
            }
        }
    }
    if end < chars.len() {
        text.push('…');
    }
    let hl_end = (at + highlight.max(1)).min(end);
    let width: usize = chars[at.min(hl_end)..hl_end]
        .iter()
        .map(|&c| display_width(c, true))
        .sum();
    caret.push_str(&"^".repeat(width.max(1)));
    (text, caret)
}

impl ConfigError {
    /// The 1-based line of the problem, when the file could be read.
    pub fn line(&self) -> Option<usize> {
        match self {
            ConfigError::Io { .. } => None,
            ConfigError::Invalid { problem, .. } => Some(problem.line),
        }
    }

    /// The 1-based column (in characters) of the problem, when the file
    /// could be read.
    pub fn column(&self) -> Option<usize> {
        match self {
            ConfigError::Io { .. } => None,
            ConfigError::Invalid { problem, .. } => Some(problem.column),
        }
    }

    /// The path of the config the error is about.
    pub fn path(&self) -> &Path {
        match self {
            ConfigError::Io { path, .. } | ConfigError::Invalid { path, .. } => path,
        }
    }

    /// The bare message, without location or source excerpt.
    pub fn message(&self) -> String {
        match self {
            ConfigError::Io { source, .. } => format!("cannot read the config file: {source}"),
            ConfigError::Invalid { problem, .. } => problem.message.clone(),
        }
    }

    /// Every problem, first to last (empty for an unreadable file).
    pub fn problems(&self) -> Vec<&Problem> {
        match self {
            ConfigError::Io { .. } => Vec::new(),
            ConfigError::Invalid { problem, more, .. } => {
                std::iter::once(&**problem).chain(more).collect()
            }
        }
    }

    /// Builds an [`ConfigError::Invalid`] for a byte span of `source`.
    pub(crate) fn invalid(path: &Path, source: &str, located: Located) -> Self {
        Self::invalid_all(path, source, vec![located])
    }

    /// Builds an [`ConfigError::Invalid`] for problems in file order; the
    /// caller passes at least one (an empty list reports the file as a
    /// whole).
    pub(crate) fn invalid_all(path: &Path, source: &str, located: Vec<Located>) -> Self {
        let omitted = located.len().saturating_sub(MAX_PROBLEMS);
        let mut all = located
            .into_iter()
            .take(MAX_PROBLEMS)
            .map(|l| Problem::of(source, l));
        let problem = all
            .next()
            .unwrap_or_else(|| Problem::of(source, Located::new(0..0, "invalid config")));
        ConfigError::Invalid {
            path: path.to_path_buf(),
            problem: Box::new(problem),
            more: all.collect(),
            omitted,
        }
    }

    /// Converts an error from the TOML parser or from serde, rewording
    /// serde's stock phrases into this crate's style.
    pub(crate) fn from_toml(path: &Path, source: &str, err: &toml::de::Error) -> Self {
        // toml leaves the span out only for errors about the document as a
        // whole; the start of the file is the honest place to point at.
        let span = err.span().unwrap_or(0..0);
        let message = normalize_message(err.message(), source, &span);
        Self::invalid(path, source, Located { span, message })
    }
}

// `fmt = ...` hands us every field by reference, in declaration order.
#[allow(clippy::ptr_arg, clippy::borrowed_box)]
fn render_invalid(
    path: &PathBuf,
    problem: &Box<Problem>,
    more: &Vec<Problem>,
    omitted: &usize,
    f: &mut fmt::Formatter<'_>,
) -> fmt::Result {
    problem.render(path, f)?;
    for p in more {
        f.write_str("\n\n")?;
        p.render(path, f)?;
    }
    let total = 1 + more.len() + omitted;
    match omitted {
        0 if total == 1 => Ok(()),
        0 => write!(f, "\n\n{}: {total} problems", path.display()),
        n => write!(
            f,
            "\n\n{}: {total} problems; the first {} are shown, {n} more are not",
            path.display(),
            total - n
        ),
    }
}

/// A problem found in the source: a byte span and a message.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Located {
    /// Byte range in the source; an empty range points between characters.
    pub span: Range<usize>,
    /// One line: what is wrong, what was expected.
    pub message: String,
}

impl Located {
    pub(crate) fn new(span: Range<usize>, message: impl Into<String>) -> Self {
        Self {
            span,
            message: message.into(),
        }
    }
}

/// Where a byte span starts, in human terms.
#[derive(Debug, PartialEq)]
struct Position {
    line: usize,
    column: usize,
    snippet: String,
    highlight: usize,
}

impl Position {
    /// Computes line/column of `span.start`. Never panics: offsets past the
    /// end or inside a UTF-8 sequence are clamped to the nearest valid place.
    fn of(source: &str, span: &Range<usize>) -> Self {
        let start = floor_char_boundary(source, span.start);
        let before = &source[..start];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let line_end = source[start..]
            .find('\n')
            .map_or(source.len(), |i| start + i);
        let line_text = &source[line_start..line_end];
        let snippet = line_text.strip_suffix('\r').unwrap_or(line_text);

        let column = source[line_start..start].chars().count() + 1;
        // Underline the span, but only the part on the first line.
        let end = floor_char_boundary(source, span.end.clamp(start, line_end));
        let highlight = source[start..end].chars().count().max(1);

        Position {
            line: before.matches('\n').count() + 1,
            column,
            snippet: snippet.to_string(),
            highlight,
        }
    }
}

fn floor_char_boundary(s: &str, index: usize) -> usize {
    let mut i = index.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Given the span of a value in `key = value`, returns the span of `key`
/// (its last segment for dotted keys). Falls back to the value's span when
/// the text before the value is not `key =` (e.g. a value inside an array).
///
/// serde hands us spans of values only; this lets errors about a key that
/// is present but not allowed ("`flavor` only applies to tokio") point at
/// the key itself. TOML allows only spaces and tabs between a key, its `=`
/// and the value, so the scan is exact.
pub(crate) fn key_span(source: &str, value: &Range<usize>) -> Range<usize> {
    let Some(before) = source.get(..value.start) else {
        return value.clone();
    };
    let Some(rest) = before.trim_end_matches([' ', '\t']).strip_suffix('=') else {
        return value.clone();
    };
    let rest = rest.trim_end_matches([' ', '\t']);
    let end = rest.len();
    let start = match rest.chars().last() {
        Some(q @ ('"' | '\'')) => rest[..end - 1].rfind(q).unwrap_or(end - 1),
        _ => rest
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
            .map_or(0, |i| i + 1),
    };
    if start == end {
        value.clone()
    } else {
        start..end
    }
}

/// Rewrites serde's generic phrasing ("invalid type: integer `5`, expected
/// a sequence", "unknown field") into the words users see in the docs
/// ("expected an array, found integer `5`", "unknown key").
pub(crate) fn normalize_message(message: &str, source: &str, span: &Range<usize>) -> String {
    // A TOML date-time reaches serde as a map with this private key.
    if message.contains("$__toml_private_datetime") {
        return "a date-time is not allowed here".to_string();
    }
    // toml's own recursion limit, met long before `repeat`'s nesting
    // limit can be checked (each repeat is a table inside an array).
    if message.starts_with("cannot recurse further") {
        return format!(
            "nested too deeply: the TOML reader stops at 80 levels of arrays and tables; \
             `repeat` may be nested at most {} deep (multiply the counts of nested repeats into one)",
            super::model::limits::MAX_NESTING
        );
    }
    if message == "duplicate key" {
        if let Some(key) = source.get(span.clone()).filter(|k| !k.is_empty()) {
            return format!("duplicate key `{key}`");
        }
    }
    if message == "invalid type: map, expected a sequence" {
        if let Some(hint) = array_of_tables_hint(source, span) {
            return hint;
        }
    }
    if let Some(rest) = message.strip_prefix("unknown field ") {
        return format!("unknown key {rest}");
    }
    if let Some(rest) = message.strip_prefix("missing field ") {
        return format!("missing key {rest}");
    }
    let body = message
        .strip_prefix("invalid type: ")
        .or_else(|| message.strip_prefix("invalid value: "));
    if let Some((found, expected)) = body.and_then(|b| b.split_once(", expected ")) {
        // A TOML date reaches serde as a table; say what was written.
        let found = if found == "map" && source.get(span.clone()).is_some_and(looks_like_date) {
            "a date-time".to_string()
        } else {
            toml_words(found)
        };
        return format!("expected {}, found {found}", toml_words(expected));
    }
    message.to_string()
}

/// `1979-05-27...`: a TOML date or date-time.
fn looks_like_date(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() >= 10 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' && b[7] == b'-'
}

/// `[group]` where `[[group]]` was meant: the header is a single-bracket
/// table where an array of tables is expected.
fn array_of_tables_hint(source: &str, span: &Range<usize>) -> Option<String> {
    let header = source.get(span.clone())?;
    let name = header.strip_prefix('[')?.strip_suffix(']')?.trim();
    if name.starts_with('[') {
        return None;
    }
    Some(format!(
        "expected an array of tables, found the table [{name}]; write [[{name}]] (double brackets), once per entry"
    ))
}

/// serde's data-model words → TOML words.
fn toml_words(s: &str) -> String {
    match s {
        "a sequence" => "an array".to_string(),
        "sequence" => "an array".to_string(),
        "a map" => "a table".to_string(),
        "map" => "a table".to_string(),
        _ => s.replacen("floating point", "float", 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(source: &str, span: Range<usize>) -> (usize, usize, String, usize) {
        let p = Position::of(source, &span);
        (p.line, p.column, p.snippet, p.highlight)
    }

    #[test]
    fn positions_are_one_based_and_count_characters() {
        let src = "a = 1\nb = \"µs\" # x\r\nc = 3";
        assert_eq!(pos(src, 0..1), (1, 1, "a = 1".into(), 1));
        let b = src.find("b").unwrap();
        assert_eq!(pos(src, b + 4..b + 9), (2, 5, "b = \"µs\" # x".into(), 4));
        let c = src.find("3").unwrap();
        assert_eq!(pos(src, c..c + 1), (3, 5, "c = 3".into(), 1));
    }

    #[test]
    fn positions_clamp_out_of_range_spans() {
        let src = "a = 1\n";
        assert_eq!(pos(src, 6..6), (2, 1, String::new(), 1));
        assert_eq!(pos(src, 100..200), (2, 1, String::new(), 1));
        assert_eq!(pos("", 0..0), (1, 1, String::new(), 1));
        // Inside a multi-byte character: moves back to its start.
        assert_eq!(pos("µ", 1..2), (1, 1, "µ".into(), 1));
        // A span running over a line break underlines the first line only.
        assert_eq!(pos("ab\ncd", 0..5), (1, 1, "ab".into(), 2));
    }

    #[test]
    fn key_span_finds_the_key_before_a_value() {
        let src = "flavor = \"x\"\n  'cpu_mode'\t=\t\"y\"\n[a]\nb.c=1\nv = [1]";
        let v1 = src.find("\"x\"").unwrap();
        assert_eq!(&src[key_span(src, &(v1..v1 + 3))], "flavor");
        let v2 = src.find("\"y\"").unwrap();
        assert_eq!(&src[key_span(src, &(v2..v2 + 3))], "'cpu_mode'");
        let v3 = src.find("1\n").unwrap();
        assert_eq!(&src[key_span(src, &(v3..v3 + 1))], "c");
        // Not after `key =`: the value's own span.
        let v4 = src.rfind('1').unwrap();
        assert_eq!(key_span(src, &(v4..v4 + 1)), v4..v4 + 1);
        assert_eq!(key_span(src, &(0..3)), 0..3);
        assert_eq!(key_span("= 1", &(2..3)), 2..3);
        assert_eq!(key_span("x", &(99..100)), 99..100);
    }

    #[test]
    fn serde_messages_are_reworded() {
        let n = |m: &str| normalize_message(m, "", &(0..0));
        assert_eq!(
            n("invalid type: integer `5`, expected a sequence"),
            "expected an array, found integer `5`"
        );
        assert_eq!(
            n("invalid type: floating point `1.5`, expected a string"),
            "expected a string, found float `1.5`"
        );
        assert_eq!(
            n("invalid type: map, expected a boolean"),
            "expected a boolean, found a table"
        );
        assert_eq!(
            n("unknown field `x`, expected `y`"),
            "unknown key `x`, expected `y`"
        );
        assert_eq!(n("missing field `steps`"), "missing key `steps`");
        assert_eq!(
            normalize_message("duplicate key", "a = 1\na = 2", &(6..7)),
            "duplicate key `a`"
        );
        assert_eq!(n("something else"), "something else");
    }

    #[test]
    fn display_shows_location_line_and_caret() {
        let src = "[[group]]\nsteps = [{ cpu = 5 }]\n";
        let at = src.find('5').unwrap();
        let err = ConfigError::invalid(
            Path::new("configs/x.toml"),
            src,
            Located::new(at..at + 1, "bad"),
        );
        assert_eq!(
            err.to_string(),
            "configs/x.toml:2:18: error: bad\n  |\n2 | steps = [{ cpu = 5 }]\n  |                  ^"
        );
        assert_eq!((err.line(), err.column()), (Some(2), Some(18)));
        assert_eq!(err.message(), "bad");
        assert_eq!(err.path(), Path::new("configs/x.toml"));
    }

    #[test]
    fn display_keeps_tabs_aligned() {
        let src = "\tkind =\t7";
        let err = ConfigError::invalid(Path::new("a.toml"), src, Located::new(8..9, "m"));
        assert!(
            err.to_string()
                .ends_with("1 | \tkind =\t7\n  | \t      \t^"),
            "{err}"
        );
    }

    #[test]
    fn io_errors_have_no_position() {
        let err = ConfigError::Io {
            path: "nope.toml".into(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "not found"),
        };
        assert_eq!(
            err.to_string(),
            "nope.toml: error: cannot read the config file: not found"
        );
        assert_eq!((err.line(), err.column()), (None, None));
    }
}
