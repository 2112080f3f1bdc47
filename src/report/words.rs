//! Small wording helpers shared by the text outputs: counts with the right
//! plural, and prose wrapped to a terminal's width without breaking words
//! (so numbers stay whole).

use unicode_width::UnicodeWidthStr;

use crate::stop::Stopped;

/// The line that opens the verdict of anything stopped early by `why`:
/// `Incomplete (interrupted): cut short: rayon; not run: tokio. ` then
/// `after`, what that means for the figures. Run reports and plans say it
/// alike.
pub fn incomplete(why: Stopped, cut: &[&str], not_run: &[String], after: &str) -> String {
    let mut parts = Vec::new();
    if !cut.is_empty() {
        parts.push(format!("cut short: {}", cut.join(", ")));
    }
    if !not_run.is_empty() {
        parts.push(format!("not run: {}", not_run.join(", ")));
    }
    format!(
        "Incomplete ({}): {}. {after}",
        why.as_str(),
        parts.join("; ")
    )
}

/// "1 client", "3 clients", "0 forced switches".
pub fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `text` wrapped at `width` terminal columns, breaking only at spaces:
/// a word (a number, a name) is never split; one longer than the width
/// gets a line of its own. Continuation lines start with `indent`. A
/// `width` of `None` (not a terminal) leaves the line as it is.
pub fn wrap(text: &str, width: Option<usize>, indent: &str) -> String {
    let Some(width) = width else {
        return text.to_string();
    };
    let lead = text.len() - text.trim_start().len();
    let mut out = String::from(&text[..lead]);
    let mut line_width = lead;
    let mut at_line_start = true;
    for word in text[lead..].split(' ').filter(|w| !w.is_empty()) {
        let w = word.width();
        if !at_line_start && line_width + 1 + w > width {
            out.push('\n');
            out.push_str(indent);
            line_width = indent.width();
            at_line_start = true;
        }
        if !at_line_start {
            out.push(' ');
            line_width += 1;
        }
        out.push_str(word);
        line_width += w;
        at_line_start = false;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_agree_with_their_number() {
        assert_eq!(
            count(1, "forced switch", "forced switches"),
            "1 forced switch"
        );
        assert_eq!(count(0, "client", "clients"), "0 clients");
        assert_eq!(count(2, "client", "clients"), "2 clients");
    }

    #[test]
    fn wrapping_keeps_words_whole_and_lines_short() {
        let text =
            "  threads+gil: GIL taken 123456 times, 9876 forced switches, 1.23s waiting in total";
        let w = wrap(text, Some(30), "    ");
        for line in w.lines() {
            assert!(line.width() <= 30, "{line:?}");
        }
        let words: Vec<&str> = text.split_whitespace().collect();
        let back: Vec<&str> = w.split_whitespace().collect();
        assert_eq!(words, back);
        assert!(w.starts_with("  threads+gil:"));
        assert!(w.contains("\n    "));
        assert_eq!(wrap(text, None, "  "), text);
        // A word longer than the width is kept whole on its own line.
        assert_eq!(wrap("a 123456789 b", Some(5), ""), "a\n123456789\nb");
    }
}
