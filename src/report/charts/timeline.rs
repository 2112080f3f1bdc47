//! The GIL timeline of one run: a lane per thread, a bar wherever that
//! thread held the GIL, over the window the report kept (its first holds).
//! Gaps in every lane at once are moments nobody held it; a long bar in one
//! lane while others wait is a CPU-bound holder keeping an IO thread out
//! for a switch interval (the convoy effect).

use super::{backend_color, clip, fmt_ms, text_width, ticks_between, Doc, TEXT, TITLE, WIDTH};
use crate::report::{GilTimeline, RunReport};

const MARGIN: f64 = 16.0;
const LANE: f64 = 22.0;

/// The timeline of `run` (the backend at position `index` in its config,
/// which sets its colour) as an SVG document; `None` without a timeline.
pub fn render(run: &RunReport, index: usize) -> Option<String> {
    let t = run.gil_timeline.as_ref()?;
    Some(draw(t, &run.backend, index))
}

fn draw(t: &GilTimeline, backend: &str, index: usize) -> String {
    let mut doc = Doc::new();
    let ms = |ns: u64| ns as f64 / 1e6;
    let (from, to) = (ms(t.from_ns), ms(t.to_ns).max(ms(t.from_ns) + 1e-3));
    let title = format!(
        "GIL timeline, {}: who held the GIL, {}–{} ms after the run began",
        clip(backend, 40),
        fmt_ms(from),
        fmt_ms(to)
    );
    doc.marker(index, MARGIN + 6.0, MARGIN + TITLE / 2.0 + 1.0);
    doc.text(MARGIN + 16.0, MARGIN + TITLE, "start", TITLE, true, &title);
    let note = format!(
        "{} of the run's {} holds, {} hand-over{} to another thread; a gap in every lane is a moment nobody held it",
        t.holds.len(),
        t.run_holds,
        t.switches,
        if t.switches == 1 { "" } else { "s" }
    );
    doc.text(MARGIN, MARGIN + TITLE + 20.0, "start", TEXT, false, &note);
    let top = MARGIN + TITLE + 34.0;
    let label_w = t
        .lanes
        .iter()
        .map(|l| text_width(l, TEXT))
        .fold(60.0, f64::max)
        + 14.0;
    let plot_x = MARGIN + label_w;
    let plot_w = WIDTH - plot_x - MARGIN - 10.0;
    let x_of = |v: f64| plot_x + plot_w * ((v - from) / (to - from));
    let color = backend_color(index);
    for (i, lane) in t.lanes.iter().enumerate() {
        let y = top + i as f64 * LANE;
        if i % 2 == 0 {
            doc.rect(plot_x, y, plot_w, LANE, "#f3f3f3", "");
        }
        doc.text(plot_x - 8.0, y + LANE / 2.0 + 4.5, "end", TEXT, false, lane);
    }
    let plot_h = t.lanes.len() as f64 * LANE;
    let ticks = ticks_between(from, to);
    for v in &ticks {
        doc.line(x_of(*v), top, x_of(*v), top + plot_h, "#d0d0d0");
    }
    for [lane, start, end] in &t.holds {
        let y = top + *lane as f64 * LANE + 3.0;
        let x = x_of(ms(*start));
        // Sub-pixel holds still show as a hairline.
        let w = (x_of(ms(*end)) - x).max(0.8);
        doc.rect(x, y, w, LANE - 6.0, &color, "");
    }
    let axis_y = top + plot_h + 2.0;
    doc.line(plot_x, axis_y, plot_x + plot_w, axis_y, "#444");
    for v in &ticks {
        doc.line(x_of(*v), axis_y, x_of(*v), axis_y + 5.0, "#444");
        doc.text(x_of(*v), axis_y + 19.0, "middle", TEXT, false, &fmt_ms(*v));
    }
    doc.text(
        plot_x + plot_w / 2.0,
        axis_y + 37.0,
        "middle",
        TEXT,
        false,
        "time since the run began (ms)",
    );
    doc.finish(axis_y + 37.0 + MARGIN, &title, "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_bar_per_hold_in_the_backend_colour() {
        let t = GilTimeline {
            from_ns: 1_000_000,
            to_ns: 12_000_000,
            lanes: vec!["thread 1".into(), "thread 2".into()],
            holds: vec![
                [0, 1_000_000, 6_000_000],
                [1, 6_000_000, 7_000_000],
                [0, 7_000_000, 12_000_000],
            ],
            switches: 2,
            run_holds: 3,
        };
        let svg = draw(&t, "threads+gil", 1);
        let colour = backend_color(1);
        assert_eq!(
            svg.matches(&format!("fill=\"{colour}\"")).count(),
            3 + 1,
            "3 holds and the marker"
        );
        for needle in [
            "thread 1",
            "thread 2",
            "time since the run began (ms)",
            "2 hand-overs",
        ] {
            assert!(svg.contains(needle), "missing {needle}");
        }
    }
}
