//! `--out DIR` also writes `NAME.svg`: latency by percentile, the classic
//! HdrHistogram picture. One panel per group, stacked vertically; in each,
//! one line per backend through min, p50, p90, p99, p99.9 and max.
//!
//! The x axis is the "number of nines", −log10(1 − p): p90 is one step,
//! p99 two, p99.9 three, so the tail gets as much room as the median. The
//! maximum has no finite position on that scale; it is drawn one step past
//! p99.9 and labelled "max". Only the quantiles in the report are drawn (no
//! histogram buckets), so the chart agrees with the JSON and the table.
//!
//! Axes, legend, colours and markers come from `plot.rs`, which the sweep
//! and plan charts share.

use std::io::{self, Write};

use plotters::prelude::*;

use super::plot::{
    color, draw_legend, legend_width, marker_outline, note, to_io, Area, DrawResult, LegendEntry,
    Scale, Ticked, FONT, MARGIN, TEXT_SIZE, TITLE_SIZE, WIDTH,
};
use super::{Exporter, Quantiles, Report};

/// The SVG chart exporter (`--out` only; not a `--format`).
///
/// Given several reports, it draws all their groups' panels in one SVG, in
/// order (each panel's title names its config): SVG documents cannot simply
/// be concatenated the way JSON Lines can. `--out` calls it with one report
/// per file.
pub struct Svg;

impl Exporter for Svg {
    fn export(&self, reports: &[Report], out: &mut dyn Write) -> io::Result<()> {
        out.write_all(latency_chart(reports)?.as_bytes())
    }

    fn extension(&self) -> &'static str {
        "svg"
    }
}

/// The latency-by-percentile chart of `reports` as one SVG document (the
/// `NAME.svg` file, and the first chart of the HTML page).
pub(crate) fn latency_chart(reports: &[Report]) -> io::Result<String> {
    render(&panels(reports)).map_err(to_io)
}

const PANEL_HEIGHT: u32 = 380;
/// Histograms record whole microseconds: the floor of a log axis, in ms.
const MIN_MS: f64 = 0.001;
/// Above this max/min ratio the y axis is logarithmic: a linear one would
/// squash the median against the floor.
const LOG_RATIO: f64 = 20.0;

/// One group of one config: a panel.
struct Panel<'a> {
    title: String,
    series: Vec<Series<'a>>,
}

/// One backend's line in a panel.
struct Series<'a> {
    label: &'a str,
    /// The backend's position in the config: its colour and marker, the
    /// same in every panel.
    index: usize,
    /// min, p50, p90, p99, p99.9, max in ms; `None` when the group
    /// completed no jobs on this backend (there is nothing to draw).
    ms: Option<[f64; 6]>,
}

/// −log10(1 − p): how many nines p has.
fn nines(p: f64) -> f64 {
    -(1.0 - p).log10()
}

/// x positions of min, p50, p90, p99, p99.9 and max.
fn x_positions() -> [f64; 6] {
    let p999 = nines(0.999);
    [
        nines(0.0),
        nines(0.5),
        nines(0.9),
        nines(0.99),
        p999,
        p999 + 1.0,
    ]
}

const X_LABELS: [&str; 6] = ["min", "p50", "p90", "p99", "p99.9", "max"];

/// The label of the x key point nearest to `x`.
fn x_label(x: f64) -> String {
    let nearest = x_positions()
        .iter()
        .map(|p| (p - x).abs())
        .enumerate()
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map_or(0, |(i, _)| i);
    X_LABELS[nearest].to_string()
}

fn quantiles_ms(q: &Quantiles) -> [f64; 6] {
    [q.min, q.p50, q.p90, q.p99, q.p999, q.max].map(|us| us as f64 / 1000.0)
}

/// One panel per (config, group), groups in order of first appearance.
fn panels(reports: &[Report]) -> Vec<Panel<'_>> {
    let mut out = Vec::new();
    for report in reports {
        let mut names: Vec<&str> = Vec::new();
        for g in report.runs.iter().flat_map(|r| &r.groups) {
            if !names.contains(&g.name.as_str()) {
                names.push(&g.name);
            }
        }
        for name in names {
            out.push(panel(report, name));
        }
    }
    out
}

fn panel<'a>(report: &'a Report, group: &str) -> Panel<'a> {
    let series = report
        .runs
        .iter()
        .enumerate()
        .map(|(index, run)| Series {
            label: &run.backend,
            index,
            ms: run
                .groups
                .iter()
                .find(|g| g.name == group && g.jobs > 0)
                .map(|g| quantiles_ms(&g.latency_us)),
        })
        .collect();
    Panel {
        title: format!("{group} — {}", report.config),
        series,
    }
}

/// The whole SVG document: panels stacked top to bottom.
fn render(panels: &[Panel<'_>]) -> DrawResult<String> {
    let mut buf = String::new();
    {
        let rows = panels.len().max(1);
        let height = u32::try_from(rows).map_or(u32::MAX, |r| r.saturating_mul(PANEL_HEIGHT));
        let root = SVGBackend::with_string(&mut buf, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE)?;
        if panels.is_empty() {
            note(&root, "no groups to chart")?;
        }
        for (area, panel) in root.split_evenly((rows, 1)).iter().zip(panels) {
            draw_panel(area, panel)?;
        }
        root.present()?;
    }
    Ok(buf)
}

fn draw_panel(area: &Area<'_>, panel: &Panel<'_>) -> DrawResult<()> {
    let body = area.titled(&panel.title, (FONT, TITLE_SIZE))?;
    let (width, _) = body.dim_in_pixel();
    // The legend gets its own column so it never covers a line.
    let legend = legend_entries(&panel.series);
    let (plot, column) = body.split_horizontally(width.saturating_sub(legend_width(&legend)));
    draw_legend(&column, &legend)?;
    let drawn: Vec<(usize, [f64; 6])> = panel
        .series
        .iter()
        .filter_map(|s| s.ms.map(|ms| (s.index, ms)))
        .collect();
    if drawn.is_empty() {
        return note(&plot, "no jobs completed in this group");
    }
    let lo = drawn
        .iter()
        .map(|(_, ms)| ms[0])
        .fold(f64::INFINITY, f64::min);
    let hi = drawn.iter().map(|(_, ms)| ms[5]).fold(0.0, f64::max);
    draw_chart(&plot, Scale::from_zero(lo, hi, MIN_MS, LOG_RATIO), &drawn)
}

/// Axes, grid and one line with markers per backend.
fn draw_chart(plot: &Area<'_>, y: Scale, drawn: &[(usize, [f64; 6])]) -> DrawResult<()> {
    let xs = x_positions();
    let x_axis = Ticked::new(xs[0] - 0.2..xs[5] + 0.2, xs.to_vec(), vec![]);
    let y_axis = y.ticked();
    let mut chart = ChartBuilder::on(plot)
        .margin(MARGIN)
        .x_label_area_size(48)
        .y_label_area_size(72)
        .build_cartesian_2d(x_axis, y_axis)?;
    chart
        .configure_mesh()
        .x_desc("percentile (\"number of nines\": p90 → p99 → p99.9, each 10× rarer)")
        .y_desc(y.desc("latency", Some("ms")))
        .x_label_formatter(&|x| x_label(*x))
        .y_label_formatter(&|v| y.label(*v))
        .label_style((FONT, TEXT_SIZE))
        .axis_desc_style((FONT, TEXT_SIZE))
        .bold_line_style(BLACK.mix(0.15))
        .light_line_style(BLACK.mix(0.05))
        .draw()?;
    for (index, ms) in drawn {
        let points: Vec<(f64, f64)> = xs
            .iter()
            .zip(ms)
            .map(|(x, m)| (*x, y.to_axis(*m)))
            .collect();
        let color = color(*index);
        chart.draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?;
        chart.draw_series(
            points.into_iter().map(|p| {
                EmptyElement::at(p) + Polygon::new(marker_outline(*index), color.filled())
            }),
        )?;
    }
    Ok(())
}

/// A backend's legend entry; a backend with no jobs in the group says so.
fn legend_entries(series: &[Series<'_>]) -> Vec<LegendEntry> {
    series
        .iter()
        .map(|s| {
            let label = match s.ms {
                Some(_) => s.label.to_string(),
                None => format!("{} (no jobs)", s.label),
            };
            LegendEntry::backend(label, s.index)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{fixtures, GroupReport, RunReport, Shares};

    fn group(name: &str, jobs: u64, base_us: u64) -> GroupReport {
        fixtures::group(name, jobs, fixtures::quantiles(base_us), Shares::default())
    }

    fn run(backend: &str, groups: Vec<GroupReport>) -> RunReport {
        fixtures::run(backend, 10.0, groups)
    }

    fn report() -> Report {
        fixtures::report(
            "demo",
            vec![
                run(
                    "threads+gil",
                    vec![group("crunch", 4, 150_000), group("requests", 10, 2_000)],
                ),
                run(
                    "rayon",
                    vec![group("crunch", 4, 150_000), group("requests", 0, 0)],
                ),
            ],
            vec![],
        )
    }

    fn svg_of(reports: &[Report]) -> String {
        let mut out = Vec::new();
        Svg.export(reports, &mut out).expect("export");
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn renders_an_svg_with_every_backend_and_group() {
        let svg = svg_of(&[report()]);
        assert!(svg.trim_start().starts_with("<svg"), "{}", &svg[..80]);
        assert!(svg.trim_end().ends_with("</svg>"));
        for needle in ["threads+gil", "rayon", "crunch — demo", "requests — demo"] {
            assert!(svg.contains(needle), "missing {needle}");
        }
        assert!(svg.contains("<path") || svg.contains("<polyline"));
        assert!(svg.contains("rayon (no jobs)"), "empty series is named");
        assert!(!svg.contains("font-face") && !svg.contains("url("));
    }

    #[test]
    fn no_reports_still_give_a_valid_svg() {
        let svg = svg_of(&[]);
        assert!(svg.trim_start().starts_with("<svg"));
        assert!(svg.contains("no groups to chart"));
    }

    #[test]
    fn max_sits_one_step_past_p999() {
        let xs = x_positions();
        assert_eq!(xs[0], 0.0);
        assert!((xs[2] - 1.0).abs() < 1e-9 && (xs[3] - 2.0).abs() < 1e-9);
        assert!((xs[5] - xs[4] - 1.0).abs() < 1e-9);
        assert_eq!(x_label(xs[5]), "max");
        assert_eq!(x_label(nines(0.5)), "p50");
    }
}
