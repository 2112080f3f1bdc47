//! The HTML page's hand-drawn charts (where job time went, the GIL
//! timeline) and what they share: an SVG text builder, escaping, axis
//! ticks, and each backend's colour and marker, taken from the latency
//! chart (`svg.rs`) so a backend looks the same in every chart.
//!
//! The charts are plain SVG strings with a `viewBox`, so the page can scale
//! them; every text is drawn in the generic `sans-serif` family at a size
//! that stays readable when the page shows the chart at its natural width.

pub mod breakdown;
pub mod timeline;

use std::fmt::Write as _;

/// Width of every chart, in SVG units (the latency chart's width).
pub const WIDTH: f64 = 960.0;
/// Body text size.
const TEXT: f64 = 13.0;
/// Title size.
const TITLE: f64 = 16.0;
const FONT: &str = "sans-serif";

/// An SVG document under construction.
pub(crate) struct Doc {
    body: String,
}

impl Doc {
    pub(crate) fn new() -> Self {
        Self {
            body: String::new(),
        }
    }

    pub(crate) fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, fill: &str, extra: &str) {
        let _ = writeln!(
            self.body,
            r#"<rect x="{x:.2}" y="{y:.2}" width="{:.2}" height="{:.2}" fill="{fill}" {extra}/>"#,
            w.max(0.0),
            h.max(0.0)
        );
    }

    /// A rectangle with a tooltip (`<title>`), outlined.
    pub(crate) fn rect_titled(&mut self, x: f64, y: f64, w: f64, h: f64, fill: &str, title: &str) {
        let _ = writeln!(
            self.body,
            r##"<rect x="{x:.2}" y="{y:.2}" width="{:.2}" height="{:.2}" fill="{fill}" stroke="#555" stroke-width="0.6"><title>{}</title></rect>"##,
            w.max(0.0),
            h.max(0.0),
            esc(title)
        );
    }

    pub(crate) fn line(&mut self, x1: f64, y1: f64, x2: f64, y2: f64, stroke: &str) {
        let _ = writeln!(
            self.body,
            r#"<line x1="{x1:.2}" y1="{y1:.2}" x2="{x2:.2}" y2="{y2:.2}" stroke="{stroke}" stroke-width="1"/>"#
        );
    }

    /// Text; `anchor` is `start`, `middle` or `end`; `y` is the baseline.
    pub(crate) fn text(&mut self, x: f64, y: f64, anchor: &str, size: f64, bold: bool, s: &str) {
        let weight = if bold { r#" font-weight="bold""# } else { "" };
        let _ = writeln!(
            self.body,
            r##"<text x="{x:.2}" y="{y:.2}" text-anchor="{anchor}" font-family="{FONT}" font-size="{size}"{weight} fill="#222">{}</text>"##,
            esc(s)
        );
    }

    /// The backend's marker (shape and colour of the latency chart) at
    /// `(x, y)`.
    pub(crate) fn marker(&mut self, backend: usize, x: f64, y: f64) {
        let points: Vec<String> = super::plot::marker_outline(backend)
            .iter()
            .map(|(dx, dy)| format!("{:.1},{:.1}", x + f64::from(*dx), y + f64::from(*dy)))
            .collect();
        let _ = writeln!(
            self.body,
            r#"<polygon points="{}" fill="{}"/>"#,
            points.join(" "),
            backend_color(backend)
        );
    }

    /// The finished document, `height` units tall, labelled for screen
    /// readers by `title`.
    pub(crate) fn finish(self, height: f64, title: &str, defs: &str) -> String {
        format!(
            r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0}" viewBox="0 0 {WIDTH} {height:.0}" role="img" aria-label="{}"><defs>{defs}</defs><rect x="0" y="0" width="{WIDTH}" height="{height:.0}" fill="#fff"/>
{}</svg>
"##,
            esc(title),
            self.body
        )
    }
}

/// A backend's colour, as CSS hex: the latency chart's colour for the
/// backend at position `index` in its config.
pub fn backend_color(index: usize) -> String {
    let c = super::plot::color(index);
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

/// Text escaped for SVG and HTML.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// Axis ticks from 0 to at least `top`: (step, ticks).
pub(crate) fn ticks(top: f64) -> (f64, Vec<f64>) {
    let top = if top > 0.0 && top.is_finite() {
        top
    } else {
        1.0
    };
    let step = super::plot::nice_step(top / 6.0);
    let n = (top / step).ceil() as usize;
    (step, (0..=n).map(|i| i as f64 * step).collect())
}

/// Ticks over `[from, to]` (not starting at 0): multiples of a nice step.
pub(crate) fn ticks_between(from: f64, to: f64) -> Vec<f64> {
    let span = (to - from).max(1e-9);
    let step = super::plot::nice_step(span / 6.0);
    let first = (from / step).ceil() as i64;
    let last = (to / step).floor() as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

/// A number of ms for an axis label.
pub(crate) fn fmt_ms(ms: f64) -> String {
    super::plot::fmt_num(ms)
}

/// Rough width of `s` at `size` in a sans-serif font (average glyph about
/// 0.58 em), for layout.
pub(crate) fn text_width(s: &str, size: f64) -> f64 {
    s.chars().count() as f64 * size * 0.58
}

/// `s` shortened to at most `max` characters, with an ellipsis.
pub(crate) fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_keeps_markup_out() {
        assert_eq!(esc("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&#39;");
        assert_eq!(esc("x\u{1b}[2J"), "x\u{fffd}[2J");
    }

    #[test]
    fn ticks_cover_the_range() {
        let (step, t) = ticks(23.0);
        assert_eq!(step, 5.0);
        assert_eq!(t, [0.0, 5.0, 10.0, 15.0, 20.0, 25.0]);
        assert_eq!(ticks_between(3.0, 21.0), [5.0, 10.0, 15.0, 20.0]);
        assert_eq!(ticks(0.0).1.len(), 6, "an empty range still gets an axis");
    }
}
