//! Text that came from a config and goes back to a terminal: control
//! characters made visible, long values shortened, widths measured in
//! terminal columns.
//!
//! A config is untrusted input. Names and values it contains are echoed in
//! error messages, in `validate`'s summary and in reports; a raw ESC or NUL
//! there would reach the terminal as a command, and a 10,000-digit value
//! would flood it. Names are refused when they hold control characters
//! (see `validate`); everything else echoed goes through these helpers.

use std::borrow::Cow;

use unicode_width::UnicodeWidthChar;

/// Most characters of a value echoed inside a message.
pub const MAX_ECHO_CHARS: usize = 40;

/// `s` with every control character (C0, DEL, C1, bidirectional) written as a Rust-style
/// escape (`\u{1b}`, `\0`, `\n`), so it prints as text. Tabs are kept when
/// `keep_tabs`.
pub fn escape_controls(s: &str) -> Cow<'_, str> {
    escape(s, false)
}

pub(crate) fn escape(s: &str, keep_tabs: bool) -> Cow<'_, str> {
    if !s.chars().any(|c| needs_escape(c, keep_tabs)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        push_char(&mut out, c, keep_tabs);
    }
    Cow::Owned(out)
}

pub(crate) fn needs_escape(c: char, keep_tabs: bool) -> bool {
    is_control(c) && !(keep_tabs && c == '\t')
}

/// A control character (C0, DEL, C1), or one of Unicode's bidirectional
/// controls (the `Bidi_Control` property: U+061C, U+200E, U+200F,
/// U+202A–U+202E, U+2066–U+2069). Those print nothing themselves but
/// reorder the text around them, so a name holding one reads differently
/// on a terminal or in a report from what it is ("Trojan Source",
/// CVE-2021-42574): `threads\u{202e}lig+` shows as `threads+gil`.
pub(crate) fn is_control(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Appends `c`, escaped if it is a control character.
pub(crate) fn push_char(out: &mut String, c: char, keep_tabs: bool) {
    if !needs_escape(c, keep_tabs) {
        out.push(c);
        return;
    }
    match c {
        '\0' => out.push_str("\\0"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
    }
}

/// Terminal columns `c` takes once escaped (tabs count as 1; callers that
/// keep tabs reproduce them instead of counting them).
pub(crate) fn display_width(c: char, keep_tabs: bool) -> usize {
    if needs_escape(c, keep_tabs) {
        let mut s = String::new();
        push_char(&mut s, c, keep_tabs);
        s.len()
    } else if c == '\t' {
        1
    } else {
        c.width().unwrap_or(0)
    }
}

/// `s` escaped and, past `max` characters, cut with "…" and the full
/// length, so a runaway value costs one line of output.
pub fn truncate_echo(s: &str, max: usize) -> String {
    let total = s.chars().count();
    if total <= max {
        return escape(s, false).into_owned();
    }
    let head: String = s.chars().take(max).collect();
    format!("{}… ({total} characters)", escape(&head, false))
}

/// The first control character in `s` ([`is_control`]: bidirectional
/// controls count), if any.
pub(crate) fn first_control(s: &str) -> Option<char> {
    s.chars().find(|&c| is_control(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_escaped_and_the_rest_is_left_alone() {
        assert_eq!(escape_controls("plain µs 名前"), "plain µs 名前");
        assert_eq!(escape_controls("a\nb\u{1b}[2J\0"), "a\\nb\\u{1b}[2J\\0");
        assert_eq!(escape("a\tb", true), "a\tb");
        assert_eq!(escape("a\tb", false), "a\\tb");
        assert_eq!(escape_controls("\u{7f}\u{9b}"), "\\u{7f}\\u{9b}");
        // Bidirectional controls reorder what a terminal shows.
        assert_eq!(
            escape_controls("a\u{202e}b\u{2066}"),
            "a\\u{202e}b\\u{2066}"
        );
        assert_eq!(first_control("threads\u{202e}lig+"), Some('\u{202e}'));
        assert_eq!(first_control("名前 µs 👍\u{200d}"), None);
    }

    #[test]
    fn widths_count_terminal_columns() {
        assert_eq!(display_width('a', true), 1);
        assert_eq!(display_width('名', true), 2);
        assert_eq!(display_width('\0', true), 2);
        assert_eq!(display_width('\u{1b}', true), 6);
        assert_eq!(display_width('\u{301}', true), 0);
    }

    #[test]
    fn long_values_are_cut() {
        assert_eq!(truncate_echo("12345", 5), "12345");
        let long = "9".repeat(10_000);
        let cut = truncate_echo(&long, 40);
        assert!(cut.len() < 80, "{cut}");
        assert!(cut.ends_with("… (10000 characters)"), "{cut}");
    }
}
