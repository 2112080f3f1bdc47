//! "Where job time went": one panel per group, one stacked bar per backend.
//! A bar is the group's mean latency per job, split into the parts the
//! report measured (cpu, native, io, GIL wait, lock wait, queue, offload
//! wait, executor blocked) plus what no timer covered. Bars in a panel
//! share one axis in ms, so backends compare by length.
//!
//! Parts are told apart by lightness and by pattern, not by hue alone, so
//! the chart survives a greyscale print; backends keep their marker and
//! colour from the latency chart, beside their label.

use super::{clip, fmt_ms, text_width, ticks, Doc, TEXT, TITLE, WIDTH};
use crate::report::{GroupReport, Report};

/// A part of job time: its name, fill, and pattern (if any).
struct Part {
    name: &'static str,
    fill: &'static str,
}

/// The parts in drawing order. Pattern fills are defined in [`DEFS`]; pairs
/// that share a hue differ by pattern, and the solid fills step in
/// lightness (greyscale: cpu 17%, GIL wait 41%, queue 65%, io 84%), so a
/// greyscale print still tells them apart.
const PARTS: [Part; 9] = [
    Part {
        name: "cpu",
        fill: "#08306b",
    },
    Part {
        name: "native",
        fill: "url(#p-native)",
    },
    Part {
        name: "io",
        fill: "#c6dbef",
    },
    Part {
        name: "GIL wait",
        fill: "#e34a33",
    },
    Part {
        name: "lock wait",
        fill: "url(#p-lock)",
    },
    Part {
        name: "queue",
        fill: "#f59e0b",
    },
    Part {
        name: "offload wait",
        fill: "url(#p-offload)",
    },
    Part {
        name: "executor blocked",
        fill: "url(#p-exec)",
    },
    Part {
        name: "unaccounted",
        fill: "#ffffff",
    },
];

const DEFS: &str = r##"<pattern id="p-native" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#dbe6f3"/><rect width="3" height="6" fill="#08306b"/></pattern><pattern id="p-lock" width="6" height="6" patternUnits="userSpaceOnUse"><rect width="6" height="6" fill="#f6d5d1"/><circle cx="3" cy="3" r="1.8" fill="#e34a33"/></pattern><pattern id="p-offload" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(-45)"><rect width="6" height="6" fill="#fbe8c2"/><rect width="2" height="6" fill="#b45309"/></pattern><pattern id="p-exec" width="6" height="6" patternUnits="userSpaceOnUse"><rect width="6" height="6" fill="#5b2a86"/><path d="M0 0L6 6M6 0L0 6" stroke="#e5d8f0" stroke-width="1.2"/></pattern>"##;

const MARGIN: f64 = 16.0;
const BAR: f64 = 20.0;
const ROW: f64 = 30.0;
const AXIS: f64 = 44.0;

/// Mean ms per job of each part of `g`'s job time, in [`PARTS`] order;
/// `None` when the group completed no jobs.
fn parts_ms(g: &GroupReport) -> Option<[f64; 9]> {
    if g.jobs == 0 {
        return None;
    }
    let per_job = |s: f64| s * 1000.0 / g.jobs as f64;
    let t = &g.time_s;
    let mut v = [
        per_job(t.cpu),
        per_job(t.native),
        per_job(t.io),
        per_job(t.gil_wait),
        per_job(t.lock_wait),
        per_job(t.queue),
        per_job(t.offload_wait),
        per_job(t.executor_blocked),
        0.0,
    ];
    let measured: f64 = v.iter().sum();
    v[8] = (g.latency_us.mean / 1000.0 - measured).max(0.0);
    Some(v)
}

/// Groups in order of first appearance over the runs.
fn group_names(report: &Report) -> Vec<&str> {
    let mut names: Vec<&str> = Vec::new();
    for g in report.runs.iter().flat_map(|r| &r.groups) {
        if !names.contains(&g.name.as_str()) {
            names.push(&g.name);
        }
    }
    names
}

/// The chart as an SVG document.
pub fn render(report: &Report) -> String {
    let mut doc = Doc::new();
    let label_w = report
        .runs
        .iter()
        .map(|r| text_width(&clip(&r.backend, 28), TEXT))
        .fold(80.0, f64::max)
        + 26.0;
    let plot_x = MARGIN + label_w;
    let plot = Plot {
        x: plot_x,
        w: WIDTH - plot_x - MARGIN - 70.0,
    };
    let mut y = legend(&mut doc);
    let groups = group_names(report);
    if groups.is_empty() {
        doc.text(WIDTH / 2.0, y + 30.0, "middle", TEXT, false, "no groups");
        y += 50.0;
    }
    for name in groups {
        y = panel(&mut doc, report, name, y, &plot);
    }
    doc.finish(
        y + MARGIN,
        &format!(
            "{}: where job time went, per group and backend",
            report.config
        ),
        DEFS,
    )
}

/// Where the bars go across the page.
struct Plot {
    /// The left edge of the bars.
    x: f64,
    /// The width of the longest bar's axis.
    w: f64,
}

/// One backend's bar in a group's panel: its index (for its marker), its
/// label and its parts (`None`: the group completed no jobs there).
type Bar<'a> = (usize, &'a str, Option<[f64; 9]>);

/// Draws group `name`'s panel from `y` down: its title, one bar per
/// backend, the axis. Returns the y below it.
fn panel(doc: &mut Doc, report: &Report, name: &str, y: f64, plot: &Plot) -> f64 {
    let mut y = y + 10.0;
    doc.text(
        MARGIN,
        y + TITLE,
        "start",
        TITLE,
        true,
        &format!("{name}: mean time per job"),
    );
    y += TITLE + 12.0;
    let bars: Vec<Bar<'_>> = report
        .runs
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let g = r.groups.iter().find(|g| g.name == name);
            (i, r.backend.as_str(), g.and_then(parts_ms))
        })
        .collect();
    let top = bars
        .iter()
        .filter_map(|b| b.2.map(|p| p.iter().sum::<f64>()))
        .fold(0.0, f64::max);
    let (_, tick_values) = ticks(top);
    let axis_top = tick_values.last().copied().unwrap_or(1.0).max(1e-9);
    let x_of = |ms: f64| plot.x + plot.w * (ms / axis_top);
    let panel_h = bars.len() as f64 * ROW;
    for t in &tick_values {
        doc.line(x_of(*t), y, x_of(*t), y + panel_h, "#e3e3e3");
    }
    for (row, bar) in bars.iter().enumerate() {
        draw_bar(
            doc,
            name,
            bar,
            y + row as f64 * ROW + (ROW - BAR) / 2.0,
            plot,
            &x_of,
        );
    }
    let axis_y = y + panel_h + 4.0;
    draw_axis(doc, axis_y, plot, &tick_values, &x_of);
    axis_y + AXIS
}

/// One backend's bar at `by`: its marker and label, then its parts end to
/// end (each with a tooltip) and its total, or "no jobs".
fn draw_bar(
    doc: &mut Doc,
    name: &str,
    bar: &Bar<'_>,
    by: f64,
    plot: &Plot,
    x_of: &dyn Fn(f64) -> f64,
) {
    let (index, label, parts) = bar;
    let text_y = by + BAR / 2.0 + 4.5;
    doc.marker(*index, MARGIN + 6.0, by + BAR / 2.0);
    doc.text(
        MARGIN + 16.0,
        text_y,
        "start",
        TEXT,
        false,
        &clip(label, 28),
    );
    let Some(parts) = parts else {
        doc.text(plot.x + 4.0, text_y, "start", TEXT, false, "no jobs");
        return;
    };
    let mut x = 0.0;
    for (part, ms) in PARTS.iter().zip(parts) {
        if *ms <= 0.0 {
            continue;
        }
        let title = format!("{label}, {name}: {} {} ms per job", part.name, fmt_ms(*ms));
        doc.rect_titled(x_of(x), by, x_of(x + ms) - x_of(x), BAR, part.fill, &title);
        x += ms;
    }
    let total = format!("{} ms", fmt_ms(x));
    doc.text(x_of(x) + 6.0, text_y, "start", TEXT, false, &total);
}

/// The panel's axis at `axis_y`: its line, ticks with their values, and
/// its name.
fn draw_axis(
    doc: &mut Doc,
    axis_y: f64,
    plot: &Plot,
    tick_values: &[f64],
    x_of: &dyn Fn(f64) -> f64,
) {
    doc.line(plot.x, axis_y, plot.x + plot.w, axis_y, "#444");
    for t in tick_values {
        doc.line(x_of(*t), axis_y, x_of(*t), axis_y + 5.0, "#444");
        doc.text(x_of(*t), axis_y + 19.0, "middle", TEXT, false, &fmt_ms(*t));
    }
    doc.text(
        plot.x + plot.w / 2.0,
        axis_y + 37.0,
        "middle",
        TEXT,
        false,
        "mean time per job (ms)",
    );
}

/// The parts' legend, wrapped into rows; returns the y below it.
fn legend(doc: &mut Doc) -> f64 {
    let mut x = MARGIN;
    let mut y = MARGIN;
    for part in &PARTS {
        let w = 22.0 + text_width(part.name, TEXT) + 18.0;
        if x + w > WIDTH - MARGIN {
            x = MARGIN;
            y += 24.0;
        }
        doc.rect(
            x,
            y,
            16.0,
            16.0,
            part.fill,
            r##"stroke="#555" stroke-width="0.6""##,
        );
        doc.text(x + 22.0, y + 12.5, "start", TEXT, false, part.name);
        x += w;
    }
    y + 30.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{fixtures, TimeSeconds};

    fn report() -> Report {
        let mut g = fixtures::group("crunch", 4, fixtures::quantiles(50_000), Default::default());
        g.time_s = TimeSeconds {
            cpu: 0.2,
            gil_wait: 0.1,
            ..Default::default()
        };
        let empty = fixtures::group("crunch", 0, fixtures::quantiles(0), Default::default());
        fixtures::report(
            "c",
            vec![
                fixtures::run("threads+gil", 1.0, vec![g]),
                fixtures::run("rayon", 1.0, vec![empty]),
            ],
            vec![],
        )
    }

    #[test]
    fn bars_add_up_to_the_mean_latency() {
        let r = report();
        let parts = parts_ms(&r.runs[0].groups[0]).unwrap();
        assert_eq!(parts[0], 50.0, "0.2 s of cpu over 4 jobs");
        assert_eq!(parts[3], 25.0);
        let total: f64 = parts.iter().sum();
        assert!(
            (total - 100.0).abs() < 1e-9,
            "mean latency is 100 ms: {total}"
        );
        assert!(parts_ms(&r.runs[1].groups[0]).is_none());
    }

    #[test]
    fn every_backend_and_part_is_labelled() {
        let svg = render(&report());
        for needle in [
            "threads+gil",
            "rayon",
            "no jobs",
            "GIL wait",
            "mean time per job (ms)",
        ] {
            assert!(svg.contains(needle), "missing {needle}");
        }
        assert!(svg.contains("<rect") && svg.contains("viewBox"));
    }
}
